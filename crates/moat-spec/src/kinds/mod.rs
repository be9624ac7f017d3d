//! The one list of spec kinds. Each entry names a kind's spec word, its declaration module
//! (one file per kind, holding its fields, their docs and decoders) and the struct of its
//! fields; from it `spec_kinds!` generates [`ResourceType`], [`KindSpec`] and their dispatch
//! (the fields a type takes, its JSON Schema parts, its decoder), so adding a kind here is one
//! line and one file, and nothing can list the kinds differently.

use crate::decode::{Cx, MapReader};

// Declared here rather than by `spec_kinds!`, so that rustfmt sees the files.
mod aks_cluster;
mod aks_compute;
mod aml_compute;
mod application_insights;
mod container_registry;
mod hdinsight_compute;
mod key_vault;
mod kubernetes_compute;
mod ml_code;
mod ml_environment;
mod ml_model;
mod ml_workspace;
mod network_security_group;
mod online_deployment;
mod online_endpoint;
mod private_dns_zone;
mod private_endpoint;
mod resource_group;
mod role_assignment;
mod route_table;
mod storage_account;
mod subnet;
mod user_assigned_identity;
mod virtual_network;
mod vm_compute;

/// Generates the kind enum, the typed-spec enum and their dispatch from one list.
macro_rules! spec_kinds {
    ($( $(#[doc = $vdoc:literal])* $variant:ident = $word:literal in $module:ident ),* $(,)?) => {
        $( pub use $module::*; )*

        crate::spec_enum! {
            /// Every resource kind of the v1 spec.
            ResourceType { $( $(#[doc = $vdoc])* $variant = $word, )* }
        }

        /// The kind-specific part of a managed resource.
        #[derive(Clone, Debug, PartialEq)]
        // Boxing the larger kinds would touch every kind file's readers for a few hundred
        // bytes per resource; specs hold tens of resources.
        #[allow(missing_docs, clippy::large_enum_variant)]
        pub enum KindSpec { $( $variant($variant), )* }

        impl ResourceType {
            /// The kind-specific YAML fields of this type.
            pub fn fields(self) -> &'static [&'static str] {
                match self { $( ResourceType::$variant => $variant::FIELDS, )* }
            }

            /// The JSON Schema `properties` and `required` of this type's kind-specific fields.
            pub fn schema_parts(self) -> (serde_json::Map<String, serde_json::Value>, Vec<String>) {
                match self { $( ResourceType::$variant => $variant::schema_parts(), )* }
            }

            /// Reads this type's kind-specific fields.
            pub(crate) fn read_body(self, r: &mut MapReader<'_>, cx: &mut Cx<'_>) -> Option<KindSpec> {
                match self { $( ResourceType::$variant => $variant::read_fields(r, cx).map(KindSpec::$variant), )* }
            }

            /// Every type, in declaration order.
            pub fn all() -> impl Iterator<Item = ResourceType> {
                Self::WORDS.iter().filter_map(|w| Self::from_word(w))
            }
        }
    };
}

spec_kinds! {
    /// `Microsoft.Resources/resourceGroups`
    ResourceGroup = "resource_group" in resource_group,
    /// `Microsoft.Network/virtualNetworks` with inline subnets
    VirtualNetwork = "virtual_network" in virtual_network,
    /// `Microsoft.Network/networkSecurityGroups` with rules
    NetworkSecurityGroup = "network_security_group" in network_security_group,
    /// `Microsoft.Network/routeTables` with routes
    RouteTable = "route_table" in route_table,
    /// `Microsoft.Storage/storageAccounts`
    StorageAccount = "storage_account" in storage_account,
    /// `Microsoft.KeyVault/vaults`
    KeyVault = "key_vault" in key_vault,
    /// `Microsoft.Insights/components`
    ApplicationInsights = "application_insights" in application_insights,
    /// `Microsoft.ContainerRegistry/registries`
    ContainerRegistry = "container_registry" in container_registry,
    /// `Microsoft.MachineLearningServices/workspaces`
    MlWorkspace = "ml_workspace" in ml_workspace,
    /// `Microsoft.MachineLearningServices/workspaces/computes` of type AmlCompute
    AmlCompute = "aml_compute" in aml_compute,
    /// `Microsoft.ContainerService/managedClusters`
    AksCluster = "aks_cluster" in aks_cluster,
    /// `Microsoft.MachineLearningServices/workspaces/computes` of type AKS
    AksCompute = "aks_compute" in aks_compute,
    /// `Microsoft.MachineLearningServices/workspaces/models/versions`
    MlModel = "ml_model" in ml_model,
    /// `Microsoft.MachineLearningServices/workspaces/environments/versions`
    MlEnvironment = "ml_environment" in ml_environment,
    /// `Microsoft.MachineLearningServices/workspaces/codes/versions`
    MlCode = "ml_code" in ml_code,
    /// `Microsoft.MachineLearningServices/workspaces/onlineEndpoints`
    OnlineEndpoint = "online_endpoint" in online_endpoint,
    /// `Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments`
    OnlineDeployment = "online_deployment" in online_deployment,
    /// `Microsoft.MachineLearningServices/workspaces/computes` of type Kubernetes
    KubernetesCompute = "kubernetes_compute" in kubernetes_compute,
    /// `Microsoft.ManagedIdentity/userAssignedIdentities`
    UserAssignedIdentity = "user_assigned_identity" in user_assigned_identity,
    /// `Microsoft.Authorization/roleAssignments` at any scope
    RoleAssignment = "role_assignment" in role_assignment,
    /// `Microsoft.Network/virtualNetworks/subnets` declared on its own, in a VNet another stack may own
    StandaloneSubnet = "subnet" in subnet,
    /// `Microsoft.Network/privateDnsZones` with its virtual network links
    PrivateDnsZone = "private_dns_zone" in private_dns_zone,
    /// `Microsoft.Network/privateEndpoints` with its DNS zone group
    PrivateEndpoint = "private_endpoint" in private_endpoint,
    /// `Microsoft.MachineLearningServices/workspaces/computes` of type VirtualMachine (an attached VM)
    VmCompute = "vm_compute" in vm_compute,
    /// `Microsoft.MachineLearningServices/workspaces/computes` of type HDInsight (an attached cluster)
    HdinsightCompute = "hdinsight_compute" in hdinsight_compute,
}
