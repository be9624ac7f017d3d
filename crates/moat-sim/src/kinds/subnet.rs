//! Microsoft.Network subnets: ranges inside the VNet and apart from their siblings, NSG and
//! route table associations, service endpoints and delegations; and the subnet facts other
//! kinds check (service endpoints, ranges).

use super::network::{self, parse_prefix, string_list, vnet_space};
use super::{KindDef, check_enum, patch_tags, refs_at, with_identity};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::LroStyle;
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util::{self, Cidr};
use serde_json::{Map, Value, json};

/// Subnets (children of a VNet, also writable inline through it).
pub const DEF: KindDef = KindDef {
    kind: Kind::Subnet,
    put,
    patch: patch_tags,
    delete,
    render,
    refs,
    lro: Some(LroStyle::NETWORK),
    // Recordings (azure-cli network/*.yaml, 14 subnet PUTs): done 0–11 s after the PUT,
    // median 1 s; the 10–11 s ones are one poll interval late.
    create: Span::new(3.0, 1.0, 5.0),
    variants: &[],
    // Recordings: two subnet deletes, 0 and 1 s.
    delete_secs: 2.0,
};

/// Writes on a subnet are serialised on its VNet.
const OPS: network::NetOps = network::NetOps {
    put_name: "PutSubnetOperation",
    vnet: ResPath::parent_id,
    write: put_subnet,
    in_use: |ctx, rp| in_use_subnet(ctx, &rp.id(), rp.name()),
};

fn put(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    network::put(ctx, rp, body, &OPS)
}

fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    network::delete(ctx, rp, &OPS)
}

/// Fills in a subnet body: its service endpoints and delegations share its state; the
/// private endpoints in it and their NICs' IP configurations show as back-references, and
/// its `purpose` becomes `PrivateEndpoints` (azure-cli network/test_network_vnet.yaml, the
/// subnet `default` of `zhiyihuang-rg-euap-east-vnet`).
fn render(st: &State, rec: &Record, v: &mut Value, now: f64) {
    network::render_common(st, rec, v, now);
    let state = rec.state(now).to_string();
    let endpoints = network::back_refs(st, &rec.id, network::BackRef::SubnetEndpoints, now);
    let ip_configs = network::back_refs(st, &rec.id, network::BackRef::SubnetIpConfigs, now);
    let props = util::obj_at(v, "/properties");
    if !ip_configs.is_empty() {
        props.insert("ipConfigurations".into(), Value::Array(ip_configs));
    }
    if !endpoints.is_empty() {
        props.insert("privateEndpoints".into(), Value::Array(endpoints));
        props.insert("purpose".into(), json!("PrivateEndpoints"));
    }
    if let Some(Value::Array(eps)) = props.get_mut("serviceEndpoints") {
        for ep in eps {
            util::set_at(ep, "", "provisioningState", json!(state));
        }
    }
    if let Some(Value::Array(ds)) = props.get_mut("delegations") {
        for d in ds {
            util::set_at(d, "/properties", "provisioningState", json!(state));
        }
    }
}

/// A subnet points at its security group and route table.
fn refs(rec: &Record) -> Vec<String> {
    refs_at(
        rec,
        &[
            "/properties/networkSecurityGroup/id",
            "/properties/routeTable/id",
        ],
    )
}

/// Address prefixes of a subnet body.
pub fn subnet_prefixes(props: &Value, id: &str) -> ArmResult<Vec<Cidr>> {
    let mut list = string_list(props.get("addressPrefixes"), "addressPrefixes")?;
    if let Some(p) = props.get("addressPrefix").and_then(Value::as_str) {
        list.insert(0, p.to_string());
    }
    if list.is_empty() {
        return Err(ArmError::bad_request(
            "NoAddressPrefixOrPoolProvided",
            format!("No address prefix or pool provided for subnet {id}."),
        ));
    }
    list.iter().map(|p| parse_prefix(p, id)).collect()
}

