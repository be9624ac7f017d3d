//! Measures building, ordering and walking a 10 000-node / 30 000-edge graph, so the
//! figure in the crate's report can be reproduced: `cargo run --release --example perf`.

use std::time::Instant;

use moat_graph::{Graph, WalkOptions, walk};

fn main() {
    const NODES: usize = 10_000;
    const EDGES_PER_NODE: usize = 3;
    let keys: Vec<String> = (0..NODES).map(|i| format!("node-{i:05}")).collect();

    let t = Instant::now();
    let mut g = Graph::new();
    for k in &keys {
        g.add_node(k.clone(), ()).expect("unique keys");
    }
    // Each node depends on three earlier ones chosen by a fixed LCG, so the graph is a
    // DAG and the run is reproducible.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 1..NODES {
        for _ in 0..EDGES_PER_NODE {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let j = (seed >> 33) as usize % i;
            g.add_edge(&keys[i], &keys[j]).expect("known keys");
        }
    }
    let built = t.elapsed();

    let t = Instant::now();
    let order = g.topo_order().expect("acyclic");
    let sorted = t.elapsed();
    let t = Instant::now();
    let cycles = g.cycles();
    let cycle_check = t.elapsed();
    let t = Instant::now();
    let text = g.to_text();
    let dumped = t.elapsed();

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let t = Instant::now();
    let report = rt
        .block_on(walk(
            &g,
            &WalkOptions::new().parallelism(16),
            |_, _| async { Ok::<(), ()>(()) },
        ))
        .expect("acyclic");
    let walked = t.elapsed();

    println!(
        "{} nodes, {} edges (duplicates dropped), {} cycles",
        g.len(),
        g.edge_count(),
        cycles.len()
    );
    println!("build:       {built:?}");
    println!("topo order:  {sorted:?} ({} keys)", order.len());
    println!("cycle check: {cycle_check:?}");
    println!("text dump:   {dumped:?} ({} bytes)", text.len());
    println!(
        "walk (no-op nodes, cap 16): {walked:?}, all succeeded: {}",
        report.is_success()
    );
}
