//! One module per command.

pub mod apply;
pub mod graph;
pub mod import;
pub mod lint;
pub mod plan;
pub mod sim;
pub mod unlock;
pub mod validate;
