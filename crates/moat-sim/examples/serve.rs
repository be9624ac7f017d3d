//! Runs the emulator standalone, like `moat sim`: `cargo run -p moat-sim --example serve -- [ADDR] [STATE_FILE]`.

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let Ok(listen) = listen.parse() else {
        eprintln!("error: `{listen}` is not an address like 127.0.0.1:8080");
        std::process::exit(2);
    };
    let config = moat_sim::SimConfig {
        state_file: args.next().map(Into::into),
        ..Default::default()
    };
    if let Err(e) = moat_sim::serve(moat_sim::ServeOptions { listen, config }).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
