//! Cycle detection and deterministic orders: topological order, and the reverse order the
//! planner deletes in.
//!
//! Ties are always broken by key order so that plans, logs and dumps are stable.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use petgraph::graph::DiGraph;

use crate::error::{Cycle, GraphError};
use crate::graph::{Dense, Graph};

impl<N> Graph<N> {
    /// Every cycle of the graph, at least one per strongly connected component that has
    /// a cycle, each starting at the smallest key of its component, sorted. Empty for a
    /// DAG.
    pub fn cycles(&self) -> Vec<Cycle> {
        cycles_of(&self.dense())
    }

    /// Fails with [`GraphError::Cycles`] if the graph has a cycle.
    pub fn check_acyclic(&self) -> Result<(), GraphError> {
        self.topo_order().map(|_| ())
    }

    /// Every key, dependencies before dependents; among nodes whose dependencies are all
    /// placed, the smallest key comes first.
    pub fn topo_order(&self) -> Result<Vec<&str>, GraphError> {
        let d = self.dense();
        kahn(&d, &d.deps, &d.dependents).map(|order| order.into_iter().map(|i| d.keys[i]).collect())
    }

    /// Every key, dependents before dependencies (the order to delete in); among nodes
    /// whose dependents are all placed, the smallest key comes first.
    pub fn reverse_order(&self) -> Result<Vec<&str>, GraphError> {
        let d = self.dense();
        kahn(&d, &d.dependents, &d.deps).map(|order| order.into_iter().map(|i| d.keys[i]).collect())
    }
}

/// Kahn's algorithm where `before[i]` must all be placed before `i`, and `after[i]` are
/// the nodes waiting on `i`.
pub(crate) fn kahn(
    d: &Dense<'_>,
    before: &[Vec<usize>],
    after: &[Vec<usize>],
) -> Result<Vec<usize>, GraphError> {
    let n = d.keys.len();
    let mut waiting: Vec<usize> = before.iter().map(Vec::len).collect();
    let mut heap: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| waiting[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = heap.pop() {
        order.push(i);
        for &j in &after[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                heap.push(Reverse(j));
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err(GraphError::Cycles {
            cycles: cycles_of(d),
        })
    }
}

fn cycles_of(d: &Dense<'_>) -> Vec<Cycle> {
    let n = d.keys.len();
    let mut pg: DiGraph<(), ()> = DiGraph::with_capacity(n, 0);
    for _ in 0..n {
        pg.add_node(());
    }
    for (a, deps) in d.deps.iter().enumerate() {
        for &b in deps {
            pg.add_edge((a as u32).into(), (b as u32).into(), ());
        }
    }
    let mut cycles = Vec::new();
    for scc in petgraph::algo::tarjan_scc(&pg) {
        let members: Vec<usize> = scc.iter().map(|ix| ix.index()).collect();
        let Some(&start) = members.iter().min() else {
            continue;
        };
        if members.len() == 1 && !d.deps[start].contains(&start) {
            continue;
        }
        if let Some(path) = shortest_cycle_through(d, start, &members) {
            cycles.push(Cycle {
                path: path.into_iter().map(|i| d.keys[i].to_owned()).collect(),
            });
        }
    }
    cycles.sort();
    cycles
}

/// Breadth-first search inside one strongly connected component for the shortest way
/// back to `start`, visiting dependencies in key order, so the reported path is short and
/// stable.
fn shortest_cycle_through(d: &Dense<'_>, start: usize, members: &[usize]) -> Option<Vec<usize>> {
    let inside: std::collections::BTreeSet<usize> = members.iter().copied().collect();
    let mut parent: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(u) = queue.pop_front() {
        for &v in &d.deps[u] {
            if v == start {
                let mut path = vec![u];
                let mut cur = u;
                while cur != start {
                    cur = parent[&cur];
                    path.push(cur);
                }
                path.reverse();
                return Some(path);
            }
            if inside.contains(&v) && !parent.contains_key(&v) {
                parent.insert(v, u);
                queue.push_back(v);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::{Graph, GraphError};

    fn graph(nodes: &[&str], edges: &[(&str, &str)]) -> Graph<()> {
        let mut g = Graph::new();
        for n in nodes {
            g.add_node(*n, ()).unwrap();
        }
        for (a, b) in edges {
            g.add_edge(a, b).unwrap();
        }
        g
    }

    #[test]
    fn topo_order_breaks_ties_by_key() {
        // Insertion order is deliberately not key order.
        let g = graph(
            &["z", "b", "a", "m", "c"],
            &[("m", "z"), ("c", "a"), ("b", "a")],
        );
        assert_eq!(g.topo_order().unwrap(), vec!["a", "b", "c", "z", "m"]);
        assert_eq!(g.reverse_order().unwrap(), vec!["b", "c", "a", "m", "z"]);
    }

    #[test]
    fn cycles_report_the_full_path_per_component() {
        let g = graph(
            &["a", "b", "c", "d", "e", "f", "ok"],
            &[
                ("c", "a"),
                ("a", "b"),
                ("b", "c"),
                ("e", "d"),
                ("d", "e"),
                ("f", "f"),
                ("ok", "a"),
            ],
        );
        let cycles: Vec<String> = g.cycles().iter().map(ToString::to_string).collect();
        assert_eq!(cycles, vec!["a -> b -> c -> a", "d -> e -> d", "f -> f"]);
        let err = g.topo_order().unwrap_err();
        assert_eq!(
            err.to_string(),
            "dependency cycle: `a -> b -> c -> a`, `d -> e -> d`, `f -> f`"
        );
        assert!(matches!(err, GraphError::Cycles { .. }));
        assert!(g.reverse_order().is_err());
    }

    #[test]
    fn cycle_path_is_the_shortest_through_the_smallest_key() {
        // a -> b -> c -> d -> a and a shortcut b -> d.
        let g = graph(
            &["a", "b", "c", "d"],
            &[("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("b", "d")],
        );
        assert_eq!(g.cycles()[0].to_string(), "a -> b -> d -> a");
    }

    #[test]
    fn dag_has_no_cycle() {
        let g = graph(&["a", "b"], &[("a", "b")]);
        assert!(g.cycles().is_empty());
        assert!(g.check_acyclic().is_ok());
        let empty: Graph<()> = Graph::new();
        assert_eq!(empty.topo_order().unwrap(), Vec::<&str>::new());
    }
}
