//! `--target` and `--exclude`: which nodes an apply or a destroy touches.
//!
//! Apply creates dependencies first, so a target drags in what it depends on and an
//! excluded node takes its dependents out with it. Destroy is the mirror image: a target
//! drags in what cannot exist without it (its dependents over *hard* edges), never what it
//! depends on; a dependent that only refers to it over a *soft* edge survives and drops the
//! reference. An excluded node is left alone with what needs it, and so is everything they
//! depend on.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

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
}

/// What a targeted destroy does: [`Graph::select_for_targeted_destroy`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestroySelection {
    /// The nodes to delete.
    pub delete: BTreeSet<String>,
    /// Surviving nodes that refer (over a soft edge) to deleted ones: node → the deleted
    /// nodes whose reference it drops.
    pub drop_refs: BTreeMap<String, BTreeSet<String>>,
}

impl<N> Graph<N> {
    /// The destroy of `targets` (every node when empty) minus `excludes`, where `soft(a, b)`
    /// says that `a` only refers to its dependency `b` and can drop the reference, and
    /// `member(a, b)` that `a` merely sits in the container `b` (a resource in its group).
    ///
    /// A target takes along every node that depends on it over a hard edge (membership
    /// included: a deleted container takes its members), transitively; its own dependencies
    /// are never taken. An excluded node, every node that depends on it over a hard edge
    /// other than membership ("what needs it": keeping a container keeps only the
    /// container) and everything those depend on (over any edge: what is left alone keeps
    /// its references) are not deleted. Every other
    /// survivor with a soft edge to a deleted node is listed in `drop_refs`. No survivor
    /// ever has a hard edge to a deleted node. Unknown keys are errors.
    pub fn select_for_targeted_destroy(
        &self,
        targets: &[&str],
        excludes: &[&str],
        soft: impl Fn(&str, &str) -> bool,
        member: impl Fn(&str, &str) -> bool,
    ) -> Result<DestroySelection, GraphError> {
        let closure = |start: &[&str],
                       follow: &dyn Fn(&str, &str) -> bool|
         -> Result<BTreeSet<String>, GraphError> {
            let mut seen: BTreeSet<String> = BTreeSet::new();
            let mut queue: VecDeque<String> = VecDeque::new();
            for k in start {
                self.dependents(k)?;
                if seen.insert((*k).to_string()) {
                    queue.push_back((*k).to_string());
                }
            }
            while let Some(k) = queue.pop_front() {
                for d in self.dependents(&k)? {
                    if follow(d, &k) && seen.insert(d.to_string()) {
                        queue.push_back(d.to_string());
                    }
                }
            }
            Ok(seen)
        };
        let mut delete = if targets.is_empty() {
            self.keys().map(str::to_owned).collect()
        } else {
            closure(targets, &|a, b| !soft(a, b))?
        };
        let left_alone = closure(excludes, &|a, b| !soft(a, b) && !member(a, b))?;
        for k in self.dependency_closure(left_alone.iter().map(String::as_str))? {
            delete.remove(&k);
        }
        let mut drop_refs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in self.edges() {
            if !delete.contains(from) && delete.contains(to) {
                debug_assert!(
                    soft(from, to),
                    "a survivor with a hard edge to a deleted node"
                );
                drop_refs
                    .entry(from.to_string())
                    .or_default()
                    .insert(to.to_string());
            }
        }
        Ok(DestroySelection { delete, drop_refs })
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

    // rg <- vnet <- vnet/a <- compute;  nsg <- vnet/a (soft);  vnet/a <- store (soft);
    // vnet <- vnet/b <- aks;  store <- ws <- compute
    fn network() -> Graph<()> {
        let mut g = Graph::new();
        for k in [
            "rg", "vnet", "vnet/a", "vnet/b", "nsg", "store", "ws", "compute", "aks",
        ] {
            g.add_node(k, ()).unwrap();
        }
        for (a, b) in [
            ("vnet", "rg"),
            ("vnet/a", "vnet"),
            ("vnet/b", "vnet"),
            ("vnet/a", "nsg"),
            ("nsg", "rg"),
            ("store", "vnet/a"),
            ("store", "rg"),
            ("ws", "store"),
            ("compute", "ws"),
            ("compute", "vnet/a"),
            ("aks", "vnet/b"),
        ] {
            g.add_edge(a, b).unwrap();
        }
        g
    }

    fn soft(a: &str, b: &str) -> bool {
        matches!((a, b), ("vnet/a", "nsg") | ("store", "vnet/a"))
    }

    fn member(_: &str, b: &str) -> bool {
        b == "rg"
    }

    #[test]
    fn targeted_destroy_takes_hard_dependents_never_parents() {
        let g = network();
        let s = g
            .select_for_targeted_destroy(&["vnet/a"], &[], soft, member)
            .unwrap();
        assert_eq!(v(s.delete), vec!["compute", "vnet/a"]);
        assert_eq!(
            s.drop_refs.into_iter().collect::<Vec<_>>(),
            vec![("store".to_string(), ["vnet/a".to_string()].into())]
        );
        let s = g
            .select_for_targeted_destroy(&["nsg"], &[], soft, member)
            .unwrap();
        assert_eq!(v(s.delete), vec!["nsg"]);
        assert_eq!(s.drop_refs.keys().collect::<Vec<_>>(), vec!["vnet/a"]);
        // A parent takes its children and what is in them, not its siblings' users' refs.
        let s = g
            .select_for_targeted_destroy(&["vnet"], &[], soft, member)
            .unwrap();
        assert_eq!(
            v(s.delete),
            vec!["aks", "compute", "vnet", "vnet/a", "vnet/b"]
        );
        assert_eq!(s.drop_refs.keys().collect::<Vec<_>>(), vec!["store"]);
    }

    #[test]
    fn targeted_destroy_exclude_leaves_what_needs_it_and_what_they_need() {
        let g = network();
        // ws is left alone with compute (needs it), and with store, vnet/a, nsg, vnet, rg
        // (what they need, soft references included); aks and vnet/b go.
        let s = g
            .select_for_targeted_destroy(&[], &["ws"], soft, member)
            .unwrap();
        assert_eq!(v(s.delete), vec!["aks", "vnet/b"]);
        assert!(s.drop_refs.is_empty());
        // Excluding what a target's dependent needs keeps that dependent out too.
        let s = g
            .select_for_targeted_destroy(&["vnet/a"], &["compute"], soft, member)
            .unwrap();
        assert!(s.delete.is_empty());
        // Keeping a container keeps only it; destroying it takes its members.
        let s = g
            .select_for_targeted_destroy(&[], &["rg"], soft, member)
            .unwrap();
        assert_eq!(
            v(s.delete),
            vec![
                "aks", "compute", "nsg", "store", "vnet", "vnet/a", "vnet/b", "ws"
            ]
        );
        let s = g
            .select_for_targeted_destroy(&["rg"], &[], soft, member)
            .unwrap();
        assert_eq!(s.delete.len(), 9);
        assert!(
            g.select_for_targeted_destroy(&["nope"], &[], soft, member)
                .is_err()
        );
        assert!(
            g.select_for_targeted_destroy(&[], &["nope"], soft, member)
                .is_err()
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let g = sample();
        assert_eq!(
            g.select_for_apply(&["nope"], &[]),
            Err(GraphError::UnknownNode { key: "nope".into() })
        );
    }
}
