//! The typed spec: what a user wrote, with every value's span, before references are bound or
//! defaults filled in (that is `moat-model`'s job). Variables are already substituted: a value
//! written as `${var.prefix}-rg` arrives here as `mlsec-rg`, still pointing at its source.
//!
//! The field lists below are the v1 spec language; `docs/spec.md` documents them and
//! `schemas/moat.schema.json` is generated from them.

use crate::decode::{Cx, Decode, Map, MapReader};
use crate::diag::Diagnostic;
use crate::span::{Span, Spanned};
use crate::suggest::did_you_mean;
use crate::yaml::{Node, Value};
use crate::{spec_enum, spec_struct};
use serde_json::json;

spec_enum! {
    /// Every resource kind of the v1 spec.
    ResourceType {
        /// `Microsoft.Resources/resourceGroups`
        ResourceGroup = "resource_group",
        /// `Microsoft.Network/virtualNetworks` with inline subnets
        VirtualNetwork = "virtual_network",
        /// `Microsoft.Network/networkSecurityGroups` with rules
        NetworkSecurityGroup = "network_security_group",
        /// `Microsoft.Network/routeTables` with routes
        RouteTable = "route_table",
        /// `Microsoft.Storage/storageAccounts`
        StorageAccount = "storage_account",
        /// `Microsoft.KeyVault/vaults`
        KeyVault = "key_vault",
        /// `Microsoft.Insights/components`
        ApplicationInsights = "application_insights",
        /// `Microsoft.ContainerRegistry/registries`
        ContainerRegistry = "container_registry",
        /// `Microsoft.MachineLearningServices/workspaces`
        MlWorkspace = "ml_workspace",
        /// `Microsoft.MachineLearningServices/workspaces/computes` of type AmlCompute
        AmlCompute = "aml_compute",
        /// `Microsoft.ContainerService/managedClusters`
        AksCluster = "aks_cluster",
        /// `Microsoft.MachineLearningServices/workspaces/computes` of type AKS
        AksCompute = "aks_compute",
    }
}

spec_enum! {
    /// On/off switches that Azure spells `Enabled`/`Disabled`.
    Toggle { Enabled = "enabled", Disabled = "disabled" }
}

spec_enum! {
    /// Traffic direction of a security rule.
    Direction { Inbound = "inbound", Outbound = "outbound" }
}

spec_enum! {
    /// Allow or deny, for security rules and firewall default actions.
    Access { Allow = "allow", Deny = "deny" }
}

spec_enum! {
    /// Protocol of a security rule.
    Protocol { Tcp = "tcp", Udp = "udp", Icmp = "icmp", Esp = "esp", Ah = "ah", Any = "any" }
}

spec_enum! {
    /// Next hop of a route.
    NextHop {
        /// The VNet's gateway.
        VirtualNetworkGateway = "virtual_network_gateway",
        /// Stay inside the VNet.
        VnetLocal = "vnet_local",
        /// Azure's internet edge.
        Internet = "internet",
        /// A network virtual appliance (firewall); needs `next_hop_ip`.
        VirtualAppliance = "virtual_appliance",
        /// Drop the traffic.
        None = "none",
    }
}

spec_enum! {
    /// Services that may pass a storage account firewall.
    StorageBypass { AzureServices = "azure_services", Logging = "logging", Metrics = "metrics", None = "none" }
}

spec_enum! {
    /// Services that may pass a key vault firewall.
    VaultBypass { AzureServices = "azure_services", None = "none" }
}

spec_enum! {
    /// Storage account SKUs (Azure's names).
    StorageSku {
        StandardLrs = "Standard_LRS", StandardGrs = "Standard_GRS", StandardRagrs = "Standard_RAGRS",
        StandardZrs = "Standard_ZRS", StandardGzrs = "Standard_GZRS", StandardRagzrs = "Standard_RAGZRS",
        PremiumLrs = "Premium_LRS", PremiumZrs = "Premium_ZRS",
    }
}

spec_enum! {
    /// Storage account kinds.
    StorageKind { StorageV2 = "storage_v2", BlockBlobStorage = "block_blob_storage", FileStorage = "file_storage" }
}

spec_enum! {
    /// Blob access tiers.
    AccessTier { Hot = "hot", Cool = "cool", Cold = "cold" }
}

spec_enum! {
    /// Minimum TLS versions.
    TlsVersion { Tls1_0 = "tls1_0", Tls1_1 = "tls1_1", Tls1_2 = "tls1_2" }
}

