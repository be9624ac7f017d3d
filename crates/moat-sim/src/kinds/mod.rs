//! The resource kinds the emulator knows: their namespaces, api-versions and types, and the
//! dispatch from a request to the kind's validation, defaults and rendering.

pub mod aks;
pub mod keyvault;
pub mod ml;
pub mod network;
pub mod other;
pub mod resources;
pub mod storage;

use crate::errors::{ArmError, ArmResult};
use crate::lro::Reply;
use crate::store::{Record, State};
use crate::util;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A resource kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// `Microsoft.Resources/resourceGroups`.
    ResourceGroup,
    /// `Microsoft.Network/virtualNetworks`.
    VirtualNetwork,
    /// `Microsoft.Network/virtualNetworks/subnets`.
    Subnet,
    /// `Microsoft.Network/networkSecurityGroups`.
    NetworkSecurityGroup,
    /// `Microsoft.Network/networkSecurityGroups/securityRules`.
    SecurityRule,
    /// `Microsoft.Network/routeTables`.
    RouteTable,
    /// `Microsoft.Network/routeTables/routes`.
    Route,
    /// `Microsoft.Storage/storageAccounts`.
    StorageAccount,
    /// `Microsoft.KeyVault/vaults`.
    KeyVault,
    /// `Microsoft.Insights/components`.
    AppInsights,
    /// `Microsoft.ContainerRegistry/registries`.
    ContainerRegistry,
    /// `Microsoft.MachineLearningServices/workspaces`.
    MlWorkspace,
    /// `Microsoft.MachineLearningServices/workspaces/computes`.
    MlCompute,
    /// `Microsoft.ContainerService/managedClusters`.
    ManagedCluster,
}

/// Static facts about a kind.
pub struct KindInfo {
    /// The kind.
    pub kind: Kind,
    /// Provider namespace in canonical casing.
    pub ns: &'static str,
    /// Type segments in canonical casing.
    pub types: &'static [&'static str],
    /// The `type` value of GET bodies.
    pub type_name: &'static str,
    /// The one api-version accepted.
    pub api: &'static str,
}

/// The table of kinds.
pub const KINDS: &[KindInfo] = &[
    KindInfo {
        kind: Kind::VirtualNetwork,
        ns: "Microsoft.Network",
        types: &["virtualNetworks"],
        type_name: "Microsoft.Network/virtualNetworks",
        api: "2024-03-01",
    },
    KindInfo {
        kind: Kind::Subnet,
        ns: "Microsoft.Network",
        types: &["virtualNetworks", "subnets"],
        type_name: "Microsoft.Network/virtualNetworks/subnets",
        api: "2024-03-01",
    },
    KindInfo {
        kind: Kind::NetworkSecurityGroup,
        ns: "Microsoft.Network",
        types: &["networkSecurityGroups"],
        type_name: "Microsoft.Network/networkSecurityGroups",
        api: "2024-03-01",
    },
    KindInfo {
        kind: Kind::SecurityRule,
        ns: "Microsoft.Network",
        types: &["networkSecurityGroups", "securityRules"],
        type_name: "Microsoft.Network/networkSecurityGroups/securityRules",
        api: "2024-03-01",
    },
    KindInfo {
        kind: Kind::RouteTable,
        ns: "Microsoft.Network",
        types: &["routeTables"],
        type_name: "Microsoft.Network/routeTables",
        api: "2024-03-01",
    },
    KindInfo {
        kind: Kind::Route,
        ns: "Microsoft.Network",
        types: &["routeTables", "routes"],
        type_name: "Microsoft.Network/routeTables/routes",
        api: "2024-03-01",
    },
    KindInfo {
        kind: Kind::StorageAccount,
        ns: "Microsoft.Storage",
        types: &["storageAccounts"],
        type_name: "Microsoft.Storage/storageAccounts",
        api: "2023-05-01",
    },
    KindInfo {
        kind: Kind::KeyVault,
        ns: "Microsoft.KeyVault",
        types: &["vaults"],
        type_name: "Microsoft.KeyVault/vaults",
        api: "2023-07-01",
    },
    KindInfo {
        kind: Kind::AppInsights,
        ns: "Microsoft.Insights",
        types: &["components"],
        type_name: "microsoft.insights/components",
        api: "2020-02-02",
    },
    KindInfo {
        kind: Kind::ContainerRegistry,
        ns: "Microsoft.ContainerRegistry",
        types: &["registries"],
        type_name: "Microsoft.ContainerRegistry/registries",
        api: "2023-07-01",
    },
    KindInfo {
        kind: Kind::MlWorkspace,
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces"],
        type_name: "Microsoft.MachineLearningServices/workspaces",
        api: "2024-04-01",
    },
    KindInfo {
        kind: Kind::MlCompute,
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces", "computes"],
        type_name: "Microsoft.MachineLearningServices/workspaces/computes",
        api: "2024-04-01",
    },
    KindInfo {
        kind: Kind::ManagedCluster,
        ns: "Microsoft.ContainerService",
        types: &["managedClusters"],
        type_name: "Microsoft.ContainerService/ManagedClusters",
        api: "2024-08-01",
    },
];

