//! The service tags list of a region (`ServiceTags_List`), with the tags an Azure ML network
//! needs and stable, realistic-looking prefixes.

use crate::util::stable_hash;
use serde_json::{Value, json};

const GLOBAL_TAGS: &[(&str, &str)] = &[
    ("AzureMachineLearning", "AzureMachineLearning"),
    ("BatchNodeManagement", "BatchNodeManagement"),
    ("Storage", "AzureStorage"),
    ("AzureContainerRegistry", "AzureContainerRegistry"),
    ("AzureKeyVault", "AzureKeyVault"),
    ("AzureActiveDirectory", "AzureAD"),
    ("AzureResourceManager", "AzureResourceManager"),
    ("AzureMonitor", "AzureMonitor"),
    ("MicrosoftContainerRegistry", "MicrosoftContainerRegistry"),
    ("AzureFrontDoor.FirstParty", "AzureFrontDoor"),
];

const REGIONAL: &[&str] = &[
    "AzureMachineLearning",
    "BatchNodeManagement",
    "Storage",
    "AzureContainerRegistry",
    "AzureKeyVault",
    "AzureMonitor",
    "AzureCloud",
];

fn prefixes(seed: &str, n: usize) -> Vec<String> {
    let h = stable_hash(seed);
    let mut out = Vec::new();
    for i in 0..n as u64 {
        let x = h.rotate_left((i * 13) as u32);
        let first = [13u64, 20, 40, 51, 52, 104][(x % 6) as usize];
        out.push(format!(
            "{first}.{}.{}.0/{}",
            (x >> 8) % 256,
            ((x >> 16) % 64) * 4,
            22 + (x >> 24) % 7
        ));
    }
    out.push(format!(
        "2603:10{:02x}:{:x}::/64",
        h % 256,
        (h >> 8) % 0xffff
    ));
    out
}

/// Body of `GET …/locations/{loc}/serviceTags`.
pub fn list(sub: &str, location: &str) -> Value {
    let mut values = Vec::new();
    for (name, system) in GLOBAL_TAGS {
        values.push(json!({
            "name": name,
            "id": name,
            "properties": {"changeNumber": "12", "region": "", "systemService": system, "addressPrefixes": prefixes(name, 6)}
        }));
    }
    for base in REGIONAL {
        let name = format!("{base}.{location}");
        let system = GLOBAL_TAGS
            .iter()
            .find(|(n, _)| n == base)
            .map(|(_, s)| *s)
            .unwrap_or("");
        values.push(json!({
            "name": name,
            "id": name,
            "properties": {"changeNumber": "7", "region": location, "systemService": system, "addressPrefixes": prefixes(&name, 3)}
        }));
    }
    json!({
        "name": "public",
        "id": format!("/subscriptions/{sub}/providers/Microsoft.Network/serviceTags/public"),
        "type": "Microsoft.Network/serviceTags",
        "changeNumber": "97",
        "cloud": "Public",
        "values": values,
    })
}