spec_enum! {
    /// Key vault SKUs.
    VaultSku { Standard = "standard", Premium = "premium" }
}

spec_enum! {
    /// Container registry SKUs (network rules need `premium`).
    RegistrySku { Basic = "basic", Standard = "standard", Premium = "premium" }
}

spec_enum! {
    /// Application Insights application types.
    ApplicationType { Web = "web", Other = "other" }
}

spec_enum! {
    /// AmlCompute VM priority.
    VmPriority { Dedicated = "dedicated", LowPriority = "low_priority" }
}

spec_enum! {
    /// Whether the SSH port of compute nodes is reachable from the internet.
    RemoteLogin { Enabled = "enabled", Disabled = "disabled", NotSpecified = "not_specified" }
}

spec_enum! {
    /// Operating system of AmlCompute nodes.
    OsType { Linux = "linux", Windows = "windows" }
}

spec_enum! {
    /// AKS network plugins.
    NetworkPlugin { Azure = "azure", Kubenet = "kubenet", None = "none" }
}

spec_enum! {
    /// AKS network plugin modes.
    NetworkPluginMode { Overlay = "overlay" }
}

spec_enum! {
    /// AKS network policies.
    NetworkPolicy { Azure = "azure", Calico = "calico", Cilium = "cilium" }
}

spec_enum! {
    /// AKS outbound routing.
    OutboundType {
        LoadBalancer = "load_balancer", UserDefinedRouting = "user_defined_routing",
        ManagedNatGateway = "managed_nat_gateway", UserAssignedNatGateway = "user_assigned_nat_gateway",
    }
}

spec_enum! {
    /// AKS control-plane tiers.
    AksTier { Free = "free", Standard = "standard", Premium = "premium" }
}

spec_enum! {
    /// What an AKS cluster attached to Azure ML is for; sets its minimum size.
    ClusterPurpose { FastProd = "fast_prod", DevTest = "dev_test" }
}

spec_enum! {
    /// How the scoring endpoint of an AKS compute is exposed.
    LoadBalancerType { PublicIp = "public_ip", InternalLoadBalancer = "internal_load_balancer" }
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

type List = Vec<Spanned<String>>;

spec_struct! {
    /// A resource group (no fields beyond the common ones).
    ResourceGroup ("a resource_group") {}
}

spec_struct! {
    /// A virtual network and its subnets.
    VirtualNetwork ("a virtual_network") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// The VNet's address ranges (CIDR).
        address_space: req List,
        /// Custom DNS servers (IP addresses); Azure DNS when absent.
        dns_servers: opt List,
        /// Subnets by name.
        subnets: opt Map<Subnet>,
    }
}

spec_struct! {
    /// A subnet, declared inside its virtual network.
    Subnet ("a subnet") {
        /// The subnet's range (CIDR), inside the VNet's address space.
        address_prefix: req String,
        /// A `network_security_group` to associate.
        network_security_group: opt String,
        /// A `route_table` to associate.
        route_table: opt String,
        /// Service endpoints, e.g. `Microsoft.Storage`, `Microsoft.KeyVault`.
        service_endpoints: opt List,
        /// Services the subnet is delegated to, e.g. `Microsoft.ContainerInstance/containerGroups`.
        delegations: opt List,
        /// Network policies for private endpoints (default `disabled`).
        private_endpoint_network_policies: opt Toggle,
        /// Network policies for private link services (default `enabled`).
        private_link_service_network_policies: opt Toggle,
        /// Whether VMs get default outbound internet access (Azure's default is true).
        default_outbound_access: opt bool,
    }
}

spec_struct! {
    /// A network security group and its rules.
    NetworkSecurityGroup ("a network_security_group") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// Security rules; Azure's default rules are always there and need not be listed.
        rules: opt Vec<Spanned<SecurityRule>>,
    }
}

spec_struct! {
    /// One security rule.
    SecurityRule ("a security rule") {
        /// Rule name, unique in the NSG.
        name: req String,
        /// 100–4096; lower numbers are evaluated first; unique per direction.
        priority: req u32,
        /// `inbound` or `outbound`.
        direction: req Direction,
        /// `allow` or `deny`.
        access: req Access,
        /// `tcp`, `udp`, `icmp`, `esp`, `ah` or `any`.
        protocol: req Protocol,
        /// Source: `*`, a CIDR, an IP, or a service tag such as `BatchNodeManagement`; or a list of CIDRs/IPs. Default `*`.
        source: opt OneOrMany,
        /// Source ports (`*`, `443`, `1024-65535`). Default `*`.
        source_ports: opt OneOrMany,
        /// Destination, as for `source`. Default `*`.
        destination: opt OneOrMany,
        /// Destination ports. Default `*`.
        destination_ports: opt OneOrMany,
        /// Free text.
        description: opt String,
    }
}

