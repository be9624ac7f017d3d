//! Secrets never leave: the development bearer token, any `Authorization` header, and the
//! keys ARM returns (Application Insights' instrumentation key and connection string) appear
//! in none of what moat writes — plan text, JSON plan, stderr (verbose), the `--log-http`
//! trace, the state record — nor in the emulator's own traffic files.

mod common;

use common::{Moat, copy_example, path_str, scratch};
use std::path::Path;

const DEV_TOKEN: &str = "moat-local-dev-token";

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    assert!(!text.is_empty(), "{what} is empty: nothing was checked");
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} leaks `{s}`");
    }
    let lower = text.to_ascii_lowercase();
    // A header as a JSON key or a header line (`enableRbacAuthorization` is a vault property).
    for word in ["\"authorization\"", "authorization:", "bearer "] {
        assert!(!lower.contains(word), "{what} shows `{word}`");
    }
}

fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[test]
fn no_token_header_or_key_leaves_the_process() {
    let dir = scratch("secrets");
    let spec = copy_example(
        &common::repo().join("examples/secure-ml-workspace.yaml"),
        &dir,
    );
    let log = dir.join("http.jsonl");
    let record = dir.join("record");
    let moat = Moat::local(&dir.join("state"))
        .with_env("MOAT_LOCAL_RECORD", &record)
        .with_env("RUST_LOG", "trace");
    let s = path_str(&spec);
    let log_s = path_str(&log);

    let apply = moat.run(&["-vv", "--log-http", log_s, "apply", s, "--auto-approve"]);
    apply.expect(0, "apply");

    // The keys ARM handed back for the Application Insights component.
    let cloud: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(moat.local_cloud()).expect("cloud"))
            .expect("cloud json");
    let insights = cloud["resources"]
        .as_object()
        .expect("resources")
        .values()
        .find(|r| r["kind"] == "AppInsights")
        .expect("an Application Insights component");
    let mut secrets = vec![DEV_TOKEN.to_string()];
    for k in ["InstrumentationKey", "ConnectionString"] {
        if let Some(v) = insights["body"]["properties"][k].as_str() {
            secrets.push(v.to_string());
        }
    }

    assert_eq!(
        secrets.len(),
        3,
        "the emulator returned no Application Insights keys"
    );

    // Plans that show every property, and one with changes on every resource.
    let text = std::fs::read_to_string(&spec).expect("spec");
    let changed = dir.join("changed.yaml");
    std::fs::write(
        &changed,
        text.replacen("team: ml-platform", "team: ml-platform-2", 1),
    )
    .expect("changed spec");
    let mut outputs = vec![
        ("apply stdout", apply.stdout),
        ("apply stderr", apply.stderr),
    ];
    for (name, args) in [
        ("plan text", vec!["plan", s, "--show-unchanged"]),
        ("plan json", vec!["plan", s, "--format", "json"]),
        ("plan markdown", vec!["plan", s, "--format", "markdown"]),
        ("changed plan text", vec!["plan", path_str(&changed)]),
        (
            "changed plan json",
            vec!["plan", path_str(&changed), "--format", "json"],
        ),
    ] {
        let mut a = vec!["-vv", "--log-http", log_s];
        a.extend(args);
        let out = moat.run(&a);
        out.expect(0, name);
        outputs.push((name, out.stdout));
        outputs.push((name, out.stderr));
    }
    assert!(
        outputs
            .iter()
            .any(|(n, o)| *n == "changed plan text" && o.contains("ml-platform-2")),
        "the changed plan shows no change"
    );
    for (name, text) in &outputs {
        if !text.is_empty() {
            assert_clean(name, text, &secrets);
        }
    }

    let trace = std::fs::read_to_string(&log).expect("http trace");
    assert!(
        trace.lines().count() > 20,
        "the trace is too short to mean anything"
    );
    assert_clean("the --log-http trace", &trace, &secrets);
    let state = std::fs::read_to_string(dir.join("state/secure-ml.state.json")).expect("state");
    assert_clean("the state record", &state, &secrets);

    // The emulator records the header (redacted) by design; the token must not be there.
    let files = all_files(&record);
    assert!(!files.is_empty(), "the emulator recorded nothing");
    for f in files {
        let t = std::fs::read_to_string(&f).expect("record file");
        for s in &secrets[..1] {
            assert!(!t.contains(s.as_str()), "{} leaks the token", f.display());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a fake `az` hands out as the storage token: it must never be seen on a wire or a log.
const MARKER: &str = "marker-token-0f9e8d7c-must-never-leave";

/// A directory with an `az` that prints [`MARKER`] as an access token and notes each call
/// in `calls` — so a test knows whether moat even asked for a token.
fn fake_az(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let calls = dir.join("az-calls");
    let az = bin.join("az");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nprintf '%s' '{{\"accessToken\":\"{MARKER}\",\"expires_on\":4102444800,\"tokenType\":\"Bearer\"}}'\n",
            calls.display()
        ),
    )
    .expect("fake az");
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (bin, calls)
}

