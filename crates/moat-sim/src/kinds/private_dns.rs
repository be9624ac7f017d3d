//! Microsoft.Network private DNS (2024-06-01): zones (location `global`), their virtual
//! network links, and the A record sets private endpoints' DNS zone groups write. Every write
//! is a long-running operation the Private DNS way (azure-cli privatedns/*.yaml): 202 with an
//! empty body and resource-group poll URLs, validation failures reported by the operation
//! (`{"error": …, "status": "Failed"}`), not by the PUT. A zone that still has links cannot
//! be deleted; a network is linked to a zone once, and registers in one zone at most.

use super::{KindDef, check_tags, no_refs, patch_tags, with_identity};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Value, json};

/// Private DNS zones.
pub const ZONE_DEF: KindDef = KindDef {
    kind: Kind::PrivateDnsZone,
    put: put_zone,
    patch: patch_tags,
    delete: delete_zone,
    render: render_zone,
    refs: no_refs,
    lro: Some(LroStyle::PRIVATE_DNS),
    // Recordings (privatedns/*.yaml, 8 zone PUTs): done at the second or third poll, 20–35 s.
    create: Span::new(30.0, 20.0, 40.0),
    variants: &[],
    // Recordings (test_DeleteZone_ZoneExists_ExpectZoneDeleted.yaml): ~30 s.
    delete_secs: 30.0,
};

/// Links of a zone to virtual networks.
pub const LINK_DEF: KindDef = KindDef {
    kind: Kind::VirtualNetworkLink,
    put: put_link,
    patch: patch_tags,
    delete: delete_child,
    render: render_link,
    refs: link_refs,
    lro: Some(LroStyle::PRIVATE_DNS),
    // Recordings (test_PutLink_*, test_ListLinks_*): done at the second to fourth poll, 20–40 s.
    create: Span::new(30.0, 20.0, 40.0),
    variants: &[],
    // Recordings (test_DeleteLink_LinkExists_ExpectLinkDeleted.yaml): ~30 s.
    delete_secs: 30.0,
};

/// A record sets, written here only by private endpoints' DNS zone groups.
pub const A_RECORD_DEF: KindDef = KindDef {
    kind: Kind::PrivateDnsARecord,
    put: put_record,
    patch: patch_tags,
    delete: super::sync_delete,
    render: render_record,
    refs: no_refs,
    lro: None,
    // Recordings (test_CrudRecordSet_ARecord_ExpectCrudSuccessful.yaml): synchronous.
    create: Span::fixed(0.0),
    variants: &[],
    delete_secs: 0.0,
};

/// 202 with `{}` and the two poll headers; the operation carries `error` when it is to fail.
fn accepted(
    ctx: &mut Ctx,
    rp: &ResPath,
    secs: f64,
    delete: bool,
    error: Option<(&str, String)>,
) -> Reply {
    let op = lro::start_op(ctx, &rp.id(), secs, delete);
    if let Some((code, message)) = error
        && let Some(o) = ctx.st.operations.get_mut(&op)
    {
        o.error = Some((code.to_string(), message));
    }
    let reply = if delete {
        Reply::empty(202)
    } else {
        Reply::json(202, json!({}))
    };
    lro::with_async_headers(
        ctx,
        reply,
        &LroStyle::PRIVATE_DNS,
        &rp.sub,
        &rp.rg,
        &op,
        true,
    )
}

/// Tags only; the location must be `global`.
fn tracked_body(rp: &ResPath, body: &mut Value) -> ArmResult<Value> {
    check_tags(body)?;
    let loc = body.get("location").and_then(Value::as_str).unwrap_or("");
    if !loc.eq_ignore_ascii_case("global") {
        return Err(ArmError::bad_request(
            "InvalidLocation",
            format!(
                "The location '{loc}' is not valid for resource {}; private DNS resources are in location 'global'.",
                rp.name()
            ),
        ));
    }
    let mut stored = super::keep_fields(body, &["tags"]);
    util::set_at(&mut stored, "", "location", json!("global"));
    if stored.get("tags").is_none() {
        util::set_at(&mut stored, "", "tags", json!({}));
    }
    Ok(stored)
}

fn put_zone(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    let name = rp.name();
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.len() > 63) || name.len() > 253 {
        return Err(ArmError::bad_request(
            "BadRequest",
            format!(
                "The zone name '{name}' is invalid: a zone name has at least two labels of 1–63 characters."
            ),
        ));
    }
    let secs = ctx.secs(ZONE_DEF.create, rp, "put");
    if ctx.if_none_match && ctx.st.get(&rp.id()).is_some() {
        let msg = format!("The Zone {name} exists already and hence cannot be created again.");
        return Ok(accepted(
            ctx,
            rp,
            secs,
            false,
            Some(("PreconditionFailed", msg)),
        ));
    }
    let mut stored = with_identity(rp, tracked_body(rp, &mut body)?);
    util::set_at(
        &mut stored,
        "/properties",
        "maxNumberOfRecordSets",
        json!(25000),
    );
    util::set_at(
        &mut stored,
        "/properties",
        "maxNumberOfVirtualNetworkLinks",
        json!(1000),
    );
    util::set_at(
        &mut stored,
        "/properties",
        "maxNumberOfVirtualNetworkLinksWithRegistration",
        json!(100),
    );
    ctx.commit(rp, stored, secs, "Creating");
    Ok(accepted(ctx, rp, secs, false, None))
}

