//! A generic directed acyclic graph for moat: string-keyed nodes, "depends on" edges,
//! cycle paths, deterministic orders, `--target`/`--exclude` selection, text dumps, and
//! a parallel ready-set walker for applies and deletes.
//!
//! Nothing here knows about Azure: the model uses it to find reference cycles, the
//! planner and the apply walker to order resources, and `moat graph` to print them.
//!
//! ```
//! use moat_graph::Graph;
//!
//! let mut g = Graph::new();
//! g.add_node("rg", ()).unwrap();
//! g.add_node("vnet", ()).unwrap();
//! g.add_edge("vnet", "rg").unwrap(); // vnet depends on rg
//! assert_eq!(g.topo_order().unwrap(), ["rg", "vnet"]);
//! assert_eq!(g.reverse_order().unwrap(), ["vnet", "rg"]);
//! assert_eq!(g.to_text(), "vnet -> rg\n");
//! ```

mod dump;
mod error;
mod graph;
mod order;
mod select;
mod walk;

pub use error::{Cycle, GraphError};
pub use graph::Graph;
pub use select::DestroySelection;
pub use tokio_util::sync::CancellationToken;
pub use walk::{NodeReport, Outcome, WalkDirection, WalkOptions, WalkReport, walk};
