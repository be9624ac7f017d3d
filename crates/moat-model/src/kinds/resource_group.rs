//! Resource groups: the scope of everything else, and the one kind whose delete takes its contents along.

use super::{KindDef, Scope, Site};
use crate::arm::MapContext;
use crate::model::{Kind, Resource};
use crate::naming;
use crate::resolve::Resolver;
use moat_spec::ast::KindSpec;
use serde_json::Value;

pub(crate) static DEF: KindDef = KindDef {
    // `ResourceGroups_List` (resources.json 2024-07-01) returns `ResourceGroupListResult` of
    // the same `ResourceGroup` schema as `ResourceGroups_Get` (location, tags, managedBy).
    list_view_complete: true,
    guards_contents: Some("resources"),
    ..KindDef::new(
        Kind::ResourceGroup,
        "resource_group",
        "Microsoft.Resources/resourceGroups",
        "2024-07-01",
        Scope::Subscription,
        naming::RESOURCE_GROUP,
        2,
        body,
        check,
    )
};

fn body(_r: &Resource, _b: &mut Value, _ctx: &MapContext) {}

/// Nothing to check offline beyond the common fields.
pub(crate) fn check(_rs: &mut Resolver<'_>, _spec: &KindSpec, _site: Site<'_>) {}
