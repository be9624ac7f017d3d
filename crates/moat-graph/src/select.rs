//! `--target` and `--exclude`: which nodes an apply or a destroy touches.
//!
//! Apply creates dependencies first, so a target drags in what it depends on and an
//! excluded node takes its dependents out with it. Destroy is the mirror image: a target
//! drags in what depends on it (those must go first), and an excluded node keeps
//! everything it depends on alive.

use std::collections::BTreeSet;

use crate::error::GraphError;
use crate::graph::Graph;

impl<N> Graph<N> {
    /// The keys an apply touches. With no target, every node; otherwise the targets and
    /// everything they depend on. Then each excluded node and everything that depends on
    /// it is removed. Unknown keys are errors.
    pub fn select_for_apply(
        &self,
        targets: &[&str],
        excludes: &[&str],
    ) -> Result<BTreeSet<String>, GraphError> {
        let mut keep = if targets.is_empty() {
            self.keys().map(str::to_owned).collect()
        } else {
            self.dependency_closure(targets.iter().copied())?
        };
        for gone in self.dependent_closure(excludes.iter().copied())? {
            keep.remove(&gone);
        }
        Ok(keep)
    }

    /// The keys a destroy touches. With no target, every node; otherwise the targets and
    /// everything that depends on them. Then each excluded node and everything it depends
    /// on is removed. Unknown keys are errors.
    pub fn select_for_destroy(
        &self,
        targets: &[&str],
        excludes: &[&str],
    ) -> Result<BTreeSet<String>, GraphError> {
        let mut keep = if targets.is_empty() {
            self.keys().map(str::to_owned).collect()
        } else {
            self.dependent_closure(targets.iter().copied())?
        };
        for kept_alive in self.dependency_closure(excludes.iter().copied())? {
            keep.remove(&kept_alive);
        }
        Ok(keep)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Graph, GraphError};

    // rg <- vnet <- aks <- inference
    //    <- store <- ws <- inference
    fn sample() -> Graph<()> {
        let mut g = Graph::new();
        for k in ["rg", "vnet", "aks", "store", "ws", "inference", "other"] {
            g.add_node(k, ()).unwrap();
        }
        for (a, b) in [
            ("vnet", "rg"),
            ("aks", "vnet"),
            ("store", "rg"),
            ("ws", "store"),
            ("inference", "aks"),
            ("inference", "ws"),
        ] {
            g.add_edge(a, b).unwrap();
        }
        g
    }

    fn v(set: std::collections::BTreeSet<String>) -> Vec<String> {
        set.into_iter().collect()
    }

    #[test]
    fn apply_target_takes_dependencies() {
        let g = sample();
        assert_eq!(
            v(g.select_for_apply(&["aks"], &[]).unwrap()),
            vec!["aks", "rg", "vnet"]
        );
        assert_eq!(g.select_for_apply(&[], &[]).unwrap().len(), 7);
    }

    #[test]
    fn apply_exclude_removes_dependents() {
        let g = sample();
        assert_eq!(
            v(g.select_for_apply(&[], &["store"]).unwrap()),
            vec!["aks", "other", "rg", "vnet"]
        );
        assert_eq!(
            v(g.select_for_apply(&["inference"], &["aks"]).unwrap()),
            vec!["rg", "store", "vnet", "ws"]
        );
    }

    #[test]
    fn destroy_target_takes_dependents() {
        let g = sample();
        assert_eq!(
            v(g.select_for_destroy(&["vnet"], &[]).unwrap()),
            vec!["aks", "inference", "vnet"]
        );
    }

    #[test]
    fn destroy_exclude_keeps_dependencies() {
        let g = sample();
        assert_eq!(
            v(g.select_for_destroy(&[], &["ws"]).unwrap()),
            vec!["aks", "inference", "other", "vnet"]
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let g = sample();
        assert_eq!(
            g.select_for_apply(&["nope"], &[]),
            Err(GraphError::UnknownNode { key: "nope".into() })
        );
        assert!(g.select_for_destroy(&[], &["nope"]).is_err());
    }
}
