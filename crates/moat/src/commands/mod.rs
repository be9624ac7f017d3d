//! One module per command.

pub mod apply;
pub mod graph;
pub mod import;
pub mod info;
pub mod lint;
pub mod outputs;
pub mod plan;
pub mod show;
pub mod sim;
pub mod state;
pub mod unlock;
pub mod validate;