/// Api-version of Microsoft.Resources.
pub const RESOURCES_API: &str = "2024-07-01";

impl Kind {
    /// Static facts; resource groups have their own entry outside [`KINDS`].
    pub fn info(self) -> &'static KindInfo {
        static RG: KindInfo = KindInfo {
            kind: Kind::ResourceGroup,
            ns: "Microsoft.Resources",
            types: &["resourceGroups"],
            type_name: "Microsoft.Resources/resourceGroups",
            api: RESOURCES_API,
        };
        KINDS.iter().find(|k| k.kind == self).unwrap_or(&RG)
    }

    /// The kind whose instances contain this one, for nested kinds.
    pub fn parent(self) -> Option<Kind> {
        match self {
            Kind::Subnet => Some(Kind::VirtualNetwork),
            Kind::SecurityRule => Some(Kind::NetworkSecurityGroup),
            Kind::Route => Some(Kind::RouteTable),
            Kind::MlCompute => Some(Kind::MlWorkspace),
            _ => None,
        }
    }

    /// Whether GET bodies carry `systemData` (only where the API definition declares it).
    pub fn has_system_data(self) -> bool {
        matches!(
            self,
            Kind::KeyVault
                | Kind::ContainerRegistry
                | Kind::MlWorkspace
                | Kind::MlCompute
                | Kind::ManagedCluster
        )
    }

    /// Whether it is a Network resource.
    pub fn is_network(self) -> bool {
        self.info().ns == "Microsoft.Network"
    }
}

/// Typical provisioning time of a resource type in seconds, before `--time-scale`.
///
/// `resource_type` is a full ARM type (`Microsoft.Network/virtualNetworks`, case-insensitive);
/// ML computes may be suffixed with their compute type (`…/computes:AKS`). Unknown types are 0.
pub fn provisioning_seconds(resource_type: &str) -> f64 {
    let t = resource_type.to_ascii_lowercase();
    match t.as_str() {
        "microsoft.resources/resourcegroups" => 0.0,
        "microsoft.network/virtualnetworks" => 4.0,
        "microsoft.network/virtualnetworks/subnets" => 3.0,
        "microsoft.network/networksecuritygroups" => 3.0,
        "microsoft.network/networksecuritygroups/securityrules" => 2.0,
        "microsoft.network/routetables" => 3.0,
        "microsoft.network/routetables/routes" => 2.0,
        "microsoft.storage/storageaccounts" => 25.0,
        "microsoft.keyvault/vaults" => 20.0,
        "microsoft.insights/components" => 0.0,
        "microsoft.containerregistry/registries" => 15.0,
        "microsoft.machinelearningservices/workspaces" => 120.0,
        "microsoft.machinelearningservices/workspaces/computes"
        | "microsoft.machinelearningservices/workspaces/computes:amlcompute" => 180.0,
        "microsoft.machinelearningservices/workspaces/computes:aks" => 600.0,
        "microsoft.machinelearningservices/workspaces/computes:aks-attach" => 60.0,
        "microsoft.containerservice/managedclusters" => 300.0,
        _ => 0.0,
    }
}

