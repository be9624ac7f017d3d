//! Microsoft.Network private endpoints (2024-03-01), their DNS zone groups and the NICs Azure
//! makes for them (azure-cli network/test_network_private_endpoint*.yaml). An endpoint needs
//! a subnet that is not delegated (Azure's rule at this api-version; the subnet's
//! `privateEndpointNetworkPolicies`, four-valued and `Disabled` by default, only decides
//! whether NSGs and route tables apply to the endpoint), and a target with the group it
//! names. It gets a NIC with the next free address of the subnet, named
//! `customNetworkInterfaceName` or `<endpoint>.nic.<guid>`, and its `customDnsConfigs` (the
//! target's FQDNs). A zone group writes one A record per FQDN into the zone of the FQDN's
//! privatelink family (`privatelink.blob.core.windows.net`, …) among its zones — a zone of
//! another name gets none, as in the recordings; deleting the group or the endpoint removes
//! them, and the NIC goes with the endpoint.

use super::network::{self, parse_prefix};
use super::{KindDef, patch_tags, with_identity};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::LroStyle;
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Value, json};

/// Private endpoints.
pub const DEF: KindDef = KindDef {
    kind: Kind::PrivateEndpoint,
    put,
    patch: patch_tags,
    delete,
    render: network::render_common,
    refs: pe_refs,
    lro: Some(LroStyle::NETWORK),
    // Recordings (network/test_network_private_endpoint*.yaml, 3 endpoint PUTs): done at the
    // third or fourth poll, 25–40 s.
    create: Span::new(30.0, 20.0, 45.0),
    variants: &[],
    // Recordings: endpoint deletes, ~20 s.
    delete_secs: 20.0,
};

/// DNS zone groups of an endpoint.
pub const ZONE_GROUP_DEF: KindDef = KindDef {
    kind: Kind::PrivateDnsZoneGroup,
    put: put_group,
    patch: patch_tags,
    delete: delete_group,
    render: render_group,
    refs: super::no_refs,
    lro: Some(LroStyle::NETWORK),
    // Recordings (test_network_private_endpoint_private_dns_zone_group.yaml #28, #32, #38):
    // done at the first poll.
    create: Span::new(10.0, 5.0, 15.0),
    variants: &[],
    // Recordings (#42): done at the first poll.
    delete_secs: 10.0,
};

/// The NICs endpoints make (read-only here: created and deleted with their endpoint).
pub const NIC_DEF: KindDef = KindDef {
    kind: Kind::NetworkInterface,
    put: super::not_routed,
    patch: patch_tags,
    delete: delete_nic,
    render: network::render_common,
    refs: nic_refs,
    lro: Some(LroStyle::NETWORK),
    create: Span::fixed(0.0),
    variants: &[],
    delete_secs: 10.0,
};

/// Private endpoint writes are not serialised on the subnet's network.
const OPS: network::NetOps = network::NetOps {
    put_name: "PutPrivateEndpointOperation",
    vnet: network::no_vnet,
    write: write_pe,
    in_use: network::never_in_use,
};

const GROUP_OPS: network::NetOps = network::NetOps {
    put_name: "PutPrivateDnsZoneGroupOperation",
    vnet: network::no_vnet,
    write: write_group,
    in_use: network::never_in_use,
};

/// The groups each target type offers.
fn groups_of(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::StorageAccount => &[
            "blob",
            "blob_secondary",
            "file",
            "file_secondary",
            "queue",
            "queue_secondary",
            "table",
            "table_secondary",
            "web",
            "web_secondary",
            "dfs",
            "dfs_secondary",
        ],
        Kind::KeyVault => &["vault"],
        Kind::ContainerRegistry => &["registry"],
        Kind::MlWorkspace => &["amlworkspace"],
        _ => &[],
    }
}

