//! Scheduling tests of the parallel walker on paused tokio time: each node sleeps for a
//! fake duration, so wall times and start instants are exact.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use moat_graph::{CancellationToken, Graph, GraphError, Outcome, WalkOptions, walk};
use tokio::time::{Instant, sleep};

/// A node's payload: how long it runs, whether it fails.
#[derive(Clone, Copy)]
struct Job {
    secs: u64,
    fail: bool,
}

fn ok(secs: u64) -> Job {
    Job { secs, fail: false }
}

fn bad(secs: u64) -> Job {
    Job { secs, fail: true }
}

fn graph(nodes: &[(&str, Job)], edges: &[(&str, &str)]) -> Graph<Job> {
    let mut g = Graph::new();
    for (k, j) in nodes {
        g.add_node(*k, *j).unwrap();
    }
    for (a, b) in edges {
        g.add_edge(a, b).unwrap();
    }
    g
}

/// Tracks how many nodes run at once, in total and per group.
#[derive(Default)]
struct Gauge {
    now: usize,
    max: usize,
    per_group: BTreeMap<String, (usize, usize)>,
}

async fn job(key: &str, j: &Job) -> Result<(), String> {
    sleep(Duration::from_secs(j.secs)).await;
    if j.fail {
        Err(format!("{key} broke"))
    } else {
        Ok(())
    }
}

fn secs(from: Instant, to: Option<Instant>) -> f64 {
    to.expect("node ran").duration_since(from).as_secs_f64()
}

#[tokio::test(start_paused = true)]
async fn wall_time_is_the_critical_path_not_the_sum_of_levels() {
    // Level by level this takes max(1,5) + max(5,1) = 10 s; the critical path is 6 s.
    let g = graph(
        &[("a", ok(1)), ("b", ok(5)), ("c", ok(5)), ("d", ok(1))],
        &[("c", "a"), ("d", "b")],
    );
    let report = walk(&g, &WalkOptions::new(), job).await.unwrap();
    assert!(report.is_success());
    assert_eq!(report.elapsed(), Duration::from_secs(6));
    let t0 = report.started;
    assert_eq!(secs(t0, report.nodes["c"].started), 1.0);
    assert_eq!(secs(t0, report.nodes["d"].started), 5.0);
}

#[tokio::test(start_paused = true)]
async fn every_node_starts_the_instant_its_last_dependency_finishes() {
    // A wider graph with several joins: every start must equal the latest finish of its
    // dependencies (or 0), and the wall time the longest weighted chain.
    let g = graph(
        &[
            ("rg", ok(2)),
            ("nsg", ok(3)),
            ("rt", ok(1)),
            ("vnet", ok(4)),
            ("store", ok(7)),
            ("vault", ok(5)),
            ("ws", ok(10)),
            ("aks", ok(20)),
            ("cpu", ok(6)),
            ("inference", ok(2)),
        ],
        &[
            ("nsg", "rg"),
            ("rt", "rg"),
            ("vnet", "nsg"),
            ("vnet", "rt"),
            ("store", "vnet"),
            ("vault", "vnet"),
            ("ws", "store"),
            ("ws", "vault"),
            ("aks", "vnet"),
            ("cpu", "ws"),
            ("inference", "ws"),
            ("inference", "aks"),
        ],
    );
    let report = walk(&g, &WalkOptions::new(), job).await.unwrap();
    let t0 = report.started;
    for key in g.keys() {
        let expected = g
            .dependencies(key)
            .unwrap()
            .iter()
            .map(|d| secs(t0, report.nodes[*d].finished))
            .fold(0.0, f64::max);
        assert_eq!(secs(t0, report.nodes[key].started), expected, "{key}");
    }
    // rg 2, nsg 3, vnet 4 (t=9), store 7 (t=16), ws 10 (t=26), cpu 6 (t=32);
    // aks ends at 29, inference at max(26,29)+2 = 31.
    assert_eq!(report.elapsed(), Duration::from_secs(32));
}

