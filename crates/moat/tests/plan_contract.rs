//! The plan contract of DESIGN.md as a test: every scenario of the catalogue applies the base
//! spec (`tests/contract/base.yaml`) to a `moat sim` process, makes one small edit, plans and
//! applies it with the real binary, and compares the writes the emulator recorded and the
//! resources that vanished with the plan, then checks "No changes" and orphans.
//!
//! Scenarios that break the contract today are listed in [`KNOWN_VIOLATIONS`] with the issue-12
//! item that will fix them and the checks they fail; the test holds the list to the truth both
//! ways, so the suite is green today and tells whoever lands a fix which line to delete.
//! `docs/plan-contract.md` explains the checks and how to add a scenario.

#[path = "contract/harness.rs"]
mod harness;

use harness::{
    Out, PlanView, Sim, Snapshot, Violation, check_done, check_made_with_gone, check_orphans,
    check_plan, check_vanished, check_writes, copy_dir, http, moat, next_seq, scratch, short,
    snapshot, state_ids, writes_since,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The base spec's stack.
const STACK: &str = "mistakes";

/// Scenarios that violate the contract today: (scenario, the checks it fails, the issue-12 item
/// ("What must work") that will fix it). A listed scenario that passes, or fails other checks,
/// fails its test: delete or update its line in the commit that changes it.
///
/// Checks: `a` a write the plan did not list, `b` a disappearance the plan did not list, `c` a
/// planned create/delete not done, `d` the next plan is not "No changes", `e` an orphan or a
/// stale state entry, `f` the plan is dishonest (one ID kept and deleted, an unreadable resource
/// that plans or applies anyway, a destructive change unmarked), `g` the scenario's own
/// expectation, `x` plan or apply failed outright.
#[rustfmt::skip]
const KNOWN_VIOLATIONS: &[(&str, &str, &str)] = &[];

/// A textual edit of the base spec.
enum Edit {
    /// Replace the one occurrence of the first text with the second.
    Once(&'static str, &'static str),
    /// Replace every occurrence (at least one).
    All(&'static str, &'static str),
}

/// Something done to the cloud or the state before the edited spec is planned.
enum Prep {
    /// PATCH this resource (ARM ID under the resource group) with this JSON body, out of band.
    Patch(&'static str, &'static str, &'static str),
    /// DELETE this resource out of band (the api-version may carry more query parameters).
    Delete(&'static str, &'static str),
    /// Remove the state directory.
    LoseState,
    /// Run the emulator with this `--faults` file (JSON) while planning and applying.
    Faults(&'static str),
}

/// How the edit is applied.
enum Step {
    /// `plan --out plan.json --format json [ARGS]`, then `apply plan.json --auto-approve
    /// [APPLY_ARGS]`, from the scenario directory or (`elsewhere`) from another one.
    Saved {
        plan_args: &'static [&'static str],
        apply_args: &'static [&'static str],
        elsewhere: bool,
    },
    /// `plan --out plan.json ARGS` (`--target`/`--exclude`), then `apply plan.json`
    /// (`apply SPEC --auto-approve ARGS` should `plan` refuse the flags).
    Targeted(&'static [&'static str]),
    /// `plan --destroy --out plan.json ARGS`, then `apply plan.json` (`destroy SPEC
    /// --auto-approve ARGS` should `plan` refuse the flags).
    Destroy(&'static [&'static str]),
    /// `plan --out plan.json`, `apply plan.json` that does not finish (killed, or failed by the
    /// emulator's faults), then `apply SPEC --auto-approve` again, which must finish the job:
    /// each run's writes are checked against its own plan.
    Twice(First),
}

/// How the first of two applies ends.
enum First {
    /// SIGKILL as soon as the emulator has recorded its first write.
    Killed,
    /// It fails on its own (the scenario's `--faults` make a write fail); the faults are gone
    /// for the second run.
    Fails,
}