/// The FQDNs a group of a target answers on (public cloud).
fn fqdns(target: &Record, group: &str) -> Vec<String> {
    let name = target.name().to_ascii_lowercase();
    let loc = target.location().to_string();
    match target.kind {
        Kind::StorageAccount => {
            let (svc, suffix) = match group.split_once('_') {
                Some((svc, _)) => (svc, "-secondary"),
                None => (group, ""),
            };
            vec![format!("{name}{suffix}.{svc}.core.windows.net")]
        }
        Kind::KeyVault => vec![format!("{name}.vault.azure.net")],
        Kind::ContainerRegistry => vec![
            format!("{name}.azurecr.io"),
            format!("{name}.{loc}.data.azurecr.io"),
        ],
        Kind::MlWorkspace => {
            let wid = util::str_at(&target.body, "/properties/workspaceId")
                .unwrap_or("00000000-0000-0000-0000-000000000000")
                .to_string();
            vec![
                format!("{wid}.workspace.{loc}.api.azureml.ms"),
                format!("{wid}.workspace.{loc}.cert.api.azureml.ms"),
                format!("ml-{name}-{loc}-{wid}.{loc}.notebooks.azure.net"),
            ]
        }
        _ => Vec::new(),
    }
}

/// A FQDN's service suffix and the privatelink zone its record goes in.
const FAMILIES: &[(&str, &str)] = &[
    ("blob.core.windows.net", "privatelink.blob.core.windows.net"),
    ("file.core.windows.net", "privatelink.file.core.windows.net"),
    (
        "queue.core.windows.net",
        "privatelink.queue.core.windows.net",
    ),
    (
        "table.core.windows.net",
        "privatelink.table.core.windows.net",
    ),
    ("web.core.windows.net", "privatelink.web.core.windows.net"),
    ("dfs.core.windows.net", "privatelink.dfs.core.windows.net"),
    ("vault.azure.net", "privatelink.vaultcore.azure.net"),
    ("azurecr.io", "privatelink.azurecr.io"),
    ("api.azureml.ms", "privatelink.api.azureml.ms"),
    ("notebooks.azure.net", "privatelink.notebooks.azure.net"),
];

/// `(record name, zone name)` of a FQDN, when it belongs to a privatelink family.
fn record_of(fqdn: &str) -> Option<(String, &'static str)> {
    FAMILIES.iter().find_map(|(svc, zone)| {
        fqdn.strip_suffix(&format!(".{svc}"))
            .map(|name| (name.to_string(), *zone))
    })
}

fn bad(code: &str, message: String) -> ArmError {
    ArmError::bad_request(code, message)
}

/// The next free address of a subnet (Azure keeps the first four).
fn next_ip(st: &State, subnet: &Record) -> ArmResult<String> {
    let prefix = util::str_at(&subnet.body, "/properties/addressPrefix")
        .or_else(|| util::str_at(&subnet.body, "/properties/addressPrefixes/0"))
        .unwrap_or("10.0.0.0/24")
        .to_string();
    let c = parse_prefix(&prefix, subnet.name())?;
    let used: Vec<String> = st
        .resources()
        .values()
        .filter(|r| r.kind == Kind::NetworkInterface && r.deleting_until.is_none())
        .filter(|r| {
            util::str_at(
                &r.body,
                "/properties/ipConfigurations/0/properties/subnet/id",
            )
            .is_some_and(|s| s.eq_ignore_ascii_case(&subnet.id))
        })
        .filter_map(|r| {
            util::str_at(
                &r.body,
                "/properties/ipConfigurations/0/properties/privateIPAddress",
            )
            .map(str::to_string)
        })
        .collect();
    for n in c.base.saturating_add(4)..c.last() {
        let ip = std::net::Ipv4Addr::from(n).to_string();
        if !used.contains(&ip) {
            return Ok(ip);
        }
    }
    Err(bad(
        "SubnetIsFull",
        format!("Subnet {} has no free address left.", subnet.name()),
    ))
}