#[tokio::test(start_paused = true)]
async fn parallelism_cap_is_respected_and_slots_are_refilled_at_once() {
    let nodes: Vec<(String, Job)> = (0..10).map(|i| (format!("n{i}"), ok(1))).collect();
    let mut g = Graph::new();
    for (k, j) in &nodes {
        g.add_node(k.clone(), *j).unwrap();
    }
    let gauge = Rc::new(RefCell::new(Gauge::default()));
    let report = walk(&g, &WalkOptions::new().parallelism(3), |k, j| {
        let gauge = gauge.clone();
        async move {
            {
                let mut g = gauge.borrow_mut();
                g.now += 1;
                g.max = g.max.max(g.now);
            }
            let r = job(k, j).await;
            gauge.borrow_mut().now -= 1;
            r
        }
    })
    .await
    .unwrap();
    assert!(report.is_success());
    assert_eq!(gauge.borrow().max, 3);
    assert_eq!(report.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn a_capped_walk_starts_the_longest_chain_first() {
    // With one slot free, `z` (which heads a 3-node chain) must go before `a`, `b`.
    let g = graph(
        &[
            ("a", ok(1)),
            ("b", ok(1)),
            ("z", ok(1)),
            ("z2", ok(1)),
            ("z3", ok(1)),
        ],
        &[("z2", "z"), ("z3", "z2")],
    );
    let report = walk(&g, &WalkOptions::new().parallelism(2), job)
        .await
        .unwrap();
    let t0 = report.started;
    assert_eq!(secs(t0, report.nodes["z"].started), 0.0);
    assert_eq!(secs(t0, report.nodes["a"].started), 0.0);
    assert_eq!(secs(t0, report.nodes["b"].started), 1.0);
    assert_eq!(report.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn weights_make_a_long_node_go_before_a_chain_of_short_ones() {
    // `aks` (5 s) beats a chain of three 1 s nodes only when the walker knows their costs.
    let nodes = [("aks", ok(5)), ("n1", ok(1)), ("n2", ok(1)), ("n3", ok(1))];
    let edges = [("n2", "n1"), ("n3", "n2")];
    let g = graph(&nodes, &edges);
    let unweighted = walk(&g, &WalkOptions::new().parallelism(1), job)
        .await
        .unwrap();
    assert_eq!(
        secs(unweighted.started, unweighted.nodes["n1"].started),
        0.0
    );
    let opts = WalkOptions::new()
        .parallelism(1)
        .weight("aks", 5)
        .weight("n1", 1)
        .weight("n2", 1)
        .weight("n3", 1);
    let weighted = walk(&g, &opts, job).await.unwrap();
    assert_eq!(secs(weighted.started, weighted.nodes["aks"].started), 0.0);
    assert_eq!(secs(weighted.started, weighted.nodes["n1"].started), 5.0);
}

#[tokio::test(start_paused = true)]
async fn nodes_of_one_lock_group_never_overlap() {
    let g = graph(
        &[
            ("vnet", ok(1)),
            ("vnet/a", ok(2)),
            ("vnet/b", ok(2)),
            ("vnet/c", ok(2)),
            ("other", ok(3)),
            ("peer", ok(1)),
        ],
        &[("vnet/a", "vnet"), ("vnet/b", "vnet"), ("vnet/c", "vnet")],
    );
    let opts = WalkOptions::new()
        .lock_group("vnet", "net")
        .lock_group("vnet/a", "net")
        .lock_group("vnet/b", "net")
        .lock_group("vnet/c", "net")
        .lock_group("peer", "net");
    let gauge = Rc::new(RefCell::new(Gauge::default()));
    let report = walk(&g, &opts, |k, j| {
        let gauge = gauge.clone();
        let group = opts.lock_groups.get(k).cloned();
        async move {
            if let Some(group) = &group {
                let mut g = gauge.borrow_mut();
                let e = g.per_group.entry(group.clone()).or_default();
                e.0 += 1;
                e.1 = e.1.max(e.0);
            }
            let r = job(k, j).await;
            if let Some(group) = &group {
                gauge.borrow_mut().per_group.get_mut(group).unwrap().0 -= 1;
            }
            r
        }
    })
    .await
    .unwrap();
    assert!(report.is_success());
    assert_eq!(gauge.borrow().per_group["net"].1, 1);
    // Intervals of the group, sorted by start, must not overlap.
    let mut spans: Vec<(Instant, Instant)> = opts
        .lock_groups
        .keys()
        .map(|k| {
            let n = &report.nodes[k];
            (n.started.unwrap(), n.finished.unwrap())
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "{w:?}");
    }
    // The group serialises 1+1+2+2+2 = 8 s; `other` is not held back.
    assert_eq!(report.elapsed(), Duration::from_secs(8));
    assert_eq!(secs(report.started, report.nodes["other"].started), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_exactly_its_transitive_dependents_once() {
    let g = graph(
        &[
            ("rg", ok(1)),
            ("vnet", bad(2)),
            ("subnet", ok(1)),
            ("aks", ok(1)),
            ("store", ok(5)),
            ("ws", ok(1)),
            ("x", bad(1)),
            ("y", bad(3)),
            ("xy", ok(1)),
            ("xy2", ok(1)),
            ("free", ok(1)),
        ],
        &[
            ("vnet", "rg"),
            ("subnet", "vnet"),
            ("aks", "subnet"),
            ("store", "rg"),
            ("ws", "store"),
            ("ws", "vnet"),
            ("xy", "x"),
            ("xy", "y"),
            ("xy2", "xy"),
        ],
    );
    let report = walk(&g, &WalkOptions::new(), job).await.unwrap();
    assert_eq!(
        report.failed(),
        vec![
            ("vnet", &"vnet broke".to_owned()),
            ("x", &"x broke".to_owned()),
            ("y", &"y broke".to_owned())
        ]
    );
    // `xy` waits on both x (fails at 1 s) and y (fails at 3 s): reported once, for x.
    assert_eq!(
        report.skipped(),
        vec![
            ("aks", "vnet"),
            ("subnet", "vnet"),
            ("ws", "vnet"),
            ("xy", "x"),
            ("xy2", "x")
        ]
    );
    assert_eq!(report.succeeded(), vec!["free", "rg", "store"]);
    assert!(report.not_started().is_empty());
    assert!(!report.is_success());
    // The independent branch ran to its end.
    assert_eq!(report.elapsed(), Duration::from_secs(6));
    assert_eq!(report.nodes["ws"].started, None);
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_scheduling_and_lets_running_nodes_finish() {
    let g = graph(
        &[("a", ok(1)), ("b", ok(1)), ("c", ok(1)), ("d", ok(3))],
        &[("b", "a"), ("c", "b")],
    );
    let token = CancellationToken::new();
    let canceller = {
        let token = token.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(1500)).await;
            token.cancel();
        })
    };
    let report = walk(&g, &WalkOptions::new().cancel(token), job)
        .await
        .unwrap();
    canceller.await.unwrap();
    assert!(report.cancelled);
    assert_eq!(report.succeeded(), vec!["a", "b", "d"]);
    assert_eq!(report.not_started(), vec!["c"]);
    assert_eq!(report.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_token_cancelled_up_front_starts_nothing() {
    let g = graph(&[("a", ok(1))], &[]);
    let token = CancellationToken::new();
    token.cancel();
    let report = walk(&g, &WalkOptions::new().cancel(token), job)
        .await
        .unwrap();
    assert_eq!(report.outcome("a"), Some(&Outcome::NotStarted));
    assert!(report.cancelled);
}

#[tokio::test(start_paused = true)]
async fn reverse_walk_runs_dependents_first_and_skips_dependencies_on_failure() {
    // Deletes: ws and aks go before vnet, vnet before rg.
    let g = graph(
        &[
            ("rg", ok(1)),
            ("vnet", ok(2)),
            ("aks", ok(3)),
            ("ws", ok(1)),
            ("store", ok(1)),
        ],
        &[
            ("vnet", "rg"),
            ("aks", "vnet"),
            ("ws", "vnet"),
            ("ws", "store"),
            ("store", "rg"),
        ],
    );
    let report = walk(&g, &WalkOptions::new().reverse(), job).await.unwrap();
    let t0 = report.started;
    assert_eq!(secs(t0, report.nodes["aks"].started), 0.0);
    assert_eq!(secs(t0, report.nodes["ws"].started), 0.0);
    assert_eq!(secs(t0, report.nodes["store"].started), 1.0);
    assert_eq!(secs(t0, report.nodes["vnet"].started), 3.0);
    assert_eq!(secs(t0, report.nodes["rg"].started), 5.0);
    assert_eq!(report.elapsed(), Duration::from_secs(6));

    // A failed delete keeps what it depends on: vnet fails, so rg is not deleted, while
    // store (which nothing failed above) still goes.
    let mut g = g;
    *g.get_mut("vnet").unwrap() = bad(2);
    let report = walk(&g, &WalkOptions::new().reverse(), job).await.unwrap();
    assert_eq!(report.skipped(), vec![("rg", "vnet")]);
    assert_eq!(report.succeeded(), vec!["aks", "store", "ws"]);
}

#[tokio::test]
async fn cycles_and_unknown_lock_keys_are_refused_before_running() {
    let g = graph(&[("a", ok(0)), ("b", ok(0))], &[("a", "b"), ("b", "a")]);
    let ran = RefCell::new(0);
    let err = walk(&g, &WalkOptions::new(), |_, _| {
        *ran.borrow_mut() += 1;
        async { Ok::<(), ()>(()) }
    })
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle: `a -> b -> a`");
    let g = graph(&[("a", ok(0))], &[]);
    let err = walk(&g, &WalkOptions::new().lock_group("zz", "g"), |_, _| {
        *ran.borrow_mut() += 1;
        async { Ok::<(), ()>(()) }
    })
    .await
    .unwrap_err();
    assert_eq!(err, GraphError::UnknownNode { key: "zz".into() });
    assert_eq!(*ran.borrow(), 0);
}

#[tokio::test]
async fn the_closure_may_borrow_from_the_caller_and_walk_is_send() {
    let g = graph(&[("a", ok(0)), ("b", ok(0))], &[("b", "a")]);
    let log = std::sync::Mutex::new(Vec::new());
    let report = walk(&g, &WalkOptions::new(), |k, _| {
        let log = &log;
        async move {
            log.lock().unwrap().push(k.to_owned());
            Ok::<(), ()>(())
        }
    })
    .await
    .unwrap();
    assert!(report.is_success());
    assert_eq!(*log.lock().unwrap(), vec!["a", "b"]);

    // The engine runs walks inside spawned tasks, so the walk future must be Send.
    let shared = std::sync::Arc::new(g);
    let handle = tokio::spawn(async move {
        walk(&shared, &WalkOptions::new(), |_, _| async {
            Ok::<(), String>(())
        })
        .await
        .map(|r| r.is_success())
    });
    assert_eq!(handle.await.unwrap(), Ok(true));
}
