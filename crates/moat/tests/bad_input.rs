//! Hostile or broken input must never crash moat or make it run away: the real binary is run on
//! pathological files (exit code 1, a located message, no panic), a 10 MB spec is validated in
//! bounded time, and a cheap deterministic fuzz loop mutates the examples through the pipeline.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bad_input");
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir.join(name)
}

struct Run {
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

fn validate(path: &Path) -> Run {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["validate", "--local", "--no-color"])
        .arg(path)
        .env("NO_COLOR", "1")
        .output()
        .expect("run moat");
    Run {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
    }
}

/// Runs `moat validate` on `bytes` and checks the contract for broken input.
fn assert_rejected(name: &str, bytes: &[u8]) -> Run {
    let path = scratch(name);
    std::fs::write(&path, bytes).expect("write input");
    let run = validate(&path);
    assert_eq!(
        run.code,
        Some(1),
        "{name}: expected exit code 1\n{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("panicked"),
        "{name}: moat panicked\n{}",
        run.stderr
    );
    let located = format!("{}:", path.display());
    let has_position = run.stderr.lines().any(|l| {
        l.find(&located).is_some_and(|i| {
            let rest = &l[i + located.len()..];
            let mut parts = rest.splitn(3, ':');
            let line = parts.next().unwrap_or("");
            let col = parts.next().unwrap_or("");
            !line.is_empty()
                && line.chars().all(|c| c.is_ascii_digit())
                && !col.is_empty()
                && col.chars().take_while(|c| c.is_ascii_digit()).count() > 0
        })
    });
    assert!(
        has_position,
        "{name}: expected `file:line:col` in stderr\n{}",
        run.stderr
    );
    assert!(
        run.took < Duration::from_secs(20),
        "{name}: took {:?}",
        run.took
    );
    run
}

#[test]
fn empty_file() {
    assert_rejected("empty.yaml", b"");
}

#[test]
fn binary_file() {
    let mut bytes = b"\x7fELF\x02\x01\x01\x00\x00\x00".to_vec();
    bytes.extend((0u16..512).map(|i| (i * 7 % 256) as u8));
    // Escape sequences before the NUL must not reach the terminal raw.
    let run = assert_rejected(
        "binary.yaml",
        &[b"\x1b[31mred\x1b]0;title\x07".as_slice(), &bytes].concat(),
    );
    assert!(
        !run.stderr.contains('\x1b'),
        "raw escape byte in stderr:\n{}",
        run.stderr
    );
}

#[test]
fn invalid_utf8() {
    assert_rejected(
        "latin1.yaml",
        b"stack: demo\nlocation: eastus2\ntags: { owner: Jos\xe9 }\nresources: {}\n",
    );
}

#[test]
fn deep_nesting() {
    let text = format!(
        "stack: demo\nresources: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let run = assert_rejected("deep.yaml", text.as_bytes());
    // The 20 000-character line is cut around the caret, not printed whole.
    assert!(
        run.stderr.lines().all(|l| l.chars().count() < 200),
        "{}",
        run.stderr
    );
}

#[test]
fn deep_block_nesting() {
    let mut text = String::from("stack: demo\nresources:\n");
    for depth in 1..2_000 {
        text.push_str(&" ".repeat(depth * 2));
        text.push_str(&format!("k{depth}:\n"));
    }
    assert_rejected("deep_block.yaml", text.as_bytes());
}

#[test]
fn alias_bomb() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let run = assert_rejected("bomb.yaml", text.as_bytes());
    assert!(run.stderr.contains("E0103"), "{}", run.stderr);
}

#[test]
fn tabs() {
    assert_rejected(
        "tabs.yaml",
        b"stack: demo\nresources:\n  rg:\n\ttype: resource_group\n",
    );
}

#[test]
fn list_instead_of_map() {
    assert_rejected("list.yaml", b"- stack: demo\n- resources: {}\n");
}

