//! The rule catalogue: every lint rule's stable ID, name, severity and documentation. IDs are
//! a public contract (CI configurations and SARIF consumers key on them): never renumber one;
//! retire it instead. `docs/rules.md` documents each entry and a test keeps the two in step.

use moat_spec::Severity;

/// Every rule ID, one constant each: rule code and the catalogue name these, so an ID is
/// written once (and `tests/rules.rs` checks the catalogue against `docs/rules.md`).
pub mod ids {
    /// Declares each ID as a constant named by itself.
    macro_rules! ids {
        ($($name:ident),* $(,)?) => {
            $(
                #[doc = concat!("Rule `", stringify!($name), "`.")]
                pub const $name: &str = stringify!($name);
            )*
        };
    }
    ids! { ML101, ML102, ML103, ML110, ML111, ML112, ML113, ML114, ML115, ML120, ML130, ML131, ML201, ML202, ML203, ML204, ML205, ML206, ML207, ML301, ML302, ML303, ML304, ML305, ML306, ML307, ML308, ML309, ML310, ML401, ML402, ML403, ML999, ML501, ML502, ML503, ML504, ML505, ML506, ML507, ML508, ML601, ML602, ML603, ML604, ML605, ML606, ML607, ML608, ML609, ML610 }
}

/// One lint rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable ID: `ML` and three digits (ML1xx AmlCompute in a VNet, ML2xx storage and key
    /// vault firewalls, ML3xx AKS for inference, ML4xx general).
    pub id: &'static str,
    /// Short kebab-case name.
    pub name: &'static str,
    /// The severity of its findings.
    pub severity: Severity,
    /// One line: what the rule checks.
    pub summary: &'static str,
    /// Why it matters and how to fix it.
    pub help: &'static str,
}

const fn rule(
    id: &'static str,
    name: &'static str,
    severity: Severity,
    summary: &'static str,
    help: &'static str,
) -> Rule {
    Rule {
        id,
        name,
        severity,
        summary,
        help,
    }
}

use Severity::{Error, Note, Warning};