spec_struct! {
    /// A route table and its routes.
    RouteTable ("a route_table") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// Stop BGP routes from reaching associated subnets.
        disable_bgp_route_propagation: opt bool,
        /// Routes.
        routes: opt Vec<Spanned<Route>>,
    }
}

spec_struct! {
    /// One route.
    Route ("a route") {
        /// Route name, unique in the table.
        name: req String,
        /// Destination: a CIDR or a service tag such as `BatchNodeManagement.eastus2`.
        address_prefix: req String,
        /// Where the traffic goes.
        next_hop: req NextHop,
        /// The appliance's IP address; required with `virtual_appliance`, forbidden otherwise.
        next_hop_ip: opt String,
    }
}

spec_struct! {
    /// Firewall of a storage account.
    StorageNetworkRules ("storage network_rules") {
        /// What happens to traffic no rule matches (default `deny`).
        default_action: opt Access,
        /// Trusted services that pass the firewall (default `[azure_services]`).
        bypass: opt Vec<Spanned<StorageBypass>>,
        /// Subnets allowed in (`vnet/subnet` or ARM IDs); each needs the `Microsoft.Storage` service endpoint.
        subnets: opt List,
        /// Public IPs or CIDRs allowed in (no private ranges, no /31 or /32).
        ip_rules: opt List,
    }
}

spec_struct! {
    /// A storage account.
    StorageAccount ("a storage_account") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// SKU (default `Standard_LRS`).
        sku: opt StorageSku,
        /// Kind (default `storage_v2`).
        kind: opt StorageKind,
        /// Default blob access tier (default `hot`).
        access_tier: opt AccessTier,
        /// Refuse plain HTTP (default true).
        https_only: opt bool,
        /// Minimum TLS version (default `tls1_2`).
        min_tls_version: opt TlsVersion,
        /// Allow anonymous blob access (default false).
        allow_blob_public_access: opt bool,
        /// Allow account-key (shared key) access (default true: Azure ML's default datastores use it).
        allow_shared_key_access: opt bool,
        /// Public network access (default `enabled`, filtered by `network_rules`).
        public_network_access: opt Toggle,
        /// Hierarchical namespace (Data Lake Gen2); immutable after creation.
        hierarchical_namespace: opt bool,
        /// The firewall.
        network_rules: opt StorageNetworkRules,
    }
}

spec_struct! {
    /// Firewall of a key vault.
    VaultNetworkRules ("key vault network_rules") {
        /// What happens to traffic no rule matches (default `deny`).
        default_action: opt Access,
        /// Trusted services that pass the firewall (default `[azure_services]`).
        bypass: opt Vec<Spanned<VaultBypass>>,
        /// Subnets allowed in; each needs the `Microsoft.KeyVault` service endpoint.
        subnets: opt List,
        /// Public IPs or CIDRs allowed in.
        ip_rules: opt List,
    }
}

spec_struct! {
    /// A key vault.
    KeyVault ("a key_vault") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// SKU (default `standard`).
        sku: opt VaultSku,
        /// Entra tenant (default: the credential's tenant).
        tenant_id: opt String,
        /// Use Azure RBAC instead of access policies (default true).
        rbac_authorization: opt bool,
        /// Days a deleted vault is kept, 7–90 (default 90); immutable after creation.
        soft_delete_retention_days: opt u32,
        /// Forbid purging a deleted vault before its retention ends (default false; cannot be turned off again).
        purge_protection: opt bool,
        /// Public network access (default `enabled`, filtered by `network_rules`).
        public_network_access: opt Toggle,
        /// Let VMs read certificates stored as secrets (default false).
        enabled_for_deployment: opt bool,
        /// Let Azure Disk Encryption read secrets (default false).
        enabled_for_disk_encryption: opt bool,
        /// Let ARM templates read secrets (default false).
        enabled_for_template_deployment: opt bool,
        /// The firewall.
        network_rules: opt VaultNetworkRules,
    }
}

