//! Microsoft.Resources: resource groups, their deletion (which takes everything inside), and
//! the generic resource lists.

use super::{KindDef, check_tags, no_refs, not_routed, patch_tags, require_location};
use crate::ctx::{Ctx, Span, View};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath, rg_id};
use crate::lro::{self, LroStyle, PollUrls};
use crate::reply::Reply;
use crate::store::{DeletedVault, Record, State};
use crate::util;
use serde_json::{Value, json};

/// Resource groups: created synchronously, deleted with a `Location` poll.
pub const DEF: KindDef = KindDef {
    kind: Kind::ResourceGroup,
    // The router sends resource groups to [`handle`], never through the generic instance path.
    put: not_routed,
    patch: patch_tags,
    delete: not_routed_delete,
    render,
    refs: no_refs,
    lro: Some(LRO),
    // Created synchronously (BEHAVIOR.md §1.1: PUT 201 sync).
    create: Span::fixed(0.0),
    variants: &[],
    // A group's delete takes at least this long; its members' deletes add to it
    // (recorded: 78 s for a group holding a few Network resources).
    delete_secs: 30.0,
};

/// `…/subscriptions/{sub}/operationresults/{op}`, `Location` only.
const LRO: LroStyle = LroStyle {
    urls: PollUrls::Subscription {
        query: "api-version=2024-07-01",
    },
    retry_after: 15.0,
    retry_bounds: None,
    status_name: false,
    status_times: false,
    percent_complete: false,
    delete_done: 200,
    running: "InProgress",
};

fn not_routed_delete(_ctx: &mut Ctx, _rp: &ResPath) -> ArmResult<Reply> {
    Err(ArmError::bad_request("InvalidResourceType", "unexpected"))
}

/// Fills in the computed parts of a resource group body.
fn render(_st: &State, rec: &Record, v: &mut Value, _now: f64) {
    let state = if rec.deleting_until.is_some() {
        "Deleting"
    } else {
        "Succeeded"
    };
    util::set_at(v, "/properties", "provisioningState", json!(state));
}

/// Checks a resource group name the way ARM does.
fn check_name(rg: &str) -> ArmResult<()> {
    let ok = !rg.is_empty()
        && rg.len() <= 90
        && !rg.ends_with('.')
        && rg
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if ok {
        Ok(())
    } else {
        Err(ArmError::bad_request(
            "InvalidResourceGroup",
            format!(
                "The provided resource group name '{rg}' has these invalid characters: '{}'. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.",
                rg
            ),
        ))
    }
}

