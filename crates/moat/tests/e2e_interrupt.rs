//! Ctrl-C during apply: the first SIGINT stops scheduling, waits for the writes in flight and
//! exits 1 with a message; a second one stops waiting (exit 130) and leaves the journal for
//! the next apply. Either way the next apply converges.

mod common;

use common::{Moat, copy_example, path_str, scratch, signal};
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Starts `moat apply` with stderr streamed line by line; returns the child, its stdout pipe
/// reader, and a channel of stderr lines.
fn spawn_streaming(
    moat: &Moat,
    spec: &std::path::Path,
) -> (
    std::process::Child,
    std::thread::JoinHandle<String>,
    mpsc::Receiver<String>,
) {
    let mut child = moat
        .command(&["apply", path_str(spec), "--auto-approve"])
        .spawn()
        .expect("start moat");
    let mut out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, stdout, rx)
}

/// Collects stderr lines until `until` matches one (returns all lines so far).
fn read_until(rx: &mpsc::Receiver<String>, lines: &mut Vec<String>, until: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = until(&l);
                lines.push(l);
                if done {
                    return;
                }
            }
            Err(_) => panic!(
                "stderr never showed what was awaited:\n{}",
                lines.join("\n")
            ),
        }
    }
}

fn wait_exit(child: &mut std::process::Child) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s.code();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "moat did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Keys with a "creating…" line, and keys with a "created" line, in `lines`.
fn started_and_finished(lines: &[String]) -> (Vec<String>, Vec<String>) {
    let mut started = Vec::new();
    let mut finished = Vec::new();
    for l in lines {
        let body = l.split_once("] ").map_or(l.as_str(), |(_, b)| b);
        if let Some(rest) = body.strip_prefix("+ ")
            && let Some((key, _)) = rest.split_once(": creating")
        {
            started.push(key.to_string());
        }
        if let Some(rest) = body.strip_prefix("✓ ")
            && let Some((key, _)) = rest.split_once(": created")
        {
            finished.push(key.to_string());
        }
    }
    (started, finished)
}

#[test]
fn ctrl_c_lets_writes_in_flight_finish_and_the_next_apply_converges() {
    let dir = scratch("sigint");
    let spec = copy_example(
        &common::repo().join("examples/secure-ml-workspace.yaml"),
        &dir,
    );
    let moat = Moat::local(&dir.join("state"));
    let (mut child, stdout, rx) = spawn_streaming(&moat, &spec);
    let mut lines = Vec::new();
    // Interrupt once the network is being built: some writes in flight, most not started.
    read_until(&rx, &mut lines, |l| l.contains("vnet: accepted by ARM"));
    signal(child.id(), "INT");
    let code = wait_exit(&mut child);
    lines.extend(rx.iter());
    let _ = stdout.join();
    let text = lines.join("\n");
    assert_eq!(code, Some(1), "exit code after one Ctrl-C:\n{text}");
    let at = lines
        .iter()
        .position(|l| l.contains("interrupted: no new writes start"))
        .unwrap_or_else(|| panic!("no interruption message:\n{text}"));
    let (before, _) = started_and_finished(&lines[..at]);
    let (after_started, _) = started_and_finished(&lines[at..]);
    assert!(
        after_started.is_empty(),
        "writes started after Ctrl-C: {after_started:?}\n{text}"
    );
    let (_, finished) = started_and_finished(&lines);
    for k in &before {
        assert!(
            finished.contains(k),
            "`{k}` was in flight at Ctrl-C and was not waited for:\n{text}"
        );
    }
    assert!(
        text.contains("Interrupted after") && text.contains("run `moat apply` again to finish"),
        "no closing message:\n{text}"
    );
    let record = moat.state("secure-ml").expect("state after Ctrl-C");
    assert!(
        record.journal.is_empty(),
        "writes were left in flight: {:?}",
        record.journal
    );
    assert!(
        record.resources.len() < 14 && !record.resources.is_empty(),
        "Ctrl-C came too late or too early to test anything: {:?}",
        record.resources.keys()
    );
    moat.apply(&spec).expect(0, "apply after Ctrl-C");
    moat.assert_no_changes(&spec, "the apply after Ctrl-C");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_ctrl_c_stops_waiting_and_the_next_apply_finishes() {
    let dir = scratch("sigint2");
    let spec = copy_example(
        &common::repo().join("examples/secure-ml-workspace.yaml"),
        &dir,
    );
    let moat = Moat::local(&dir.join("state"));
    let (mut child, stdout, rx) = spawn_streaming(&moat, &spec);
    let mut lines = Vec::new();
    // AKS takes the longest: interrupt twice while it is being created.
    read_until(&rx, &mut lines, |l| l.contains("]   aks: accepted by ARM"));
    signal(child.id(), "INT");
    read_until(&rx, &mut lines, |l| l.contains("interrupted:"));
    signal(child.id(), "INT");
    let code = wait_exit(&mut child);
    lines.extend(rx.iter());
    let _ = stdout.join();
    let text = lines.join("\n");
    assert_eq!(code, Some(130), "exit code after two Ctrl-Cs:\n{text}");
    assert!(
        text.contains("the state journal records what was in flight"),
        "{text}"
    );
    let record = moat.state("secure-ml").expect("state after two Ctrl-Cs");
    assert!(
        record.journal.iter().any(|j| j.key == "aks"),
        "the AKS create in flight is not in the journal: {:?}",
        record.journal
    );
    let out = moat.apply(&spec);
    out.expect(0, "apply after two Ctrl-Cs");
    assert!(
        out.stderr.contains("aks: finished the interrupted create"),
        "the next apply does not say it finished the interrupted write:\n{}",
        out.stderr
    );
    moat.assert_no_changes(&spec, "the apply after two Ctrl-Cs");
    let _ = std::fs::remove_dir_all(&dir);
}