/// Checks a subnet against its VNet and siblings and returns the stored properties.
pub fn validate_subnet(
    st: &State,
    vnet_id: &str,
    vnet_name: &str,
    space: &[Cidr],
    name: &str,
    props: &Value,
    siblings: &[(String, Vec<Cidr>)],
) -> ArmResult<Value> {
    let sid = format!("{vnet_id}/subnets/{name}");
    let prefixes = subnet_prefixes(props, &sid)?;
    for p in &prefixes {
        if !space.iter().any(|s| s.contains(p)) {
            return Err(ArmError::bad_request(
                "NetcfgSubnetRangeOutsideVnet",
                format!(
                    "Subnet '{name}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet_name}'."
                ),
            ));
        }
        for (other, ops) in siblings {
            if !other.eq_ignore_ascii_case(name) && ops.iter().any(|o| o.overlaps(p)) {
                return Err(ArmError::bad_request(
                    "NetcfgSubnetRangesOverlap",
                    format!(
                        "Subnet '{name}' is not valid because its IP address range overlaps with that of an existing subnet '{other}' in virtual network '{vnet_name}'."
                    ),
                ));
            }
        }
    }
    let mut out = Map::new();
    if let Some(p) = props.get("addressPrefix") {
        out.insert("addressPrefix".into(), p.clone());
    }
    if let Some(p) = props.get("addressPrefixes") {
        out.insert("addressPrefixes".into(), p.clone());
    }
    for (field, kind_name) in [
        ("networkSecurityGroup", Kind::NetworkSecurityGroup),
        ("routeTable", Kind::RouteTable),
    ] {
        if let Some(r) = props.get(field).filter(|r| !r.is_null()) {
            let rid = r.get("id").and_then(Value::as_str).ok_or_else(|| {
                ArmError::invalid_content(format!("Property '{field}.id' is required"))
            })?;
            let exists = st
                .get(rid)
                .is_some_and(|x| x.kind == kind_name && x.deleting_until.is_none());
            if !exists {
                return Err(invalid_reference(rid, &sid));
            }
            out.insert(field.into(), json!({"id": rid}));
        }
    }
    if let Some(r) = props.get("natGateway").filter(|r| !r.is_null()) {
        out.insert("natGateway".into(), r.clone());
    }
    let mut eps = Vec::new();
    if let Some(list) = props.get("serviceEndpoints").filter(|v| !v.is_null()) {
        let arr = list
            .as_array()
            .ok_or_else(|| ArmError::invalid_content("serviceEndpoints must be an array"))?;
        for ep in arr {
            let service = ep.get("service").and_then(Value::as_str).ok_or_else(|| {
                ArmError::invalid_content("Required property 'service' not found in JSON")
            })?;
            if !service.to_ascii_lowercase().starts_with("microsoft.") {
                return Err(ArmError::bad_request(
                    "InvalidServiceNameOnSubnet",
                    format!(
                        "Subnet {sid} has an invalid service name {service} in its service endpoints."
                    ),
                ));
            }
            let locations = ep.get("locations").cloned().unwrap_or_else(|| json!(["*"]));
            eps.push(json!({"service": service, "locations": locations}));
        }
    }
    if !eps.is_empty() || props.get("serviceEndpoints").is_some() {
        out.insert("serviceEndpoints".into(), Value::Array(eps));
    }
    let mut dels = Vec::new();
    if let Some(list) = props.get("delegations").and_then(Value::as_array) {
        for d in list {
            let service = d
                .pointer("/properties/serviceName")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ArmError::invalid_content("Required property 'serviceName' not found in JSON")
                })?;
            let dname = d.get("name").and_then(Value::as_str).unwrap_or(service);
            dels.push(json!({
                "name": dname,
                "id": format!("{sid}/delegations/{dname}"),
                "type": "Microsoft.Network/virtualNetworks/subnets/delegations",
                "properties": {
                    "serviceName": service,
                    "actions": ["Microsoft.Network/virtualNetworks/subnets/action"]
                }
            }));
        }
    }
    out.insert("delegations".into(), Value::Array(dels));
    for (field, allowed, default) in [
        (
            "privateEndpointNetworkPolicies",
            &[
                "Enabled",
                "Disabled",
                "NetworkSecurityGroupEnabled",
                "RouteTableEnabled",
            ][..],
            "Disabled",
        ),
        (
            "privateLinkServiceNetworkPolicies",
            &["Enabled", "Disabled"][..],
            "Enabled",
        ),
    ] {
        let v = check_enum(props.get(field).unwrap_or(&Value::Null), field, allowed)?;
        out.insert(
            field.into(),
            json!(v.unwrap_or_else(|| default.to_string())),
        );
    }
    for field in [
        "defaultOutboundAccess",
        "serviceEndpointPolicies",
        "ipAllocations",
        "applicationGatewayIPConfigurations",
        "sharingScope",
    ] {
        if let Some(v) = props.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

fn invalid_reference(target: &str, from: &str) -> ArmError {
    ArmError::bad_request(
        "InvalidResourceReference",
        format!(
            "Resource {target} referenced by resource {from} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."
        ),
    )
}

pub fn in_use_subnet(ctx: &Ctx, subnet_id: &str, name: &str) -> ArmResult<()> {
    let users = super::referrers(ctx.st, subnet_id, ctx.now);
    if let Some(user) = users.first() {
        return Err(ArmError::bad_request(
            "InUseSubnetCannotBeDeleted",
            format!(
                "Subnet {name} is in use by {user} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet."
            ),
        ));
    }
    Ok(())
}

fn put_subnet(ctx: &mut Ctx, rp: &ResPath, body: Value, secs: f64) -> ArmResult<bool> {
    let vnet_id = rp.parent_id().unwrap_or_default();
    let vnet = ctx
        .st
        .get(&vnet_id)
        .cloned()
        .ok_or_else(|| super::not_found(rp))?;
    let space = vnet_space(&vnet.body, &vnet.id)?;
    let mut siblings = Vec::new();
    for s in ctx.st.children(&vnet.id, Kind::Subnet) {
        if !s.name().eq_ignore_ascii_case(rp.name()) {
            let p = s.body.get("properties").cloned().unwrap_or(Value::Null);
            siblings.push((s.name().to_string(), subnet_prefixes(&p, &s.id)?));
        }
    }
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let validated = validate_subnet(
        ctx.st,
        &vnet.id,
        vnet.name(),
        &space,
        rp.name(),
        &props,
        &siblings,
    )?;
    let mut names = rp.names.clone();
    if let Some(old) = ctx.st.get(&rp.id())
        && let Some(last) = names.last_mut()
    {
        *last = old.name().to_string();
    }
    let srp = ResPath {
        names,
        ..rp.clone()
    };
    let stored = with_identity(&srp, json!({"properties": validated}));
    let created = ctx.commit(&srp, stored, secs, "Updating");
    ctx.touch_parent(rp);
    Ok(created)
}

/// Subnet facts other kinds check: (exists, has service endpoint `service`, still updating).
pub fn subnet_endpoint(
    st: &State,
    subnet_id: &str,
    service: &str,
    now: f64,
) -> Option<(bool, bool)> {
    let s = st
        .get(subnet_id)
        .filter(|s| s.kind == Kind::Subnet && s.deleting_until.is_none())?;
    let has = s
        .body
        .pointer("/properties/serviceEndpoints")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter().any(|e| {
                e.get("service")
                    .and_then(Value::as_str)
                    .is_some_and(|x| x.eq_ignore_ascii_case(service))
            })
        });
    Some((has, s.busy(now)))
}

/// Address prefixes of an existing subnet.
pub fn subnet_cidrs(st: &State, subnet_id: &str) -> Option<Vec<Cidr>> {
    let s = st.get(subnet_id).filter(|s| s.kind == Kind::Subnet)?;
    let p = s.body.get("properties")?;
    subnet_prefixes(p, &s.id).ok()
}
