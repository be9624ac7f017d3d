//! The `Graph<N>` type: string-keyed nodes with a payload and "depends on" edges.
//!
//! Keys are strings because every user of the crate (resource keys, child keys such as
//! `vnet/training`) already has one, and because every output must be ordered by them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use petgraph::Direction as PgDirection;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};

use crate::error::GraphError;

/// A directed graph whose edge `from -> to` means "`from` depends on `to`": `to` must be
/// created before `from`, and deleted after it.
///
/// Every query that returns several keys returns them in a deterministic order (key order
/// unless stated otherwise), so nothing derived from a graph depends on insertion order.
#[derive(Debug, Clone)]
pub struct Graph<N> {
    inner: StableDiGraph<Node<N>, ()>,
    index: BTreeMap<String, NodeIndex>,
}

#[derive(Debug, Clone)]
struct Node<N> {
    key: String,
    payload: N,
}

impl<N> Default for Graph<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N> Graph<N> {
    /// An empty graph.
    pub fn new() -> Self {
        Self {
            inner: StableDiGraph::default(),
            index: BTreeMap::new(),
        }
    }

    /// Adds a node. A key may be added once only, so that two resources that claim the
    /// same key are reported instead of one silently replacing the other.
    pub fn add_node(&mut self, key: impl Into<String>, payload: N) -> Result<(), GraphError> {
        let key = key.into();
        if self.index.contains_key(&key) {
            return Err(GraphError::DuplicateNode { key });
        }
        let idx = self.inner.add_node(Node {
            key: key.clone(),
            payload,
        });
        self.index.insert(key, idx);
        Ok(())
    }

    /// Records that `from` depends on `to`. Both nodes must exist. Adding the same edge
    /// twice keeps one; an edge from a node to itself is kept and reported as a cycle.
    pub fn add_edge(&mut self, from: &str, to: &str) -> Result<(), GraphError> {
        let a = self.idx(from)?;
        let b = self.idx(to)?;
        if self.inner.find_edge(a, b).is_none() {
            self.inner.add_edge(a, b, ());
        }
        Ok(())
    }

    /// Whether a node with this key exists.
    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// Whether `from` directly depends on `to`.
    pub fn has_edge(&self, from: &str, to: &str) -> bool {
        match (self.index.get(from), self.index.get(to)) {
            (Some(&a), Some(&b)) => self.inner.find_edge(a, b).is_some(),
            _ => false,
        }
    }

    /// The payload of a node.
    pub fn get(&self, key: &str) -> Option<&N> {
        self.index.get(key).map(|&i| &self.inner[i].payload)
    }

    /// The payload of a node, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut N> {
        let i = *self.index.get(key)?;
        Some(&mut self.inner[i].payload)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.inner.edge_count()
    }

    /// All keys, in key order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// All nodes with their payloads, in key order.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &N)> {
        self.index
            .iter()
            .map(|(k, &i)| (k.as_str(), &self.inner[i].payload))
    }

    /// All edges `(from, to)` ("from depends on to"), sorted.
    pub fn edges(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = self
            .inner
            .edge_indices()
            .filter_map(|e| self.inner.edge_endpoints(e))
            .map(|(a, b)| (self.inner[a].key.as_str(), self.inner[b].key.as_str()))
            .collect();
        out.sort_unstable();
        out
    }

    /// The direct dependencies of `key`, in key order.
    pub fn dependencies(&self, key: &str) -> Result<Vec<&str>, GraphError> {
        self.neighbors(key, PgDirection::Outgoing)
    }

    /// The nodes that directly depend on `key`, in key order.
    pub fn dependents(&self, key: &str) -> Result<Vec<&str>, GraphError> {
        self.neighbors(key, PgDirection::Incoming)
    }

    /// `keys` plus everything they depend on, transitively.
    pub fn dependency_closure<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeSet<String>, GraphError> {
        self.closure(keys, PgDirection::Outgoing)
    }

    /// `keys` plus everything that depends on them, transitively.
    pub fn dependent_closure<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<BTreeSet<String>, GraphError> {
        self.closure(keys, PgDirection::Incoming)
    }

    /// Dense numbering of the nodes in key order, with the adjacency lists of both
    /// directions; the algorithms work on this rather than on petgraph indices so that
    /// their tie-breaking is by key.
    pub(crate) fn dense(&self) -> Dense<'_> {
        let keys: Vec<&str> = self.keys().collect();
        let mut pos = vec![usize::MAX; petgraph::visit::NodeIndexable::node_bound(&self.inner)];
        for (i, ni) in self.index.values().enumerate() {
            pos[ni.index()] = i;
        }
        let mut deps = vec![Vec::new(); keys.len()];
        let mut dependents = vec![Vec::new(); keys.len()];
        for e in self.inner.edge_indices() {
            if let Some((a, b)) = self.inner.edge_endpoints(e) {
                let (a, b) = (pos[a.index()], pos[b.index()]);
                deps[a].push(b);
                dependents[b].push(a);
            }
        }
        for list in deps.iter_mut().chain(dependents.iter_mut()) {
            list.sort_unstable();
        }
        Dense {
            keys,
            deps,
            dependents,
        }
    }

    pub(crate) fn payload_at(&self, key: &str) -> &N {
        &self.inner[self.index[key]].payload
    }

    fn idx(&self, key: &str) -> Result<NodeIndex, GraphError> {
        self.index
            .get(key)
            .copied()
            .ok_or_else(|| GraphError::UnknownNode {
                key: key.to_owned(),
            })
    }

    fn neighbors(&self, key: &str, dir: PgDirection) -> Result<Vec<&str>, GraphError> {
        let i = self.idx(key)?;
        let mut out: Vec<&str> = self
            .inner
            .neighbors_directed(i, dir)
            .map(|n| self.inner[n].key.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn closure<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
        dir: PgDirection,
    ) -> Result<BTreeSet<String>, GraphError> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::new();
        for key in keys {
            let i = self.idx(key)?;
            if seen.insert(i) {
                queue.push_back(i);
            }
        }
        while let Some(i) = queue.pop_front() {
            for n in self.inner.neighbors_directed(i, dir) {
                if seen.insert(n) {
                    queue.push_back(n);
                }
            }
        }
        Ok(seen
            .into_iter()
            .map(|i| self.inner[i].key.clone())
            .collect())
    }
}

