//! The typed spec: what a user wrote, with every value's span, before references are bound or
//! defaults filled in (that is `moat-model`'s job). Variables are already substituted: a value
//! written as `${var.prefix}-rg` arrives here as `mlsec-rg`, still pointing at its source.
//!
//! The field lists below are the v1 spec language; `docs/spec.md` documents them and
//! `schemas/moat.schema.json` is generated from them.

use crate::codes;
use crate::decode::{Cx, Decode, Map, MapReader};
use crate::diag::Diagnostic;
use crate::span::{Span, Spanned};
use crate::suggest::did_you_mean;
use crate::yaml::{Node, Value};
use crate::{spec_enum, spec_struct};

pub use crate::kinds::*;
use serde_json::json;

spec_enum! {
    /// On/off switches that Azure spells `Enabled`/`Disabled`.
    Toggle { Enabled = "enabled", Disabled = "disabled" }
}

spec_enum! {
    /// Allow or deny, for security rules and firewall default actions.
    Access { Allow = "allow", Deny = "deny" }
}

/// One value or a list of values (`source: VirtualNetwork` or `source: [10.0.0.0/8, …]`).
#[derive(Clone, Debug, PartialEq)]
pub struct OneOrMany(pub Vec<Spanned<String>>);

impl Decode for OneOrMany {
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
        match &node.value {
            Value::Seq(_) => Vec::<Spanned<String>>::decode(node, cx).map(OneOrMany),
            _ => Spanned::<String>::decode(node, cx).map(|s| OneOrMany(vec![s])),
        }
    }
    fn schema() -> serde_json::Value {
        json!({ "anyOf": [ { "type": ["string", "integer"] }, { "type": "array", "items": { "type": ["string", "integer"] } } ] })
    }
}

/// A list of strings, each with its span.
pub(crate) type List = Vec<Spanned<String>>;

spec_struct! {
    /// Marks a resource this stack reads but never writes: give `id`, or `resource_group` and `name`.
    Existing ("existing") {
        /// Full ARM resource ID.
        id: opt String,
        /// Resource group name (not a reference: the group is not managed here).
        resource_group: opt String,
        /// Resource name.
        name: opt String,
    }
}

spec_struct! {
    /// Where the state record lives when it is not local: an Azure Blob (the lease is the lock).
    Backend ("backend") {
        /// Storage account name.
        account: req String,
        /// Blob container.
        container: req String,
        /// Blob name (default `<stack>.moatstate`).
        blob: opt String,
        /// Blob endpoint (default `https://<account>.blob.core.windows.net`); e.g. Azurite's.
        endpoint: opt String,
    }
}

/// Fields every resource may have besides its kind's own.
pub const COMMON_FIELDS: &[&str] = &[
    "type",
    "name",
    "location",
    "tags",
    "depends_on",
    "existing",
    "protect",
];

/// One entry under `resources:`.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// The key under `resources:`; references use it.
    pub key: Spanned<String>,
    /// The `type:`.
    pub ty: Spanned<ResourceType>,
    /// `name:` (defaults to the key in the model).
    pub name: Option<Spanned<String>>,
    /// `location:` (defaults to the spec's).
    pub location: Option<Spanned<String>>,
    /// `tags:`, merged over the spec's.
    pub tags: Option<Spanned<Map<String>>>,
    /// Explicit extra dependencies (keys).
    pub depends_on: Option<Spanned<Vec<Spanned<String>>>>,
    /// Set for read-only resources.
    pub existing: Option<Spanned<Existing>>,
    /// `protect: true`: a plan that would delete or replace it is an error.
    pub protect: Option<Spanned<bool>>,
    /// The kind-specific fields; `None` for `existing:` resources.
    pub body: Option<KindSpec>,
    /// The whole resource mapping.
    pub span: Span,
    /// Decoding this resource reported an error, so some value it was given may be missing
    /// here: later stages skip checks that would only echo that error (a "defaulted" name that
    /// was in fact given with a broken `${…}`).
    pub broken: bool,
}

impl Resource {
    fn decode(key: &Spanned<String>, node: &Node, cx: &mut Cx<'_>) -> Option<Resource> {
        let saved = cx.set_owner(key.span);
        let res = Self::decode_inner(key, node, cx);
        cx.set_owner(saved);
        res
    }