/// A loopback listener that records every byte it is sent and how many connections it got;
/// it answers nothing and stops by itself when dropped (or after a minute).
struct Recorder {
    url_port: u16,
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Recorder {
    fn start() -> Recorder {
        use std::io::Read as _;
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let r = Recorder {
            url_port: port,
            bytes: Default::default(),
            connections: Default::default(),
            stop: Default::default(),
        };
        let (bytes, connections, stop) = (r.bytes.clone(), r.connections.clone(), r.stop.clone());
        std::thread::spawn(move || {
            let began = std::time::Instant::now();
            while !stop.load(Ordering::SeqCst)
                && began.elapsed() < std::time::Duration::from_secs(60)
            {
                match listener.accept() {
                    Ok((mut sock, _)) => {
                        connections.fetch_add(1, Ordering::SeqCst);
                        let _ = sock.set_nonblocking(false);
                        let _ = sock.set_read_timeout(Some(std::time::Duration::from_millis(500)));
                        let mut buf = [0u8; 4096];
                        while let Ok(n) = sock.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            bytes.lock().expect("bytes").extend_from_slice(&buf[..n]);
                        }
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        r
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().expect("bytes")).into_owned()
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs `plan` and `apply` of the example with `backend` under `--auth azure-cli` with the
/// fake `az` first on PATH, and returns (the outputs, the `--log-http` trace, the calls to az).
fn run_with_backend(
    dir: &Path,
    backend: &str,
    arm: &str,
    extra_env: &[(&str, &str)],
) -> (Vec<common::Out>, String, String) {
    let (bin, calls) = fake_az(dir);
    let text = std::fs::read_to_string(common::repo().join("examples/secure-ml-workspace.yaml"))
        .expect("example");
    let spec = dir.join("pr.yaml");
    std::fs::write(&spec, format!("{text}\nbackend: {backend}\n")).expect("spec");
    let log = dir.join("http.jsonl");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut moat = Moat::remote(&dir.join("state"), arm).with_env("PATH", &path);
    for (k, v) in extra_env {
        moat = moat.with_env(k, v);
    }
    let outs = vec![
        moat.run(&[
            "--auth",
            "azure-cli",
            "--log-http",
            path_str(&log),
            "plan",
            path_str(&spec),
        ]),
        moat.run(&[
            "--auth",
            "azure-cli",
            "--log-http",
            path_str(&log),
            "apply",
            path_str(&spec),
            "--auto-approve",
        ]),
    ];
    (
        outs,
        std::fs::read_to_string(&log).unwrap_or_default(),
        std::fs::read_to_string(&calls).unwrap_or_default(),
    )
}

/// Issue 15 item 2: a spec whose `backend.endpoint` is a loopback address but not Azurite's
/// account gets no storage token — not on the wire, not in a log — and is refused before any
/// connection, saying why.
#[test]
fn a_storage_token_never_goes_to_a_loopback_endpoint_that_is_not_azurite() {
    let dir = scratch("secrets-loopback-backend");
    let wire = Recorder::start();
    let arm = Recorder::start();
    let backend = format!(
        "{{ account: evil, container: state, endpoint: http://127.0.0.1:{}/evil }}",
        wire.url_port
    );
    let (outs, trace, calls) = run_with_backend(
        &dir,
        &backend,
        &format!("http://127.0.0.1:{}", arm.url_port),
        &[],
    );
    for o in &outs {
        o.expect(1, "a run with a loopback backend that is not Azurite");
        assert!(
            o.stderr
                .contains("refusing to send a storage credential to `http://127.0.0.1:")
                && o.stderr.contains("development key")
                && o.stderr.contains("account is `evil`"),
            "the refusal does not say why:\n{}",
            o.stderr
        );
        assert!(!o.stdout.contains(MARKER) && !o.stderr.contains(MARKER));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !wire.received().contains(MARKER),
        "the token went over the wire"
    );
    assert!(
        !arm.received().contains(MARKER),
        "the token went to the ARM endpoint"
    );
    assert_eq!(
        wire.connections(),
        0,
        "a connection was opened to the backend"
    );
    assert!(
        !trace.contains(MARKER),
        "the token is in the --log-http trace"
    );
    assert!(
        calls.is_empty(),
        "moat asked az for a token it could not send: {calls}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15 item 2: a foreign https `backend.endpoint` gets no token either, unless the user
/// (not the spec) allows it with `MOAT_ALLOW_ENDPOINT`.
#[test]
fn a_storage_token_never_goes_to_a_foreign_https_host() {
    let dir = scratch("secrets-foreign-backend");
    let wire = Recorder::start();
    let arm = Recorder::start();
    let foreign = format!("https://127.0.0.1:{}", wire.url_port);
    let backend = format!("{{ account: acct, container: state, endpoint: {foreign} }}");
    let arm_url = format!("http://127.0.0.1:{}", arm.url_port);
    let (outs, trace, calls) = run_with_backend(&dir, &backend, &arm_url, &[]);
    for o in &outs {
        o.expect(1, "a run with a foreign https backend");
        assert!(
            o.stderr.contains(&format!(
                "refusing to send a storage credential to `{foreign}`"
            )) && o.stderr.contains("*.blob.core.windows.net")
                && o.stderr.contains(&format!("MOAT_ALLOW_ENDPOINT={foreign}")),
            "the refusal does not say why and how to allow it:\n{}",
            o.stderr
        );
        assert!(!o.stdout.contains(MARKER) && !o.stderr.contains(MARKER));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        wire.connections(),
        0,
        "a connection was opened to the foreign host"
    );
    assert!(
        !arm.received().contains(MARKER),
        "the token went to the ARM endpoint"
    );
    assert!(
        !trace.contains(MARKER),
        "the token is in the --log-http trace"
    );
    assert!(
        calls.is_empty(),
        "moat asked az for a token it could not send: {calls}"
    );

    // Allowed by the user: now moat asks az and connects (the TLS handshake with this
    // listener fails, so the token still never leaves in the clear).
    let allowed_dir = dir.join("allowed");
    std::fs::create_dir_all(&allowed_dir).expect("dir");
    let (outs, trace, calls) = run_with_backend(
        &allowed_dir,
        &backend,
        &arm_url,
        &[("MOAT_ALLOW_ENDPOINT", &foreign)],
    );
    assert!(!calls.is_empty(), "an allowed endpoint should get a token");
    assert!(
        wire.connections() > 0,
        "an allowed endpoint should be connected to"
    );
    assert!(!wire.received().contains(MARKER));
    assert!(
        !trace.contains(MARKER),
        "the token is in the --log-http trace"
    );
    for o in &outs {
        assert!(
            !o.stdout.contains(MARKER) && !o.stderr.contains(MARKER),
            "{}",
            o.stderr
        );
        assert!(!o.stderr.contains("refusing to send"), "{}", o.stderr);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