fn delete_zone(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let id = rp.id();
    if ctx.st.get(&id).is_none() {
        return Ok(Reply::empty(204));
    }
    let links: Vec<String> = ctx
        .st
        .children(&id, Kind::VirtualNetworkLink)
        .iter()
        .filter(|l| l.deleting_until.is_none())
        .map(|l| l.name().to_string())
        .collect();
    if !links.is_empty() {
        return Err(ArmError::bad_request(
            "BadRequest",
            format!(
                "The private DNS zone {} cannot be deleted because it has virtual network links ({}). Delete the links first.",
                rp.name(),
                links.join(", ")
            ),
        ));
    }
    let secs = ZONE_DEF.delete_secs;
    let until = ctx.now + ctx.scaled(secs);
    if ctx.fail_lro.is_none() {
        if let Some(r) = ctx.st.get_mut(&id) {
            r.deleting_until = Some(until);
        }
        lro::mark_children_deleting(ctx, &id, until, false);
    }
    Ok(accepted(ctx, rp, secs, true, None))
}

/// DELETE of a link.
fn delete_child(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let id = rp.id();
    if ctx.st.get(&id).is_none() {
        return Ok(Reply::empty(204));
    }
    let secs = LINK_DEF.delete_secs;
    let until = ctx.now + ctx.scaled(secs);
    if ctx.fail_lro.is_none()
        && let Some(r) = ctx.st.get_mut(&id)
    {
        r.deleting_until = Some(until);
    }
    Ok(accepted(ctx, rp, secs, true, None))
}

fn put_link(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    let mut stored = with_identity(rp, tracked_body(rp, &mut body)?);
    let vnet = util::str_at(&body, "/properties/virtualNetwork/id")
        .ok_or_else(|| {
            ArmError::invalid_content(
                "Required property 'virtualNetwork' not found in JSON for a virtual network link",
            )
        })?
        .to_string();
    let registration = match body.pointer("/properties/registrationEnabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ArmError::invalid_content(
                "Property 'registrationEnabled' must be a boolean",
            ));
        }
    };
    let secs = ctx.secs(LINK_DEF.create, rp, "put");
    let zone_id = rp.parent_id().unwrap_or_default();
    let own = rp.id();
    let failure = link_conflict(ctx.st, &zone_id, &own, &vnet, registration, ctx.now);
    if let Some(old) = ctx.st.get(&own)
        && let Some(before) = util::str_at(&old.body, "/properties/virtualNetwork/id")
        && !before.eq_ignore_ascii_case(&vnet)
    {
        return Err(ArmError::bad_request(
            "BadRequest",
            "The virtual network of a virtual network link cannot be changed.",
        ));
    }
    if let Some(message) = failure {
        return Ok(accepted(ctx, rp, secs, false, Some(("Conflict", message))));
    }
    if ctx.st.get(&vnet).is_none() {
        let message = format!("Virtual network resource not found for '{vnet}'.");
        return Ok(accepted(
            ctx,
            rp,
            secs,
            false,
            Some(("BadRequest", message)),
        ));
    }
    util::set_at(
        &mut stored,
        "/properties",
        "virtualNetwork",
        json!({ "id": vnet }),
    );
    util::set_at(
        &mut stored,
        "/properties",
        "registrationEnabled",
        json!(registration),
    );
    ctx.commit(rp, stored, secs, "Creating");
    Ok(accepted(ctx, rp, secs, false, None))
}

/// Why a link of `vnet` under `zone_id` is refused: the network is linked to the zone by
/// another link already, or it registers in another zone.
fn link_conflict(
    st: &State,
    zone_id: &str,
    own: &str,
    vnet: &str,
    registration: bool,
    now: f64,
) -> Option<String> {
    for l in st.resources().values().filter(|r| {
        r.kind == Kind::VirtualNetworkLink
            && r.deleting_until.is_none_or(|t| t > now)
            && !r.id.eq_ignore_ascii_case(own)
    }) {
        let Some(other) = util::str_at(&l.body, "/properties/virtualNetwork/id") else {
            continue;
        };
        if !other.eq_ignore_ascii_case(vnet) {
            continue;
        }
        let zone_of =
            l.id.rsplit_once("/virtualNetworkLinks/")
                .map_or("", |(z, _)| z);
        if zone_of.eq_ignore_ascii_case(zone_id) {
            return Some(format!(
                "A virtual network link to '{vnet}' already exists in this zone: '{}'. A virtual network can be linked to a zone only once.",
                l.name()
            ));
        }
        let registers = l
            .body
            .pointer("/properties/registrationEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if registration && registers {
            return Some(format!(
                "The virtual network '{vnet}' already has a registration link ('{}'); a virtual network can register in one private DNS zone only.",
                l.id
            ));
        }
    }
    None
}