    fn decode_inner(key: &Spanned<String>, node: &Node, cx: &mut Cx<'_>) -> Option<Resource> {
        let mut r = MapReader::new(node, &format!("resource `{}`", key.value), cx)?;
        let Some(ty_entry) = r.take("type") else {
            cx.push(
                Diagnostic::error(
                    codes::E0112,
                    format!("resource `{}` has no `type`", key.value),
                    key.span,
                )
                .label("`type` is required")
                .hint(format!(
                    "add `type:` with one of: {}",
                    ResourceType::WORDS.join(", ")
                )),
            );
            return None;
        };
        let ty_text = String::decode(&ty_entry.value, cx)?;
        let Some(ty) = ResourceType::from_word(&ty_text) else {
            let hint = match did_you_mean(&ty_text, ResourceType::WORDS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the resource types are: {}", ResourceType::WORDS.join(", ")),
            };
            cx.push(
                Diagnostic::error(
                    codes::E0113,
                    format!("unknown resource type `{ty_text}`"),
                    ty_entry.value.span,
                )
                .label("not a resource type")
                .hint(hint),
            );
            return None;
        };
        let ty = Spanned::new(ty, ty_entry.value.span);
        let name = r.opt::<String>("name", cx);
        let location = r.opt::<String>("location", cx);
        let tags = r.opt::<Map<String>>("tags", cx);
        let depends_on = r.opt::<Vec<Spanned<String>>>("depends_on", cx);
        let existing = r.opt::<Existing>("existing", cx);
        let protect = r.opt::<bool>("protect", cx);
        let has_existing = r.has("existing");
        let mut known: Vec<&str> = COMMON_FIELDS.to_vec();
        known.extend(ty.value.fields());
        let body = if has_existing {
            // Read-only resources take no kind fields: report each one rather than ignoring it.
            for field in ty.value.fields() {
                if let Some(e) = r.take(field) {
                    cx.push(
                        Diagnostic::error(codes::E0111, format!("`{field}` cannot be set on an `existing:` resource"), e.key.span)
                            .label("moat never writes existing resources")
                            .hint("remove the field, or drop `existing:` to let this stack manage the resource"),
                    );
                }
            }
            None
        } else {
            ty.value.read_body(&mut r, cx)
        };
        let span = r.span();
        r.finish(cx, &known);
        if !has_existing && body.is_none() {
            return None;
        }
        Some(Resource {
            key: key.clone(),
            ty,
            name,
            location,
            tags,
            depends_on,
            existing,
            protect,
            body,
            span,
            broken: false,
        })
    }
}

/// A declared variable.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    /// The default value; none means it must be given with `--var`.
    pub default: Option<Spanned<String>>,
    /// What it is for.
    pub description: Option<Spanned<String>>,
}

impl Decode for Variable {
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
        if let Value::Scalar(_) = node.value {
            return Some(Variable {
                default: Spanned::<String>::decode(node, cx),
                description: None,
            });
        }
        let mut r = MapReader::new(node, "a variable", cx)?;
        let default = r.opt::<String>("default", cx);
        let description = r.opt::<String>("description", cx);
        r.finish(cx, &["default", "description"]);
        Some(Variable {
            default,
            description,
        })
    }
    fn schema() -> serde_json::Value {
        json!({ "anyOf": [
            { "type": ["string", "integer", "boolean"] },
            { "type": "object", "additionalProperties": false, "properties": {
                "default": { "type": ["string", "integer", "boolean"], "description": "Value used when no `--var NAME=VALUE` is given." },
                "description": { "type": "string" } } }
        ] })
    }
}

/// A whole spec file.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// What this spec owns: the state key and the `moat-stack` ownership tag.
    pub stack: Spanned<String>,
    /// Subscription GUID; when absent the CLI picks one (see DESIGN.md).
    pub subscription: Option<Spanned<String>>,
    /// Default location of every resource.
    pub location: Option<Spanned<String>>,
    /// Tags merged into every taggable resource.
    pub tags: Option<Spanned<Map<String>>>,
    /// Declared variables with their resolved values.
    pub variables: Vec<(Spanned<String>, Spanned<String>)>,
    /// Remote state.
    pub backend: Option<Spanned<Backend>>,
    /// Resources by key, in source order.
    pub resources: Vec<Resource>,
    /// Keys of resources whose declaration reported an error, kept or dropped: references to
    /// them are not reported again as unknown (or as naming a missing subnet).
    pub broken: Vec<String>,
    /// Every secret field value of the spec (references and literals), where it was written:
    /// the CLI reads them (`moat_model::secret`), nothing else does.
    pub secrets: Vec<Spanned<crate::secret::Secret>>,
}

/// Top-level keys of a spec.
pub const TOP_FIELDS: &[&str] = &[
    "stack",
    "subscription",
    "location",
    "tags",
    "variables",
    "backend",
    "resources",
];

/// Variable values given on the command line (`--var K=V`).
#[derive(Clone, Debug, Default)]
pub struct VarOverrides(pub Vec<(String, String)>);

