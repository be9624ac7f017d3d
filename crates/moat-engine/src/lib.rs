//! moat-engine: live read → 3-way diff → [`plan::Plan`] → apply walker; state backends and
//! locks; plan renderers. The engine reaches Azure only through the [`moat_arm::Arm`] port.

pub mod apply;
pub mod diff;
pub mod drift;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod identity;
pub mod live;
mod par;
pub mod plan;
pub mod protect;
pub mod render;
/// The state record of a stack and where it is kept: a local directory or an Azure blob,
/// each with a lock so that two applies never write the same stack.
pub mod state;
