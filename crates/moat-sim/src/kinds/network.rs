//! Microsoft.Network: virtual networks and subnets, network security groups and rules, route
//! tables and routes — with child/inline duality, range checks, in-use checks and the
//! "another operation in progress" 429 of the Network resource provider.

use super::{
    Ctx, Kind, ResPath, check_enum, check_tags, referrers, render as render_any, require_location,
    with_identity,
};
use crate::errors::{ArmError, ArmResult};
use crate::lro::{self, Reply};
use crate::store::{Record, State};
use crate::util::{self, Cidr, CidrError};
use serde_json::{Map, Value, json};

const NETWORK_SECS_RETRY: f64 = 10.0;

/// Fills in computed fields of a Network resource body.
pub fn render(st: &State, rec: &Record, v: &mut Value, now: f64) {
    let state = rec.state(now).to_string();
    let parent_etag = |st: &State| {
        let pid = &rec.id[..rec
            .id
            .rfind('/')
            .and_then(|i| rec.id[..i].rfind('/'))
            .unwrap_or(0)];
        st.get(pid)
            .map(|p| p.etag.clone())
            .unwrap_or_else(|| rec.etag.clone())
    };
    match rec.kind {
        Kind::Subnet | Kind::SecurityRule | Kind::Route => {
            util::set_at(v, "", "etag", json!(parent_etag(st)));
        }
        _ => util::set_at(v, "", "etag", json!(rec.etag)),
    }
    util::set_at(v, "/properties", "provisioningState", json!(state));
    let props = util::obj_at(v, "/properties");
    match rec.kind {
        Kind::VirtualNetwork => {
            let subnets: Vec<Value> = st
                .children(&rec.id, Kind::Subnet)
                .into_iter()
                .map(|s| render_any(st, s, now))
                .collect();
            props.insert("subnets".into(), Value::Array(subnets));
            props.insert("virtualNetworkPeerings".into(), json!([]));
        }
        Kind::Subnet => {
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
        Kind::NetworkSecurityGroup => {
            let rules: Vec<Value> = st
                .children(&rec.id, Kind::SecurityRule)
                .into_iter()
                .map(|s| render_any(st, s, now))
                .collect();
            props.insert("securityRules".into(), Value::Array(rules));
            props.insert(
                "defaultSecurityRules".into(),
                default_rules(&rec.id, &rec.etag),
            );
            let subnets = back_refs(st, &rec.id, "/properties/networkSecurityGroup/id");
            if !subnets.is_empty() {
                props.insert("subnets".into(), Value::Array(subnets));
            }
        }
        Kind::RouteTable => {
            let routes: Vec<Value> = st
                .children(&rec.id, Kind::Route)
                .into_iter()
                .map(|s| render_any(st, s, now))
                .collect();
            props.insert("routes".into(), Value::Array(routes));
            let subnets = back_refs(st, &rec.id, "/properties/routeTable/id");
            if !subnets.is_empty() {
                props.insert("subnets".into(), Value::Array(subnets));
            }
        }
        _ => {}
    }
}

fn back_refs(st: &State, id: &str, ptr: &str) -> Vec<Value> {
    st.resources
        .values()
        .filter(|r| r.kind == Kind::Subnet && r.deleting_until.is_none())
        .filter(|r| util::str_at(&r.body, ptr).is_some_and(|x| util::eq_ci(x, id)))
        .map(|r| json!({"id": r.id}))
        .collect()
}

/// The six rules every NSG carries.
fn default_rules(nsg_id: &str, etag: &str) -> Value {
    let rules = [
        (
            "AllowVnetInBound",
            "Allow inbound traffic from all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Inbound",
        ),
        (
            "AllowAzureLoadBalancerInBound",
            "Allow inbound traffic from azure load balancer",
            "AzureLoadBalancer",
            "*",
            "Allow",
            65001,
            "Inbound",
        ),
        (
            "DenyAllInBound",
            "Deny all inbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Inbound",
        ),
        (
            "AllowVnetOutBound",
            "Allow outbound traffic from all VMs to all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Outbound",
        ),
        (
            "AllowInternetOutBound",
            "Allow outbound traffic from all VMs to Internet",
            "*",
            "Internet",
            "Allow",
            65001,
            "Outbound",
        ),
        (
            "DenyAllOutBound",
            "Deny all outbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Outbound",
        ),
    ];
    Value::Array(
        rules
            .iter()
            .map(|(name, desc, src, dst, access, prio, dir)| {
                json!({
                    "name": name,
                    "id": format!("{nsg_id}/defaultSecurityRules/{name}"),
                    "etag": etag,
                    "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "description": desc,
                        "protocol": "*",
                        "sourcePortRange": "*",
                        "destinationPortRange": "*",
                        "sourceAddressPrefix": src,
                        "destinationAddressPrefix": dst,
                        "access": access,
                        "priority": prio,
                        "direction": dir,
                        "sourcePortRanges": [],
                        "destinationPortRanges": [],
                        "sourceAddressPrefixes": [],
                        "destinationAddressPrefixes": []
                    }
                })
            })
            .collect(),
    )
}