fn write_pe(ctx: &mut Ctx, rp: &ResPath, mut body: Value, secs: f64) -> ArmResult<bool> {
    let id = rp.id();
    let existing = ctx.st.get(&id).cloned();
    let mut stored = network::top_level_body(rp, &mut body, existing.as_ref())?;
    let subnet_id = util::str_at(&body, "/properties/subnet/id")
        .ok_or_else(|| {
            ArmError::invalid_content(
                "Required property 'subnet' not found in JSON for a private endpoint",
            )
        })?
        .to_string();
    let subnet = ctx.st.get(&subnet_id).cloned().ok_or_else(|| {
        bad(
            "InvalidResourceReference",
            format!("Resource {subnet_id} referenced by resource {id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."),
        )
    })?;
    let delegated = subnet
        .body
        .pointer("/properties/delegations")
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty());
    if delegated {
        return Err(bad(
            "PrivateEndpointCreationNotAllowedAsSubnetIsDelegated",
            format!(
                "Private endpoint {id} cannot be created in subnet {subnet_id} since it is delegated."
            ),
        ));
    }
    let conns = body
        .pointer("/properties/privateLinkServiceConnections")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let manual = body
        .pointer("/properties/manualPrivateLinkServiceConnections")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if conns.len() + manual.len() != 1 {
        return Err(bad(
            "PrivateEndpointMustHaveExactlyOneConnection",
            format!("Private endpoint {id} must have exactly one private link service connection."),
        ));
    }
    let custom_nic = util::str_at(&body, "/properties/customNetworkInterfaceName")
        .unwrap_or("")
        .to_string();
    if let Some(old) = &existing {
        let before = util::str_at(&old.body, "/properties/subnet/id").unwrap_or("");
        let old_nic =
            util::str_at(&old.body, "/properties/customNetworkInterfaceName").unwrap_or("");
        if !before.eq_ignore_ascii_case(&subnet_id) || old_nic != custom_nic {
            return Err(bad(
                "PrivateEndpointCannotUpdateSubnetOrNic",
                format!(
                    "The subnet and the network interface name of private endpoint {id} cannot be changed."
                ),
            ));
        }
    }
    let mut out_conns = Vec::new();
    let mut dns = Vec::new();
    let ip = match existing
        .as_ref()
        .and_then(|o| util::str_at(&o.body, "/properties/customDnsConfigs/0/ipAddresses/0"))
    {
        Some(ip) => ip.to_string(),
        None => next_ip(ctx.st, &subnet)?,
    };
    for c in conns.iter().chain(manual.iter()) {
        let name = c.get("name").and_then(Value::as_str).unwrap_or(rp.name());
        let target_id = util::str_at(c, "/properties/privateLinkServiceId").unwrap_or("");
        let target = ctx.st.get(target_id).cloned().ok_or_else(|| {
            bad(
                "PrivateLinkServiceNotFound",
                format!("Private link resource {target_id} referenced by private endpoint {id} was not found."),
            )
        })?;
        let groups: Vec<String> = c
            .pointer("/properties/groupIds")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let offered = groups_of(target.kind);
        if groups.len() != 1 || !offered.iter().any(|g| g.eq_ignore_ascii_case(&groups[0])) {
            return Err(bad(
                "PrivateEndpointBadRequest",
                format!(
                    "Call to {} failed. Error message: The private endpoint must name exactly one of the groups {} (got {}).",
                    target.kind.info().type_name,
                    offered.join(", "),
                    groups.join(", ")
                ),
            ));
        }
        let group = groups[0].to_ascii_lowercase();
        for f in fqdns(&target, &group) {
            dns.push(json!({ "fqdn": f, "ipAddresses": [ip] }));
        }
        let mut p = json!({
            "privateLinkServiceId": target.id,
            "groupIds": [group],
            "privateLinkServiceConnectionState": {
                "status": "Approved", "description": "Auto-Approved", "actionsRequired": "None" },
        });
        if let Some(m) = c.pointer("/properties/requestMessage") {
            util::set_at(&mut p, "", "requestMessage", m.clone());
        }
        out_conns.push(json!({
            "name": name,
            "id": format!("{id}/privateLinkServiceConnections/{name}"),
            "type": "Microsoft.Network/privateEndpoints/privateLinkServiceConnections",
            "properties": p,
        }));
    }
    let nic_id = match existing.as_ref().and_then(|o| {
        util::str_at(&o.body, "/properties/networkInterfaces/0/id").map(str::to_string)
    }) {
        Some(n) => n,
        None => {
            let nic_name = if custom_nic.is_empty() {
                format!("{}.nic.{}", rp.name(), util::guid())
            } else {
                custom_nic.clone()
            };
            let nrp = ResPath {
                sub: rp.sub.clone(),
                rg: rp.rg.clone(),
                kind: Kind::NetworkInterface,
                names: vec![nic_name],
            };
            if ctx.st.get(&nrp.id()).is_some() {
                return Err(bad(
                    "NetworkInterfaceNameIsAlreadyInUse",
                    format!(
                        "The network interface name {} is already in use.",
                        nrp.name()
                    ),
                ));
            }
            // The recordings name the configuration `privateEndpointIpConfig.<guid>`, its ID
            // ending in that name (network/test_network_vnet.yaml).
            let config = format!("privateEndpointIpConfig.{}", util::guid());
            let nic = with_identity(
                &nrp,
                json!({
                    "location": stored.get("location").cloned().unwrap_or(json!("")),
                    "properties": {
                        "ipConfigurations": [{
                            "name": config,
                            "id": format!("{}/ipConfigurations/{config}", nrp.id()),
                            "properties": {
                                "privateIPAddress": ip,
                                "privateIPAllocationMethod": "Dynamic",
                                "subnet": { "id": subnet.id },
                                "primary": true,
                            },
                        }],
                        "privateEndpoint": { "id": id },
                    },
                }),
            );
            ctx.commit(&nrp, nic, secs, "Updating");
            nrp.id()
        }
    };
    let sp = util::obj_at(&mut stored, "/properties");
    // `PrivateEndpointProperties` has no `resourceGuid` (the recordings show one; the
    // definition, which the traffic is checked against, does not).
    sp.remove("resourceGuid");
    sp.insert(
        "privateLinkServiceConnections".into(),
        json!(if manual.is_empty() {
            out_conns.clone()
        } else {
            Vec::new()
        }),
    );
    sp.insert(
        "manualPrivateLinkServiceConnections".into(),
        json!(if manual.is_empty() {
            Vec::new()
        } else {
            out_conns
        }),
    );
    sp.insert("customNetworkInterfaceName".into(), json!(custom_nic));
    sp.insert("subnet".into(), json!({ "id": subnet.id }));
    sp.insert("ipConfigurations".into(), json!([]));
    sp.insert("networkInterfaces".into(), json!([{ "id": nic_id }]));
    sp.insert("customDnsConfigs".into(), Value::Array(dns));
    Ok(ctx.commit(rp, stored, secs, "Updating"))
}