/// About 10 MB of valid spec: many NSGs with rules. Validation must finish, quickly.
#[test]
fn ten_megabyte_spec() {
    let mut text =
        String::from("stack: big\nlocation: eastus2\nresources:\n  rg: { type: resource_group }\n");
    let mut i = 0;
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(&format!(
            "  nsg-{i}:\n    type: network_security_group\n    resource_group: rg\n    rules:\n"
        ));
        for r in 0..20 {
            text.push_str(&format!(
                "      - {{ name: rule-{r}, priority: {}, direction: inbound, access: allow, protocol: tcp, source: VirtualNetwork, destination_ports: [\"{}\"] }}\n",
                100 + r,
                8000 + r
            ));
        }
        i += 1;
    }
    let path = scratch("big.yaml");
    std::fs::write(&path, &text).expect("write big spec");
    let run = validate(&path);
    println!(
        "validated {} bytes, {i} NSGs, in {:?}",
        text.len(),
        run.took
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(
        run.code,
        Some(0),
        "{}",
        run.stderr.lines().take(40).collect::<Vec<_>>().join("\n")
    );
    // About 7 s of CPU in a debug build; the bound only catches a runaway (quadratic) pipeline
    // on a loaded CI machine.
    assert!(
        run.took < Duration::from_secs(90),
        "10 MB took {:?}",
        run.took
    );
}

/// xorshift64*: a tiny deterministic PRNG, so a failure reproduces from its iteration number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    const INTERESTING: &[&[u8]] = &[
        b"${", b"}", b"[", b"]", b"{", b":", b"- ", b"\n", b"\t", b"&a ", b"*a", b"---", b"/",
        b"'", b"\"", b"#", b"\xff", b"\0", b"<<: ",
    ];
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            bytes.push(b'a');
        }
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => {
                let len = 1 + rng.below(16).min(bytes.len() - at - 1);
                bytes.drain(at..at + len.min(bytes.len() - at));
            }
            1 => {
                let len = 1 + rng.below(32);
                let end = (at + len).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, chunk);
            }
            2 => {
                let other = rng.below(bytes.len());
                bytes.swap(at, other);
            }
            3 => {
                let token = INTERESTING[rng.below(INTERESTING.len())];
                bytes.splice(at..at, token.iter().copied());
            }
            _ => bytes[at] = (rng.next() & 0xff) as u8,
        }
    }
    bytes
}

#[test]
fn fuzz_examples_never_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("examples dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(&p).expect("read example"),
            )
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty());
    // Keep the loop quiet: a caught panic would otherwise print its message 2 000 times.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let start = Instant::now();
    // `MOAT_FUZZ_ITERATIONS` and `MOAT_FUZZ_SEED` allow a longer local run; CI uses the defaults.
    let env_num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let iterations = env_num("MOAT_FUZZ_ITERATIONS").map_or(2_000, |n| n as usize);
    let mut rng = Rng(env_num("MOAT_FUZZ_SEED")
        .unwrap_or(0x6d6f_6174_2d66_757a)
        .max(1));
    let mut failures = Vec::new();
    let mut with_errors = 0;
    for i in 0..iterations {
        let (name, seed) = &seeds[i % seeds.len()];
        let bytes = mutate(&mut rng, seed.clone());
        let result =
            std::panic::catch_unwind(|| match moat_spec::source_from_bytes(name, bytes.clone()) {
                Ok(file) => {
                    let loaded = moat::load::check(file, &Default::default(), true);
                    // Rendering is part of what the user sees: it must not panic either.
                    for d in &loaded.diags {
                        let _ = moat_spec::diag::render(
                            d,
                            &loaded.file,
                            moat_spec::RenderOptions::default(),
                        );
                        let _ = d.to_json(&loaded.file);
                    }
                    loaded.has_errors()
                }
                Err(_) => true,
            });
        match result {
            Ok(errors) => with_errors += usize::from(errors),
            Err(_) => failures.push((i, String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    std::panic::set_hook(previous_hook);
    println!(
        "fuzz: {iterations} mutants in {:?}, {with_errors} with errors",
        start.elapsed()
    );
    if let Some((i, text)) = failures.first() {
        panic!(
            "{} of {iterations} mutants panicked; first at iteration {i}:\n{text}",
            failures.len()
        );
    }
    // The mutations must actually break things, or this test proves nothing.
    assert!(
        with_errors > iterations / 4,
        "only {with_errors} mutants had errors"
    );
}