spec_struct! {
    /// An Application Insights component.
    ApplicationInsights ("an application_insights") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// Application type (default `web`).
        application_type: opt ApplicationType,
        /// ARM ID of a Log Analytics workspace to store data in.
        log_analytics_workspace: opt String,
        /// Retention in days (30, 60, 90, 120, 180, 270, 365, 550 or 730; default 90).
        retention_days: opt u32,
        /// Public ingestion (default `enabled`).
        public_network_access_for_ingestion: opt Toggle,
        /// Public queries (default `enabled`).
        public_network_access_for_query: opt Toggle,
        /// Refuse instrumentation-key authentication (default false).
        disable_local_auth: opt bool,
    }
}

spec_struct! {
    /// Firewall of a container registry (Premium SKU only).
    RegistryNetworkRules ("registry network_rules") {
        /// What happens to traffic no rule matches (default `deny`).
        default_action: opt Access,
        /// Public IPs or CIDRs allowed in.
        ip_rules: opt List,
    }
}

spec_struct! {
    /// A container registry.
    ContainerRegistry ("a container_registry") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// SKU (default `premium`, the only one with network rules and private endpoints).
        sku: opt RegistrySku,
        /// The admin user (default false).
        admin_user_enabled: opt bool,
        /// Public network access (default `enabled`).
        public_network_access: opt Toggle,
        /// Zone redundancy (Premium; default `disabled`); immutable after creation.
        zone_redundancy: opt Toggle,
        /// Anonymous pull (default false).
        anonymous_pull: opt bool,
        /// The firewall.
        network_rules: opt RegistryNetworkRules,
    }
}

spec_struct! {
    /// An Azure Machine Learning workspace.
    MlWorkspace ("an ml_workspace") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// The workspace's default storage: a `storage_account` (immutable).
        storage_account: req String,
        /// The workspace's `key_vault` (immutable).
        key_vault: req String,
        /// The workspace's `application_insights`.
        application_insights: req String,
        /// A `container_registry` for environment images (created on demand by Azure when absent).
        container_registry: opt String,
        /// Display name.
        friendly_name: opt String,
        /// Description.
        description: opt String,
        /// Public network access to the workspace (default `enabled`).
        public_network_access: opt Toggle,
        /// High business impact: less diagnostic data collected (default false; immutable).
        hbi_workspace: opt bool,
        /// Name of a compute cluster that builds images when the registry is behind a VNet.
        image_build_compute: opt String,
    }
}

spec_struct! {
    /// SSH access to compute nodes (public key only: passwords never belong in a spec).
    SshAccess ("ssh") {
        /// Admin user name.
        admin_username: req String,
        /// OpenSSH public key.
        admin_public_key: req String,
    }
}

spec_struct! {
    /// An AmlCompute training cluster.
    AmlCompute ("an aml_compute") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// VM size, e.g. `STANDARD_D2_V2`.
        vm_size: req String,
        /// `dedicated` (default) or `low_priority`.
        vm_priority: opt VmPriority,
        /// Minimum nodes (default 0); nodes kept running when idle.
        min_nodes: opt u32,
        /// Maximum nodes, at least 1 and at least `min_nodes`.
        max_nodes: req u32,
        /// Idle time before scale-down: `120s`, `2m`, `PT2M` (default 2 minutes).
        idle_time_before_scale_down: opt String,
        /// The subnet nodes join: `vnet/subnet` or an ARM ID.
        subnet: opt String,
        /// Public SSH access to the nodes (default `disabled`).
        remote_login_port_public_access: opt RemoteLogin,
        /// Admin SSH access (public key).
        ssh: opt SshAccess,
        /// Give nodes public IPs (default true; false needs a private workspace).
        enable_node_public_ip: opt bool,
        /// Node OS (default `linux`).
        os_type: opt OsType,
        /// Description.
        description: opt String,
    }
}

spec_struct! {
    /// Autoscaling of an AKS node pool.
    AutoScaling ("auto_scaling") {
        /// Fewest nodes, at most `max_count`.
        min_count: req u32,
        /// Most nodes.
        max_count: req u32,
    }
}

