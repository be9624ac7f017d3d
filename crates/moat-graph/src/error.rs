//! The one error type of the crate.

use std::fmt;

/// A dependency cycle: `path[0]` depends on `path[1]`, ..., and the last element depends
/// on `path[0]`. It starts at the smallest key of the cycle so that it prints the same way
/// on every run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cycle {
    /// The keys along the cycle, without repeating the first at the end.
    pub path: Vec<String>,
}

impl fmt::Display for Cycle {
    /// `a -> b -> c -> a`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for key in &self.path {
            write!(f, "{key} -> ")?;
        }
        match self.path.first() {
            Some(first) => write!(f, "{first}"),
            None => Ok(()),
        }
    }
}

/// What can go wrong when building or querying a graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A key was added twice.
    #[error("duplicate node `{key}`")]
    DuplicateNode {
        /// The key.
        key: String,
    },
    /// An edge or a selection named a key that is not in the graph.
    #[error("unknown node `{key}`")]
    UnknownNode {
        /// The key.
        key: String,
    },
    /// The graph has cycles, so it has no order; every cycle found is listed.
    #[error("dependency cycle: {}", display_cycles(.cycles))]
    Cycles {
        /// At least one cycle per strongly connected component, sorted.
        cycles: Vec<Cycle>,
    },
}

fn display_cycles(cycles: &[Cycle]) -> String {
    cycles
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
