//! One module per command.

pub mod graph;
pub mod lint;
pub mod validate;