spec_struct! {
    /// Networking of an AKS cluster.
    AksNetwork ("an aks network") {
        /// `azure` (CNI, default) or `kubenet`.
        plugin: opt NetworkPlugin,
        /// `overlay` for Azure CNI overlay.
        plugin_mode: opt NetworkPluginMode,
        /// Network policy engine.
        policy: opt NetworkPolicy,
        /// Node subnet: `vnet/subnet` or an ARM ID.
        subnet: opt String,
        /// Kubernetes service range (default `10.0.0.0/16`); must not overlap any subnet.
        service_cidr: opt String,
        /// Cluster DNS address inside `service_cidr` (default `10.0.0.10`).
        dns_service_ip: opt String,
        /// Pod range (kubenet / overlay).
        pod_cidr: opt String,
        /// Docker bridge (deprecated by AKS; accepted and checked for overlaps).
        docker_bridge_cidr: opt String,
        /// Egress (default `load_balancer`).
        outbound_type: opt OutboundType,
    }
}

spec_struct! {
    /// An AKS managed cluster.
    AksCluster ("an aks_cluster") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// Kubernetes version (default: Azure's current default).
        kubernetes_version: opt String,
        /// DNS prefix of the API server (default: the cluster name).
        dns_prefix: opt String,
        /// Nodes in the system pool, 1–1000 (default 3).
        node_count: opt u32,
        /// Node VM size (default `Standard_D4s_v3`).
        vm_size: opt String,
        /// System pool name (default `system`).
        node_pool_name: opt String,
        /// Pods per node, 10–250 (Azure's default: 30 with Azure CNI, 110 with kubenet).
        max_pods: opt u32,
        /// OS disk size in GB (default: Azure's, 128).
        os_disk_size_gb: opt u32,
        /// Autoscaling of the system pool.
        auto_scaling: opt AutoScaling,
        /// Networking.
        network: opt AksNetwork,
        /// Private API server (default false).
        private_cluster: opt bool,
        /// CIDRs allowed to reach a public API server.
        authorized_ip_ranges: opt List,
        /// Control-plane tier (default `free`).
        sku_tier: opt AksTier,
        /// Keep local accounts (default true; false requires Entra integration).
        local_accounts: opt bool,
    }
}

spec_struct! {
    /// An AKS cluster that Azure ML creates for inference.
    AksComputeCreate ("aks_compute create") {
        /// Nodes, 1–100 (default 3).
        agent_count: opt u32,
        /// Node VM size (default `Standard_D3_v2`).
        vm_size: opt String,
        /// `fast_prod` (default) or `dev_test`.
        cluster_purpose: opt ClusterPurpose,
        /// Node subnet.
        subnet: opt String,
        /// Service range.
        service_cidr: opt String,
        /// DNS address inside `service_cidr`.
        dns_service_ip: opt String,
        /// Docker bridge range.
        docker_bridge_cidr: opt String,
        /// Scoring endpoint exposure (default `public_ip`).
        load_balancer_type: opt LoadBalancerType,
        /// Subnet of an internal load balancer (a subnet name in the cluster's VNet).
        load_balancer_subnet: opt String,
    }
}

spec_struct! {
    /// An AKS inference compute of a workspace: attach `cluster:` or `create:` a new one.
    AksCompute ("an aks_compute") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// An `aks_cluster` (or ARM ID) to attach.
        cluster: opt String,
        /// Purpose of the attached cluster (default `fast_prod`).
        cluster_purpose: opt ClusterPurpose,
        /// Let Azure ML create the cluster.
        create: opt AksComputeCreate,
        /// Description.
        description: opt String,
    }
}

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

/// The kind-specific part of a managed resource.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum KindSpec {
    ResourceGroup(ResourceGroup),
    VirtualNetwork(VirtualNetwork),
    NetworkSecurityGroup(NetworkSecurityGroup),
    RouteTable(RouteTable),
    StorageAccount(StorageAccount),
    KeyVault(KeyVault),
    ApplicationInsights(ApplicationInsights),
    ContainerRegistry(ContainerRegistry),
    MlWorkspace(MlWorkspace),
    AmlCompute(AmlCompute),
    AksCluster(AksCluster),
    AksCompute(AksCompute),
}