/// Every rule, ordered by ID.
pub static RULES: &[Rule] = &[
    rule(
        ids::ML101,
        "aml-vnet-region",
        Error,
        "an AmlCompute cluster's virtual network is in the workspace's region",
        "Azure ML only places compute nodes in a virtual network of the workspace's region. Move the \
         network (or the workspace) so both share one region, or use a network in that region.",
    ),
    rule(
        ids::ML102,
        "aml-vnet-subscription",
        Error,
        "an AmlCompute cluster's virtual network is in the workspace's subscription",
        "Azure ML only places compute nodes in a virtual network of the workspace's subscription. Use a \
         network of that subscription.",
    ),
    rule(
        ids::ML103,
        "aml-subnet-capacity",
        Error,
        "the subnet of an AmlCompute cluster has an address for every node that can scale into it",
        "Azure keeps 5 addresses of every subnet. Each AmlCompute node takes one address up to `max_nodes`; \
         AKS nodes on the same subnet take one (kubenet, Azure CNI overlay) or `max_pods + 1` (Azure CNI). \
         Scale-ups fail when the subnet runs out. Enlarge the subnet's `address_prefix`, lower `max_nodes`, \
         or move a cluster to its own subnet.",
    ),
    rule(
        ids::ML110,
        "aml-nsg-batch-inbound",
        Error,
        "the subnet's NSG admits Azure Batch management (TCP 29876–29877 from `BatchNodeManagement`)",
        "Azure Batch manages AmlCompute nodes through inbound TCP 29876–29877 from the `BatchNodeManagement` \
         service tag. Without an allow rule (Azure's `DenyAllInBound` blocks it), or with a deny rule of a \
         lower priority number in front of it, nodes never become usable. Add an inbound allow rule for \
         TCP 29876-29877 from `BatchNodeManagement` with a lower number than any deny that matches.",
    ),
    rule(
        ids::ML111,
        "aml-nsg-ssh-open",
        Warning,
        "inbound SSH from the internet is open only when a cluster on the subnet asks for SSH",
        "An NSG rule that allows TCP 22 from the internet exposes the compute nodes although no cluster on \
         the subnet sets `ssh:` or `remote_login_port_public_access: enabled`. Remove the rule or narrow its \
         source, or ask for SSH on the cluster.",
    ),
    rule(
        ids::ML112,
        "aml-nsg-vnet-outbound",
        Error,
        "the subnet's NSG lets compute nodes reach the virtual network",
        "Compute nodes talk to each other and to private endpoints inside the virtual network. An outbound \
         deny rule that matches `VirtualNetwork` before Azure's `AllowVnetOutBound` cuts them off. Remove \
         it or add an outbound allow to `VirtualNetwork` with a lower priority number.",
    ),
    rule(
        ids::ML113,
        "aml-nsg-service-outbound",
        Error,
        "when outbound internet is denied, the NSG still allows Storage, AzureContainerRegistry and AzureMachineLearning",
        "With outbound internet denied, compute nodes still need TCP 443 to `Storage.<region>`, \
         `AzureContainerRegistry.<region>` and `AzureMachineLearning`. Add outbound allow rules for these \
         service tags with lower priority numbers than the deny.",
    ),
    rule(
        ids::ML114,
        "aml-forced-tunnel-batch",
        Error,
        "with forced tunnelling, the route table sends `BatchNodeManagement` to the internet",
        "A `0.0.0.0/0` route to an appliance or gateway also captures the replies to Azure Batch \
         management, which then fail asymmetric routing. Add a route for `BatchNodeManagement.<region>` \
         (or `BatchNodeManagement`) with `next_hop: internet`.",
    ),
    rule(
        ids::ML115,
        "aml-forced-tunnel-aml",
        Warning,
        "with forced tunnelling, the route table sends `AzureMachineLearning` to the internet",
        "Azure ML's own management traffic to the compute nodes returns through the default route. \
         Add a route for `AzureMachineLearning` (or `AzureMachineLearning.<region>`) with \
         `next_hop: internet`.",
    ),
    rule(
        ids::ML120,
        "aml-clusters-share-vnet",
        Note,
        "several AmlCompute clusters join one virtual network",
        "Each AmlCompute cluster in a virtual network gets its own network security group, public IP address \
         and load balancer in the network's resource group. They count against the subscription's quotas \
         for these resources; check them before adding clusters.",
    ),
    rule(
        ids::ML130,
        "attach-ssh-azureml-inbound",
        Error,
        "an attached VM's or HDInsight head node's NSG admits SSH from `AzureMachineLearning`",
        "Azure ML attaches a VM or an HDInsight cluster by logging in over SSH from the \
         `AzureMachineLearning` service tag. The NSG of the machine's subnet (and of a VM's network \
         interface, `network_security_group:`) must allow inbound TCP on the SSH port from that tag, ahead \
         of any deny that matches; otherwise the attach and every job fail. Add the allow rule.",
    ),
    rule(
        ids::ML131,
        "attach-ssh-internet",
        Warning,
        "an attached VM's or HDInsight head node's NSG does not admit SSH from the whole internet",
        "Azure ML needs SSH only from `AzureMachineLearning`. A rule that allows the SSH port from `*`, \
         `Internet` or `0.0.0.0/0` exposes the machine's login to everyone. Narrow its source to the tag \
         (or to your own ranges).",
    ),
    rule(
        ids::ML201,
        "storage-subnet-endpoint",
        Error,
        "a subnet named in a storage firewall has the `Microsoft.Storage` service endpoint",
        "Azure rejects a storage network rule for a subnet without the `Microsoft.Storage` (or \
         `Microsoft.Storage.Global`) service endpoint. Add it to the subnet's `service_endpoints`; moat \
         updates the subnet before the storage account.",
    ),
    rule(
        ids::ML202,
        "vault-subnet-endpoint",
        Error,
        "a subnet named in a key vault firewall has the `Microsoft.KeyVault` service endpoint",
        "Azure rejects a key vault network rule for a subnet without the `Microsoft.KeyVault` service \
         endpoint. Add it to the subnet's `service_endpoints`; moat updates the subnet before the vault.",
    ),
    rule(
        ids::ML203,
        "firewall-subnet-unchecked",
        Note,
        "a firewall names a subnet that this spec does not declare, so its service endpoint is not checked",
        "The subnet belongs to an `existing:` network or another stack; make sure it has the \
         `Microsoft.Storage` or `Microsoft.KeyVault` service endpoint before applying. `moat plan` \
         checks a subnet of an `existing:` network against the live network instead (ML201, ML202) \
         and leaves this note out; `lint` and `validate` do not read the cloud.",
    ),
    rule(
        ids::ML204,
        "storage-trusted-services",
        Error,
        "a workspace's firewalled storage account lets trusted Azure services through",
        "Azure ML reaches its storage account as a trusted Microsoft service. With `default_action: deny` \
         (the default when `network_rules` is present) and a `bypass` list without `azure_services`, the \
         workspace cannot read or write its own data. Add `azure_services` to `bypass`.",
    ),
    rule(
        ids::ML205,
        "vault-trusted-services",
        Error,
        "a workspace's firewalled key vault lets trusted Azure services through",
        "Azure ML reaches its key vault as a trusted Microsoft service. With `default_action: deny` (the \
         default when `network_rules` is present) and `bypass` without `azure_services`, the workspace \
         cannot read its secrets. Add `azure_services` to `bypass`.",
    ),
    rule(
        ids::ML206,
        "inference-store-access",
        Warning,
        "AKS inference can reach the workspace's firewalled default storage account",
        "Deployments to an AKS compute download models from the workspace's default storage account. When \
         that account's firewall does not admit the cluster's node subnet, deployments fail. Add the subnet \
         to the account's `network_rules.subnets` and give it the `Microsoft.Storage` service endpoint.",
    ),
    rule(
        ids::ML207,
        "backend-behind-firewall",
        Warning,
        "the state backend's storage account admits the machine running moat",
        "moat reads and writes its state blob through the storage account's public endpoint. When this spec \
         puts that account behind a firewall with no `ip_rules` (or disables public network access), moat \
         locks itself out after the first apply. Add the public address of the machine (or CI runner) that \
         runs moat to `ip_rules`.",
    ),
    rule(
        ids::ML301,
        "aks-workspace-region",
        Warning,
        "an attached AKS cluster is in the workspace's region",
        "Azure ML requires an AKS cluster in a virtual network to be in the workspace's region when the \
         workspace uses a private endpoint, and cross-region scoring adds latency and egress cost in any \
         case. Put the cluster in the workspace's region.",
    ),
    rule(
        ids::ML302,
        "aks-service-cidr-overlap",
        Error,
        "an AKS service range overlaps no subnet of the cluster's virtual network",
        "Kubernetes service addresses must not be routable in the cluster's network: AKS refuses a \
         `service_cidr` that overlaps a subnet. When `service_cidr` is not set, AKS uses `10.0.0.0/16`. \
         Choose a range outside every subnet, e.g. `10.1.0.0/16` with `dns_service_ip: 10.1.0.10`.",
    ),
    rule(
        ids::ML303,
        "aks-dns-service-ip",
        Error,
        "`dns_service_ip` lies inside `service_cidr` and is not its first address",
        "The cluster DNS service takes an address of the service range; the range's network address and \
         its first host address (`.1`, taken by the Kubernetes API service) are not available. Pick an \
         address such as the range's `.10`.",
    ),
    rule(
        ids::ML304,
        "aks-docker-bridge-overlap",
        Error,
        "`docker_bridge_cidr` overlaps neither a subnet nor the service range",
        "The Docker bridge range is local to each node, but traffic to an overlapping subnet or service \
         address would be routed to the bridge instead. Choose a range such as `172.17.0.1/16` that \
         overlaps neither.",
    ),
    rule(
        ids::ML305,
        "aks-subnet-capacity",
        Error,
        "an AKS node subnet holds the addresses Azure CNI needs",
        "With Azure CNI (not overlay) every node takes `max_pods + 1` addresses of the subnet (30 pods by \
         default), counted at the autoscaler's `max_count`; Azure keeps 5 more. Enlarge the subnet, lower \
         `max_pods` or the node count, or use `plugin_mode: overlay`.",
    ),
    rule(
        ids::ML306,
        "aks-cluster-purpose-size",
        Error,
        "an AKS inference cluster has the vCPUs its `cluster_purpose` requires",
        "Azure ML refuses to attach or create an AKS cluster for `fast_prod` with fewer than 12 vCPUs in \
         total, or for `dev_test` with fewer than 2. Add nodes, use a larger `vm_size`, or set \
         `cluster_purpose: dev_test` for non-production use.",
    ),
    rule(
        ids::ML307,
        "aks-unknown-vm-size",
        Note,
        "the VM size is not in moat's table, so the `cluster_purpose` size check was skipped",
        "moat ships the vCPU counts of common VM sizes. Check the size's vCPUs by hand (`az vm list-sizes`).",
    ),
    rule(
        ids::ML308,
        "aks-nsg-aml-inbound",
        Warning,
        "the AKS subnet's NSG admits `AzureMachineLearning` on TCP 443",
        "Azure ML deploys models and checks their health through the cluster's endpoint; the NSG of the \
         node subnet must allow inbound TCP 443 from the `AzureMachineLearning` service tag.",
    ),
    rule(
        ids::ML309,
        "aks-nsg-scoring-inbound",
        Warning,
        "the AKS subnet's NSG lets callers reach the scoring endpoint on TCP 80 or 443",
        "The scoring endpoint listens on TCP 80 and 443. When the NSG allows neither from any caller \
         (`VirtualNetwork`, `Internet` or an address range), nothing can call the deployed models. Add an \
         inbound allow rule from where the endpoint is called.",
    ),
    rule(
        ids::ML310,
        "aks-attached-twice",
        Error,
        "an AKS cluster is attached to a workspace only once",
        "Azure ML refuses to attach a cluster that is already attached to the same workspace under another \
         compute name. Keep one `aks_compute` per cluster and workspace.",
    ),
    rule(
        ids::ML401,
        "unknown-service-tag",
        Warning,
        "NSG sources and destinations and route prefixes name known Azure service tags",
        "Azure rejects an unknown service tag when the NSG or route table is written. Check the spelling; \
         regional tags are written `<Tag>.<region>`, e.g. `Storage.eastus2`. moat's list may lag behind \
         Azure's: a tag that Azure added recently is reported too.",
    ),
    rule(
        ids::ML402,
        "nsg-duplicate-priority",
        Error,
        "security rule priorities are unique per direction within an NSG",
        "Azure rejects two rules of one NSG with the same direction and priority. Give each rule its own \
         priority.",
    ),
    rule(
        ids::ML403,
        "implied-grant",
        Note,
        "every role the graph implies for an identity is granted by a `role_assignment`",
        "An identity Azure ML acts with needs roles on what it reaches: a workspace's user-assigned \
         identity `AcrPull` on its registry, `Key Vault Secrets User` on an RBAC vault and `Storage Blob \
         Data Contributor` on its storage (Azure ML grants its system-assigned identity itself); an \
         AmlCompute cluster's or an online endpoint's identity `AcrPull` on the workspace's registry and \
         `Storage Blob Data Reader` on its storage. Paste the `role_assignment` of the hint.",
    ),
    rule(
        ids::ML501,
        "endpoint-traffic-sum",
        Error,
        "an online endpoint's traffic sums to 100, or is all 0",
        "Azure refuses a traffic map whose percentages do not add up to 100 (or are all 0, which sends \
         no live traffic), after the deployments have been created. Make the shares add up to 100.",
    ),
    rule(
        ids::ML502,
        "endpoint-mirror-traffic",
        Error,
        "mirror traffic is at most 50 in total and copies to deployments that get no live traffic",
        "Azure caps the shadow copy at 50 percent in total, and a deployment cannot receive both live \
         and mirrored traffic. Lower the mirror shares, or mirror onto a deployment outside `traffic`.",
    ),
    rule(
        ids::ML503,
        "endpoint-traffic-foreign-deployment",
        Error,
        "traffic and mirror keys name deployments of that endpoint",
        "A traffic map names deployments of its own endpoint. A key that is a deployment of another \
         endpoint resolves in the spec, but Azure answers `Deployment … not found in endpoint …` when \
         the traffic is written, after the deployments were built.",
    ),
    rule(
        ids::ML504,
        "kubernetes-compute-ml-extension",
        Error,
        "a Kubernetes compute's cluster carries the Azure ML extension",
        "Azure ML attaches an AKS cluster as Kubernetes compute only once the Azure ML extension \
         (`microsoft.azureml.kubernetes`) is installed on it. Add `ml_extension:` to the cluster.",
    ),
    rule(
        ids::ML505,
        "ml-extension-ha-nodes",
        Error,
        "a highly available inference router has at least 3 nodes",
        "With `high_availability` (the extension's default) the inference router runs three replicas \
         on separate nodes; on a smaller cluster the extension's install fails. Give the cluster 3 nodes \
         or set `high_availability: false`.",
    ),
    rule(
        ids::ML506,
        "deployment-instance-type",
        Error,
        "a Kubernetes deployment's instance type is one of its compute's",
        "A deployment on Kubernetes compute runs as one of the compute's instance types (without \
         `instance_types`, Azure ML's `defaultinstancetype`). Azure refuses another name when the \
         deployment is created.",
    ),
    rule(
        ids::ML507,
        "deployment-cpu-fits-node",
        Error,
        "a Kubernetes deployment's CPU request fits on one node of its cluster",
        "A pod is scheduled on one node: a CPU request larger than the node VM size's vCPUs never \
         runs, and the deployment's operation times out. Lower the request or use a larger node size. \
         (Memory is not checked: moat's VM size table has vCPUs only.)",
    ),
    rule(
        ids::ML508,
        "kubernetes-compute-region",
        Warning,
        "a Kubernetes compute's cluster is in its workspace's region",
        "The Azure ML extension and token authentication (`aml_token`) call the workspace's region; \
         a cluster in another region adds latency to every call and cross-region traffic. Put the \
         cluster in the workspace's region.",
    ),
    rule(
        ids::ML601,
        "workspace-pe-zones",
        Error,
        "a workspace private endpoint registers in both the api and the notebooks zone",
        "A workspace endpoint answers on two names: `<id>.workspace.<region>.api.azureml.ms` and the \
         notebooks host under `notebooks.azure.net`. With only `privatelink.api.azureml.ms` in its \
         `dns_zones`, the studio's notebooks fail to resolve privately. Add both zones (their US Gov and \
         China names in those clouds).",
    ),
    rule(
        ids::ML602,
        "workspace-storage-blob-file",
        Warning,
        "a workspace's storage reached by private endpoints has one for `blob` and one for `file`",
        "Azure ML uses both the blob and the file service of its default storage. A private endpoint serves \
         one group, so a storage account needs two endpoints (`group: file` on the second); with only one, \
         jobs or notebooks fail on the other service.",
    ),
    rule(
        ids::ML603,
        "private-zone-links",
        Warning,
        "each private DNS zone an endpoint registers in is linked to the networks that resolve through it",
        "Names resolve to a private endpoint's address only in the networks linked to its zone: the \
         endpoint's own network and those of the workspace's computes. Add the missing networks to the \
         zone's `links:`; otherwise clients there resolve the public address and are refused.",
    ),
    rule(
        ids::ML604,
        "private-zone-name",
        Warning,
        "the zones an endpoint names are its group's privatelink zones in the stack's cloud",
        "Azure writes an endpoint's records only into the zones named for its group (`privatelink.blob.core.windows.net` \
         for blob); US Government and China use other names (`privatelink.api.ml.azure.us`). A zone of \
         another group or cloud stays empty. Name the zone for the group and the cloud.",
    ),
    rule(
        ids::ML605,
        "public-access-without-endpoint",
        Warning,
        "a resource with `public_network_access: disabled` is reached by a private endpoint",
        "With public access disabled and no private endpoint, nothing reaches the resource's data plane — \
         not the workspace's computes, and not the machine applying this spec. Add a private endpoint, \
         or keep public access enabled behind a firewall.",
    ),
    rule(
        ids::ML606,
        "service-and-private-endpoint",
        Warning,
        "a storage account or key vault is reached either through service endpoints or through a private endpoint",
        "Firewall subnet rules (service endpoints) and a private endpoint for the same target leave \
         which path a client takes to each network's DNS; the two are hard to reason about and to audit. \
         Keep one.",
    ),
    rule(
        ids::ML607,
        "registry-pe-premium",
        Error,
        "a container registry reached by a private endpoint is Premium",
        "Azure offers private endpoints only on Premium registries; the endpoint's creation fails on \
         Basic and Standard. Set `sku: premium`.",
    ),
    rule(
        ids::ML608,
        "no-public-ip-private-workspace",
        Warning,
        "a cluster without public node IPs belongs to a workspace with a private endpoint",
        "With `enable_node_public_ip: false` the nodes reach the workspace only privately; a workspace \
         without a private endpoint (or a managed network) leaves them unable to register. Add a \
         workspace private endpoint, or keep public node IPs.",
    ),
    rule(
        ids::ML609,
        "ssh-without-nsg-rule",
        Warning,
        "a cluster that enables SSH sits in a subnet whose NSG admits TCP 22",
        "`ssh:` opens the nodes' SSH port, but the subnet's NSG decides who reaches it; when no inbound \
         rule admits TCP 22 (from the internet or the virtual network), SSH never connects. Add an allow \
         rule from where you connect, or drop `ssh:`.",
    ),
    rule(
        ids::ML610,
        "shared-key-default-store",
        Warning,
        "a workspace's default storage keeps shared key access",
        "The default datastores of a workspace authenticate with the storage account key. With \
         `allow_shared_key_access: false` they fail until switched to identity-based access with the \
         right role assignments.",
    ),
];

/// Looks a rule up by ID.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sorted_and_well_formed() {
        for w in RULES.windows(2) {
            assert!(w[0].id < w[1].id, "{} before {}", w[0].id, w[1].id);
        }
        for r in RULES {
            assert!(
                r.id.len() == 5
                    && r.id.starts_with("ML")
                    && r.id[2..].chars().all(|c| c.is_ascii_digit()),
                "{}",
                r.id
            );
            assert!(
                r.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{}",
                r.name
            );
            assert!(!r.summary.ends_with('.'), "{}", r.id);
        }
        assert_eq!(
            find(ids::ML110).map(|r| r.name),
            Some("aml-nsg-batch-inbound")
        );
        assert!(find(ids::ML999).is_none());
    }
}
