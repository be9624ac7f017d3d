#!/usr/bin/env python3
"""What teams do today without moat: provision examples/secure-ml-workspace.yaml with the
Azure SDK for Python, `begin_create_or_update(...).result()` on each resource, in one of two
ways (`--mode`):

- `sequential`: one resource after another, in an order that respects the dependencies;
- `threaded`: what a competent team writes when the sequential script is too slow: a thread
  pool over the dependency graph, each resource submitted as soon as the ones it needs are
  done (`concurrent.futures`, one worker per resource).

Both create exactly the example's resources with the example's settings; `moat-bench` compares
what the emulator holds afterwards with what moat left, property by property.

Run by `moat-bench` against moat's emulator (plain HTTP on loopback). Prints one JSON object
on stdout: {"mode", "seconds": wall time of the provisioning, "requests": HTTP requests sent,
"steps": [[name, seconds], ...]}.

Things that differ from a script aimed at Azure, because the emulator is local or so that the
comparison with moat is fair:
- Authentication: the SDK's bearer-token policy refuses plain http. Every client gets
  `authentication_policy=DevToken()`, a pipeline policy that sets a fixed development token;
  this is the supported way to replace a client's authentication policy.
- Polling: the script polls by moat's rules for a loopback endpoint: the server's
  `Retry-After` / `retry-after-ms` when it sends one (at least 50 ms), 200 ms when it sends
  none. azure-core treats `Retry-After: 0` (what the emulator sends at small time scales) as
  absent and would fall back to `polling_interval`, so the script replaces the poller's delay
  rule (`LROBasePolling._extract_delay`) with moat's; no other SDK behaviour is changed.
The api-versions are the ones moat sends (shared/arm/README.md), passed with `api_version=`
(to the client, or per call for the network client, whose operations take it that way).
"""

import argparse
import json
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.polling.base_polling import LROBasePolling
from azure.core.pipeline.policies._utils import get_retry_after
from azure.mgmt.applicationinsights import ApplicationInsightsManagementClient
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient

API = {
    "resources": "2024-07-01",
    "network": "2024-03-01",
    "storage": "2023-05-01",
    "keyvault": "2023-07-01",
    "insights": "2020-02-02",
    "ml": "2024-04-01",
    "aks": "2024-08-01",
}


# moat's polling rule on a loopback endpoint (ClientConfig::for_endpoint in moat-arm).
MIN_POLL = 0.05
DEFAULT_POLL = 0.2


def moat_poll_delay(self):
    """The server's wait when it names one (0 included), never under MIN_POLL; else DEFAULT_POLL."""
    delay = get_retry_after(self._pipeline_response)
    if delay is None:
        return DEFAULT_POLL
    return max(delay, MIN_POLL)


LROBasePolling._extract_delay = moat_poll_delay


class DevToken(SansIOHTTPPolicy):
    """Sends the emulator's development token and counts requests (from several threads)."""

    def __init__(self):
        super().__init__()
        self.requests = 0
        self._lock = threading.Lock()

    def on_request(self, request):
        with self._lock:
            self.requests += 1
        request.http_request.headers["Authorization"] = "Bearer moat-bench-development-token"