/// Runs `$body` with `$t` bound to the kind struct type of a [`ResourceType`].
macro_rules! with_kind {
    ($ty:expr, $t:ident, $variant:ident => $body:expr) => {
        match $ty {
            ResourceType::ResourceGroup => {
                type $t = ResourceGroup;
                let $variant = KindSpec::ResourceGroup;
                $body
            }
            ResourceType::VirtualNetwork => {
                type $t = VirtualNetwork;
                let $variant = KindSpec::VirtualNetwork;
                $body
            }
            ResourceType::NetworkSecurityGroup => {
                type $t = NetworkSecurityGroup;
                let $variant = KindSpec::NetworkSecurityGroup;
                $body
            }
            ResourceType::RouteTable => {
                type $t = RouteTable;
                let $variant = KindSpec::RouteTable;
                $body
            }
            ResourceType::StorageAccount => {
                type $t = StorageAccount;
                let $variant = KindSpec::StorageAccount;
                $body
            }
            ResourceType::KeyVault => {
                type $t = KeyVault;
                let $variant = KindSpec::KeyVault;
                $body
            }
            ResourceType::ApplicationInsights => {
                type $t = ApplicationInsights;
                let $variant = KindSpec::ApplicationInsights;
                $body
            }
            ResourceType::ContainerRegistry => {
                type $t = ContainerRegistry;
                let $variant = KindSpec::ContainerRegistry;
                $body
            }
            ResourceType::MlWorkspace => {
                type $t = MlWorkspace;
                let $variant = KindSpec::MlWorkspace;
                $body
            }
            ResourceType::AmlCompute => {
                type $t = AmlCompute;
                let $variant = KindSpec::AmlCompute;
                $body
            }
            ResourceType::AksCluster => {
                type $t = AksCluster;
                let $variant = KindSpec::AksCluster;
                $body
            }
            ResourceType::AksCompute => {
                type $t = AksCompute;
                let $variant = KindSpec::AksCompute;
                $body
            }
        }
    };
}

impl ResourceType {
    /// The kind-specific YAML fields of this type.
    pub fn fields(self) -> &'static [&'static str] {
        with_kind!(self, T, _v => T::FIELDS)
    }

    /// The JSON Schema `properties` and `required` of this type's kind-specific fields.
    pub fn schema_parts(self) -> (serde_json::Map<String, serde_json::Value>, Vec<String>) {
        with_kind!(self, T, _v => T::schema_parts())
    }

    /// Every type, in declaration order.
    pub fn all() -> impl Iterator<Item = ResourceType> {
        Self::WORDS.iter().filter_map(|w| Self::from_word(w))
    }
}

/// Fields every resource may have besides its kind's own.
pub const COMMON_FIELDS: &[&str] = &["type", "name", "location", "tags", "depends_on", "existing"];

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
    /// The kind-specific fields; `None` for `existing:` resources.
    pub body: Option<KindSpec>,
    /// The whole resource mapping.
    pub span: Span,
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
                    "E0112",
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
                    "E0113",
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
        let has_existing = r.has("existing");
        let mut known: Vec<&str> = COMMON_FIELDS.to_vec();
        known.extend(ty.value.fields());
        let body = if has_existing {
            // Read-only resources take no kind fields: report each one rather than ignoring it.
            for field in ty.value.fields() {
                if let Some(e) = r.take(field) {
                    cx.push(
                        Diagnostic::error("E0111", format!("`{field}` cannot be set on an `existing:` resource"), e.key.span)
                            .label("moat never writes existing resources")
                            .hint("remove the field, or drop `existing:` to let this stack manage the resource"),
                    );
                }
            }
            None
        } else {
            with_kind!(ty.value, T, variant => T::read_fields(&mut r, cx).map(variant))
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
            body,
            span,
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
                Diagnostic::error("E0001", "the spec is empty", root.span).hint(
                    "a spec needs at least `stack:` and `resources:`; see examples/minimal.yaml",
                ),
            );
            return None;
        }
        if !matches!(root.value, Value::Map(_)) {
            let mut d = Diagnostic::error(
                "E0110",
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
                        "E0122",
                        format!("`--var {name}=…` names no declared variable"),
                        decl.span,
                    )
                    .label("the variables this spec declares"),
                    None => Diagnostic::error(
                        "E0122",
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
                                "E0122",
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
        let resources = match r.take("resources") {
            None => {
                let at = Span::new(root.span.start as usize, root.span.start as usize + 1);
                cx.push(
                    Diagnostic::error("E0112", "missing field `resources` in the spec", at)
                        .label("`resources` is required")
                        .hint("list what this stack manages under `resources:`"),
                );
                Vec::new()
            }
            Some(entry) => match entry.value.as_map() {
                Some(entries) => entries
                    .iter()
                    .filter_map(|e| Resource::decode(&e.key, &e.value, cx))
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
        })
    }
}