fn put(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    network::put(ctx, rp, body, &OPS)
}

/// The endpoint takes its NIC and the records of its zone groups along.
fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let id = rp.id();
    let nics: Vec<String> = ctx
        .st
        .get(&id)
        .and_then(|r| r.body.pointer("/properties/networkInterfaces"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|n| n.get("id").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let reply = network::delete(ctx, rp, &OPS)?;
    if reply.status == 202 && ctx.fail_lro.is_none() {
        let until = ctx.now + ctx.scaled(DEF.delete_secs);
        for n in nics {
            if let Some(r) = ctx.st.get_mut(&n) {
                r.deleting_until = Some(until);
            }
        }
        remove_records(ctx.st, &id, until);
    }
    Ok(reply)
}

/// Marks the A records written for endpoint `pe_id` as deleted at `until`.
fn remove_records(st: &mut State, pe_id: &str, until: f64) {
    let owner = format!("created by private endpoint {pe_id}").to_ascii_lowercase();
    for r in st.resources_mut().values_mut() {
        if r.kind == Kind::PrivateDnsARecord
            && util::str_at(&r.body, "/properties/metadata/creator")
                .is_some_and(|c| c.to_ascii_lowercase() == owner)
            && r.deleting_until.is_none()
        {
            r.deleting_until = Some(until);
        }
    }
}

fn delete_nic(_ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    Err(bad(
        "CannotDeleteNicAttachedToPrivateEndpoint",
        format!(
            "Network interface {} is used by a private endpoint and can be deleted only with it.",
            rp.id()
        ),
    ))
}

fn write_group(ctx: &mut Ctx, rp: &ResPath, body: Value, secs: f64) -> ArmResult<bool> {
    let pe_id = rp.parent_id().unwrap_or_default();
    let pe = ctx
        .st
        .get(&pe_id)
        .cloned()
        .ok_or_else(|| super::not_found(rp))?;
    let others: Vec<String> = ctx
        .st
        .children(&pe_id, Kind::PrivateDnsZoneGroup)
        .iter()
        .filter(|g| !g.name().eq_ignore_ascii_case(rp.name()) && g.deleting_until.is_none())
        .map(|g| g.name().to_string())
        .collect();
    if let Some(o) = others.first() {
        return Err(bad(
            "OnlyOnePrivateDnsZoneGroupPerPrivateEndpoint",
            format!(
                "Private endpoint {pe_id} already has the DNS zone group {o}; it can have one only."
            ),
        ));
    }
    let configs = body
        .pointer("/properties/privateDnsZoneConfigs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if configs.is_empty() || configs.len() > 5 {
        return Err(bad(
            "InvalidPrivateDnsZoneConfigCount",
            "A private DNS zone group holds 1 to 5 zone configurations.".to_string(),
        ));
    }
    let dns: Vec<(String, String)> = pe
        .body
        .pointer("/properties/customDnsConfigs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let f = c.get("fqdn")?.as_str()?.to_string();
            let ip = c.pointer("/ipAddresses/0")?.as_str()?.to_string();
            Some((f, ip))
        })
        .collect();
    // The records of this group are rewritten from scratch.
    let now = ctx.now;
    remove_records(ctx.st, &pe_id, now);
    ctx.st.sweep(now);
    let mut out = Vec::new();
    for c in &configs {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("config");
        let zone_id = util::str_at(c, "/properties/privateDnsZoneId").unwrap_or("");
        let zone = ctx.st.get(zone_id).cloned().ok_or_else(|| {
            bad(
                "InvalidResourceReference",
                format!(
                    "Resource {zone_id} referenced by resource {} was not found.",
                    rp.id()
                ),
            )
        })?;
        let mut sets = Vec::new();
        for (fqdn, ip) in &dns {
            let Some((record, zone_name)) = record_of(fqdn) else {
                continue;
            };
            if !zone.name().eq_ignore_ascii_case(zone_name) {
                continue;
            }
            super::private_dns::write_record(ctx.st, &zone, &record, ip, &pe_id, now);
            sets.push(json!({
                "recordType": "A",
                "recordSetName": record,
                "fqdn": format!("{record}.{}", zone.name()),
                "ttl": 10,
                "ipAddresses": [ip],
            }));
        }
        // The recordings show `id`, `type` and `provisioningState` on each config too; the
        // definition (`PrivateDnsZoneConfig`) has only these.
        out.push(json!({
            "name": name,
            "properties": { "privateDnsZoneId": zone.id, "recordSets": sets },
        }));
    }
    let mut stored = with_identity(
        rp,
        json!({ "properties": { "privateDnsZoneConfigs": out } }),
    );
    // `PrivateDnsZoneGroup` is a `SubResource` with a name, an etag and properties: no `type`.
    if let Some(o) = stored.as_object_mut() {
        o.remove("type");
    }
    let created = ctx.commit(rp, stored, secs, "Updating");
    ctx.touch_parent(rp);
    Ok(created)
}