/// Nodes numbered `0..n` in key order with sorted adjacency lists.
pub(crate) struct Dense<'g> {
    pub keys: Vec<&'g str>,
    /// `deps[i]`: the nodes `i` depends on.
    pub deps: Vec<Vec<usize>>,
    /// `dependents[i]`: the nodes that depend on `i`.
    pub dependents: Vec<Vec<usize>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Graph<u32> {
        let mut g = Graph::new();
        for (i, k) in ["rg", "vnet", "nsg", "store", "ws"].iter().enumerate() {
            g.add_node(*k, i as u32).unwrap();
        }
        g.add_edge("vnet", "rg").unwrap();
        g.add_edge("vnet", "nsg").unwrap();
        g.add_edge("nsg", "rg").unwrap();
        g.add_edge("store", "vnet").unwrap();
        g.add_edge("ws", "store").unwrap();
        g
    }

    #[test]
    fn duplicate_edges_are_kept_once() {
        let mut g = sample();
        g.add_edge("vnet", "rg").unwrap();
        assert_eq!(g.edge_count(), 5);
        assert!(g.has_edge("vnet", "rg"));
        assert!(!g.has_edge("rg", "vnet"));
    }

    #[test]
    fn duplicate_node_and_unknown_node_are_errors() {
        let mut g = sample();
        assert_eq!(
            g.add_node("rg", 9),
            Err(GraphError::DuplicateNode { key: "rg".into() })
        );
        assert_eq!(g.get("rg"), Some(&0));
        let err = g.add_edge("vnet", "missing").unwrap_err();
        assert_eq!(err.to_string(), "unknown node `missing`");
    }

    #[test]
    fn neighbours_are_sorted() {
        let g = sample();
        assert_eq!(g.dependencies("vnet").unwrap(), vec!["nsg", "rg"]);
        assert_eq!(g.dependents("rg").unwrap(), vec!["nsg", "vnet"]);
        assert_eq!(
            g.edges(),
            vec![
                ("nsg", "rg"),
                ("store", "vnet"),
                ("vnet", "nsg"),
                ("vnet", "rg"),
                ("ws", "store")
            ]
        );
    }

    #[test]
    fn closures_follow_the_right_direction() {
        let g = sample();
        let deps = g.dependency_closure(["store"]).unwrap();
        assert_eq!(
            deps.into_iter().collect::<Vec<_>>(),
            vec!["nsg", "rg", "store", "vnet"]
        );
        let dependents = g.dependent_closure(["nsg"]).unwrap();
        assert_eq!(
            dependents.into_iter().collect::<Vec<_>>(),
            vec!["nsg", "store", "vnet", "ws"]
        );
    }
}