/// Handles `/subscriptions/{sub}/resourcegroups/{rg}`.
pub fn handle(
    ctx: &mut Ctx,
    method: &str,
    sub: &str,
    rg: &str,
    body: Option<Value>,
) -> ArmResult<Reply> {
    let id = rg_id(sub, rg);
    let existing = ctx.st.get(&id).cloned();
    match method {
        "GET" | "HEAD" => match existing {
            Some(rec) if method == "GET" => {
                Ok(Reply::json(200, super::render(ctx.st, &rec, ctx.now)))
            }
            Some(_) => Ok(Reply::empty(204)),
            None if method == "HEAD" => Ok(Reply::empty(404)),
            None => Err(ArmError::rg_not_found(rg)),
        },
        "PUT" => {
            check_name(rg)?;
            let mut body = body.filter(Value::is_object).ok_or_else(|| {
                ArmError::invalid_content("The request body must be a JSON object")
            })?;
            if existing
                .as_ref()
                .is_some_and(|r| r.deleting_until.is_some())
            {
                return Err(ArmError::new(
                    409,
                    "ResourceGroupBeingDeleted",
                    format!(
                        "The resource group '{rg}' is in deprovisioning state and cannot perform this operation."
                    ),
                ));
            }
            let loc = require_location(&mut body)?;
            check_tags(&mut body)?;
            if let Some(old) = &existing
                && !old.location().eq_ignore_ascii_case(&loc)
            {
                return Err(ArmError::new(
                    409,
                    "InvalidResourceGroupLocation",
                    format!(
                        "Invalid resource group location '{loc}'. The Resource group already exists in location '{}'.",
                        old.location()
                    ),
                ));
            }
            let name = existing
                .as_ref()
                .map(|r| r.name().to_string())
                .unwrap_or(rg.to_string());
            let id = existing.as_ref().map(|r| r.id.clone()).unwrap_or(id);
            let mut stored = json!({"id": id, "name": name, "type": "Microsoft.Resources/resourceGroups", "location": loc});
            for f in ["managedBy", "tags"] {
                if let Some(v) = body.get(f) {
                    util::set_at(&mut stored, "", f, v.clone());
                }
            }
            let created = existing.is_none();
            let now = ctx.now;
            let rec = Record {
                id: id.clone(),
                kind: Kind::ResourceGroup,
                sub: sub.to_string(),
                rg: name,
                body: stored,
                created: existing.as_ref().map(|r| r.created).unwrap_or(now),
                modified: now,
                busy_until: now,
                transitional: "Succeeded".into(),
                failed: false,
                deleting_until: None,
                etag: String::new(),
            };
            ctx.st
                .resources_mut()
                .insert(id.to_ascii_lowercase(), rec.clone());
            Ok(Reply::json(
                if created { 201 } else { 200 },
                super::render(ctx.st, &rec, now),
            ))
        }
        "PATCH" => {
            let Some(mut rec) = existing else {
                return Err(ArmError::rg_not_found(rg));
            };
            let mut body = body.filter(Value::is_object).ok_or_else(|| {
                ArmError::invalid_content("The request body must be a JSON object")
            })?;
            check_tags(&mut body)?;
            for f in ["managedBy", "tags"] {
                if let Some(v) = body.get(f) {
                    util::set_at(&mut rec.body, "", f, v.clone());
                }
            }
            rec.modified = ctx.now;
            ctx.st
                .resources_mut()
                .insert(rec.id.to_ascii_lowercase(), rec.clone());
            Ok(Reply::json(200, super::render(ctx.st, &rec, ctx.now)))
        }
        "DELETE" => {
            let Some(rec) = existing else {
                return Err(ArmError::rg_not_found(rg));
            };
            if let Some(until) = rec.deleting_until {
                // A second delete while one runs is accepted and polls the same way: its
                // operation ends when the running delete does, not before (a client that
                // resumed a delete after a crash must not see the group gone while it is not).
                let op = lro::start_op_until(ctx, &rec.id, until.max(ctx.now), true);
                return Ok(lro::with_location_header(
                    ctx,
                    Reply::empty(202),
                    &LRO,
                    sub,
                    rec.location(),
                    &op,
                ));
            }
            let members: Vec<String> = ctx
                .st
                .resources()
                .iter()
                .filter(|(_, r)| {
                    r.kind != Kind::ResourceGroup
                        && r.sub.eq_ignore_ascii_case(sub)
                        && r.rg.eq_ignore_ascii_case(rg)
                })
                .map(|(k, _)| k.clone())
                .collect();
            let mut secs = DEF.delete_secs;
            for k in &members {
                if let Some(r) = ctx.st.resources().get(k) {
                    secs = secs.max(super::def(r.kind).delete_secs + 10.0);
                }
            }
            let fail = ctx.fail_lro.is_some();
            let op = lro::start_op(ctx, &rec.id, secs, true);
            if !fail {
                let until = ctx.now + ctx.scaled(secs);
                for k in &members {
                    let Some(r) = ctx.st.resources().get(k).cloned() else {
                        continue;
                    };
                    if r.kind == Kind::KeyVault {
                        soft_delete_vault(ctx, &r);
                        ctx.st.resources_mut().remove(k);
                    } else if let Some(r) = ctx.st.resources_mut().get_mut(k) {
                        r.deleting_until = Some(until);
                    }
                }
                if let Some(r) = ctx.st.get_mut(&rec.id) {
                    r.deleting_until = Some(until);
                }
            }
            Ok(lro::with_location_header(
                ctx,
                Reply::empty(202),
                &LRO,
                sub,
                rec.location(),
                &op,
            ))
        }
        _ => Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{method}' is not allowed."),
        )),
    }
}

/// Moves a vault into the soft-deleted list.
pub fn soft_delete_vault(ctx: &mut Ctx, rec: &Record) {
    let name = rec.name().to_ascii_lowercase();
    ctx.st.deleted_vaults.insert(
        name,
        DeletedVault {
            sub: rec.sub.clone(),
            vault_id: rec.id.clone(),
            location: rec.location().to_string(),
            deleted: ctx.now,
            body: rec.body.clone(),
            purging_until: None,
        },
    );
}

