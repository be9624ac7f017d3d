//! moat-model: the typed desired-state model. Binds a decoded spec's references, fills names,
//! locations and tags, computes ARM IDs and checks everything Azure would reject that can be
//! known offline (naming, CIDR, regions, ranges, cycles). Pure: no IO, no async.

pub mod armid;
pub mod cidr;
pub mod deferred;
pub mod kinds;
pub mod model;
pub mod naming;
pub mod regions;
pub mod resolve;
pub mod schema_facts;
pub mod secret;

pub use model::{Body, Kind, Model, Ref, Resource};
pub use resolve::{Context, LOCAL_SUBSCRIPTION, LOCAL_TENANT, STACK_TAG, default_name, resolve};
pub use schema_facts::schema_facts;

pub mod arm;
pub mod json;
