//! Resource groups: the scope of everything else, and the one kind whose delete takes its contents along.

use super::{KindDef, LockGroup, Replace, Scope};
use crate::arm::MapContext;
use crate::model::Ref;
use crate::model::{Kind, Resource};
use crate::naming;
use crate::resolve::Resolver;
use moat_spec::Spanned;
use moat_spec::ast::KindSpec;
use serde_json::Value;

pub(crate) static DEF: KindDef = KindDef {
    kind: Kind::ResourceGroup,
    word: "resource_group",
    arm_type: "Microsoft.Resources/resourceGroups",
    api_version: "2024-07-01",
    scope: Scope::Subscription,
    name_rule: naming::RESOURCE_GROUP,
    typical_seconds: 2,
    replace: Replace::Allowed,
    delete_query: &[],
    lock_group: LockGroup::None,
    has_location: true,
    taggable: true,
    fields: &[],
    immutable_unlisted: false,
    carry_over: &[],
    secrets: &[],
    body,
    check,
    read_in_parent: false,
    deletes_children: &[],
    guards_contents: Some("resources"),
    soft_delete: None,
    replaced_with: &[],
};

fn body(
    _r: &Resource,
    _b: &mut Value,
    _ctx: &MapContext,
    _reference: &dyn Fn(&str) -> Option<String>,
) {
}

/// Nothing to check offline beyond the common fields.
pub(crate) fn check(
    _rs: &mut Resolver<'_>,
    _key: &str,
    _spec: &KindSpec,
    _location: &Option<Spanned<String>>,
    _refs: &mut Vec<Ref>,
    _children: &mut Vec<Resource>,
) {
}