/// What the scenario itself expects beyond the contract (check `g`).
enum Expect {
    /// After apply, GET of this resource (ARM ID under the group, api-version) has this JSON
    /// value at this pointer: the edit reached Azure.
    Live(&'static str, &'static str, &'static str, &'static str),
    /// The plan does not give this key one of these actions.
    NotAction(&'static str, &'static [&'static str], &'static str),
    /// The plan gives this key this action, with a reason containing this text.
    Action(&'static str, &'static str, &'static str),
    /// The step was refused with a located error containing this text.
    Refused(&'static str),
}

/// One edit-after-apply scenario.
struct Scenario {
    name: &'static str,
    /// Edits of the base applied (and converged) before the scenario starts, when it needs a
    /// resource the base does not have: the scenario's own edits apply on top of them.
    given: Vec<Edit>,
    edits: Vec<Edit>,
    prep: Vec<Prep>,
    step: Step,
    expect: Vec<Expect>,
}

const APPLY: Step = Step::Saved {
    plan_args: &[],
    apply_args: &[],
    elsewhere: false,
};

fn sc(name: &'static str) -> Scenario {
    Scenario {
        name,
        given: Vec::new(),
        edits: Vec::new(),
        prep: Vec::new(),
        step: APPLY,
        expect: Vec::new(),
    }
}

impl Scenario {
    /// The scenario starts from the base with this edit applied.
    fn given(mut self, from: &'static str, to: &'static str) -> Self {
        self.given.push(Edit::Once(from, to));
        self
    }
    fn once(mut self, from: &'static str, to: &'static str) -> Self {
        self.edits.push(Edit::Once(from, to));
        self
    }
    fn all(mut self, from: &'static str, to: &'static str) -> Self {
        self.edits.push(Edit::All(from, to));
        self
    }
    fn prep(mut self, p: Prep) -> Self {
        self.prep.push(p);
        self
    }
    fn step(mut self, s: Step) -> Self {
        self.step = s;
        self
    }
    fn expect(mut self, e: Expect) -> Self {
        self.expect.push(e);
        self
    }

    /// The spec the scenario starts from: the base with the `given` edits.
    fn start(&self, base: &str) -> String {
        edited(self.name, base, &self.given)
    }

    /// The edited spec; panics when an edit does not apply (the base changed under it).
    fn spec(&self, base: &str) -> String {
        edited(self.name, &self.start(base), &self.edits)
    }
}

/// `base` with `edits`; panics when an edit does not apply (the base changed under it).
fn edited(name: &str, base: &str, edits: &[Edit]) -> String {
    let mut s = base.to_string();
    for e in edits {
        match e {
            Edit::Once(from, to) => {
                let n = s.matches(from).count();
                assert_eq!(n, 1, "{name}: `{from}` occurs {n} times in the spec");
                s = s.replacen(from, to, 1);
            }
            Edit::All(from, to) => {
                assert!(s.contains(from), "{name}: no `{from}` in the spec");
                s = s.replace(from, to);
            }
        }
    }
    s
}

const RG: &str = "/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/mistakes-rg";
const STORE: &str = "providers/Microsoft.Storage/storageAccounts/mistakesstore";
const CPU: &str = "providers/Microsoft.MachineLearningServices/workspaces/mistakes-ws/computes/cpu";
/// Actions a targeted destroy must not give a resource that survives it.
const DELETES: &[&str] = &["delete", "replace"];
const PARENT: &str = "a targeted destroy never drags in the target's parent";
const SIBLING: &str = "it neither is the target nor needs it";
const EXCLUDED: &str = "`--exclude ws` leaves ws \"and what needs it alone\" (`moat destroy --help`), and this needs ws";
const REFERS: &str =
    "it only refers to the target, so it is updated in place to drop the reference";

/// The catalogue.
fn catalogue() -> Vec<Scenario> {
    vec![
        // --- the seven reproductions of issue 12
        sc("repro_1_key_rename_deletes_workspace")
            .once("  ws:\n", "  workspace:\n")
            .all("workspace: ws\n", "workspace: workspace\n"),
        sc("repro_2_destroy_target_subnet_destroys_parent")
            .step(Step::Destroy(&["--target", "vnet/training"]))
            .expect(Expect::NotAction("vnet", DELETES, PARENT))
            .expect(Expect::NotAction("vnet/aks", DELETES, SIBLING))
            .expect(Expect::NotAction("store", DELETES, REFERS))
            .expect(Expect::NotAction("vault", DELETES, REFERS))
            .expect(Expect::NotAction("ws", DELETES, REFERS))
            .expect(Expect::NotAction("aks", DELETES, SIBLING)),
        sc("repro_3_storage_rename_leaks_old_account")
            .once("name: mistakesstore", "name: mistakesstore2"),
        sc("repro_4_ssh_key_change_plans_no_changes")
            .once(
                "admin_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILV3OIx6VuK9IkLdN/vzmggVNlFGjjU0rHfV8lQYz3Ny contract-1",
                "admin_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoh13U1gvUXV+YRmWao1TpyrEz2zKoFZHqyPNXHp0AZ contract-2",
            )
            .expect(Expect::Live(
                CPU,
                "2024-04-01",
                "/properties/properties/userAccountCredentials/adminUserSshPublicKey",
                KEY2_JSON,
            )),
        sc("repro_5_unreadable_treated_as_unchanged")
            .once("    name: mistakesstore\n", "    name: mistakesstore\n    tags: { tier: hot }\n")
            .prep(Prep::Faults(
                r#"{ "rules": [ { "method": "GET", "path": "*/storageAccounts/mistakesstore", "fault": { "kind": "status", "status": 403, "code": "AuthorizationFailed", "message": "The client does not have authorization to perform action 'Microsoft.Storage/storageAccounts/read'." } } ] }"#,
            )),
        sc("repro_6_saved_plan_without_its_vars")
            .once("team: ml-platform", "team: ml-infra")
            .step(Step::Saved {
                plan_args: &["--var", "owner=platform", "--var", "prefix=mistakes"],
                apply_args: &[],
                elsewhere: false,
            }),
        sc("repro_7_aks_scale_replaces_cluster")
            .once("create: { agent_count: 3,", "create: { agent_count: 5,")
            .expect(Expect::NotAction(
                "scoring",
                &["replace", "delete"],
                "Azure ML cannot scale the cluster it created in place, but the AKS cluster itself can be scaled",
            )),
        // --- saved plans (issue 12, item "saved plans"; repro 6's other halves)
        sc("saved_plan_vars_in_another_order")
            .once("team: ml-platform", "team: ml-infra")
            .step(Step::Saved {
                plan_args: &["--var", "owner=platform", "--var", "prefix=mistakes"],
                apply_args: &["--var", "prefix=mistakes", "--var", "owner=platform"],
                elsewhere: false,
            }),
        sc("saved_plan_applied_from_another_directory")
            .once("team: ml-platform", "team: ml-infra")
            .step(Step::Saved {
                plan_args: &[],
                apply_args: &[],
                elsewhere: true,
            }),
        // --- key renames (the Azure name stays): moves
        sc("key_rename_compute")
            .once("  cpu:\n    type: aml_compute\n", "  trainer:\n    type: aml_compute\n    name: cpu\n"),
        sc("key_rename_storage")
            .once("  store:\n", "  storage:\n")
            .once("storage_account: store\n", "storage_account: storage\n"),
        // A key rename into another group that keeps a global name: the old account goes
        // first (after the old self of the workspace that uses it), then the new one.
        sc("key_rename_storage_to_another_group")
            .once("  rg: { type: resource_group, name: \"${var.prefix}-rg\" }\n", "  rg: { type: resource_group, name: \"${var.prefix}-rg\" }\n  data: { type: resource_group, name: \"${var.prefix}-data-rg\" }\n")
            .once("  store:\n    type: storage_account\n    resource_group: rg\n", "  storage:\n    type: storage_account\n    resource_group: data\n")
            .once("storage_account: store\n", "storage_account: storage\n")
            .expect(Expect::Action("store", "delete", "unique across Azure"))
            .expect(Expect::Action("storage", "create", "created once `store` is deleted"))
            .expect(Expect::Action("ws", "replace", "it uses `store`")),
        sc("key_rename_vnet")
            .once("  vnet:\n    type: virtual_network\n", "  network:\n    type: virtual_network\n    name: vnet\n")
            .all("vnet/", "network/"),
        sc("key_rename_nsg")
            .once("  training-nsg:\n", "  train-nsg:\n    name: training-nsg\n")
            .once("network_security_group: training-nsg", "network_security_group: train-nsg"),
        sc("key_rename_route_table")
            .once("  egress:\n", "  routes-out:\n    name: egress\n")
            .once("route_table: egress", "route_table: routes-out"),
        sc("key_rename_resource_group")
            .once("  rg: {", "  group: {")
            .all("resource_group: rg\n", "resource_group: group\n")
            .once("resource_group: rg }", "resource_group: group }"),
        sc("key_rename_aks_cluster")
            .once("  aks:\n    type: aks_cluster\n", "  cluster:\n    type: aks_cluster\n    name: aks\n")
            .once("cluster: aks\n", "cluster: cluster\n"),
        sc("key_rename_insights")
            .once("  insights: {", "  app-insights: { name: insights,")
            .once("application_insights: insights", "application_insights: app-insights"),
        // --- Azure-name changes: replacements
        sc("name_change_workspace").once("name: mistakes-ws", "name: mistakes-ws2"),
        sc("name_change_vault").once("name: mistakes-vault", "name: mistakes-vault2"),
        sc("name_change_compute")
            .once("    type: aml_compute\n", "    type: aml_compute\n    name: cpu2\n"),
        sc("name_change_nsg")
            .once("  aks-nsg:\n    type: network_security_group\n", "  aks-nsg:\n    type: network_security_group\n    name: aks-nsg2\n"),
        sc("name_change_route_table")
            .once("    type: route_table\n", "    type: route_table\n    name: egress2\n"),
        sc("name_change_subnet")
            .once("      aks:\n        address_prefix", "      inference:\n        address_prefix")
            .all("vnet/aks", "vnet/inference"),
        // `--target` the new subnet: what its create waits for comes along (the old subnet's
        // delete, and before it the old selves of the cluster and the compute in it).
        sc("name_change_subnet_targeted")
            .once("      aks:\n        address_prefix", "      inference:\n        address_prefix")
            .all("vnet/aks", "vnet/inference")
            .step(Step::Targeted(&["--target", "vnet/inference"]))
            .expect(Expect::Action("vnet/aks", "delete", "deleted before `vnet/inference` is created"))
            .expect(Expect::Action("aks", "replace", "it uses `vnet/aks`"))
            .expect(Expect::Action("scoring", "replace", "it uses `vnet/aks`")),
        sc("name_change_aks_cluster")
            .once("    type: aks_cluster\n", "    type: aks_cluster\n    name: aks2\n"),
        sc("name_change_insights")
            .once("  insights: {", "  insights: { name: insights2,"),
        // The vault keeps its name: a deleted vault holds it (recoverable only in its old
        // group), so the plan refuses at the vault's line instead of failing half-way.
        sc("name_change_resource_group")
            .once("default: mistakes }", "default: mistakes2 }")
            .expect(Expect::Refused("`vault` cannot be re-created")),
        // With a new vault name everything in the group is replaced: global names (the
        // storage account) delete first, the workspace's computes follow their workspace.
        sc("name_change_resource_group_and_vault")
            .once("default: mistakes }", "default: mistakes2 }")
            .once("name: mistakes-vault", "name: \"${var.prefix}-vault\"")
            .expect(Expect::Action("store", "replace", "unique across Azure"))
            .expect(Expect::Action("cpu", "replace", "ARM ID changes")),
        // --- `--replace KEY`: a replacement nothing forces, with what it takes along
        sc("replace_requested_aks_cluster")
            .step(Step::Saved {
                plan_args: &["--replace", "aks"],
                apply_args: &[],
                elsewhere: false,
            })
            .expect(Expect::Action("aks", "replace", "requested with --replace"))
            .expect(Expect::Action("inference", "replace", "`aks` is replaced"))
            .expect(Expect::NotAction("scoring", DELETES, SIBLING)),
        sc("replace_requested_workspace_takes_its_computes")
            .step(Step::Saved {
                plan_args: &["--replace", "ws"],
                apply_args: &[],
                elsewhere: false,
            })
            .expect(Expect::Action("ws", "replace", "requested with --replace"))
            .expect(Expect::Action("cpu", "replace", "`ws` is replaced")),
        sc("replace_requested_protected_is_refused")
            .once("    type: aml_compute\n", "    type: aml_compute\n    protect: true\n")
            .step(Step::Saved {
                plan_args: &["--replace", "cpu"],
                apply_args: &[],
                elsewhere: false,
            })
            .expect(Expect::Refused("`cpu` is protected")),
        // --- removals
        sc("remove_compute").once(
            "  cpu:\n    type: aml_compute\n    workspace: ws\n    vm_size: STANDARD_D2_V2\n    min_nodes: 0\n    max_nodes: 4\n    subnet: vnet/training\n    ssh:\n      admin_username: azureuser\n      admin_public_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILV3OIx6VuK9IkLdN/vzmggVNlFGjjU0rHfV8lQYz3Ny contract-1\n",
            "",
        ),
        sc("remove_attachment").once(
            "  inference:\n    type: aks_compute\n    workspace: ws\n    cluster: aks\n    cluster_purpose: fast_prod\n",
            "",
        ),
        sc("remove_aks_subnet_and_users")
            .once("      aks:\n        address_prefix: 10.0.16.0/20\n        network_security_group: aks-nsg\n        service_endpoints: [Microsoft.Storage]\n", "")
            .once("subnets: [vnet/training, vnet/aks]", "subnets: [vnet/training]")
            .once("  aks:\n    type: aks_cluster\n    resource_group: rg\n    node_count: 3\n    vm_size: Standard_D3_v2\n    network: { plugin: azure, subnet: vnet/aks, service_cidr: 10.1.0.0/16, dns_service_ip: 10.1.0.10 }\n", "")
            .once("  inference:\n    type: aks_compute\n    workspace: ws\n    cluster: aks\n    cluster_purpose: fast_prod\n", "")
            .once("  scoring:\n    type: aks_compute\n    workspace: ws\n    create: { agent_count: 3, vm_size: Standard_D3_v2, cluster_purpose: fast_prod,\n              subnet: vnet/aks, service_cidr: 10.2.0.0/16, dns_service_ip: 10.2.0.10 }\n", ""),
        // --- the Azure ML extension and an attached cluster's load balancer (issue 16)
        sc("ml_extension_add").once(
            "    network: { plugin: azure, subnet: vnet/aks, service_cidr: 10.1.0.0/16, dns_service_ip: 10.1.0.10 }\n",
            "    network: { plugin: azure, subnet: vnet/aks, service_cidr: 10.1.0.0/16, dns_service_ip: 10.1.0.10 }\n    ml_extension: { inference_router: internal_load_balancer, high_availability: false }\n",
        ),
        sc("attached_load_balancer_internal").once(
            "    cluster: aks\n    cluster_purpose: fast_prod\n",
            "    cluster: aks\n    cluster_purpose: fast_prod\n    load_balancer_type: internal_load_balancer\n    load_balancer_subnet: aks\n",
        ),
        sc("remove_route_table_and_association")
            .once("        route_table: egress\n", "")
            .once("  egress:\n    type: route_table\n    resource_group: rg\n    routes:\n      - { name: batch, address_prefix: BatchNodeManagement.eastus2, next_hop: internet }\n      - { name: azure-ml, address_prefix: AzureMachineLearning, next_hop: internet }\n      - { name: default, address_prefix: 0.0.0.0/0, next_hop: virtual_appliance, next_hop_ip: 10.0.0.4 }\n", ""),
        // --- immutable fields: replacements
        sc("immutable_storage_hns")
            .once("    name: mistakesstore\n", "    name: mistakesstore\n    hierarchical_namespace: true\n"),
        sc("immutable_vault_retention")
            .once("    name: mistakes-vault\n", "    name: mistakes-vault\n    soft_delete_retention_days: 30\n"),
        sc("immutable_workspace_hbi")
            .once("    name: mistakes-ws\n", "    name: mistakes-ws\n    hbi_workspace: true\n"),
        sc("immutable_compute_vm_size").once("vm_size: STANDARD_D2_V2", "vm_size: STANDARD_D3_V2"),
        sc("immutable_aks_service_cidr")
            .once("service_cidr: 10.1.0.0/16, dns_service_ip: 10.1.0.10", "service_cidr: 10.3.0.0/16, dns_service_ip: 10.3.0.10"),
        sc("immutable_insights_location")
            .once("  insights: {", "  insights: { location: westus2,"),
        sc("subnet_prefix_change_in_use")
            .once("address_prefix: 10.0.1.0/24", "address_prefix: 10.0.2.0/24"),
        // --- a compute moves between subnets
        sc("move_compute_between_subnets")
            .once("    max_nodes: 4\n    subnet: vnet/training\n", "    max_nodes: 4\n    subnet: vnet/aks\n")
            // The aks subnet's NSG must admit Batch and Azure ML (lint ML110 refuses it otherwise).
            .once(
                "destination_ports: [\"80\", \"443\"] }\n",
                "destination_ports: [\"80\", \"443\"] }\n      - { name: batch-node-management, priority: 120, direction: inbound, access: allow,\n          protocol: tcp, source: BatchNodeManagement, destination_ports: [\"29876-29877\"] }\n      - { name: azure-ml-nodes, priority: 130, direction: inbound, access: allow,\n          protocol: tcp, source: AzureMachineLearning, destination_ports: [\"44224\"] }\n",
            ),
        // --- NSG and route edits
        sc("nsg_add_rule").once(
            "destination_ports: [\"44224\"] }\n",
            "destination_ports: [\"44224\"] }\n      - { name: ssh-deny, priority: 200, direction: inbound, access: deny,\n          protocol: tcp, source: Internet, destination_ports: [\"22\"] }\n",
        ),
        sc("nsg_remove_rule").once(
            "      - { name: azure-ml, priority: 110, direction: inbound, access: allow,\n          protocol: tcp, source: AzureMachineLearning, destination_ports: [\"44224\"] }\n",
            "",
        ),
        sc("route_next_hop_change").once("next_hop_ip: 10.0.0.4", "next_hop_ip: 10.0.0.5"),
        sc("route_remove").once(
            "      - { name: azure-ml, address_prefix: AzureMachineLearning, next_hop: internet }\n",
            "",
        ),
        // --- tags
        sc("tag_edit_stack_wide").once("team: ml-platform", "team: ml-infra"),
        sc("tag_add_one_resource")
            .once("    name: mistakes-vault\n", "    name: mistakes-vault\n    tags: { secrets: \"yes\" }\n"),
        // --- targeted and excluded applies and destroys
        sc("apply_target_one_of_two_edits")
            .once("    name: mistakes-vault\n", "    name: mistakes-vault\n    tags: { secrets: \"yes\" }\n")
            .once("destination_ports: [\"80\", \"443\"]", "destination_ports: [\"80\", \"443\", \"8443\"]")
            .step(Step::Targeted(&["--target", "vault"])),
        sc("apply_exclude_one_of_two_edits")
            .once("    name: mistakes-vault\n", "    name: mistakes-vault\n    tags: { secrets: \"yes\" }\n")
            .once("destination_ports: [\"80\", \"443\"]", "destination_ports: [\"80\", \"443\", \"8443\"]")
            .step(Step::Targeted(&["--exclude", "vault"])),
        sc("destroy_target_nsg")
            .step(Step::Destroy(&["--target", "training-nsg"]))
            .expect(Expect::NotAction("vnet", DELETES, REFERS))
            .expect(Expect::NotAction("vnet/training", DELETES, REFERS))
            .expect(Expect::NotAction("vnet/aks", DELETES, SIBLING))
            .expect(Expect::NotAction("store", DELETES, REFERS))
            .expect(Expect::NotAction("aks", DELETES, SIBLING))
            .expect(Expect::NotAction("cpu", DELETES, SIBLING))
            .expect(Expect::NotAction("ws", DELETES, SIBLING)),
        sc("destroy_target_compute").step(Step::Destroy(&["--target", "cpu"])),
        sc("destroy_exclude_workspace")
            .step(Step::Destroy(&["--exclude", "ws"]))
            .expect(Expect::NotAction("cpu", DELETES, EXCLUDED))
            .expect(Expect::NotAction("inference", DELETES, EXCLUDED))
            .expect(Expect::NotAction("scoring", DELETES, EXCLUDED))
            .expect(Expect::NotAction("aks", DELETES, "`inference`, which is left alone, needs it")),
        sc("destroy_everything").step(Step::Destroy(&[])),
        // --- faults and crashes on the way: the contract holds across retries and re-runs
        sc("fault_transient_503_on_vnet_put")
            .once("    address_space: [10.0.0.0/16]\n", "    address_space: [10.0.0.0/16]\n    dns_servers: [10.0.0.4]\n")
            .prep(Prep::Faults(
                r#"{ "rules": [ { "method": "PUT", "path": "*/virtualNetworks/vnet", "fault": { "kind": "status", "status": 503 }, "count": 2 } ] }"#,
            )),
        sc("fault_throttled_reads").prep(Prep::Faults(
            r#"{ "rules": [ { "method": "GET", "path": "*/networkSecurityGroups/aks-nsg", "fault": { "kind": "throttle", "retry_after": 1 }, "count": 2 } ] }"#,
        ))
        .once("destination_ports: [\"80\", \"443\"]", "destination_ports: [\"80\", \"443\", \"8443\"]"),
        sc("fault_failed_lro_then_reapply")
            .once("team: ml-platform", "team: ml-infra")
            .prep(Prep::Faults(
                r#"{ "rules": [ { "method": "PUT", "path": "*/storageAccounts/mistakesstore", "fault": { "kind": "fail_lro", "code": "InternalServerError" }, "count": 1 } ] }"#,
            ))
            .step(Step::Twice(First::Fails)),
        sc("crash_kill_9_mid_apply_then_reapply")
            .once("team: ml-platform", "team: ml-infra")
            .step(Step::Twice(First::Killed)),
        sc("crash_kill_9_mid_replacement_then_reapply")
            .once("vm_size: STANDARD_D2_V2", "vm_size: STANDARD_D3_V2")
            .step(Step::Twice(First::Killed)),
        // --- drift, out-of-band deletion, lost state
        sc("drift_storage_firewall_opened")
            .prep(Prep::Patch(
                STORE,
                "2023-05-01",
                r#"{ "properties": { "networkAcls": { "defaultAction": "Allow" } } }"#,
            ))
            .expect(Expect::Live(STORE, "2023-05-01", "/properties/networkAcls/defaultAction", "\"Deny\"")),
        sc("drift_tags_removed")
            .prep(Prep::Patch(
                "providers/Microsoft.Network/networkSecurityGroups/aks-nsg",
                "2024-03-01",
                r#"{ "tags": { "moat-stack": "mistakes" } }"#,
            ))
            .expect(Expect::Live(
                "providers/Microsoft.Network/networkSecurityGroups/aks-nsg",
                "2024-03-01",
                "/tags/team",
                "\"ml-platform\"",
            )),
        sc("deleted_out_of_band_insights")
            .prep(Prep::Delete("providers/microsoft.insights/components/insights", "2020-02-02")),
        sc("deleted_out_of_band_compute").prep(Prep::Delete(
            CPU,
            "2024-04-01&underlyingResourceAction=Delete",
        )),
        sc("lost_state_directory").prep(Prep::LoseState),
        // --- `protect: true`: a plan that would delete or replace it is refused at its line
        sc("protect_refuses_replacement")
            .once("    name: mistakes-ws\n", "    name: mistakes-ws\n    protect: true\n    hbi_workspace: true\n")
            .expect(Expect::Refused("`ws` is protected")),
        sc("protect_refuses_targeted_destroy")
            .once("    type: aml_compute\n", "    type: aml_compute\n    protect: true\n")
            .step(Step::Destroy(&["--target", "cpu"]))
            .expect(Expect::Refused("`cpu` is protected")),
    ]
    .into_iter()
    .chain(private_networking())
    .collect()
}

// --- private networking (issue 13): the endpoints' subnet, a zone linked to the VNet and a
// private endpoint of the vault registering in it, added to the base.

/// Where the endpoints' subnet goes: after the `aks` subnet.
const AKS_SUBNET_END: &str = "        service_endpoints: [Microsoft.Storage]\n\n";
const WITH_PE_SUBNET: &str = "        service_endpoints: [Microsoft.Storage]\n      endpoints: { address_prefix: 10.0.2.0/24 }\n\n";
/// The base's last line, after which zones and endpoints are added.
const END: &str = "dns_service_ip: 10.2.0.10 }\n";
/// The zone, linked to the VNet, and the vault's endpoint registering in it.
const WITH_PE: &str = "dns_service_ip: 10.2.0.10 }\n
  vault-zone:
    type: private_dns_zone
    resource_group: rg
    name: privatelink.vaultcore.azure.net
    links: [vnet]

  vault-pe:
    type: private_endpoint
    resource_group: rg
    subnet: vnet/endpoints
    target: vault
    dns_zones: [vault-zone]
";
const VAULT_PE: &str = "  vault-pe:\n    type: private_endpoint\n    resource_group: rg\n    subnet: vnet/endpoints\n    target: vault\n    dns_zones: [vault-zone]\n";
const VAULT_ZONE: &str =
    "providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net";

/// The storage account's blob and file zones, linked to the VNet.
const WITH_BLOB_ZONES: &str = "dns_service_ip: 10.2.0.10 }\n
  blob-zone: { type: private_dns_zone, resource_group: rg, name: privatelink.blob.core.windows.net, links: [vnet] }
  file-zone: { type: private_dns_zone, resource_group: rg, name: privatelink.file.core.windows.net, links: [vnet] }
";
/// Where the storage account's `private_endpoints:` go: after its firewall.
const STORE_RULES_END: &str = "      ip_rules: [203.0.113.0/28]\n";
const WITH_STORE_PES: &str = "      ip_rules: [203.0.113.0/28]
    private_endpoints:
      - { subnet: vnet/endpoints, groups: [blob, file], dns_zones: [blob-zone, file-zone] }
";

/// The workspace's managed network with two rules, turned on.
const WS_END: &str = "    application_insights: insights\n\n  cpu:";
const WITH_MANAGED_NETWORK: &str = "    application_insights: insights
    managed_network:
      isolation: allow_only_approved_outbound
      outbound_rules:
        pypi: { fqdn: pypi.org }
        monitor: { service_tag: AzureMonitor, protocol: TCP, ports: \"443\" }

  cpu:";
const WS: &str = "providers/Microsoft.MachineLearningServices/workspaces/mistakes-ws";

/// The rule Azure adds to an isolated workspace is still there afterwards.
const AZURE_RULE_KEPT: Expect = Expect::Live(
    "providers/Microsoft.MachineLearningServices/workspaces/mistakes-ws/outboundRules/__SYS_ST_AzureMachineLearning",
    "2024-04-01",
    "/properties/category",
    "\"Required\"",
);

/// The scenarios of the private networking kinds.
fn private_networking() -> Vec<Scenario> {
    let with_pe = |name| {
        sc(name)
            .given(AKS_SUBNET_END, WITH_PE_SUBNET)
            .given(END, WITH_PE)
    };
    let with_mn = |name| sc(name).given(WS_END, WITH_MANAGED_NETWORK);
    vec![
        // A zone, its link, the endpoint, its zone group: the NIC and the A record are Azure's.
        sc("pe_create_with_zone_group")
            .once(AKS_SUBNET_END, WITH_PE_SUBNET)
            .once(END, WITH_PE)
            .expect(Expect::Live(
                "providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net/A/mistakes-vault",
                "2024-06-01",
                "/properties/aRecords/0/ipv4Address",
                "\"10.0.2.4\"",
            )),
        // Key renames move the endpoint and its zone group; a new Azure name replaces them.
        with_pe("pe_key_rename")
            .once("  vault-pe:\n", "  secrets-pe:\n    name: vault-pe\n"),
        with_pe("pe_name_change")
            .once("    target: vault\n", "    target: vault\n    name: vault-pe2\n"),
        // Fixed once made: a new subnet replaces the endpoint, under its custom NIC name too
        // (the old NIC must be gone before the new endpoint asks for its name).
        with_pe("pe_subnet_change_with_nic_name")
            .given("    dns_zones: [vault-zone]\n", "    dns_zones: [vault-zone]\n    nic_name: vault-pe-nic\n")
            .once("    subnet: vnet/endpoints\n", "    subnet: vnet/training\n"),
        // The VNet and the endpoints' subnet updated with an endpoint in it: the subnet's
        // back-references to the endpoint and its NIC are Azure's, neither drift nor sent.
        with_pe("pe_vnet_update").once(
            "    address_space: [10.0.0.0/16]\n",
            "    address_space: [10.0.0.0/16]\n    dns_servers: [10.0.0.4]\n",
        ),
        with_pe("pe_subnet_update").once(
            "      endpoints: { address_prefix: 10.0.2.0/24 }\n",
            "      endpoints: { address_prefix: 10.0.2.0/24, network_security_group: aks-nsg }\n",
        ),
        // The endpoints' subnet renamed: the endpoint in it is replaced first.
        with_pe("pe_subnet_renamed")
            .once("      endpoints: { address_prefix", "      private: { address_prefix")
            .once("    subnet: vnet/endpoints\n", "    subnet: vnet/private\n"),
        // The zone: a key rename moves it with its link; a new name replaces both, and the
        // endpoint's zone group follows.
        with_pe("pe_zone_key_rename")
            .once("  vault-zone:\n", "  secrets-zone:\n")
            .once("    dns_zones: [vault-zone]\n", "    dns_zones: [secrets-zone]\n"),
        with_pe("pe_zone_name_change")
            .once("    name: privatelink.vaultcore.azure.net\n", "    name: privatelink.vaultcore.usgovcloudapi.net\n"),
        // The linked network's key renamed: the link keeps its Azure name (a move).
        with_pe("pe_zone_link_vnet_key_rename")
            .once("  vnet:\n    type: virtual_network\n", "  network:\n    type: virtual_network\n    name: vnet\n")
            .all("vnet/", "network/")
            .once("    links: [vnet]\n", "    links: [network]\n"),
        // The endpoint's zones: another zone (in a DNS group of its own), none, a zone added.
        with_pe("pe_dns_zones_changed")
            .once("  rg: { type: resource_group, name: \"${var.prefix}-rg\" }\n", "  rg: { type: resource_group, name: \"${var.prefix}-rg\" }\n  dns: { type: resource_group, name: \"${var.prefix}-dns-rg\" }\n  hub-vault-zone: { type: private_dns_zone, resource_group: dns, name: privatelink.vaultcore.azure.net }\n")
            .once("    dns_zones: [vault-zone]\n", "    dns_zones: [hub-vault-zone]\n"),
        with_pe("pe_dns_zones_removed").once("    dns_zones: [vault-zone]\n", ""),
        with_pe("pe_dns_zones_added")
            .given("    dns_zones: [vault-zone]\n", "")
            .once("    target: vault\n", "    target: vault\n    dns_zones: [vault-zone]\n"),
        // Zone links: one more network, and none.
        with_pe("pe_zone_link_add")
            .once("    links: [vnet]\n", "    links: [vnet, peer]\n")
            .once("  training-nsg:\n", "  peer: { type: virtual_network, resource_group: rg, address_space: [10.60.0.0/16] }\n\n  training-nsg:\n"),
        with_pe("pe_zone_link_remove").once("    links: [vnet]\n", ""),
        // The endpoint deleted: its zone group, its NIC and its record go with it.
        with_pe("pe_delete").once(VAULT_PE, ""),
        with_pe("pe_destroy_target")
            .step(Step::Destroy(&["--target", "vault-pe"]))
            .expect(Expect::NotAction("vault-zone", DELETES, SIBLING))
            .expect(Expect::NotAction("vault-zone/vnet", DELETES, SIBLING))
            .expect(Expect::NotAction("vnet/endpoints", DELETES, PARENT))
            .expect(Expect::NotAction("vnet", DELETES, PARENT))
            .expect(Expect::NotAction("vault", DELETES, SIBLING))
            .expect(Expect::Live(VAULT_ZONE, "2024-06-01", "/name", "\"privatelink.vaultcore.azure.net\""))
            .expect(Expect::Live(
                "providers/Microsoft.Network/virtualNetworks/vnet/subnets/endpoints",
                "2024-03-01",
                "/properties/addressPrefix",
                "\"10.0.2.0/24\"",
            )),
        // Everything destroyed: the links before the zone, the NIC with its endpoint before
        // the subnet, the group's contents check counting the NIC as the stack's.
        with_pe("pe_destroy_everything").step(Step::Destroy(&[])),
        // Killed after the first write of the create, then applied again.
        sc("pe_create_killed_then_reapply")
            .once(AKS_SUBNET_END, WITH_PE_SUBNET)
            .once(END, WITH_PE)
            .step(Step::Twice(First::Killed)),
        // The `private_endpoints:` shorthand: endpoints made from the storage account's entry
        // are planned and applied like hand-written ones, and removing it deletes them.
        sc("pe_shorthand_create")
            .once(AKS_SUBNET_END, WITH_PE_SUBNET)
            .once(END, WITH_BLOB_ZONES)
            .once(STORE_RULES_END, WITH_STORE_PES)
            .expect(Expect::Live(
                "providers/Microsoft.Network/privateDnsZones/privatelink.file.core.windows.net/A/mistakesstore",
                "2024-06-01",
                "/properties/metadata/creator",
                "\"created by private endpoint /subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/mistakes-rg/providers/Microsoft.Network/privateEndpoints/mistakesstore-pe-file\"",
            )),
        // The account's key renamed: its endpoints' keys follow, their Azure names do not
        // (a move, no writes).
        sc("pe_shorthand_target_key_rename")
            .given(AKS_SUBNET_END, WITH_PE_SUBNET)
            .given(END, WITH_BLOB_ZONES)
            .given(STORE_RULES_END, WITH_STORE_PES)
            .once("  store:\n", "  storage:\n")
            .once("storage_account: store\n", "storage_account: storage\n"),
        sc("pe_shorthand_remove")
            .given(AKS_SUBNET_END, WITH_PE_SUBNET)
            .given(END, WITH_BLOB_ZONES)
            .given(STORE_RULES_END, WITH_STORE_PES)
            .once(WITH_STORE_PES, STORE_RULES_END),
        // The managed network: on with rules; a rule added, changed, removed. Azure's own
        // rules (`Required`, `Dependency`) stay and never show as drift.
        sc("managed_network_on_with_rules")
            .once(WS_END, WITH_MANAGED_NETWORK)
            .expect(AZURE_RULE_KEPT)
            .expect(Expect::Live(
                WS,
                "2024-04-01",
                "/properties/managedNetwork/isolationMode",
                "\"AllowOnlyApprovedOutbound\"",
            )),
        with_mn("outbound_rule_add").expect(AZURE_RULE_KEPT).once(
            "        pypi: { fqdn: pypi.org }\n",
            "        pypi: { fqdn: pypi.org }\n        team-data: { private_endpoint: store, subresource: blob }\n",
        ),
        with_mn("outbound_rule_change")
            .expect(AZURE_RULE_KEPT)
            .once("ports: \"443\"", "ports: \"443,8443\"")
            .expect(Expect::Live(
                "providers/Microsoft.MachineLearningServices/workspaces/mistakes-ws/outboundRules/monitor",
                "2024-04-01",
                "/properties/destination/portRanges",
                "\"443,8443\"",
            )),
        with_mn("outbound_rule_remove").expect(AZURE_RULE_KEPT).once("        pypi: { fqdn: pypi.org }\n", ""),
    ]
}

/// `KEY2` as a JSON string.
const KEY2_JSON: &str = "\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoh13U1gvUXV+YRmWao1TpyrEz2zKoFZHqyPNXHp0AZ contract-2\"";

// ---------------------------------------------------------------------------------------------
// Running a scenario

/// The base spec applied once per test process: the emulator's cloud file and the state
/// directory right after, copied into every scenario.
struct Base {
    text: String,
    cloud: PathBuf,
    state: PathBuf,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        harness::remove_stale_run_dirs();
        let dir = scratch("base");
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract/base.yaml"),
        )
        .expect("tests/contract/base.yaml");
        std::fs::write(dir.join("spec.yaml"), &text).expect("write spec");
        let cloud = dir.join("cloud.json");
        let state = dir.join("state");
        let sim = Sim::start(&cloud, &dir.join("rec"), None);
        let out = moat(
            &dir,
            &sim.url,
            &state,
            &["apply", "spec.yaml", "--auto-approve"],
        );
        assert_eq!(out.code, Some(0), "apply of the base spec:\n{}", out.stderr);
        let out = moat(
            &dir,
            &sim.url,
            &state,
            &["plan", "spec.yaml", "--detailed-exitcode"],
        );
        assert_eq!(
            out.code,
            Some(0),
            "the base spec does not converge:\n{}",
            out.stdout
        );
        drop(sim);
        Base { text, cloud, state }
    })
}

/// What one scenario found.
#[derive(Debug, Clone)]
struct Report {
    name: String,
    writes: usize,
    vanished: usize,
    violations: Vec<Violation>,
    /// moat refused the edit before touching Azure (a located spec error): the first line.
    refused: Option<String>,
    /// How a two-run scenario's first run ended.
    note: Option<String>,
}

impl Report {
    /// The letters of the checks that failed, sorted.
    fn checks(&self) -> String {
        let set: BTreeSet<char> = self.violations.iter().map(|v| v.check).collect();
        set.into_iter().collect()
    }