/// The VNet a Network write is serialised on, if any.
fn vnet_of(rp: &ResPath) -> Option<String> {
    match rp.kind {
        Kind::VirtualNetwork => Some(rp.id()),
        Kind::Subnet => rp.parent_id(),
        _ => None,
    }
}

/// 429 `RetryableError` when another operation on the VNet or its subnets is running.
fn check_vnet_busy(ctx: &Ctx, rp: &ResPath, op_name: &str) -> ArmResult<()> {
    let Some(vnet_id) = vnet_of(rp) else {
        return Ok(());
    };
    let mut until: f64 = 0.0;
    let mut busy_id = String::new();
    if let Some(v) = ctx.st.get(&vnet_id)
        && v.busy(ctx.now)
    {
        until = v.busy_until.max(v.deleting_until.unwrap_or(0.0));
        busy_id = v.id.clone();
    }
    for s in ctx.st.children(&vnet_id, Kind::Subnet) {
        if s.busy(ctx.now) {
            let u = s.busy_until.max(s.deleting_until.unwrap_or(0.0));
            if u > until {
                until = u;
                busy_id = s.id.clone();
            }
        }
    }
    if until <= ctx.now {
        return Ok(());
    }
    let wait = ((until - ctx.now).ceil() as u64).max(1);
    let retry = ctx
        .retry_after(NETWORK_SECS_RETRY)
        .max(wait.min(ctx.retry_after(NETWORK_SECS_RETRY)));
    let msg = format!(
        "Operation '{op_name}' (on resource '{}') was canceled because another operation on the same or dependent resource '{busy_id}' is in progress. The call can be retried in {wait} seconds.",
        rp.id()
    );
    Err(ArmError::new(429, "RetryableError", msg.clone())
        .detail("RetryableErrorDueToAnotherOperation", msg)
        .retry_after(retry))
}

fn parse_prefix(p: &str, owner: &str) -> ArmResult<Cidr> {
    Cidr::parse(p).map_err(|e| match e {
        CidrError::Syntax => ArmError::bad_request(
            "InvalidAddressPrefixFormat",
            format!("Address prefix {p} of resource {owner} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24."),
        ),
        CidrError::NotAligned(good) => ArmError::bad_request(
            "InvalidCIDRNotation",
            format!("The address prefix {p} in resource {owner} has an invalid CIDR notation. For the given prefix length, the address prefix should be {good}."),
        ),
    })
}

fn string_list(v: Option<&Value>, field: &str) -> ArmResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    ArmError::invalid_content(format!(
                        "Property '{field}' must be an array of strings"
                    ))
                })
            })
            .collect(),
        Some(_) => Err(ArmError::invalid_content(format!(
            "Property '{field}' must be an array"
        ))),
    }
}