impl Spec {
    /// Decodes a parsed document. Returns the spec (when it could be built at all) and records
    /// every problem in `cx`.
    pub fn decode(root: &Node, overrides: &VarOverrides, cx: &mut Cx<'_>) -> Option<Spec> {
        if let Value::Null = root.value {
            cx.push(
                Diagnostic::error(codes::E0001, "the spec is empty", root.span).hint(
                    "a spec needs at least `stack:` and `resources:`; see examples/minimal.yaml",
                ),
            );
            return None;
        }
        if !matches!(root.value, Value::Map(_)) {
            let mut d = Diagnostic::error(
                codes::E0110,
                format!(
                    "a spec is a mapping, but this file holds {}",
                    root.kind_name()
                ),
                root.span,
            )
            .label("expected `stack:`, `resources:`, … at the top level");
            if matches!(root.value, Value::Seq(_)) {
                d = d.hint("remove the leading `- `: the top-level keys are not list items");
            } else {
                d = d.hint(
                    "a spec needs at least `stack:` and `resources:`; see examples/minimal.yaml",
                );
            }
            cx.push(d);
            return None;
        }
        let mut r = MapReader::new(root, "the spec", cx)?;
        // Variables first: every other value may interpolate them.
        let declared = r.opt::<Map<Variable>>("variables", cx);
        let mut values = Vec::new();
        let mut resolved = std::collections::BTreeMap::new();
        let declared_names: Vec<String> = declared
            .as_ref()
            .map(|d| d.value.iter().map(|(k, _)| k.value.clone()).collect())
            .unwrap_or_default();
        for (name, _) in &overrides.0 {
            if !declared_names.contains(name) {
                let hint = did_you_mean(name, declared_names.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "declare it under `variables:` first".to_string());
                let d = match &declared {
                    Some(decl) => Diagnostic::error(
                        codes::E0122,
                        format!("`--var {name}=…` names no declared variable"),
                        decl.span,
                    )
                    .label("the variables this spec declares"),
                    None => Diagnostic::error(
                        codes::E0122,
                        format!("`--var {name}=…` names no declared variable"),
                        Span::point(0),
                    )
                    .label("this spec declares no `variables:`"),
                };
                cx.push(d.hint(hint));
            }
        }
        if let Some(decl) = &declared {
            for (name, var) in decl.value.iter() {
                let given = overrides.0.iter().rev().find(|(k, _)| *k == name.value);
                let value = match (given, &var.value.default) {
                    (Some((_, v)), _) => Spanned::new(v.clone(), name.span),
                    (None, Some(d)) => d.clone(),
                    (None, None) => {
                        cx.push(
                            Diagnostic::error(
                                codes::E0122,
                                format!("variable `{}` has no value", name.value),
                                name.span,
                            )
                            .label("no default")
                            .hint(format!(
                                "pass `--var {}=VALUE`, or give it a `default:`",
                                name.value
                            )),
                        );
                        cx.mark_valueless(&name.value);
                        continue;
                    }
                };
                resolved.insert(name.value.clone(), value.value.clone());
                values.push((name.clone(), value));
            }
        }
        cx.set_vars(resolved);
        let stack =
            r.req_doc::<String>("stack", "What this spec owns, e.g. `stack: secure-ml`", cx);
        let subscription = r.opt::<String>("subscription", cx);
        let location = r.opt::<String>("location", cx);
        let tags = r.opt::<Map<String>>("tags", cx);
        let backend = r.opt::<Backend>("backend", cx);
        let mut broken = Vec::new();
        let resources = match r.take("resources") {
            None => {
                let at = Span::new(root.span.start as usize, root.span.start as usize + 1);
                cx.push(
                    Diagnostic::error(codes::E0112, "missing field `resources` in the spec", at)
                        .label("`resources` is required")
                        .hint("list what this stack manages under `resources:`"),
                );
                Vec::new()
            }
            Some(entry) => match entry.value.as_map() {
                Some(entries) => entries
                    .iter()
                    .filter_map(|e| {
                        let before = cx.diags.len();
                        let res = Resource::decode(&e.key, &e.value, cx);
                        let failed = cx.diags[before..].iter().any(Diagnostic::is_error);
                        if failed {
                            broken.push(e.key.value.clone());
                        }
                        res.map(|r| Resource {
                            broken: failed,
                            ..r
                        })
                    })
                    .collect(),
                None => {
                    cx.type_error(&entry.value, "a mapping of resources by key");
                    Vec::new()
                }
            },
        };
        r.finish(cx, TOP_FIELDS);
        Some(Spec {
            stack: stack?,
            subscription,
            location,
            tags,
            variables: values,
            backend,
            resources,
            broken,
            secrets: std::mem::take(&mut cx.secrets),
        })
    }
}