/// Typical delete time in seconds, before `--time-scale`.
pub fn delete_seconds(kind: Kind) -> f64 {
    match kind {
        Kind::ResourceGroup => 30.0,
        Kind::ManagedCluster => 180.0,
        Kind::MlWorkspace => 60.0,
        Kind::MlCompute => 60.0,
        Kind::ContainerRegistry => 10.0,
        k if k.is_network() => 2.0,
        _ => 0.0,
    }
}

/// A parsed resource path below a resource group.
#[derive(Debug, Clone)]
pub struct ResPath {
    /// Subscription id as sent.
    pub sub: String,
    /// Resource group as sent.
    pub rg: String,
    /// Kind.
    pub kind: Kind,
    /// Names of the resource and its ancestors (outermost first).
    pub names: Vec<String>,
}

impl ResPath {
    /// Canonical id of the resource (names as sent).
    pub fn id(&self) -> String {
        id_of(&self.sub, &self.rg, self.kind, &self.names)
    }

    /// Id of the parent resource, for nested kinds.
    pub fn parent_id(&self) -> Option<String> {
        let parent = self.kind.parent()?;
        Some(id_of(
            &self.sub,
            &self.rg,
            parent,
            &self.names[..self.names.len() - 1],
        ))
    }

    /// The resource's own name.
    pub fn name(&self) -> &str {
        self.names.last().map(String::as_str).unwrap_or("")
    }

    /// The resource group id.
    pub fn rg_id(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/{}", self.sub, self.rg)
    }
}

/// Builds a resource id.
pub fn id_of(sub: &str, rg: &str, kind: Kind, names: &[String]) -> String {
    let info = kind.info();
    let mut id = format!(
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/{}",
        info.ns
    );
    for (t, n) in info.types.iter().zip(names) {
        id.push('/');
        id.push_str(t);
        id.push('/');
        id.push_str(n);
    }
    id
}

/// Splits a resource id into (sub, rg, kind, names) when it names a known kind.
pub fn parse_id(id: &str) -> Option<ResPath> {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    if segs.len() < 6
        || !segs[0].eq_ignore_ascii_case("subscriptions")
        || !segs[2].eq_ignore_ascii_case("resourcegroups")
        || !segs[4].eq_ignore_ascii_case("providers")
    {
        return None;
    }
    let ns = segs[5];
    let rest = &segs[6..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return None;
    }
    let types: Vec<&str> = rest.iter().step_by(2).copied().collect();
    let names: Vec<String> = rest
        .iter()
        .skip(1)
        .step_by(2)
        .map(|s| s.to_string())
        .collect();
    let info = KINDS.iter().find(|k| {
        k.ns.eq_ignore_ascii_case(ns)
            && k.types.len() == types.len()
            && k.types
                .iter()
                .zip(&types)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    })?;
    Some(ResPath {
        sub: segs[1].to_string(),
        rg: segs[3].to_string(),
        kind: info.kind,
        names,
    })
}

/// Everything a kind handler needs for one request.
pub struct Ctx<'a> {
    /// The emulated cloud.
    pub st: &'a mut State,
    /// Request time.
    pub now: f64,
    /// `--time-scale`.
    pub scale: f64,
    /// `http://host` the client used, for LRO URLs.
    pub base: String,
    /// A fault rule asked for the next LRO to end `Failed`.
    pub fail_lro: Option<(String, String)>,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// The full URL of the request (poll endpoints hand it back in `Location`).
    pub self_url: String,
}