/// Address prefixes of a subnet body.
fn subnet_prefixes(props: &Value, id: &str) -> ArmResult<Vec<Cidr>> {
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

fn vnet_space(vnet_body: &Value, id: &str) -> ArmResult<Vec<Cidr>> {
    let list = string_list(
        vnet_body.pointer("/properties/addressSpace/addressPrefixes"),
        "addressSpace.addressPrefixes",
    )?;
    list.iter().map(|p| parse_prefix(p, id)).collect()
}

/// Checks a subnet against its VNet and siblings and returns the stored properties.
fn validate_subnet(
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

fn in_use_subnet(ctx: &Ctx, subnet_id: &str, name: &str) -> ArmResult<()> {
    let users = referrers(ctx.st, subnet_id, ctx.now);
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

/// PUT of any Network kind.
pub fn put(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    let op_name = match rp.kind {
        Kind::VirtualNetwork => "PutVirtualNetworkOperation",
        Kind::Subnet => "PutSubnetOperation",
        _ => "PutOperation",
    };
    check_vnet_busy(ctx, rp, op_name)?;
    let secs = super::provisioning_seconds(rp.kind.info().type_name);
    let created = match rp.kind {
        Kind::VirtualNetwork => put_vnet(ctx, rp, body, secs)?,
        Kind::Subnet => put_subnet(ctx, rp, body, secs)?,
        Kind::NetworkSecurityGroup => {
            put_parent_with_children(ctx, rp, body, secs, "securityRules", Kind::SecurityRule)?
        }
        Kind::RouteTable => put_parent_with_children(ctx, rp, body, secs, "routes", Kind::Route)?,
        Kind::SecurityRule | Kind::Route => {
            let parent_id = rp.parent_id().unwrap_or_default();
            let props = body.get("properties").cloned().unwrap_or(Value::Null);
            let validated = if rp.kind == Kind::SecurityRule {
                let siblings: Vec<(String, Value)> = ctx
                    .st
                    .children(&parent_id, Kind::SecurityRule)
                    .iter()
                    .map(|r| {
                        (
                            r.name().to_string(),
                            r.body.get("properties").cloned().unwrap_or(Value::Null),
                        )
                    })
                    .collect();
                validate_rule(rp.name(), &props, &siblings)?
            } else {
                validate_route(rp.name(), &props)?
            };
            let stored = with_identity(rp, json!({"properties": validated}));
            let created = ctx.commit(rp, stored, secs, "Updating");
            ctx.touch_parent(rp);
            created
        }
        _ => {
            return Err(ArmError::bad_request(
                "InvalidResourceType",
                "unexpected network type",
            ));
        }
    };
    let rec = ctx
        .st
        .get(&rp.id())
        .cloned()
        .ok_or_else(|| ArmError::new(500, "InternalServerError", "An error occurred."))?;
    let op = lro::start_op(ctx, &rec.id, secs, false);
    let location = location_of(ctx.st, &rec);
    let reply = Reply::json(
        if created { 201 } else { 200 },
        render_any(ctx.st, &rec, ctx.now),
    );
    Ok(lro::with_async_headers(
        ctx, reply, rp.kind, &rp.sub, &location, &op, false,
    ))
}

fn location_of(st: &State, rec: &Record) -> String {
    if !rec.location().is_empty() {
        return rec.location().to_string();
    }
    super::parse_id(&rec.id)
        .and_then(|p| p.parent_id())
        .and_then(|pid| st.get(&pid).map(|p| p.location().to_string()))
        .unwrap_or_else(|| "westus".into())
}

fn top_level_body(rp: &ResPath, body: &mut Value, existing: Option<&Record>) -> ArmResult<Value> {
    require_location(body)?;
    check_tags(body)?;
    if let Some(old) = existing
        && !old
            .location()
            .eq_ignore_ascii_case(body.get("location").and_then(Value::as_str).unwrap_or(""))
    {
        return Err(ArmError::new(
            409,
            "InvalidResourceLocation",
            format!(
                "The resource '{}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{}'. Please select a new resource name.",
                rp.name(),
                old.location(),
                rp.rg,
                body.get("location").and_then(Value::as_str).unwrap_or("")
            ),
        ));
    }
    let mut stored = super::keep_fields(body, &["location", "tags", "extendedLocation"]);
    let guid = existing
        .and_then(|r| r.body.pointer("/properties/resourceGuid").cloned())
        .unwrap_or_else(|| json!(util::guid()));
    util::set_at(&mut stored, "/properties", "resourceGuid", guid);
    Ok(with_identity(rp, stored))
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
                ctx.st.resources.remove(&old.id.to_ascii_lowercase());
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

fn put_parent_with_children(
    ctx: &mut Ctx,
    rp: &ResPath,
    mut body: Value,
    secs: f64,
    field: &str,
    child: Kind,
) -> ArmResult<bool> {
    let id = rp.id();
    let existing = ctx.st.get(&id).cloned();
    let mut stored = top_level_body(rp, &mut body, existing.as_ref())?;
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let mut children: Vec<(String, Value)> = Vec::new();
    if let Some(list) = props.get(field).filter(|v| !v.is_null()) {
        let arr = list.as_array().ok_or_else(|| {
            ArmError::invalid_content(format!("Property '{field}' must be an array"))
        })?;
        let mut seen: Vec<(String, Value)> = Vec::new();
        for item in arr {
            let name = item.get("name").and_then(Value::as_str).ok_or_else(|| {
                ArmError::invalid_content(format!(
                    "Required property 'name' not found in JSON for an item of '{field}'"
                ))
            })?;
            let p = item.get("properties").cloned().unwrap_or(Value::Null);
            let v = if child == Kind::SecurityRule {
                validate_rule(name, &p, &seen)?
            } else {
                validate_route(name, &p)?
            };
            seen.push((name.to_string(), v.clone()));
            children.push((name.to_string(), v));
        }
    }
    let sp = util::obj_at(&mut stored, "/properties");
    if rp.kind == Kind::RouteTable {
        sp.insert(
            "disableBgpRoutePropagation".into(),
            props
                .get("disableBgpRoutePropagation")
                .filter(|v| v.is_boolean())
                .cloned()
                .unwrap_or(json!(false)),
        );
    } else if let Some(v) = props.get("flushConnection").filter(|v| v.is_boolean()) {
        sp.insert("flushConnection".into(), v.clone());
    }
    let created = ctx.commit(rp, stored, secs, "Updating");
    // The collection in the body is the full set: rules or routes not listed go away.
    for old in ctx
        .st
        .children(&id, child)
        .into_iter()
        .map(|r| r.id.clone())
        .collect::<Vec<_>>()
    {
        ctx.st.resources.remove(&old.to_ascii_lowercase());
    }
    for (name, props) in children {
        let mut names = rp.names.clone();
        names.push(name);
        let crp = ResPath {
            sub: rp.sub.clone(),
            rg: rp.rg.clone(),
            kind: child,
            names,
        };
        let stored = with_identity(&crp, json!({"properties": props}));
        ctx.commit(&crp, stored, secs, "Updating");
    }
    Ok(created)
}

fn validate_rule(name: &str, p: &Value, siblings: &[(String, Value)]) -> ArmResult<Value> {
    let field = |f: &str| p.get(f).unwrap_or(&Value::Null);
    let protocol = check_enum(
        field("protocol"),
        "protocol",
        &["Tcp", "Udp", "Icmp", "Esp", "*", "Ah"],
    )?;
    let access = check_enum(field("access"), "access", &["Allow", "Deny"])?;
    let direction = check_enum(field("direction"), "direction", &["Inbound", "Outbound"])?;
    let (Some(protocol), Some(access), Some(direction)) = (protocol, access, direction) else {
        return Err(ArmError::invalid_content(format!(
            "Security rule {name} must set 'protocol', 'access' and 'direction'"
        )));
    };
    let priority = field("priority").as_i64().ok_or_else(|| {
        ArmError::bad_request("SecurityRuleInvalidPriority", format!("Security rule {name} has invalid Priority. Value provided: {} Allowed range 100-4096.", field("priority")))
    })?;
    if !(100..=4096).contains(&priority) {
        return Err(ArmError::bad_request(
            "SecurityRuleInvalidPriority",
            format!(
                "Security rule {name} has invalid Priority. Value provided: {priority} Allowed range 100-4096."
            ),
        ));
    }
    for (other, op) in siblings {
        if !other.eq_ignore_ascii_case(name)
            && op.get("priority").and_then(Value::as_i64) == Some(priority)
            && op.get("direction").and_then(Value::as_str) == Some(direction.as_str())
        {
            return Err(ArmError::bad_request(
                "SecurityRuleConflict",
                format!(
                    "Security rule {name} conflicts with rule {other}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules."
                ),
            ));
        }
    }
    let mut out = Map::new();
    if let Some(d) = p.get("description").filter(|v| v.is_string()) {
        out.insert("description".into(), d.clone());
    }
    out.insert("protocol".into(), json!(protocol));
    for (single, plural, what) in [
        ("sourcePortRange", "sourcePortRanges", "port range"),
        (
            "destinationPortRange",
            "destinationPortRanges",
            "port range",
        ),
        (
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            "address prefix",
        ),
        (
            "destinationAddressPrefix",
            "destinationAddressPrefixes",
            "address prefix",
        ),
    ] {
        let plural_list = string_list(p.get(plural), plural)?;
        match p.get(single).and_then(Value::as_str) {
            Some(s) if plural_list.is_empty() => {
                out.insert(single.into(), json!(s));
            }
            Some(_) => {
                return Err(ArmError::bad_request(
                    "SecurityRuleParameterContainsUnsupportedValue",
                    format!(
                        "Security rule {name} specifies both {single} and {plural}. Only one of them may be set."
                    ),
                ));
            }
            None if plural_list.is_empty() && !(what == "address prefix" && has_asg(p, single)) => {
                return Err(ArmError::bad_request(
                    "SecurityRuleInvalidAddressPrefix",
                    format!(
                        "Security rule {name} has no {single} or {plural}; one {what} is required."
                    ),
                ));
            }
            None => {}
        }
        out.insert(plural.into(), json!(plural_list));
    }
    for f in [
        "sourceApplicationSecurityGroups",
        "destinationApplicationSecurityGroups",
    ] {
        if let Some(v) = p.get(f).filter(|v| v.is_array()) {
            out.insert(f.into(), v.clone());
        }
    }
    out.insert("access".into(), json!(access));
    out.insert("priority".into(), json!(priority));
    out.insert("direction".into(), json!(direction));
    Ok(Value::Object(out))
}

fn has_asg(p: &Value, single: &str) -> bool {
    let f = if single.starts_with("source") {
        "sourceApplicationSecurityGroups"
    } else {
        "destinationApplicationSecurityGroups"
    };
    p.get(f)
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn validate_route(name: &str, p: &Value) -> ArmResult<Value> {
    let prefix = p
        .get("addressPrefix")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ArmError::invalid_content(format!(
                "Required property 'addressPrefix' not found in JSON for route {name}"
            ))
        })?;
    if prefix.contains('/') {
        parse_prefix(prefix, name)?;
    } else if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        return Err(ArmError::bad_request(
            "InvalidAddressPrefixFormat",
            format!("Address prefix {prefix} of route {name} is neither a CIDR nor a service tag."),
        ));
    }
    let hop = check_enum(
        p.get("nextHopType").unwrap_or(&Value::Null),
        "nextHopType",
        &[
            "VirtualNetworkGateway",
            "VnetLocal",
            "Internet",
            "VirtualAppliance",
            "None",
        ],
    )?
    .ok_or_else(|| {
        ArmError::invalid_content(format!(
            "Required property 'nextHopType' not found in JSON for route {name}"
        ))
    })?;
    let ip = p
        .get("nextHopIpAddress")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match (hop.as_str(), ip) {
        ("VirtualAppliance", None) => {
            return Err(ArmError::bad_request(
                "NextHopIpAddressRequired",
                format!("Route {name} has next hop type VirtualAppliance but no nextHopIpAddress."),
            ));
        }
        ("VirtualAppliance", Some(ip)) if ip.parse::<std::net::IpAddr>().is_err() => {
            return Err(ArmError::bad_request(
                "InvalidNextHopIpAddress",
                format!("Route {name} has an invalid nextHopIpAddress {ip}."),
            ));
        }
        (h, Some(_)) if h != "VirtualAppliance" => {
            return Err(ArmError::bad_request(
                "NextHopIpAddressNotAllowed",
                format!(
                    "Route {name} has next hop type {h}; nextHopIpAddress is only allowed with VirtualAppliance."
                ),
            ));
        }
        _ => {}
    }
    let mut out = json!({"addressPrefix": prefix, "nextHopType": hop});
    if let Some(ip) = ip {
        util::set_at(&mut out, "", "nextHopIpAddress", json!(ip));
    }
    util::set_at(&mut out, "", "hasBgpOverride", json!(false));
    Ok(out)
}

/// DELETE of any Network kind: 202 + Azure-AsyncOperation + Location, 204 when absent.
pub fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let id = rp.id();
    let Some(rec) = ctx.st.get(&id).cloned() else {
        return Ok(Reply::empty(204));
    };
    check_vnet_busy(ctx, rp, "DeleteOperation")?;
    match rp.kind {
        Kind::Subnet => in_use_subnet(ctx, &id, rp.name())?,
        Kind::VirtualNetwork => {
            for s in ctx
                .st
                .children(&id, Kind::Subnet)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
            {
                in_use_subnet(ctx, &s.id, s.name())?;
            }
        }
        Kind::NetworkSecurityGroup | Kind::RouteTable => {
            let users = referrers(ctx.st, &id, ctx.now);
            if !users.is_empty() {
                let (code, what, link) = if rp.kind == Kind::NetworkSecurityGroup {
                    (
                        "InUseNetworkSecurityGroupCannotBeDeleted",
                        "Network security group",
                        "aka.ms/deletensg",
                    )
                } else {
                    (
                        "InUseRouteTableCannotBeDeleted",
                        "Route table",
                        "aka.ms/deleteroutetable",
                    )
                };
                return Err(ArmError::bad_request(
                    code,
                    format!(
                        "{what} {id} cannot be deleted because it is in use by the following resources: {}. In order to delete the {what}, remove the association with the resource(s). To learn how to do this, see {link}.",
                        users.join(", ")
                    ),
                ));
            }
        }
        _ => {}
    }
    let secs = super::delete_seconds(rp.kind);
    let fail = ctx.fail_lro.is_some();
    let op = lro::start_op(ctx, &id, secs, true);
    let until = ctx.now + ctx.scaled(secs);
    if !fail {
        if let Some(r) = ctx.st.get_mut(&id) {
            r.deleting_until = Some(until);
        }
        lro::mark_children_deleting(ctx, &id, until, false);
        ctx.touch_parent(rp);
    }
    let location = location_of(ctx.st, &rec);
    Ok(lro::with_async_headers(
        ctx,
        Reply::empty(202),
        rp.kind,
        &rp.sub,
        &location,
        &op,
        true,
    ))
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