    fn render(&self) -> String {
        let mut s = format!(
            "{}: {} writes compared, {} vanished resources checked, {} violation(s)\n",
            self.name,
            self.writes,
            self.vanished,
            self.violations.len()
        );
        if let Some(r) = &self.refused {
            s.push_str(&format!("  (refused before touching Azure: {r})\n"));
        }
        if let Some(n) = &self.note {
            s.push_str(&format!("  ({n})\n"));
        }
        for v in &self.violations {
            s.push_str(&format!("  [{}] {}\n", v.check, v.what));
        }
        s
    }
}

/// The error line when `out` is moat refusing the spec with a located error (exit 1, `-->
/// spec.yaml:LINE:COL`): an honest refusal, not a broken promise.
fn refusal(out: &Out) -> Option<String> {
    (out.code == Some(1) && out.stderr.contains("--> spec.yaml:")).then(|| {
        out.stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("error")
            .to_string()
    })
}

/// A failure to run a step at all (plan or apply refused, a crash): check `x`.
fn failed(what: &str, out: &Out) -> Violation {
    Violation {
        check: 'x',
        what: format!("{what} exited {:?}:\n    {}", out.code, out.tail()),
    }
}

fn run(s: &Scenario) -> (Report, PathBuf) {
    let base = base();
    let dir = scratch(s.name);
    let cloud = dir.join("cloud.json");
    let state = dir.join("state");
    let rec = dir.join("rec");
    std::fs::copy(&base.cloud, &cloud).expect("copy the base cloud");
    copy_dir(&base.state, &state);
    std::fs::write(dir.join("spec.yaml"), s.spec(&base.text)).expect("write spec");
    let faults = s.prep.iter().find_map(|p| match p {
        Prep::Faults(json) => {
            let f = dir.join("faults.json");
            std::fs::write(&f, json).expect("write faults");
            Some(f)
        }
        _ => None,
    });
    let mut sim = Sim::start(&cloud, &rec, faults.as_deref());
    let mut violations = Vec::new();
    if !s.given.is_empty() {
        given(
            &dir,
            &sim.url,
            &state,
            &s.start(&base.text),
            &mut violations,
        );
        std::fs::write(dir.join("spec.yaml"), s.spec(&base.text)).expect("write spec");
    }
    for p in &s.prep {
        match p {
            Prep::Patch(id, api, body) => {
                let body: Value = serde_json::from_str(body).expect("patch body");
                let (st, b) = http(
                    &sim.url,
                    "PATCH",
                    &format!("{RG}/{id}?api-version={api}"),
                    Some(&body),
                );
                assert!(st < 300, "{}: out-of-band PATCH of {id}: {st} {b}", s.name);
            }
            Prep::Delete(id, api) => {
                let (st, b) = http(
                    &sim.url,
                    "DELETE",
                    &format!("{RG}/{id}?api-version={api}"),
                    None,
                );
                assert!(st < 300, "{}: out-of-band DELETE of {id}: {st} {b}", s.name);
            }
            Prep::LoseState => std::fs::remove_dir_all(&state).expect("remove state"),
            Prep::Faults(_) => {}
        }
    }
    let before = snapshot(&sim.url);
    let marker = next_seq(&rec);
    let url = sim.url.clone();
    let run_in = |cwd: &Path, args: &[&str]| moat(cwd, &url, &state, args);

    // The step: the plan it executed, and the keys whose changes may legitimately still be
    // pending afterwards (outside a target, destroyed, unreadable).
    let mut refused = None;
    let mut note = None;
    let mut first_run: Option<(PlanView, u64)> = None;
    let mut restarted = false;
    let (plan, pending): (PlanView, BTreeSet<String>) = match &s.step {
        Step::Saved {
            plan_args,
            apply_args,
            elsewhere,
        } => saved(
            &dir,
            &run_in,
            (plan_args, apply_args),
            *elsewhere,
            &mut refused,
            &mut violations,
        ),
        Step::Targeted(args) => {
            let full = run_in(&dir, &["plan", "spec.yaml", "--format", "json"]);
            let full = serde_json::from_str::<Value>(&full.stdout)
                .map(|v| PlanView::from_json(&v))
                .unwrap_or_default();
            let plan = match saved_selection(&dir, &run_in, &[], args, &mut violations) {
                Some(plan) => plan,
                None => {
                    let mut a = vec!["apply", "spec.yaml", "--auto-approve"];
                    a.extend_from_slice(args);
                    let out = run_in(&dir, &a);
                    refused = refusal(&out);
                    if out.code != Some(0) && refused.is_none() {
                        violations.push(failed("apply", &out));
                    }
                    PlanView::from_text(&out.stdout)
                }
            };
            let pending = &full.changed_keys() - &plan.changed_keys();
            (plan, pending)
        }
        Step::Destroy(args) => {
            let plan = match saved_selection(&dir, &run_in, &["--destroy"], args, &mut violations) {
                Some(plan) => plan,
                None => {
                    let mut a = vec!["destroy", "spec.yaml", "--auto-approve"];
                    a.extend_from_slice(args);
                    let out = run_in(&dir, &a);
                    refused = refusal(&out);
                    if out.code != Some(0) && refused.is_none() {
                        violations.push(failed("destroy", &out));
                    }
                    PlanView::from_text(&out.stdout)
                }
            };
            let pending = plan.changed_keys();
            (plan, pending)
        }
        Step::Twice(first) => {
            let out = run_in(
                &dir,
                &[
                    "plan",
                    "spec.yaml",
                    "--out",
                    "plan.json",
                    "--format",
                    "json",
                ],
            );
            if out.code != Some(0) {
                violations.push(failed("the first plan", &out));
            }
            let plan1 = serde_json::from_str::<Value>(&out.stdout)
                .map(|v| PlanView::from_json(&v))
                .unwrap_or_default();
            let apply1 = ["apply", "plan.json", "--auto-approve"];
            note = Some(match first {
                First::Killed => {
                    if harness::kill_after_first_write(&dir, &url, &state, &apply1, &rec, marker) {
                        harness::settle(&rec);
                        "the first apply was killed after its first write".to_string()
                    } else {
                        "the first apply finished before it could be killed".to_string()
                    }
                }
                First::Fails => {
                    let out = run_in(&dir, &apply1);
                    format!("the first apply exited {:?}", out.code)
                }
            });
            if faults.is_some() {
                drop(sim);
                sim = Sim::start(&cloud, &rec, None);
                restarted = true;
            }
            first_run = Some((plan1, next_seq(&rec)));
            let out = moat(
                &dir,
                &sim.url,
                &state,
                &["apply", "spec.yaml", "--auto-approve"],
            );
            if out.code != Some(0) {
                violations.push(failed("the second apply", &out));
            }
            (PlanView::from_text(&out.stdout), BTreeSet::new())
        }
    };
    if faults.is_some() && !restarted {
        drop(sim);
        sim = Sim::start(&cloud, &rec, None);
    }
    let url = sim.url.clone();
    let after = snapshot(&url);
    let writes = writes_since(&rec, marker);
    let (writes_n, promised) = match &first_run {
        None => (check_writes(&plan, &writes, &mut violations), plan.clone()),
        Some((plan1, second_from)) => {
            let (w1, w2): (Vec<_>, Vec<_>) =
                writes.iter().cloned().partition(|w| w.seq < *second_from);
            check_plan(plan1, &mut violations);
            (
                check_writes(plan1, &w1, &mut violations)
                    + check_writes(&plan, &w2, &mut violations),
                plan1.merged(&plan),
            )
        }
    };
    let vanished = check_vanished(&promised, &before, &after, &mut violations);
    check_done(&plan, &after, &mut violations);
    check_plan(&plan, &mut violations);
    if refused.is_none() {
        next_plan(&dir, &url, &state, &pending, &mut violations);
    }
    check_orphans(STACK, &after, &state_ids(&state, STACK), &mut violations);
    check_made_with_gone(&before, &after, &mut violations);
    expectations(s, &url, &plan, refused.as_deref(), &mut violations);
    violations.sort();
    violations.dedup();
    let report = Report {
        name: s.name.to_string(),
        writes: writes_n,
        vanished,
        violations,
        refused,
        note,
    };
    (report, dir)
}

/// Applies the spec a scenario starts from (`given`) and checks that it converges: its
/// failures are the scenario's (`x`, `d`), before the step.
fn given(dir: &Path, url: &str, state: &Path, spec: &str, violations: &mut Vec<Violation>) {
    std::fs::write(dir.join("spec.yaml"), spec).expect("write spec");
    let out = moat(dir, url, state, &["apply", "spec.yaml", "--auto-approve"]);
    if out.code != Some(0) {
        violations.push(failed("apply of the spec the scenario starts from", &out));
        return;
    }
    let out = moat(
        dir,
        url,
        state,
        &["plan", "spec.yaml", "--detailed-exitcode"],
    );
    if out.code != Some(0) {
        violations.push(Violation {
            check: 'd',
            what: format!(
                "the spec the scenario starts from does not converge (plan exited {:?}):\n    {}",
                out.code,
                out.stdout
                    .lines()
                    .filter(|l| l.starts_with("  #"))
                    .collect::<Vec<_>>()
                    .join("\n    ")
            ),
        });
    }
}

/// `plan [--destroy] --target/--exclude … --out plan.json --format json`, then `apply plan.json`,
/// once `plan` takes these flags (issue 12, "targeted destroy semantics"); `None` while the CLI
/// refuses them, and the step falls back to `apply`/`destroy` and the text plan they print.
fn saved_selection(
    dir: &Path,
    run_in: &dyn Fn(&Path, &[&str]) -> Out,
    mode: &[&str],
    args: &[&str],
    violations: &mut Vec<Violation>,
) -> Option<PlanView> {
    let mut a = vec![
        "plan",
        "spec.yaml",
        "--out",
        "plan.json",
        "--format",
        "json",
    ];
    a.extend_from_slice(mode);
    a.extend_from_slice(args);
    let out = run_in(dir, &a);
    if out.code != Some(0) {
        return None;
    }
    let plan = serde_json::from_str::<Value>(&out.stdout)
        .map(|v| PlanView::from_json(&v))
        .unwrap_or_default();
    let out = run_in(dir, &["apply", "plan.json", "--auto-approve"]);
    if out.code != Some(0) {
        violations.push(failed("apply of the saved plan", &out));
    }
    Some(plan)
}

/// `plan --out`, then `apply PLANFILE`; checks (f) that a plan with an unreadable resource
/// exits 1 and cannot be applied.
fn saved(
    dir: &Path,
    run_in: &dyn Fn(&Path, &[&str]) -> Out,
    (plan_args, apply_args): (&[&str], &[&str]),
    elsewhere: bool,
    refused: &mut Option<String>,
    violations: &mut Vec<Violation>,
) -> (PlanView, BTreeSet<String>) {
    let mut a = vec![
        "plan",
        "spec.yaml",
        "--out",
        "plan.json",
        "--format",
        "json",
    ];
    a.extend_from_slice(plan_args);
    let out = run_in(dir, &a);
    let plan = serde_json::from_str::<Value>(&out.stdout)
        .map(|v| PlanView::from_json(&v))
        .unwrap_or_default();
    let unreadable: BTreeSet<String> = plan
        .entries
        .iter()
        .filter(|e| e.action == "unreadable")
        .map(|e| e.key.clone())
        .collect();
    if !unreadable.is_empty() && out.code == Some(0) {
        violations.push(Violation {
            check: 'f',
            what: format!("plan exited 0 although it could not read {unreadable:?}"),
        });
    }
    if unreadable.is_empty() && out.code != Some(0) {
        *refused = refusal(&out);
        if refused.is_none() {
            violations.push(failed("plan", &out));
        }
        return (plan, BTreeSet::new());
    }
    let planfile = dir.join("plan.json");
    if !planfile.exists() {
        return (plan, unreadable);
    }
    let cwd = if elsewhere {
        let d = dir.join("elsewhere");
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    } else {
        dir.to_path_buf()
    };
    let planfile = planfile.to_str().expect("UTF-8 path").to_string();
    let mut a = vec!["apply", planfile.as_str(), "--auto-approve"];
    a.extend_from_slice(apply_args);
    let out = run_in(&cwd, &a);
    if !unreadable.is_empty() {
        if out.code == Some(0) {
            violations.push(Violation {
                check: 'f',
                what: format!("apply accepted a plan that could not read {unreadable:?}"),
            });
        }
    } else if out.code != Some(0) {
        violations.push(failed("apply of the saved plan", &out));
    }
    (plan, unreadable)
}

/// (d) The next plan says "No changes", apart from what the step left pending on purpose.
fn next_plan(
    dir: &Path,
    url: &str,
    state: &Path,
    pending: &BTreeSet<String>,
    violations: &mut Vec<Violation>,
) {
    let out = moat(
        dir,
        url,
        state,
        &[
            "plan",
            "spec.yaml",
            "--detailed-exitcode",
            "--format",
            "json",
        ],
    );
    match out.code {
        Some(0) => {}
        Some(2) => {
            let next = serde_json::from_str::<Value>(&out.stdout)
                .map(|v| PlanView::from_json(&v))
                .unwrap_or_default();
            let extra: Vec<String> = next
                .entries
                .iter()
                .filter(|e| (e.writes() || e.action == "unreadable") && !pending.contains(&e.key))
                .map(|e| format!("`{}` {}", e.key, e.action))
                .collect();
            if !extra.is_empty() {
                violations.push(Violation {
                    check: 'd',
                    what: format!("the next plan is not \"No changes\": {}", extra.join(", ")),
                });
            }
        }
        _ => violations.push(failed("the next plan", &out)),
    }
}

/// (g) The scenario's own expectations.
fn expectations(
    s: &Scenario,
    url: &str,
    plan: &PlanView,
    refused: Option<&str>,
    violations: &mut Vec<Violation>,
) {
    for e in &s.expect {
        match e {
            Expect::Live(id, api, pointer, want) => {
                let want: Value = serde_json::from_str(want).expect("expected JSON");
                let (st, body) = http(url, "GET", &format!("{RG}/{id}?api-version={api}"), None);
                let got = body.pointer(pointer).cloned().unwrap_or(Value::Null);
                if st != 200 || got != want {
                    violations.push(Violation {
                        check: 'g',
                        what: format!("after apply, {} has {pointer} = {got} (GET {st}); the spec says {want}", short(id)),
                    });
                }
            }
            Expect::Refused(text) => {
                if !refused.is_some_and(|r| r.contains(text)) {
                    violations.push(Violation {
                        check: 'g',
                        what: format!(
                            "the step was not refused with \"{text}\" (refusal: {refused:?})"
                        ),
                    });
                }
            }
            Expect::Action(key, action, why) => {
                let entry = plan.get(key);
                if entry.is_none_or(|e| {
                    e.action != *action || !e.reasons.iter().any(|r| r.contains(why))
                }) {
                    violations.push(Violation {
                        check: 'g',
                        what: format!(
                            "the plan gives `{key}` {:?} with reasons {:?}; expected {action} because \"{why}\"",
                            entry.map(|e| &e.action),
                            entry.map(|e| &e.reasons)
                        ),
                    });
                }
            }
            Expect::NotAction(key, actions, why) => {
                if let Some(entry) = plan.get(key)
                    && actions.contains(&entry.action.as_str())
                {
                    violations.push(Violation {
                        check: 'g',
                        what: format!("the plan gives `{key}` {}: {why}", entry.action),
                    });
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tests

/// Reports of the scenarios run so far in this process; the last one prints the totals.
static REPORTS: Mutex<Vec<Report>> = Mutex::new(Vec::new());

fn scenario(name: &str) {
    let all = catalogue();
    let s = all
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario `{name}` in the catalogue"));
    let (report, dir) = run(s);
    let text = report.render();
    println!("{text}");
    record(report.clone(), all.len());
    let got = report.checks();
    match KNOWN_VIOLATIONS.iter().find(|k| k.0 == name) {
        None => assert!(
            got.is_empty(),
            "{name} violates the plan contract (checks {got}):\n{text}"
        ),
        Some((_, _, item)) if got.is_empty() => panic!(
            "{name} now passes: remove it from KNOWN_VIOLATIONS (it was waiting for issue 12: {item})"
        ),
        Some((_, listed, item)) => assert_eq!(
            *listed, got,
            "{name}: KNOWN_VIOLATIONS lists checks {listed} (issue 12: {item}), it now fails {got}; update the list:\n{text}"
        ),
    }
    // Kept when the test fails, for a look at the spec, plan, recording and state.
    let _ = std::fs::remove_dir_all(dir);
}

/// Keeps the report; once every scenario has reported, writes the totals to
/// `target/tmp/plan-contract-<pid>/report.txt` and prints them.
fn record(report: Report, total: usize) {
    let mut all = REPORTS.lock().unwrap_or_else(|e| e.into_inner());
    all.push(report);
    if all.len() < total {
        return;
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let writes: usize = all.iter().map(|r| r.writes).sum();
    let vanished: usize = all.iter().map(|r| r.vanished).sum();
    let violating = all.iter().filter(|r| !r.violations.is_empty()).count();
    let mut text = format!(
        "plan contract: {} scenarios, {writes} writes compared, {vanished} vanished resources checked, {violating} scenarios violate\n\n",
        all.len()
    );
    for r in all.iter() {
        text.push_str(&r.render());
    }
    let path = harness::run_dir().join("report.txt");
    let _ = std::fs::write(&path, &text);
    // Where the closing-note figures are found after a full run, whatever the pid was.
    let _ = std::fs::write(
        harness::run_dir().with_file_name("plan-contract-report.txt"),
        &text,
    );
    println!("{text}\n(written to {})", path.display());
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                scenario(stringify!($name));
            }
        )*
        /// Every scenario of the catalogue has its test and every test its scenario.
        const TESTS: &[&str] = &[$(stringify!($name)),*];
    };
}

scenarios!(
    repro_1_key_rename_deletes_workspace,
    repro_2_destroy_target_subnet_destroys_parent,
    repro_3_storage_rename_leaks_old_account,
    repro_4_ssh_key_change_plans_no_changes,
    repro_5_unreadable_treated_as_unchanged,
    repro_6_saved_plan_without_its_vars,
    saved_plan_vars_in_another_order,
    saved_plan_applied_from_another_directory,
    repro_7_aks_scale_replaces_cluster,
    key_rename_compute,
    key_rename_storage,
    key_rename_storage_to_another_group,
    key_rename_vnet,
    key_rename_nsg,
    key_rename_route_table,
    key_rename_resource_group,
    key_rename_aks_cluster,
    key_rename_insights,
    name_change_workspace,
    name_change_vault,
    name_change_compute,
    name_change_nsg,
    name_change_route_table,
    name_change_subnet,
    name_change_subnet_targeted,
    name_change_aks_cluster,
    name_change_insights,
    name_change_resource_group,
    name_change_resource_group_and_vault,
    replace_requested_aks_cluster,
    replace_requested_workspace_takes_its_computes,
    replace_requested_protected_is_refused,
    remove_compute,
    remove_attachment,
    remove_aks_subnet_and_users,
    ml_extension_add,
    attached_load_balancer_internal,
    remove_route_table_and_association,
    immutable_storage_hns,
    immutable_vault_retention,
    immutable_workspace_hbi,
    immutable_compute_vm_size,
    immutable_aks_service_cidr,
    immutable_insights_location,
    subnet_prefix_change_in_use,
    move_compute_between_subnets,
    nsg_add_rule,
    nsg_remove_rule,
    route_next_hop_change,
    route_remove,
    tag_edit_stack_wide,
    tag_add_one_resource,
    apply_target_one_of_two_edits,
    apply_exclude_one_of_two_edits,
    destroy_target_nsg,
    destroy_target_compute,
    destroy_exclude_workspace,
    destroy_everything,
    fault_transient_503_on_vnet_put,
    fault_throttled_reads,
    fault_failed_lro_then_reapply,
    crash_kill_9_mid_apply_then_reapply,
    crash_kill_9_mid_replacement_then_reapply,
    drift_storage_firewall_opened,
    drift_tags_removed,
    deleted_out_of_band_insights,
    deleted_out_of_band_compute,
    lost_state_directory,
    protect_refuses_replacement,
    protect_refuses_targeted_destroy,
    pe_create_with_zone_group,
    pe_key_rename,
    pe_name_change,
    pe_dns_zones_changed,
    pe_dns_zones_removed,
    pe_dns_zones_added,
    pe_zone_link_add,
    pe_zone_link_remove,
    pe_delete,
    pe_destroy_target,
    pe_destroy_everything,
    pe_subnet_change_with_nic_name,
    pe_subnet_renamed,
    pe_vnet_update,
    pe_subnet_update,
    pe_zone_key_rename,
    pe_zone_name_change,
    pe_zone_link_vnet_key_rename,
    pe_create_killed_then_reapply,
    pe_shorthand_create,
    pe_shorthand_target_key_rename,
    pe_shorthand_remove,
    managed_network_on_with_rules,
    outbound_rule_add,
    outbound_rule_change,
    outbound_rule_remove,
);

#[test]
fn catalogue_tests_and_known_violations_agree() {
    let names: BTreeSet<&str> = catalogue().iter().map(|s| s.name).collect();
    let tests: BTreeSet<&str> = TESTS.iter().copied().collect();
    assert_eq!(
        names, tests,
        "every scenario needs its #[test] (the `scenarios!` list)"
    );
    assert!(names.len() >= 25, "issue 12 asks for at least 25 scenarios");
    for (name, checks, item) in KNOWN_VIOLATIONS {
        assert!(
            names.contains(name),
            "KNOWN_VIOLATIONS names `{name}`, which is not a scenario"
        );
        assert!(
            !item.is_empty() && !checks.is_empty(),
            "`{name}`: say which item fixes it and which checks fail"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The harness's own checks, on hand-made inputs: each must be able to fail.

const G: &str = "/subscriptions/s/resourceGroups/g/providers";

fn seen(id: &str, tags: &[(&str, &str)]) -> (String, harness::Seen) {
    (
        id.to_ascii_lowercase(),
        harness::Seen {
            id: id.to_string(),
            kind: String::new(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            made_by: None,
        },
    )
}

fn sent(method: &str, id: &str) -> harness::Sent {
    harness::Sent {
        seq: 0,
        method: method.to_string(),
        path: id.to_ascii_lowercase(),
        status: 200,
        carries: Vec::new(),
    }
}

fn toy_plan() -> PlanView {
    PlanView::from_json(&serde_json::json!({ "resources": [
        { "key": "vnet", "kind": "virtual_network", "id": format!("{G}/Microsoft.Network/virtualNetworks/v"), "action": "no_op" },
        { "key": "nsg", "kind": "network_security_group", "id": format!("{G}/Microsoft.Network/networkSecurityGroups/n"), "action": "update" },
        { "key": "ws", "kind": "ml_workspace", "id": format!("{G}/Microsoft.MachineLearningServices/workspaces/w"), "action": "delete", "destructive": true },
        { "key": "old", "kind": "storage_account", "id": format!("{G}/Microsoft.Storage/storageAccounts/s"), "action": "no_op" },
        { "key": "new", "kind": "storage_account", "id": format!("{G}/Microsoft.Storage/storageAccounts/s"), "action": "delete" }
    ] }))
}

#[test]
fn harness_flags_writes_the_plan_did_not_list() {
    let plan = toy_plan();
    let mut v = Vec::new();
    let n = check_writes(
        &plan,
        &[
            sent("PUT", &format!("{G}/Microsoft.Network/virtualNetworks/v")),
            sent(
                "DELETE",
                &format!("{G}/Microsoft.Network/networkSecurityGroups/n/securityRules/r"),
            ),
            sent(
                "DELETE",
                &format!("{G}/Microsoft.MachineLearningServices/workspaces/w"),
            ),
            sent("PUT", &format!("{G}/Microsoft.KeyVault/vaults/k")),
            sent(
                "DELETE",
                &format!("{G}/Microsoft.Storage/storageAccounts/S"),
            ),
        ],
        &mut v,
    );
    assert_eq!(n, 5);
    let what: Vec<&str> = v.iter().map(|v| v.what.as_str()).collect();
    assert_eq!(
        what,
        [
            "PUT microsoft.network/virtualnetworks/v (200): the plan lists it `vnet` as no_op",
            "PUT microsoft.keyvault/vaults/k (200): the plan does not list this resource",
        ],
        "a rule written through its updated NSG, a planned delete and a delete of an ID one key deletes are fine"
    );
}

#[test]
fn harness_counts_a_vnet_put_that_carries_planned_subnet_changes_as_those_writes() {
    let vnet = format!("{G}/Microsoft.Network/virtualNetworks/v");
    let plan = PlanView::from_json(&serde_json::json!({ "resources": [
        { "key": "vnet", "kind": "virtual_network", "id": vnet, "action": "no_op" },
        { "key": "vnet/a", "kind": "subnet", "id": format!("{vnet}/subnets/a"), "action": "update" },
        { "key": "vnet/b", "kind": "subnet", "id": format!("{vnet}/subnets/b"), "action": "no_op" }
    ] }));
    let body = |names: &[&str]| {
        serde_json::json!({ "properties": { "subnets": names
            .iter()
            .map(|n| serde_json::json!({ "name": n, "properties": { "addressPrefix": "10.0.0.0/24" } }))
            .collect::<Vec<_>>() } })
    };
    let put = |names: &[&str]| harness::Sent {
        carries: harness::carried(&vnet.to_ascii_lowercase(), &body(names)),
        ..sent("PUT", &vnet)
    };
    assert_eq!(
        put(&["A", "b"]).carries,
        [
            format!("{vnet}/subnets/a").to_ascii_lowercase(),
            format!("{vnet}/subnets/b").to_ascii_lowercase()
        ]
    );
    // Carrying the planned update of `a` (and `b` through as it is): the write of `a`.
    let mut v = Vec::new();
    check_writes(&plan, &[put(&["a", "b"])], &mut v);
    assert!(v.is_empty(), "{v:?}");
    let a = plan.get("vnet/a").unwrap();
    assert_eq!(harness::writes_of(a, &[put(&["a", "b"])]).len(), 1);
    // Carrying only unchanged subnets, the PUT of a no-op VNet is a write nobody planned.
    check_writes(&plan, &[put(&["b"])], &mut v);
    assert_eq!(
        v.iter().map(|v| v.what.as_str()).collect::<Vec<_>>(),
        ["PUT microsoft.network/virtualnetworks/v (200): the plan lists it `vnet` as no_op"]
    );
    // Only a VNet's own PUT carries subnets: a subnet's body is not read for children.
    assert!(
        harness::carried(
            &format!("{vnet}/subnets/a").to_ascii_lowercase(),
            &body(&["x"])
        )
        .is_empty()
    );
}

#[test]
fn harness_flags_disappearances_the_plan_did_not_list() {
    let plan = toy_plan();
    let before: Snapshot = [
        seen(
            &format!("{G}/Microsoft.Network/virtualNetworks/v/subnets/a"),
            &[],
        ),
        seen(
            &format!("{G}/Microsoft.Network/networkSecurityGroups/n/securityRules/r"),
            &[],
        ),
        seen(
            &format!("{G}/Microsoft.MachineLearningServices/workspaces/w"),
            &[],
        ),
        seen(
            &format!("{G}/Microsoft.MachineLearningServices/workspaces/w/computes/c"),
            &[],
        ),
    ]
    .into_iter()
    .collect();
    let mut v = Vec::new();
    assert_eq!(check_vanished(&plan, &before, &Snapshot::new(), &mut v), 4);
    let what: Vec<&str> = v.iter().map(|v| v.what.as_str()).collect();
    assert_eq!(
        what,
        [
            "Microsoft.MachineLearningServices/workspaces/w/computes/c vanished but the plan does not list it",
            "Microsoft.Network/virtualNetworks/v/subnets/a vanished but the plan does not list it",
        ],
        "a subnet or a compute needs its own entry; an NSG rule goes with its parent's update"
    );
}

#[test]
fn harness_flags_orphans_stale_state_and_double_keys() {
    let after: Snapshot = [
        seen(
            &format!("{G}/Microsoft.Storage/storageAccounts/s"),
            &[("moat-stack", STACK)],
        ),
        seen(
            &format!("{G}/Microsoft.Storage/storageAccounts/t"),
            &[("moat-stack", "other")],
        ),
    ]
    .into_iter()
    .collect();
    let state = [(
        format!("{G}/Microsoft.KeyVault/vaults/k").to_ascii_lowercase(),
        "vault".to_string(),
    )]
    .into_iter()
    .collect();
    let mut v = Vec::new();
    check_orphans(STACK, &after, &state, &mut v);
    check_plan(&toy_plan(), &mut v);
    let what: Vec<String> = v
        .iter()
        .map(|v| format!("[{}] {}", v.check, v.what))
        .collect();
    assert_eq!(
        what,
        [
            format!("[e] Microsoft.Storage/storageAccounts/s is tagged `moat-stack: {STACK}` but the state does not own it"),
            "[e] the state owns `vault` (microsoft.keyvault/vaults/k) but it does not exist".to_string(),
            "[f] the plan lists microsoft.storage/storageaccounts/s `old` as no_op and `new` as delete".to_string(),
            "[f] delete of `new` (storage_account) is not marked `destructive: true`".to_string(),
        ]
    );
}

#[test]
fn harness_reads_the_text_plan_that_apply_and_destroy_print() {
    let text = format!(
        "moat will perform these actions on stack `s` (subscription x):\n\n  # cpu (aml_compute) will be destroyed\n    - {G}/Microsoft.MachineLearningServices/workspaces/w/computes/cpu\n\n  # vnet/training (subnet) will be destroyed\n    # removed with virtual network `vnet`\n    - {G}/Microsoft.Network/virtualNetworks/v/subnets/training\n\n  # store (storage_account) must be replaced\n  -/+ {G}/Microsoft.Storage/storageAccounts/s\n        ~ name: a → b  # forces replacement\n\n  # rg (resource_group) will be updated in place\n    ~ /subscriptions/s/resourceGroups/g\n\nPlan: 0 to add, 1 to change, 1 to replace, 2 to destroy.\n"
    );
    let plan = PlanView::from_text(&text);
    let got: Vec<(String, String)> = plan
        .entries
        .iter()
        .map(|e| (e.key.clone(), e.action.clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("cpu", "delete"),
        ("vnet/training", "delete"),
        ("store", "replace"),
        ("rg", "update"),
    ]
    .iter()
    .map(|(k, a)| (k.to_string(), a.to_string()))
    .collect();
    assert_eq!(got, want);
    assert_eq!(
        plan.entries[1].ids,
        [
            format!("{G}/Microsoft.Network/virtualNetworks/v/subnets/training")
                .to_ascii_lowercase()
        ]
    );
}

#[test]
fn harness_holds_a_replacement_to_deleting_the_old_id() {
    let plan = PlanView::from_json(&serde_json::json!({ "resources": [
        { "key": "store", "kind": "storage_account", "id": format!("{G}/Microsoft.Storage/storageAccounts/new"),
          "old_id": format!("{G}/Microsoft.Storage/storageAccounts/old"), "action": "replace", "destructive": true },
        { "key": "ws", "kind": "ml_workspace", "id": format!("{G}/Microsoft.MachineLearningServices/workspaces/w"),
          "moved_from_id": format!("{G}/Microsoft.MachineLearningServices/workspaces/w"), "action": "move" }
    ] }));
    let after: Snapshot = [
        seen(&format!("{G}/Microsoft.Storage/storageAccounts/new"), &[]),
        seen(&format!("{G}/Microsoft.Storage/storageAccounts/old"), &[]),
        seen(
            &format!("{G}/Microsoft.MachineLearningServices/workspaces/w"),
            &[],
        ),
    ]
    .into_iter()
    .collect();
    let mut v = Vec::new();
    check_done(&plan, &after, &mut v);
    let what: Vec<&str> = v.iter().map(|v| v.what.as_str()).collect();
    assert_eq!(
        what,
        ["`store` was planned as replace but Microsoft.Storage/storageAccounts/old still exists"],
        "a move keeps its ID; a replacement under a new name must delete the old one"
    );
}

#[test]
fn harness_lets_what_azure_made_go_with_its_planned_owner_only() {
    let pe = format!("{G}/Microsoft.Network/privateEndpoints/pe");
    let group = format!("{pe}/privateDnsZoneGroups/default");
    let nic = format!("{G}/Microsoft.Network/networkInterfaces/pe.nic.1");
    let record = format!("{G}/Microsoft.Network/privateDnsZones/z/A/r");
    let ws = format!("{G}/Microsoft.MachineLearningServices/workspaces/w");
    let sys = format!("{ws}/outboundRules/__SYS_ST_x");
    let made = |id: &str, owner: &str, on_update: bool| {
        let (k, mut s) = seen(id, &[]);
        s.made_by = Some((owner.to_ascii_lowercase(), on_update));
        (k, s)
    };
    let before: Snapshot = [
        seen(&pe, &[]),
        seen(&group, &[]),
        made(&nic, &pe, false),
        made(&record, &group, true),
        seen(&ws, &[]),
        made(&sys, &ws, false),
    ]
    .into_iter()
    .collect();
    let gone = |keep: &[&str]| -> Snapshot {
        before
            .iter()
            .filter(|(k, _)| keep.iter().any(|x| x.eq_ignore_ascii_case(k)))
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    };
    let plan = |pe_action: &str, group_action: &str, ws_action: &str| {
        PlanView::from_json(&serde_json::json!({ "resources": [
            { "key": "pe", "kind": "private_endpoint", "id": pe, "action": pe_action },
            { "key": "pe/dns_zones", "kind": "private_dns_zone_group", "id": group, "action": group_action },
            { "key": "ws", "kind": "ml_workspace", "id": ws, "action": ws_action }
        ] }))
    };
    let found = |plan: &PlanView, after: &Snapshot| {
        let mut v = Vec::new();
        check_vanished(plan, &before, after, &mut v);
        v.into_iter().map(|v| v.what).collect::<Vec<_>>()
    };
    // The endpoint deleted: its NIC and its group's record go along.
    let after = gone(&[&ws, &sys]);
    assert_eq!(
        found(&plan("delete", "delete", "no_op"), &after),
        Vec::<String>::new()
    );
    // The zone group rewritten: its record may go; the endpoint kept: its NIC may not.
    let after = gone(&[&pe, &group, &nic, &ws, &sys]);
    assert_eq!(
        found(&plan("no_op", "update", "no_op"), &after),
        Vec::<String>::new()
    );
    let after = gone(&[&pe, &group, &record, &ws, &sys]);
    assert_eq!(
        found(&plan("update", "no_op", "no_op"), &after),
        ["Microsoft.Network/networkInterfaces/pe.nic.1 vanished but the plan does not list it"]
    );
    // A workspace update never takes Azure's own outbound rules.
    let after = gone(&[&pe, &group, &nic, &record, &ws]);
    assert_eq!(
        found(&plan("no_op", "no_op", "update"), &after),
        [
            "Microsoft.MachineLearningServices/workspaces/w/outboundRules/__SYS_ST_x vanished but the plan does not list it"
        ]
    );
    // What Azure made does not outlive its owner.
    let mut v = Vec::new();
    // (Read afterwards, no live owner claims the NIC.)
    let after: Snapshot = gone(&[&ws, &sys])
        .into_iter()
        .chain([seen(&nic, &[])])
        .collect();
    check_made_with_gone(&before, &after, &mut v);
    assert_eq!(
        v.iter().map(|v| v.what.as_str()).collect::<Vec<_>>(),
        [
            "Microsoft.Network/networkInterfaces/pe.nic.1, which Azure made for Microsoft.Network/privateEndpoints/pe, outlived it"
        ]
    );
    assert_eq!(
        harness::type_of(&group),
        "microsoft.network/privateendpoints/privatednszonegroups"
    );
}