/// A link does not hold its network: Azure deletes a linked network and leaves the link.
fn link_refs(_rec: &Record) -> Vec<String> {
    Vec::new()
}

fn put_record(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    let mut stored = with_identity(rp, json!({}));
    let ttl = body
        .pointer("/properties/ttl")
        .cloned()
        .unwrap_or(json!(3600));
    let records = body
        .pointer("/properties/aRecords")
        .cloned()
        .unwrap_or(json!([]));
    util::set_at(&mut stored, "/properties", "ttl", ttl);
    util::set_at(&mut stored, "/properties", "aRecords", records);
    let created = ctx.commit(rp, stored, 0.0, "Succeeded");
    let rec = ctx
        .st
        .get(&rp.id())
        .cloned()
        .ok_or_else(|| ArmError::new(500, "InternalServerError", "An error occurred."))?;
    Ok(Reply::json(
        if created { 201 } else { 200 },
        super::render(ctx.st, &rec, ctx.now),
    ))
}

/// Writes the A record `name` = `ip` in `zone_id` (a private endpoint's zone group).
pub fn write_record(st: &mut State, zone: &Record, name: &str, ip: &str, owner: &str, now: f64) {
    let id = format!("{}/A/{name}", zone.id);
    let body = json!({
        "id": id,
        "name": name,
        "type": Kind::PrivateDnsARecord.info().type_name,
        "properties": {
            "metadata": { "creator": format!("created by private endpoint {owner}") },
            "ttl": 10,
            "aRecords": [{ "ipv4Address": ip }],
        },
    });
    st.resources_mut().insert(
        id.to_ascii_lowercase(),
        Record {
            id,
            kind: Kind::PrivateDnsARecord,
            sub: zone.sub.clone(),
            rg: zone.rg.clone(),
            body,
            created: now,
            modified: now,
            busy_until: now,
            transitional: "Succeeded".into(),
            failed: false,
            deleting_until: None,
            etag: util::guid(),
        },
    );
}

fn render_zone(st: &State, rec: &Record, v: &mut Value, now: f64) {
    util::set_at(v, "", "etag", json!(rec.etag));
    let links = st.children(&rec.id, Kind::VirtualNetworkLink);
    let registering = links
        .iter()
        .filter(|l| {
            l.body
                .pointer("/properties/registrationEnabled")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .count();
    // The SOA record set counts as one (recordings: `numberOfRecordSets: 1` for a new zone).
    let records = 1 + st.children(&rec.id, Kind::PrivateDnsARecord).len();
    let p = util::obj_at(v, "/properties");
    p.insert("numberOfRecordSets".into(), json!(records));
    p.insert("numberOfVirtualNetworkLinks".into(), json!(links.len()));
    p.insert(
        "numberOfVirtualNetworkLinksWithRegistration".into(),
        json!(registering),
    );
    p.insert("provisioningState".into(), json!(rec.state(now)));
    p.insert(
        "internalId".into(),
        json!(format!(
            "{:016x}",
            util::stable_hash(&rec.id.to_ascii_lowercase())
        )),
    );
}

fn render_link(_st: &State, rec: &Record, v: &mut Value, now: f64) {
    util::set_at(
        v,
        "",
        "etag",
        json!(format!(
            "\"{}\"",
            rec.etag.trim_start_matches("W/").trim_matches('"')
        )),
    );
    let state = rec.state(now);
    util::set_at(v, "/properties", "provisioningState", json!(state));
    let link_state = if state == "Succeeded" {
        "Completed"
    } else {
        "InProgress"
    };
    util::set_at(
        v,
        "/properties",
        "virtualNetworkLinkState",
        json!(link_state),
    );
    if v.pointer("/properties/resolutionPolicy").is_none() {
        util::set_at(v, "/properties", "resolutionPolicy", json!("Default"));
    }
}

fn render_record(st: &State, rec: &Record, v: &mut Value, _now: f64) {
    util::set_at(v, "", "etag", json!(rec.etag));
    let zone = crate::kind::parse_id(&rec.id)
        .and_then(|p| p.parent_id())
        .and_then(|z| st.get(&z).map(|z| z.name().to_string()))
        .unwrap_or_default();
    util::set_at(
        v,
        "/properties",
        "fqdn",
        json!(format!("{}.{zone}.", rec.name())),
    );
    util::set_at(v, "/properties", "isAutoRegistered", json!(false));
}
