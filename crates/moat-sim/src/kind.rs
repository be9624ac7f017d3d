//! The table of emulated kinds and ARM path parsing: the one place that names a kind's
//! provider namespace, type segments, api-version and parent. It is a leaf (it imports nothing
//! from the rest of the crate) so the store, the LRO machinery and the handlers can all use it
//! without depending on one another.

use serde::{Deserialize, Serialize};

/// Api-version of Microsoft.Resources.
pub const RESOURCES_API: &str = "2024-07-01";

/// Static facts about a kind.
#[derive(Debug)]
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
    /// The kind whose instances contain this one, for nested kinds.
    pub parent: Option<Kind>,
    /// Whether GET bodies carry `systemData` (only where the API definition declares it).
    pub system_data: bool,
    /// Whether it is addressed as `…/providers/{ns}/{type}/{name}` (every kind but resource
    /// groups, which have their own route).
    pub provider_path: bool,
}

/// Declares [`Kind`] and [`KINDS`] from one list, so a kind's variant and its facts are one row
/// and the table's order always matches the enum's (`Kind::info` indexes it).
macro_rules! kind_table {
    ($(
        $(#[$doc:meta])*
        $variant:ident {
            ns: $ns:expr,
            types: $types:expr,
            type_name: $type_name:expr,
            api: $api:expr,
            parent: $parent:expr,
            system_data: $sd:expr,
            provider_path: $pp:expr $(,)?
        }
    ),* $(,)?) => {
        /// A resource kind. Its serde form is the variant name (kept in the state file).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Kind {
            $( $(#[$doc])* $variant, )*
        }

        /// The table of kinds, in the order of [`Kind`].
        pub const KINDS: &[KindInfo] = &[
            $( KindInfo {
                kind: Kind::$variant,
                ns: $ns,
                types: $types,
                type_name: $type_name,
                api: $api,
                parent: $parent,
                system_data: $sd,
                provider_path: $pp,
            }, )*
        ];
    };
}

kind_table! {
    /// `Microsoft.Resources/resourceGroups`.
    ResourceGroup {
        ns: "Microsoft.Resources",
        types: &["resourceGroups"],
        type_name: "Microsoft.Resources/resourceGroups",
        api: RESOURCES_API,
        parent: None,
        system_data: false,
        provider_path: false,
    },
    /// `Microsoft.Network/virtualNetworks`.
    VirtualNetwork {
        ns: "Microsoft.Network",
        types: &["virtualNetworks"],
        type_name: "Microsoft.Network/virtualNetworks",
        api: "2024-03-01",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/virtualNetworks/subnets`.
    Subnet {
        ns: "Microsoft.Network",
        types: &["virtualNetworks", "subnets"],
        type_name: "Microsoft.Network/virtualNetworks/subnets",
        api: "2024-03-01",
        parent: Some(Kind::VirtualNetwork),
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/networkSecurityGroups`.
    NetworkSecurityGroup {
        ns: "Microsoft.Network",
        types: &["networkSecurityGroups"],
        type_name: "Microsoft.Network/networkSecurityGroups",
        api: "2024-03-01",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/networkSecurityGroups/securityRules`.
    SecurityRule {
        ns: "Microsoft.Network",
        types: &["networkSecurityGroups", "securityRules"],
        type_name: "Microsoft.Network/networkSecurityGroups/securityRules",
        api: "2024-03-01",
        parent: Some(Kind::NetworkSecurityGroup),
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/routeTables`.
    RouteTable {
        ns: "Microsoft.Network",
        types: &["routeTables"],
        type_name: "Microsoft.Network/routeTables",
        api: "2024-03-01",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/routeTables/routes`.
    Route {
        ns: "Microsoft.Network",
        types: &["routeTables", "routes"],
        type_name: "Microsoft.Network/routeTables/routes",
        api: "2024-03-01",
        parent: Some(Kind::RouteTable),
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Storage/storageAccounts`.
    StorageAccount {
        ns: "Microsoft.Storage",
        types: &["storageAccounts"],
        type_name: "Microsoft.Storage/storageAccounts",
        api: "2023-05-01",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.KeyVault/vaults`.
    KeyVault {
        ns: "Microsoft.KeyVault",
        types: &["vaults"],
        type_name: "Microsoft.KeyVault/vaults",
        api: "2023-07-01",
        parent: None,
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.Insights/components`.
    AppInsights {
        ns: "Microsoft.Insights",
        types: &["components"],
        type_name: "microsoft.insights/components",
        api: "2020-02-02",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.ContainerRegistry/registries`.
    ContainerRegistry {
        ns: "Microsoft.ContainerRegistry",
        types: &["registries"],
        type_name: "Microsoft.ContainerRegistry/registries",
        api: "2023-07-01",
        parent: None,
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.MachineLearningServices/workspaces`.
    MlWorkspace {
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces"],
        type_name: "Microsoft.MachineLearningServices/workspaces",
        api: "2024-04-01",
        parent: None,
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.MachineLearningServices/workspaces/computes`.
    MlCompute {
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces", "computes"],
        type_name: "Microsoft.MachineLearningServices/workspaces/computes",
        api: "2024-04-01",
        parent: Some(Kind::MlWorkspace),
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.ContainerService/managedClusters`.
    ManagedCluster {
        ns: "Microsoft.ContainerService",
        types: &["managedClusters"],
        type_name: "Microsoft.ContainerService/ManagedClusters",
        api: "2024-08-01",
        parent: None,
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.MachineLearningServices/workspaces/models/versions`.
    MlModelVersion {
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces", "models", "versions"],
        type_name: "Microsoft.MachineLearningServices/workspaces/models/versions",
        api: "2024-04-01",
        parent: Some(Kind::MlWorkspace),
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.MachineLearningServices/workspaces/environments/versions`.
    MlEnvironmentVersion {
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces", "environments", "versions"],
        type_name: "Microsoft.MachineLearningServices/workspaces/environments/versions",
        api: "2024-04-01",
        parent: Some(Kind::MlWorkspace),
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.MachineLearningServices/workspaces/codes/versions`.
    MlCodeVersion {
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces", "codes", "versions"],
        type_name: "Microsoft.MachineLearningServices/workspaces/codes/versions",
        api: "2024-04-01",
        parent: Some(Kind::MlWorkspace),
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.MachineLearningServices/workspaces/onlineEndpoints`.
    OnlineEndpoint {
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces", "onlineEndpoints"],
        type_name: "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        api: "2024-04-01",
        parent: Some(Kind::MlWorkspace),
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments`.
    OnlineDeployment {
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces", "onlineEndpoints", "deployments"],
        type_name: "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
        api: "2024-04-01",
        parent: Some(Kind::OnlineEndpoint),
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.ManagedIdentity/userAssignedIdentities`.
    UserAssignedIdentity {
        ns: "Microsoft.ManagedIdentity",
        types: &["userAssignedIdentities"],
        type_name: "Microsoft.ManagedIdentity/userAssignedIdentities",
        api: "2023-01-31",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/privateDnsZones` (Private DNS 2024-06-01).
    PrivateDnsZone {
        ns: "Microsoft.Network",
        types: &["privateDnsZones"],
        type_name: "Microsoft.Network/privateDnsZones",
        api: "2024-06-01",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/privateDnsZones/virtualNetworkLinks`.
    VirtualNetworkLink {
        ns: "Microsoft.Network",
        types: &["privateDnsZones", "virtualNetworkLinks"],
        type_name: "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        api: "2024-06-01",
        parent: Some(Kind::PrivateDnsZone),
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/privateDnsZones/A` record sets (written by DNS zone groups).
    PrivateDnsARecord {
        ns: "Microsoft.Network",
        types: &["privateDnsZones", "A"],
        type_name: "Microsoft.Network/privateDnsZones/A",
        api: "2024-06-01",
        parent: Some(Kind::PrivateDnsZone),
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/privateEndpoints`.
    PrivateEndpoint {
        ns: "Microsoft.Network",
        types: &["privateEndpoints"],
        type_name: "Microsoft.Network/privateEndpoints",
        api: "2024-03-01",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/privateEndpoints/privateDnsZoneGroups`.
    PrivateDnsZoneGroup {
        ns: "Microsoft.Network",
        types: &["privateEndpoints", "privateDnsZoneGroups"],
        type_name: "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        api: "2024-03-01",
        parent: Some(Kind::PrivateEndpoint),
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.Network/networkInterfaces` (only those private endpoints make).
    NetworkInterface {
        ns: "Microsoft.Network",
        types: &["networkInterfaces"],
        type_name: "Microsoft.Network/networkInterfaces",
        api: "2024-03-01",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.MachineLearningServices/workspaces/outboundRules` (managed network rules).
    MlOutboundRule {
        ns: "Microsoft.MachineLearningServices",
        types: &["workspaces", "outboundRules"],
        type_name: "Microsoft.MachineLearningServices/workspaces/outboundRules",
        api: "2024-04-01",
        parent: Some(Kind::MlWorkspace),
        system_data: true,
        provider_path: true,
    },
    /// `Microsoft.Authorization/roleAssignments` (at any scope; routed on their own).
    RoleAssignment {
        ns: "Microsoft.Authorization",
        types: &["roleAssignments"],
        type_name: "Microsoft.Authorization/roleAssignments",
        api: "2022-04-01",
        parent: None,
        system_data: false,
        provider_path: true,
    },
    /// `Microsoft.KubernetesConfiguration/extensions` (below a cluster; routed on their own).
    ClusterExtension {
        ns: "Microsoft.KubernetesConfiguration",
        types: &["extensions"],
        type_name: "Microsoft.KubernetesConfiguration/extensions",
        api: "2023-05-01",
        parent: None,
        system_data: true,
        provider_path: true,
    },
}

impl Kind {
    /// Static facts.
    pub fn info(self) -> &'static KindInfo {
        &KINDS[self as usize]
    }

    /// The kind whose instances contain this one, for nested kinds.
    pub fn parent(self) -> Option<Kind> {
        self.info().parent
    }

    /// Whether GET bodies carry `systemData`.
    pub fn has_system_data(self) -> bool {
        self.info().system_data
    }

    /// Every kind, in table order.
    #[cfg(test)]
    pub fn all() -> impl Iterator<Item = Kind> {
        KINDS.iter().map(|k| k.kind)
    }
}

/// Whether any kind lives in provider namespace `ns` (case-insensitive).
pub fn known_namespace(ns: &str) -> bool {
    KINDS
        .iter()
        .any(|k| k.provider_path && k.ns.eq_ignore_ascii_case(ns))
}

/// The kind addressed by a namespace and its type segments (case-insensitive).
pub fn find(ns: &str, types: &[&str]) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| {
        k.provider_path
            && k.ns.eq_ignore_ascii_case(ns)
            && k.types.len() == types.len()
            && k.types
                .iter()
                .zip(types)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    })
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
        rg_id(&self.sub, &self.rg)
    }
}

/// Id of a resource group.
pub fn rg_id(sub: &str, rg: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/{rg}")
}

/// Builds a resource id (a resource group's own id for [`Kind::ResourceGroup`]).
pub fn id_of(sub: &str, rg: &str, kind: Kind, names: &[String]) -> String {
    let info = kind.info();
    if !info.provider_path {
        return rg_id(sub, rg);
    }
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

/// Splits a resource id into (sub, rg, kind, names) when it names a known kind below a
/// resource group.
pub fn parse_id(id: &str) -> Option<ResPath> {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    if segs.len() < 6
        || !segs[0].eq_ignore_ascii_case("subscriptions")
        || !segs[2].eq_ignore_ascii_case("resourcegroups")
        || !segs[4].eq_ignore_ascii_case("providers")
    {
        return None;
    }
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
    let info = find(segs[5], &types)?;
    Some(ResPath {
        sub: segs[1].to_string(),
        rg: segs[3].to_string(),
        kind: info.kind,
        names,
    })
}

/// The kind of any id the emulator hands out: a resource group or a resource below one.
pub fn kind_of_id(id: &str) -> Option<Kind> {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    if segs.len() == 4
        && segs[0].eq_ignore_ascii_case("subscriptions")
        && segs[2].eq_ignore_ascii_case("resourcegroups")
    {
        return Some(Kind::ResourceGroup);
    }
    parse_id(id).map(|p| p.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_enum_order_and_unique() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(k.kind as usize, i, "{:?} is out of place", k.kind);
            assert_eq!(k.kind.info().type_name, k.type_name);
        }
        for a in KINDS {
            for b in KINDS {
                if a.kind != b.kind {
                    assert!(
                        !(a.ns.eq_ignore_ascii_case(b.ns) && a.types == b.types),
                        "{:?} and {:?} share a path",
                        a.kind,
                        b.kind
                    );
                }
            }
        }
    }

    #[test]
    fn ids_round_trip_through_parsing() {
        for k in Kind::all() {
            let names: Vec<String> = (0..k.info().types.len()).map(|i| format!("n{i}")).collect();
            let id = id_of("sub", "rg", k, &names);
            assert_eq!(kind_of_id(&id), Some(k), "{id}");
            assert_eq!(kind_of_id(&id.to_ascii_lowercase()), Some(k), "{id}");
            if k.info().provider_path {
                let p = parse_id(&id).expect("parses");
                assert_eq!((p.kind, p.id()), (k, id.clone()));
                if let Some(parent) = k.parent() {
                    assert_eq!(p.parent_id().and_then(|i| kind_of_id(&i)), Some(parent));
                }
            }
        }
        assert!(
            parse_id("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Nope/x/y").is_none()
        );
        assert!(kind_of_id("/subscriptions/s").is_none());
    }
}