class NoCredential:
    """The clients require a credential object; the policy above replaces its use."""

    def get_token(self, *scopes, **kwargs):
        raise RuntimeError("the emulator needs no real token")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--subscription", required=True)
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--prefix", default="mlsec")
    ap.add_argument("--mode", choices=["sequential", "threaded"], default="sequential")
    ap.add_argument("--spec", choices=["secure", "wide"], default="secure")
    args = ap.parse_args()

    auth = DevToken()
    common = dict(
        base_url=args.endpoint,
        authentication_policy=auth,
        polling_interval=DEFAULT_POLL,
    )
    cred = NoCredential()
    sub = args.subscription
    resources = ResourceManagementClient(cred, sub, api_version=API["resources"], **common)
    network = NetworkManagementClient(cred, sub, **common)
    storage = StorageManagementClient(cred, sub, api_version=API["storage"], **common)
    keyvault = KeyVaultManagementClient(cred, sub, api_version=API["keyvault"], **common)
    insights = ApplicationInsightsManagementClient(cred, sub, api_version=API["insights"], **common)
    ml = MachineLearningServicesMgmtClient(cred, sub, api_version=API["ml"], **common)
    aks = ContainerServiceClient(cred, sub, api_version=API["aks"], **common)

    p = args.prefix
    loc = "eastus2"
    tags = {"team": "ml-platform"}
    rg = f"{p}-rg"
    base = f"/subscriptions/{sub}/resourceGroups/{rg}/providers"
    nsg_id = lambda n: f"{base}/Microsoft.Network/networkSecurityGroups/{n}"  # noqa: E731
    vnet_id = f"{base}/Microsoft.Network/virtualNetworks/vnet"
    training = f"{vnet_id}/subnets/training"

    def rule(name, priority, source, ports):
        props = {
            "priority": priority,
            "direction": "Inbound",
            "access": "Allow",
            "protocol": "Tcp",
            "sourceAddressPrefix": source,
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
        }
        if len(ports) == 1:
            props["destinationPortRange"] = ports[0]
        else:
            props["destinationPortRanges"] = ports
        return {"name": name, "properties": props}

    # name -> (names it needs, the call); declared in an order that respects the needs.
    plan = {}

    def step(name, needs, fn):
        assert all(n in plan for n in needs), name
        plan[name] = (needs, fn)

    if args.spec == "wide":
        declare_wide(step, rule, args, resources, network, storage, keyvault)
    else:
        step("rg", [], lambda: resources.resource_groups.create_or_update(
            rg, {"location": loc, "tags": tags}))
        step("training-nsg", ["rg"], lambda: network.network_security_groups.begin_create_or_update(
            rg, "training-nsg", {"location": loc, "tags": tags, "properties": {"securityRules": [
                rule("batch-node-management", 100, "BatchNodeManagement", ["29876-29877"]),
                rule("azure-ml", 110, "AzureMachineLearning", ["44224"]),
            ]}}, api_version=API["network"]).result())
        step("aks-nsg", ["rg"], lambda: network.network_security_groups.begin_create_or_update(
            rg, "aks-nsg", {"location": loc, "tags": tags, "properties": {"securityRules": [
                rule("azure-ml", 100, "AzureMachineLearning", ["443"]),
                rule("scoring", 110, "VirtualNetwork", ["80", "443"]),
            ]}}, api_version=API["network"]).result())
        step("egress", ["rg"], lambda: network.route_tables.begin_create_or_update(
            rg, "egress", {"location": loc, "tags": tags, "properties": {"routes": [
                {"name": "batch", "properties": {
                    "addressPrefix": "BatchNodeManagement.eastus2", "nextHopType": "Internet"}},
                {"name": "azure-ml", "properties": {
                    "addressPrefix": "AzureMachineLearning", "nextHopType": "Internet"}},
                {"name": "default", "properties": {
                    "addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance",
                    "nextHopIpAddress": "10.0.0.4"}},
            ]}}, api_version=API["network"]).result())
        # The subnets go inline with the VNet: one write instead of three.
        step("vnet", ["training-nsg", "aks-nsg", "egress"], lambda: network.virtual_networks.begin_create_or_update(
            rg, "vnet", {"location": loc, "tags": tags, "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [
                    {"name": "training", "properties": {
                        "addressPrefix": "10.0.1.0/24",
                        "networkSecurityGroup": {"id": nsg_id("training-nsg")},
                        "routeTable": {"id": f"{base}/Microsoft.Network/routeTables/egress"},
                        "serviceEndpoints": [
                            {"service": "Microsoft.Storage"}, {"service": "Microsoft.KeyVault"}],
                    }},
                    {"name": "aks", "properties": {
                        "addressPrefix": "10.0.16.0/20",
                        "networkSecurityGroup": {"id": nsg_id("aks-nsg")},
                        "serviceEndpoints": [{"service": "Microsoft.Storage"}],
                    }},
                ]}}, api_version=API["network"]).result())
        acl = {"defaultAction": "Deny", "bypass": "AzureServices",
               "virtualNetworkRules": [{"id": training}]}
        # The store admits the AKS subnet too (inference nodes download models from it).
        store_acl = dict(acl, virtualNetworkRules=[{"id": training}, {"id": f"{vnet_id}/subnets/aks"}],
                         ipRules=[{"value": "203.0.113.0/28", "action": "Allow"}])
        step("store", ["vnet"], lambda: storage.storage_accounts.begin_create(
            rg, f"{p}store", {"location": loc, "tags": tags, "sku": {"name": "Standard_LRS"},
                              "kind": "StorageV2", "properties": {
                                  "accessTier": "Hot", "supportsHttpsTrafficOnly": True,
                                  "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False,
                                  "networkAcls": store_acl}}).result())
        step("vault", ["vnet"], lambda: keyvault.vaults.begin_create_or_update(
            rg, f"{p}-vault", {"location": loc, "tags": tags, "properties": {
                "tenantId": args.tenant, "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": True, "softDeleteRetentionInDays": 90,
                "networkAcls": acl}}).result())
        step("insights", ["rg"], lambda: insights.components.create_or_update(
            rg, "insights", {"location": loc, "tags": tags, "kind": "web",
                             "properties": {"Application_Type": "web"}}))
        ws = "secure-ml-ws"
        step("ws", ["store", "vault", "insights"], lambda: ml.workspaces.begin_create_or_update(
            rg, ws, {"location": loc, "tags": tags, "identity": {"type": "SystemAssigned"},
                     "properties": {
                         "storageAccount": f"{base}/Microsoft.Storage/storageAccounts/{p}store",
                         "keyVault": f"{base}/Microsoft.KeyVault/vaults/{p}-vault",
                         "applicationInsights": f"{base}/Microsoft.Insights/components/insights",
                     }}).result())
        step("cpu-cluster", ["ws", "vnet"], lambda: ml.machine_learning_compute.begin_create_or_update(
            rg, ws, "cpu-cluster", {"location": loc, "tags": tags, "properties": {
                "computeType": "AmlCompute", "properties": {
                    "vmSize": "STANDARD_D2_V2", "vmPriority": "Dedicated",
                    "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4,
                                      "nodeIdleTimeBeforeScaleDown": "PT2M"},
                    "subnet": {"id": training}, "remoteLoginPortPublicAccess": "Disabled"}}}
        ).result())
        aks_id = f"{base}/Microsoft.ContainerService/managedClusters/aks"
        step("aks", ["vnet"], lambda: aks.managed_clusters.begin_create_or_update(
            rg, "aks", {"location": loc, "tags": tags, "identity": {"type": "SystemAssigned"},
                        "properties": {
                            "dnsPrefix": "aks",
                            "agentPoolProfiles": [{
                                "name": "system", "count": 3, "vmSize": "Standard_D3_v2",
                                "mode": "System", "osType": "Linux",
                                "type": "VirtualMachineScaleSets",
                                "vnetSubnetID": f"{vnet_id}/subnets/aks"}],
                            "networkProfile": {"networkPlugin": "azure", "loadBalancerSku": "standard",
                                               "serviceCidr": "10.1.0.0/16",
                                               "dnsServiceIP": "10.1.0.10"},
                            "enableRBAC": True}}).result())
        step("inference", ["ws", "aks"], lambda: ml.machine_learning_compute.begin_create_or_update(
            rg, ws, "inference", {"location": loc, "tags": tags, "properties": {
                "computeType": "AKS", "resourceId": aks_id,
                "properties": {"clusterPurpose": "FastProd"}}}).result())
    run = run_threaded if args.mode == "threaded" else run_sequential
    started = time.perf_counter()
    steps = run(plan)
    seconds = time.perf_counter() - started
    json.dump({"mode": args.mode, "seconds": seconds, "requests": auth.requests,
               "steps": steps}, sys.stdout)
    print()


