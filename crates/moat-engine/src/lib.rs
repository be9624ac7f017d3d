//! Live read, 3-way diff, plan, apply walker, state backends.

/// The state record of a stack and where it is kept: a local directory or an Azure blob,
/// each with a lock so that two applies never write the same stack.
pub mod state;
