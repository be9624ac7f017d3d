//! Microsoft.Network virtual networks: address space checks, subnets given inline (the list in
//! the body is the full set; leaving the property out keeps the current ones) and the
//! per-VNet serialisation of writes.

use super::network::{self, top_level_body, vnet_space};
use super::subnet::{in_use_subnet, subnet_prefixes, validate_subnet};
use super::{KindDef, no_refs, patch_tags, with_identity};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::LroStyle;
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util::{self, Cidr};
use serde_json::{Value, json};

/// Virtual networks.
pub const DEF: KindDef = KindDef {
    kind: Kind::VirtualNetwork,
    put,
    patch: patch_tags,
    delete,
    render,
    refs: no_refs,
    lro: Some(LroStyle::NETWORK),
    // Recordings (azure-cli network/*.yaml, 20 VNet PUTs): done 0–12 s after the PUT, median
    // 10 s — the first poll after `Retry-After: 10` finds it done, so the work itself takes
    // well under 10 s; 3 s where the client polled sooner.
    create: Span::new(4.0, 1.0, 10.0),
    variants: &[],
    // Recordings: two VNet deletes, both done at the first poll (0 s).
    delete_secs: 2.0,
};

/// Writes on a VNet are serialised on the VNet itself.
const OPS: network::NetOps = network::NetOps {
    put_name: "PutVirtualNetworkOperation",
    vnet: |rp| Some(rp.id()),
    write: put_vnet,
    in_use: subnets_in_use,
};

fn put(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    network::put(ctx, rp, body, &OPS)
}

fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    network::delete(ctx, rp, &OPS)
}

/// A VNet cannot go while one of its subnets is in use.
fn subnets_in_use(ctx: &Ctx, rp: &ResPath) -> ArmResult<()> {
    for s in ctx.st.children(&rp.id(), Kind::Subnet) {
        in_use_subnet(ctx, &s.id, s.name())?;
    }
    Ok(())
}

/// Fills in a VNet body: its subnets (rendered as their own GET would) and peerings.
fn render(st: &State, rec: &Record, v: &mut Value, now: f64) {
    network::render_common(st, rec, v, now);
    let props = util::obj_at(v, "/properties");
    let children = st.children(&rec.id, Kind::Subnet);
    network::index_back_refs(st, Kind::Subnet, now);
    let subnets: Vec<Value> = children.iter().map(|s| super::render(st, s, now)).collect();
    props.insert("subnets".into(), Value::Array(subnets));
    props.insert("virtualNetworkPeerings".into(), json!([]));
}

fn put_vnet(ctx: &mut Ctx, rp: &ResPath, mut body: Value, secs: f64) -> ArmResult<bool> {
    let id = rp.id();
    let existing = ctx.st.get(&id).cloned();
    let mut stored = top_level_body(rp, &mut body, existing.as_ref())?;
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let space = vnet_space(&body, &id)?;
    if space.is_empty() {
        return Err(ArmError::bad_request(
            "InvalidRequestFormat",
            format!(
                "Virtual network {id} must have at least one address prefix in its address space."
            ),
        ));
    }
    let vnet_name = rp.name().to_string();
    let current: Vec<Record> = ctx
        .st
        .children(&id, Kind::Subnet)
        .into_iter()
        .cloned()
        .collect();
    // Which subnets the VNet has after the PUT: the list given, or (property absent) the current ones.
    let desired: Option<Vec<(String, Value)>> = match props.get("subnets") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            let mut out = Vec::new();
            for s in list {
                let name = s.get("name").and_then(Value::as_str).ok_or_else(|| {
                    ArmError::invalid_content(
                        "Required property 'name' not found in JSON for a subnet",
                    )
                })?;
                out.push((
                    name.to_string(),
                    s.get("properties").cloned().unwrap_or(Value::Null),
                ));
            }
            Some(out)
        }
        Some(_) => {
            return Err(ArmError::invalid_content(
                "Property 'subnets' must be an array",
            ));
        }
    };
    let mut siblings: Vec<(String, Vec<Cidr>)> = Vec::new();
    let mut validated: Vec<(String, Value)> = Vec::new();
    match &desired {
        Some(list) => {
            for (name, p) in list {
                let sid = format!("{id}/subnets/{name}");
                let v = validate_subnet(ctx.st, &id, &vnet_name, &space, name, p, &siblings)?;
                siblings.push((name.clone(), subnet_prefixes(p, &sid)?));
                validated.push((name.clone(), v));
            }
            for old in &current {
                if !list.iter().any(|(n, _)| n.eq_ignore_ascii_case(old.name())) {
                    in_use_subnet(ctx, &old.id, old.name())?;
                }
            }
        }
        None => {
            for old in &current {
                let p = old.body.get("properties").cloned().unwrap_or(Value::Null);
                for c in subnet_prefixes(&p, &old.id)? {
                    if !space.iter().any(|s| s.contains(&c)) {
                        return Err(ArmError::bad_request(
                            "NetcfgSubnetRangeOutsideVnet",
                            format!(
                                "Subnet '{}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet_name}'.",
                                old.name()
                            ),
                        ));
                    }
                }
            }
        }
    }
    let sp = util::obj_at(&mut stored, "/properties");
    sp.insert(
        "addressSpace".into(),
        json!({"addressPrefixes": space.iter().map(|c| c.to_string()).collect::<Vec<_>>()}),
    );
    if let Some(d) = props.get("dhcpOptions").filter(|d| !d.is_null()) {
        let dns = d.get("dnsServers").cloned().unwrap_or_else(|| json!([]));
        sp.insert("dhcpOptions".into(), json!({"dnsServers": dns}));
    }
    for field in [
        "flowTimeoutInMinutes",
        "ddosProtectionPlan",
        "bgpCommunities",
        "encryption",
        "ipAllocations",
    ] {
        if let Some(v) = props.get(field).filter(|v| !v.is_null()) {
            sp.insert(field.into(), v.clone());
        }
    }
    if let Some(e) = sp.get_mut("encryption")
        && e.get("enforcement").is_none()
    {
        util::set_at(e, "", "enforcement", json!("AllowUnencrypted"));
    }
    for (field, default) in [
        ("enableDdosProtection", json!(false)),
        ("privateEndpointVNetPolicies", json!("Disabled")),
    ] {
        sp.insert(
            field.into(),
            props
                .get(field)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or(default),
        );
    }
    if let Some(v) = props.get("enableVmProtection").filter(|v| !v.is_null()) {
        sp.insert("enableVmProtection".into(), v.clone());
    }
    let created = ctx.commit(rp, stored, secs, "Updating");
    if desired.is_some() {
        for old in &current {
            if !validated
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(old.name()))
            {
                ctx.st.resources_mut().remove(&old.id.to_ascii_lowercase());
            }
        }
        for (name, props) in validated {
            let mut names = rp.names.clone();
            let name = current
                .iter()
                .find(|o| o.name().eq_ignore_ascii_case(&name))
                .map(|o| o.name().to_string())
                .unwrap_or(name);
            names.push(name);
            let srp = ResPath {
                sub: rp.sub.clone(),
                rg: rp.rg.clone(),
                kind: Kind::Subnet,
                names,
            };
            let stored = with_identity(&srp, json!({"properties": props}));
            ctx.commit(&srp, stored, secs, "Updating");
        }
    }
    Ok(created)
}