def declare_wide(step, rule, args, resources, network, storage, keyvault):
    """moat-bench's wide VNet (`specgen::grid("wide", 1)`): a route table, ten NSGs, a VNet
    with ten subnets (each behind its NSG; `s0` routed and with the Storage and Key Vault
    service endpoints), five storage accounts and five key vaults firewalled to `s0`."""
    sub, loc, tags = args.subscription, "eastus2", {"team": "bench"}
    rg = "wide-rg0"
    base = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"
    api = {"api_version": API["network"]}
    step("rg0", [], lambda: resources.resource_groups.create_or_update(
        rg, {"location": loc, "tags": tags}))
    step("rt0", ["rg0"], lambda: network.route_tables.begin_create_or_update(
        rg, "rt0", {"location": loc, "tags": tags, "properties": {"routes": [
            {"name": "default", "properties": {
                "addressPrefix": "0.0.0.0/0", "nextHopType": "Internet"}}]}}, **api).result())
    nsgs = [f"nsg0-{j}" for j in range(10)]
    for n in nsgs:
        step(n, ["rg0"], lambda n=n: network.network_security_groups.begin_create_or_update(
            rg, n, {"location": loc, "tags": tags, "properties": {"securityRules": [
                rule("https", 100, "VirtualNetwork", ["443"])]}}, **api).result())

    def subnet(j):
        props = {"addressPrefix": f"10.0.{j}.0/24",
                 "networkSecurityGroup": {"id": f"{base}/networkSecurityGroups/nsg0-{j}"}}
        if j == 0:
            props["routeTable"] = {"id": f"{base}/routeTables/rt0"}
            props["serviceEndpoints"] = [
                {"service": "Microsoft.Storage"}, {"service": "Microsoft.KeyVault"}]
        return {"name": f"s{j}", "properties": props}

    step("vnet0", ["rt0"] + nsgs, lambda: network.virtual_networks.begin_create_or_update(
        rg, "vnet0", {"location": loc, "tags": tags, "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/20"]},
            "subnets": [subnet(j) for j in range(10)]}}, **api).result())
    acl = {"defaultAction": "Deny", "bypass": "AzureServices",
           "virtualNetworkRules": [{"id": f"{base}/virtualNetworks/vnet0/subnets/s0"}]}
    for j in range(5):
        step(f"st0-{j}", ["vnet0"], lambda j=j: storage.storage_accounts.begin_create(
            rg, f"bst0x{j}", {"location": loc, "tags": tags, "sku": {"name": "Standard_LRS"},
                              "kind": "StorageV2", "properties": {
                                  "accessTier": "Hot", "supportsHttpsTrafficOnly": True,
                                  "minimumTlsVersion": "TLS1_2",
                                  "allowBlobPublicAccess": False,
                                  "networkAcls": acl}}).result())
    for j in range(5):
        step(f"kv0-{j}", ["vnet0"], lambda j=j: keyvault.vaults.begin_create_or_update(
            rg, f"bkv-0-{j}", {"location": loc, "tags": tags, "properties": {
                "tenantId": args.tenant, "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": True, "softDeleteRetentionInDays": 90,
                "networkAcls": acl}}).result())


def timed(name, fn):
    t = time.perf_counter()
    fn()
    return [name, round(time.perf_counter() - t, 4)]


def run_sequential(plan):
    return [timed(name, fn) for name, (_, fn) in plan.items()]


def run_threaded(plan):
    """Submits each resource once everything it needs is done; stops at the first failure."""
    done, steps, running = set(), [], {}
    with ThreadPoolExecutor(max_workers=len(plan)) as pool:
        while len(done) < len(plan):
            for name, (needs, fn) in plan.items():
                if name not in done and name not in running.values() \
                        and all(n in done for n in needs):
                    running[pool.submit(timed, name, fn)] = name
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                steps.append(f.result())  # re-raises the resource's error
                done.add(running.pop(f))
    return steps


if __name__ == "__main__":
    main()