impl Ctx<'_> {
    /// A query parameter (case-insensitive name).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Scaled duration.
    pub fn scaled(&self, secs: f64) -> f64 {
        secs * self.scale
    }

    /// Scaled `Retry-After` value.
    pub fn retry_after(&self, secs: f64) -> u64 {
        (secs * self.scale).round().max(0.0) as u64
    }

    /// Stores a resource after a write and returns whether it was created.
    ///
    /// The resource is busy (`transitional`) for `secs` scaled seconds; a pending LRO fault
    /// makes it end `Failed`.
    pub fn commit(&mut self, rp: &ResPath, body: Value, secs: f64, transitional: &str) -> bool {
        let until = self.now + self.scaled(secs);
        let failed = self.fail_lro.is_some();
        let etag = util::weak_etag();
        match self.st.get_mut(&rp.id()) {
            Some(rec) => {
                rec.body = body;
                rec.modified = self.now;
                rec.busy_until = until;
                rec.transitional = transitional.to_string();
                rec.failed = failed;
                rec.etag = etag;
                false
            }
            None => {
                let id = rp.id();
                self.st.resources.insert(
                    id.to_ascii_lowercase(),
                    Record {
                        id,
                        kind: rp.kind,
                        sub: rp.sub.clone(),
                        rg: rp.rg.clone(),
                        body,
                        created: self.now,
                        modified: self.now,
                        busy_until: until,
                        transitional: transitional.to_string(),
                        failed,
                        deleting_until: None,
                        etag,
                    },
                );
                true
            }
        }
    }

    /// Gives the parent a new etag (Network children share their parent's etag).
    pub fn touch_parent(&mut self, rp: &ResPath) {
        if let Some(pid) = rp.parent_id()
            && let Some(p) = self.st.get_mut(&pid)
        {
            p.etag = util::weak_etag();
        }
    }
}

/// The body a GET returns for a record.
pub fn render(st: &State, rec: &Record, now: f64) -> Value {
    let mut v = rec.body.clone();
    let state = rec.state(now).to_string();
    match rec.kind {
        Kind::ResourceGroup => resources::render(&mut v, rec, now),
        Kind::VirtualNetwork
        | Kind::Subnet
        | Kind::NetworkSecurityGroup
        | Kind::SecurityRule
        | Kind::RouteTable
        | Kind::Route => network::render(st, rec, &mut v, now),
        Kind::StorageAccount => storage::render(&mut v, &state),
        Kind::KeyVault => util::set_at(&mut v, "/properties", "provisioningState", json!(state)),
        Kind::AppInsights => {
            util::set_at(&mut v, "/properties", "provisioningState", json!(state));
            util::set_at(
                &mut v,
                "",
                "etag",
                json!(format!(
                    "\"{}\"",
                    rec.etag.trim_start_matches("W/").trim_matches('"')
                )),
            );
        }
        Kind::ContainerRegistry | Kind::MlWorkspace | Kind::ManagedCluster => {
            util::set_at(&mut v, "/properties", "provisioningState", json!(state));
            if rec.kind == Kind::ManagedCluster {
                aks::render(&mut v, &state);
            }
        }
        Kind::MlCompute => ml::render_compute(&mut v, &state),
    }
    if rec.kind.has_system_data() {
        let sd = json!({
            "createdBy": "moat-sim@example.com",
            "createdByType": "User",
            "createdAt": util::timestamp(rec.created),
            "lastModifiedBy": "moat-sim@example.com",
            "lastModifiedByType": "User",
            "lastModifiedAt": util::timestamp(rec.modified),
        });
        util::set_at(&mut v, "", "systemData", sd);
    }
    v
}

/// Common checks of a PUT body: a JSON object with a location, normalised.
pub fn require_location(body: &mut Value) -> ArmResult<String> {
    let loc = body
        .get("location")
        .and_then(Value::as_str)
        .map(util::normalize_location)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            ArmError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })?;
    util::set_at(body, "", "location", json!(loc));
    Ok(loc)
}

/// Rejects a value outside a closed enum (case-insensitive), returning the canonical casing.
pub fn check_enum(value: &Value, field: &str, allowed: &[&str]) -> ArmResult<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(s))
            .map(|a| Some((*a).to_string()))
            .ok_or_else(|| {
                ArmError::invalid_content(format!(
                    "Error converting value \"{s}\" to type for property '{field}'. Allowed values are: {}",
                    allowed.join(", ")
                ))
            }),
        other => Err(ArmError::invalid_content(format!(
            "Unexpected value {other} for property '{field}'"
        ))),
    }
}

