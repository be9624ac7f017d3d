//! Measures client-side throttling: fires a burst of GETs (default 1000) at an embedded
//! emulator with ARM's default limits and prints requests sent and 429s received.
//!
//! `cargo run -p moat-arm --example burst -- [COUNT]`

use std::time::Instant;

use moat_arm::{Arm, ArmClient, ClientConfig, Endpoint};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    moat_arm::install_crypto_provider();
    let count: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 1000,
    };
    let sim = moat_sim::start("127.0.0.1:0".parse()?, moat_sim::SimConfig::default()).await?;
    let config = ClientConfig::for_endpoint(Endpoint::parse(&sim.url())?);
    let arm = ArmClient::new(config).await?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let arm = arm.clone();
            tokio::spawn(async move {
                let id = format!(
                    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg{i}"
                );
                arm.get(&id, "2024-07-01").await
            })
        })
        .collect();
    let mut failures = 0;
    for task in tasks {
        if !matches!(task.await, Ok(Ok(_))) {
            failures += 1;
        }
    }
    let elapsed = started.elapsed();
    let stats = arm.stats();
    let sim_stats = sim.stats();
    println!(
        "{count} GETs in {:.1}s: {} requests sent, {} 429s received (emulator sent {}), {} retries, {failures} failures",
        elapsed.as_secs_f64(),
        stats.requests_sent,
        stats.throttled,
        sim_stats.throttled,
        stats.retries,
    );
    sim.shutdown().await;
    Ok(())
}
