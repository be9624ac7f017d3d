//! A faithful clock: at any time scale the emulator advises Azure's polling cadence, scaled
//! (`retry-after-ms` exact, `Retry-After` never 0), and a seed draws provisioning durations
//! from each kind's recorded range, the same for the same seed.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

fn vnet_body() -> Value {
    json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "a", "properties": {"addressPrefix": "10.0.0.0/24"}}]}})
}

async fn scaled(scale: f64) -> (moat_sim::SimHandle, Arm) {
    let (sim, arm) = start(moat_sim::SimConfig {
        time_scale: scale,
        ..fast()
    })
    .await;
    rg(&arm, "rg").await;
    (sim, arm)
}

async fn rg(arm: &Arm, name: &str) {
    let r = arm
        .put(&rg_path(name), RES, json!({"location": "westus"}))
        .await;
    assert!(r.status < 300, "{}", r.body);
}

fn cadence(r: &Resp) -> (Option<String>, Option<String>) {
    (r.header("retry-after-ms"), r.header("retry-after"))
}

#[tokio::test]
async fn retry_after_keeps_azures_cadence_at_any_scale() {
    // Azure sends `Retry-After: 10` on Network writes and 17 on storage creates.
    for (scale, net, storage) in [
        (1.0, ("10000", "10"), ("17000", "17")),
        (0.1, ("1000", "1"), ("1700", "2")),
        (0.01, ("100", "1"), ("170", "1")),
    ] {
        let (_sim, arm) = scaled(scale).await;
        let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
        let r = arm.put(&vnet, NET, vnet_body()).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            cadence(&r),
            (Some(net.0.into()), Some(net.1.into())),
            "VNet PUT at scale {scale}"
        );
        let st = res("rg", "Microsoft.Storage/storageAccounts/clock01");
        let r = arm
            .put(
                &st,
                STORAGE,
                json!({"location": "westus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(
            cadence(&r),
            (Some(storage.0.into()), Some(storage.1.into())),
            "storage PUT at scale {scale}"
        );
    }
}

#[tokio::test]
async fn polls_and_busy_answers_advise_the_scaled_interval() {
    // At 0.1 a VNet takes 0.4 s: the first poll and a second write find it busy.
    let (_sim, arm) = scaled(0.1).await;
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
    let r = arm.put(&vnet, NET, vnet_body()).await;
    let ao = r.header("azure-asyncoperation").unwrap();
    let p = arm.call_url("GET", &ao, None).await;
    assert_eq!(p.str("/status"), "InProgress");
    assert_eq!(cadence(&p), (Some("1000".into()), Some("1".into())));
    let busy = arm
        .put(
            &format!("{vnet}/subnets/b"),
            NET,
            json!({"properties": {"addressPrefix": "10.0.1.0/24"}}),
        )
        .await;
    assert_eq!(busy.status, 429);
    assert_eq!(cadence(&busy), (Some("1000".into()), Some("1".into())));
    // Instant emulation: the shortest wait, never `Retry-After: 0`.
    let (_sim, arm) = scaled(0.0).await;
    let r = arm.put(&vnet, NET, vnet_body()).await;
    assert_eq!(cadence(&r), (Some("1".into()), Some("1".into())));
}

/// Seconds since midnight of an ARM timestamp (`…T20:30:00.1234567Z`).
fn day_secs(ts: &str) -> f64 {
    let t = ts.split('T').nth(1).unwrap().trim_end_matches('Z');
    let mut parts = t.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

const SCALE: f64 = 0.001;

/// Creates `n` clusters and returns each one's provisioning time in unscaled seconds, from
/// the `startTime`/`endTime` of its AKS status body.
async fn aks_durations(seed: Option<u64>, n: usize) -> Vec<f64> {
    let (sim, arm) = start(moat_sim::SimConfig {
        time_scale: SCALE,
        seed,
        ..fast()
    })
    .await;
    rg(&arm, "rg").await;
    let mut polls = Vec::new();
    for i in 0..n {
        let aks = res(
            "rg",
            &format!("Microsoft.ContainerService/managedClusters/k{i}"),
        );
        let r = arm
            .put(
                &aks,
                AKS,
                json!({"location": "westus", "properties": {"dnsPrefix": format!("k{i}"),
                    "agentPoolProfiles": [{"name": "sys", "mode": "System", "count": 1}]}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        polls.push(r.header("azure-asyncoperation").unwrap());
    }
    // The longest a cluster may take is 600 s, 0.6 s at this scale.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut out = Vec::new();
    for url in polls {
        let p = arm.call_url("GET", &url, None).await;
        assert_eq!(p.str("/status"), "Succeeded", "{}", p.body);
        let mut d = day_secs(p.str("/endTime")) - day_secs(p.str("/startTime"));
        if d < 0.0 {
            d += 86_400.0;
        }
        out.push(d / SCALE);
    }
    sim.shutdown().await;
    out
}

#[tokio::test]
async fn seeded_durations_are_reproducible_and_within_the_recorded_range() {
    let typical = aks_durations(None, 3).await;
    for d in &typical {
        assert!(
            (d - 300.0).abs() < 0.5,
            "no seed: the typical 300 s, got {d}"
        );
    }
    let a = aks_durations(Some(42), 12).await;
    let b = aks_durations(Some(42), 12).await;
    let c = aks_durations(Some(43), 12).await;
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x - y).abs() < 0.5,
            "same seed, same durations: {a:?} vs {b:?}"
        );
    }
    assert!(
        a.iter().zip(&c).any(|(x, y)| (x - y).abs() > 1.0),
        "another seed, other durations: {a:?} vs {c:?}"
    );
    for d in a.iter().chain(&c) {
        assert!((239.5..=600.5).contains(d), "AKS 240–600 s, got {d}");
    }
    let spread =
        a.iter().cloned().fold(f64::MIN, f64::max) - a.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 20.0, "durations vary: {a:?}");
}