fn put_group(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    network::put(ctx, rp, body, &GROUP_OPS)
}

fn delete_group(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let reply = network::delete(ctx, rp, &GROUP_OPS)?;
    if reply.status == 202 && ctx.fail_lro.is_none() {
        let until = ctx.now + ctx.scaled(ZONE_GROUP_DEF.delete_secs);
        remove_records(ctx.st, &rp.parent_id().unwrap_or_default(), until);
    }
    Ok(reply)
}

/// The group's configs and their record sets show its provisioning state.
fn render_group(st: &State, rec: &Record, v: &mut Value, now: f64) {
    network::render_common(st, rec, v, now);
    let state = rec.state(now).to_string();
    if let Some(Value::Array(cs)) = v.pointer_mut("/properties/privateDnsZoneConfigs") {
        for c in cs {
            if let Some(Value::Array(sets)) = c.pointer_mut("/properties/recordSets") {
                for s in sets {
                    util::set_at(s, "", "provisioningState", json!(state));
                }
            }
        }
    }
}

/// An endpoint points at its subnet.
fn pe_refs(rec: &Record) -> Vec<String> {
    super::refs_at(rec, &["/properties/subnet/id"])
}

/// A NIC points at its subnet.
fn nic_refs(rec: &Record) -> Vec<String> {
    super::refs_at(
        rec,
        &["/properties/ipConfigurations/0/properties/subnet/id"],
    )
}