/// `GET /subscriptions/{sub}/resourcegroups`.
pub fn list_groups(ctx: &View, sub: &str) -> Reply {
    let value: Vec<Value> = ctx
        .st
        .resources()
        .values()
        .filter(|r| r.kind == Kind::ResourceGroup && r.sub.eq_ignore_ascii_case(sub))
        .map(|r| super::render(ctx.st, r, ctx.now))
        .collect();
    Reply::json(200, util::list_body(value, None))
}

/// A `$filter` of the generic resource list.
#[derive(Debug, Default)]
struct Filter {
    tag_name: Option<String>,
    tag_value: Option<String>,
    resource_type: Option<String>,
}

fn parse_filter(f: &str) -> ArmResult<Filter> {
    let mut out = Filter::default();
    for clause in split_and(f) {
        let clause = clause.trim();
        let (field, value) = clause.split_once(" eq ").ok_or_else(|| invalid_filter(f))?;
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .ok_or_else(|| invalid_filter(f))?
            .replace("''", "'");
        match field.trim().to_ascii_lowercase().as_str() {
            "tagname" => out.tag_name = Some(value),
            "tagvalue" => out.tag_value = Some(value),
            "resourcetype" => out.resource_type = Some(value),
            _ => return Err(invalid_filter(f)),
        }
    }
    if out.tag_value.is_some() && out.tag_name.is_none() {
        return Err(invalid_filter(f));
    }
    Ok(out)
}

fn split_and(f: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let words: Vec<&str> = f.split(' ').collect();
    for w in words {
        if !quoted && w.eq_ignore_ascii_case("and") {
            parts.push(std::mem::take(&mut cur));
            continue;
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
        quoted ^= w.matches('\'').count() % 2 == 1;
    }
    parts.push(cur);
    parts
}

fn invalid_filter(f: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidFilterInQueryString",
        format!("Invalid $filter '{f}' specified in the query string."),
    )
}

/// Generic lists: `/subscriptions/{sub}/resources` and `/subscriptions/{sub}/resourceGroups/{rg}/resources`.
pub fn list_resources(ctx: &View, sub: &str, rg: Option<&str>) -> ArmResult<Reply> {
    if let Some(rg) = rg
        && ctx.st.get(&rg_id(sub, rg)).is_none()
    {
        return Err(ArmError::rg_not_found(rg));
    }
    let filter = match ctx.query("$filter") {
        Some(f) => parse_filter(f)?,
        None => Filter::default(),
    };
    let mut value = Vec::new();
    for r in ctx.st.resources().values() {
        if r.kind == Kind::ResourceGroup
            || r.kind == Kind::RoleAssignment
            || r.kind == Kind::ClusterExtension
            || r.kind.parent().is_some() && r.kind != Kind::MlCompute
            || !r.sub.eq_ignore_ascii_case(sub)
            || rg.is_some_and(|g| !g.eq_ignore_ascii_case(&r.rg))
        {
            continue;
        }
        let tags = r.body.get("tags").and_then(Value::as_object);
        if let Some(n) = &filter.tag_name {
            let Some(found) = tags.and_then(|t| t.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)))
            else {
                continue;
            };
            if let Some(v) = &filter.tag_value
                && found.1.as_str() != Some(v.as_str())
            {
                continue;
            }
        }
        let type_name = r.kind.info().type_name;
        if let Some(t) = &filter.resource_type
            && !t.eq_ignore_ascii_case(type_name)
        {
            continue;
        }
        let mut item =
            json!({"id": r.id, "name": r.name(), "type": type_name, "location": r.location()});
        if let Some(t) = r.body.get("tags") {
            util::set_at(&mut item, "", "tags", t.clone());
        }
        if let Some(k) = r.body.get("kind").filter(|k| k.is_string()) {
            util::set_at(&mut item, "", "kind", k.clone());
        }
        value.push(item);
    }
    Ok(Reply::json(200, util::list_body(value, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        let f = parse_filter("tagName eq 'managed-by' and tagValue eq 'moat and co'").unwrap();
        assert_eq!(f.tag_name.as_deref(), Some("managed-by"));
        assert_eq!(f.tag_value.as_deref(), Some("moat and co"));
        assert!(parse_filter("tagValue eq 'x'").is_err());
        assert!(parse_filter("name eq 'x'").is_err());
    }
}