/// Requires a string at a pointer.
pub fn require_str<'a>(body: &'a Value, ptr: &str, field: &str) -> ArmResult<&'a str> {
    util::str_at(body, ptr).ok_or_else(|| {
        ArmError::invalid_content(format!("Required property '{field}' not found in JSON"))
    })
}

/// Tags must be an object of strings when present; `null` is stored as absent.
pub fn check_tags(body: &mut Value) -> ArmResult<()> {
    match body.get("tags") {
        None => Ok(()),
        Some(Value::Null) => {
            if let Some(o) = body.as_object_mut() {
                o.remove("tags");
            }
            Ok(())
        }
        Some(Value::Object(m)) => {
            if m.values().all(Value::is_string) {
                Ok(())
            } else {
                Err(ArmError::bad_request(
                    "InvalidTagValue",
                    "Tag values must be strings.",
                ))
            }
        }
        Some(_) => Err(ArmError::invalid_content("tags must be an object")),
    }
}

/// Keeps only the listed top-level fields of a request (ARM drops unknown ones).
pub fn keep_fields(body: &Value, fields: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(o) = body.as_object() {
        for f in fields {
            if let Some(v) = o.get(*f)
                && !v.is_null()
            {
                out.insert((*f).to_string(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Puts `id`, `name`, `type` first, as the services do.
pub fn with_identity(rp: &ResPath, body: Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(rp.id()));
    out.insert("name".into(), json!(rp.name()));
    out.insert("type".into(), json!(rp.kind.info().type_name));
    if let Value::Object(o) = body {
        for (k, v) in o {
            if !matches!(k.as_str(), "id" | "name" | "type") {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

/// Handles a request on a resource instance.
pub fn instance(
    ctx: &mut Ctx,
    method: &str,
    rp: &ResPath,
    body: Option<Value>,
) -> ArmResult<Reply> {
    match ctx.st.get(&rp.rg_id()) {
        None => return Err(ArmError::rg_not_found(&rp.rg)),
        Some(g) if g.deleting_until.is_some() && method != "GET" => {
            return Err(ArmError::new(
                409,
                "ResourceGroupBeingDeleted",
                format!(
                    "The resource group '{}' is in deprovisioning state and cannot perform this operation.",
                    rp.rg
                ),
            ));
        }
        Some(_) => {}
    }
    if let Some(pid) = rp.parent_id() {
        let parent_ok = ctx.st.get(&pid).is_some_and(|p| p.deleting_until.is_none());
        if !parent_ok {
            let parent = rp.kind.parent().unwrap_or(rp.kind);
            let pname = &rp.names[rp.names.len() - 2];
            return Err(if method == "GET" {
                ArmError::resource_not_found(parent.info().type_name, pname, &rp.rg)
            } else {
                ArmError::parent_not_found(parent.info().type_name, pname, &rp.rg)
            });
        }
    }
    match method {
        "GET" => {
            let rec = ctx.st.get(&rp.id()).ok_or_else(|| not_found(rp))?;
            Ok(Reply::json(200, render(ctx.st, rec, ctx.now)))
        }
        "PUT" => {
            let body =
                body.ok_or_else(|| ArmError::invalid_content("The request body is required"))?;
            if !body.is_object() {
                return Err(ArmError::invalid_content(
                    "The request body must be a JSON object",
                ));
            }
            if ctx
                .st
                .get(&rp.id())
                .is_some_and(|r| r.deleting_until.is_some())
            {
                return Err(ArmError::new(
                    409,
                    "Conflict",
                    format!("The resource '{}' is being deleted.", rp.id()),
                ));
            }
            match rp.kind {
                Kind::VirtualNetwork
                | Kind::Subnet
                | Kind::NetworkSecurityGroup
                | Kind::SecurityRule
                | Kind::RouteTable
                | Kind::Route => network::put(ctx, rp, body),
                Kind::StorageAccount => storage::put(ctx, rp, body),
                Kind::KeyVault => keyvault::put(ctx, rp, body),
                Kind::AppInsights => other::put_insights(ctx, rp, body),
                Kind::ContainerRegistry => other::put_registry(ctx, rp, body),
                Kind::MlWorkspace => ml::put_workspace(ctx, rp, body),
                Kind::MlCompute => ml::put_compute(ctx, rp, body),
                Kind::ManagedCluster => aks::put(ctx, rp, body),
                Kind::ResourceGroup => {
                    Err(ArmError::bad_request("InvalidResourceType", "unexpected"))
                }
            }
        }
        "PATCH" => {
            let body = body.filter(Value::is_object).ok_or_else(|| {
                ArmError::invalid_content("The request body must be a JSON object")
            })?;
            if ctx.st.get(&rp.id()).is_none() {
                return Err(not_found(rp));
            }
            match rp.kind {
                Kind::StorageAccount => storage::patch(ctx, rp, body),
                Kind::KeyVault => keyvault::patch(ctx, rp, body),
                Kind::MlCompute => ml::patch_compute(ctx, rp, body),
                Kind::MlWorkspace => ml::patch_workspace(ctx, rp, body),
                _ => patch_tags(ctx, rp, body),
            }
        }
        "DELETE" => match rp.kind {
            k if k.is_network() => network::delete(ctx, rp),
            Kind::StorageAccount | Kind::AppInsights => sync_delete(ctx, rp),
            Kind::KeyVault => keyvault::delete(ctx, rp),
            Kind::MlCompute => ml::delete_compute(ctx, rp),
            _ => crate::lro::async_delete(ctx, rp),
        },
        _ => Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{method}' is not allowed for this resource."),
        )),
    }
}

/// 404 for a missing resource.
pub fn not_found(rp: &ResPath) -> ArmError {
    ArmError::resource_not_found(rp.kind.info().type_name, &rp.names.join("/"), &rp.rg)
}

/// A PATCH that only updates tags (`*_UpdateTags`): synchronous 200 with the resource.
fn patch_tags(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    check_tags(&mut body)?;
    let etag = util::weak_etag();
    let now = ctx.now;
    let Some(rec) = ctx.st.get_mut(&rp.id()) else {
        return Err(not_found(rp));
    };
    if let Some(tags) = body.get("tags") {
        util::set_at(&mut rec.body, "", "tags", tags.clone());
    }
    rec.modified = now;
    rec.etag = etag;
    let rec = rec.clone();
    Ok(Reply::json(200, render(ctx.st, &rec, now)))
}

/// Synchronous delete: 200 when it existed, 204 when not.
fn sync_delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    match ctx.st.resources.remove(&rp.id().to_ascii_lowercase()) {
        Some(_) => Ok(Reply::empty(200)),
        None => Ok(Reply::empty(204)),
    }
}

/// Resource ids that reference `target` from other resources, for in-use checks.
pub fn referrers(st: &State, target: &str, now: f64) -> Vec<String> {
    let t = target.to_ascii_lowercase();
    let mut out = Vec::new();
    for rec in st.resources.values() {
        if rec.deleting_until.is_some_and(|d| d <= now) {
            continue;
        }
        let refs: Vec<String> = match rec.kind {
            Kind::ManagedCluster => rec
                .body
                .pointer("/properties/agentPoolProfiles")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.get("vnetSubnetID").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            Kind::MlCompute => [
                "/properties/properties/subnet/id",
                "/properties/properties/aksNetworkingConfiguration/subnetId",
            ]
            .iter()
            .filter_map(|p| util::str_at(&rec.body, p).map(str::to_string))
            .collect(),
            Kind::Subnet => [
                "/properties/networkSecurityGroup/id",
                "/properties/routeTable/id",
            ]
            .iter()
            .filter_map(|p| util::str_at(&rec.body, p).map(str::to_string))
            .collect(),
            _ => Vec::new(),
        };
        if refs.iter().any(|r| r.to_ascii_lowercase() == t) {
            out.push(rec.id.clone());
        }
    }
    out
}
