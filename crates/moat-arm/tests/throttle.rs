//! Throttling as several processes in one subscription see it: 429s retried after the
//! server's wait (never sooner) and past `max_retries`, the client slowing down when ARM's
//! `x-ms-ratelimit-remaining-*` headers fall, and concurrent clients sharing one emulator's
//! budget without leaving a read unanswered.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{FakeServer, Reply, client, fast_config};
use moat_arm::{Arm, ArmClient, BucketLimit, ClientLimits, Endpoint};
use moat_sim::{Bucket, Limits, SimConfig};
use serde_json::json;

const SUB: &str = "/subscriptions/11111111-2222-3333-4444-555555555555";
const RG_API: &str = "2024-07-01";

fn rg(name: &str) -> String {
    format!("{SUB}/resourceGroups/{name}")
}

fn throttled(retry_after_ms: &str) -> Reply {
    Reply::json(
        429,
        json!({"error": {"code": "SubscriptionRequestsThrottled", "message": "Number of 'read' requests exceeded."}}),
    )
    .header("retry-after-ms", retry_after_ms)
    .header("x-ms-ratelimit-remaining-subscription-reads", "0")
}

#[tokio::test]
async fn throttled_reads_retry_past_max_retries_and_never_sooner_than_asked() {
    // Six 429s in a row, each asking for 120 ms; `fast_config` allows 4 retries of anything
    // else. A read keeps going (the deadline is minutes) and each gap is at least the wait.
    let mut replies: Vec<Reply> = (0..6).map(|_| throttled("120")).collect();
    replies.push(Reply::json(200, json!({"name": "rg"})));
    let server = FakeServer::scripted(replies).await;
    let arm = client(&server.url()).await;
    assert!(arm.get(&rg("rg"), RG_API).await.expect("read").is_some());
    let seen = server.seen();
    assert_eq!(seen.len(), 7);
    for pair in seen.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(118), "retried after {gap:?}");
    }
    assert_eq!(arm.stats().throttled, 6);
}

#[tokio::test]
async fn retry_after_zero_is_not_an_immediate_retry() {
    let server = FakeServer::scripted(vec![
        Reply::json(
            429,
            json!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
        )
        .header("retry-after", "0"),
        Reply::json(200, json!({"name": "rg"})),
    ])
    .await;
    let mut config = fast_config(&server.url());
    config.retry_base_delay = Duration::from_millis(100);
    config.max_retry_delay = Duration::from_secs(1);
    moat_arm::install_crypto_provider();
    let arm = ArmClient::new(config).await.expect("client");
    assert!(arm.get(&rg("rg"), RG_API).await.expect("read").is_some());
    let seen = server.seen();
    // The first backoff: 100 ms jittered to at least half.
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(48));
}

#[tokio::test]
async fn a_falling_remaining_count_slows_the_client_down() {
    // ARM says only 12 reads are left (another process is using the budget): each read
    // leaves 11, 1 above the pace floor of 10 in a 15-token band, so the client paces itself
    // at 25/s × 1/15 = 1.67/s instead of sending its reads at once.
    let server = FakeServer::start(|_| {
        Reply::json(200, json!({"name": "rg"}))
            .header("x-ms-ratelimit-remaining-subscription-reads", "12")
    })
    .await;
    let mut config = fast_config(&server.url());
    config.limits = ClientLimits::default();
    moat_arm::install_crypto_provider();
    let arm = Arc::new(ArmClient::new(config).await.expect("client"));
    // The first answer carries the header; the rest are sent concurrently after it.
    arm.get(&rg("rg0"), RG_API).await.expect("read");
    let started = Instant::now();
    let tasks: Vec<_> = (1..=4)
        .map(|i| {
            let arm = arm.clone();
            tokio::spawn(async move { arm.get(&rg(&format!("rg{i}")), RG_API).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("read");
    }
    // Between answers the estimate refills at the client's own share, so the gaps are
    // 0.2–0.6 s rather than exactly 0.6 s; unpaced, the four would go within milliseconds.
    let spent = started.elapsed();
    assert!(spent >= Duration::from_millis(900), "{spent:?}");
    let seen = server.seen();
    for pair in seen[1..].windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(150), "{gap:?}");
    }
}

/// `clients` independent clients (as separate `moat` processes would be) each read `reads`
/// resource groups at once from one emulator whose read bucket is `burst` + `rate`/s.
async fn share_one_budget(
    clients: usize,
    reads: usize,
    burst: u32,
    rate: f64,
) -> (usize, u64, u64, f64) {
    let sim = moat_sim::start(
        "127.0.0.1:0".parse().expect("addr"),
        SimConfig {
            time_scale: 0.001,
            limits: Limits {
                reads: Some(Bucket {
                    burst: f64::from(burst),
                    per_second: rate,
                }),
                ..Limits::unlimited()
            },
            ..SimConfig::default()
        },
    )
    .await
    .expect("emulator");
    moat_arm::install_crypto_provider();
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut arms = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut config = fast_config(&sim.url());
        config.endpoint = Endpoint::parse(&sim.url()).expect("endpoint");
        config.limits = ClientLimits {
            reads: BucketLimit {
                burst,
                refill_per_sec: rate,
            },
            ..ClientLimits::unlimited()
        };
        // A diagnostic: each client's HTTP trace (statuses and times) in this directory.
        if let Some(dir) = std::env::var_os("MOAT_THROTTLE_TEST_LOG") {
            config.log_http =
                Some(std::path::PathBuf::from(dir).join(format!("{}.log", arms.len())));
        }
        let arm = Arc::new(ArmClient::new(config).await.expect("client"));
        arms.push(arm.clone());
        for i in 0..reads {
            let arm = arm.clone();
            let failed = failed.clone();
            tasks.push(tokio::spawn(async move {
                if arm.get(&rg(&format!("rg{i}")), RG_API).await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("task");
    }
    let wall = started.elapsed().as_secs_f64();
    let sent: u64 = arms.iter().map(|a| a.stats().requests_sent).sum();
    let throttled = sim.stats().throttled;
    sim.shutdown().await;
    (failed.load(Ordering::Relaxed), sent, throttled, wall)
}

#[tokio::test]
async fn concurrent_clients_share_one_subscriptions_budget() {
    // Three clients × 80 reads against 40 + 50/s: (240 − 40) / 50 = 4 s if the budget is used
    // fully. Each client alone would assume the whole bucket and overdraw it threefold.
    let (failed, sent, throttled, wall) = share_one_budget(3, 80, 40, 50.0).await;
    println!("3 clients × 80 reads: {sent} sent, {throttled} × 429, {wall:.2} s");
    assert_eq!(failed, 0, "every read answered");
    assert!(
        throttled * 100 <= sent * 3,
        "{throttled} 429s of {sent} requests"
    );
    // Generous for a loaded machine, but far below what a 429-and-wait cadence costs.
    assert!(wall < 4.0 * 2.0, "{wall:.2} s");
}

#[tokio::test]
#[ignore = "takes about 30 s: ten clients × 100 reads through ARM's 250 + 25/s (run with --ignored)"]
async fn ten_clients_share_arms_read_budget() {
    let (failed, sent, throttled, wall) = share_one_budget(10, 100, 250, 25.0).await;
    println!("10 clients × 100 reads: {sent} sent, {throttled} × 429, {wall:.2} s (bound 30 s)");
    assert_eq!(failed, 0, "every read answered");
    assert!(
        throttled * 100 <= sent,
        "{throttled} 429s of {sent} requests"
    );
    assert!(wall < 30.0 * 1.1, "{wall:.2} s");
}
