//! An offline list of Azure service tags, so that a misspelt tag in an NSG rule or a route is
//! caught before ARM rejects it. Regional variants (`Storage.eastus2`) are derived from the
//! tags that have them and moat's region list. Azure compares tags without regard to case.

use moat_model::regions::REGIONS;
use moat_spec::suggest::did_you_mean;

/// `(tag, has regional variants)`.
pub const SERVICE_TAGS: &[(&str, bool)] = &[
    ("ActionGroup", false),
    ("ApiManagement", true),
    ("AppConfiguration", false),
    ("AppService", true),
    ("AppServiceManagement", false),
    ("AzureActiveDirectory", false),
    ("AzureActiveDirectoryDomainServices", false),
    ("AzureAdvancedThreatProtection", false),
    ("AzureArcInfrastructure", false),
    ("AzureAttestation", false),
    ("AzureBackup", true),
    ("AzureBotService", false),
    ("AzureCloud", true),
    ("AzureCognitiveSearch", false),
    ("AzureConnectors", true),
    ("AzureContainerAppsService", false),
    ("AzureContainerRegistry", true),
    ("AzureCosmosDB", true),
    ("AzureDatabricks", false),
    ("AzureDataExplorerManagement", false),
    ("AzureDataLake", false),
    ("AzureDevOps", false),
    ("AzureDevSpaces", false),
    ("AzureDigitalTwins", false),
    ("AzureEventGrid", false),
    ("AzureFrontDoor.Backend", false),
    ("AzureFrontDoor.FirstParty", false),
    ("AzureFrontDoor.Frontend", false),
    ("AzureHealthcareAPIs", false),
    ("AzureInformationProtection", false),
    ("AzureIoTHub", true),
    ("AzureKeyVault", true),
    ("AzureLoadBalancer", false),
    ("AzureLoadTestingInstanceManagement", false),
    ("AzureMachineLearning", true),
    ("AzureMachineLearningInference", false),
    ("AzureManagedGrafana", false),
    ("AzureMonitor", true),
    ("AzureOpenDatasets", false),
    ("AzurePlatformDNS", false),
    ("AzurePlatformIMDS", false),
    ("AzurePlatformLKM", false),
    ("AzureResourceManager", true),
    ("AzureSignalR", false),
    ("AzureSiteRecovery", true),
    ("AzureSphere", false),
    ("AzureSpringCloud", true),
    ("AzureStack", false),
    ("AzureTrafficManager", false),
    ("AzureUpdateDelivery", false),
    ("AzureWebPubSub", false),
    ("BatchNodeManagement", true),
    ("ChaosStudio", false),
    ("CognitiveServicesFrontend", false),
    ("CognitiveServicesManagement", false),
    ("DataFactory", true),
    ("DataFactoryManagement", false),
    ("Dynamics365ForMarketingEmail", false),
    ("EventHub", true),
    ("GatewayManager", false),
    ("GuestAndHybridManagement", false),
    ("HDInsight", true),
    ("Internet", false),
    ("LogicApps", false),
    ("LogicAppsManagement", false),
    ("M365ManagementActivityApi", false),
    ("MicrosoftAzureFluidRelay", false),
    ("MicrosoftCloudAppSecurity", false),
    ("MicrosoftContainerRegistry", true),
    ("MicrosoftDefenderForEndpoint", false),
    ("MicrosoftPurviewPolicyDistribution", false),
    ("PowerBI", false),
    ("PowerPlatformInfra", false),
    ("PowerPlatformPlex", false),
    ("PowerQueryOnline", false),
    ("Scuba", false),
    ("SerialConsole", false),
    ("ServiceBus", true),
    ("ServiceFabric", false),
    ("Sql", true),
    ("SqlManagement", false),
    ("Storage", true),
    ("StorageSyncService", false),
    ("VideoIndexer", false),
    ("VirtualNetwork", false),
    ("WindowsAdminCenter", false),
    ("WindowsVirtualDesktop", false),
];

/// True when the text looks like a service tag rather than an address (what the model already
/// accepts as one: a letter first, then letters, digits and dots).
pub fn looks_like_tag(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

fn base(name: &str) -> Option<(&'static str, bool)> {
    SERVICE_TAGS
        .iter()
        .copied()
        .find(|(t, _)| t.eq_ignore_ascii_case(name))
}

fn region(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    REGIONS.iter().copied().find(|r| *r == lower)
}

/// True for a known tag or a regional variant of one.
pub fn is_known(tag: &str) -> bool {
    if base(tag).is_some() {
        return true;
    }
    match tag.split_once('.') {
        Some((b, r)) => base(b).is_some_and(|(_, regional)| regional) && region(r).is_some(),
        None => false,
    }
}

/// The closest known spelling of an unknown tag, if one is plausible.
pub fn suggest(tag: &str) -> Option<String> {
    if let Some(s) = did_you_mean(tag, SERVICE_TAGS.iter().map(|(t, _)| *t)) {
        return Some(s.to_string());
    }
    let (b, r) = tag.split_once('.')?;
    let (known_base, regional) = match base(b) {
        Some(found) => found,
        None => {
            let s = did_you_mean(
                b,
                SERVICE_TAGS
                    .iter()
                    .filter(|(_, regional)| *regional)
                    .map(|(t, _)| *t),
            )?;
            (s, true)
        }
    };
    if !regional {
        return Some(known_base.to_string());
    }
    let r = region(r).or_else(|| did_you_mean(&r.to_ascii_lowercase(), REGIONS.iter().copied()))?;
    Some(format!("{known_base}.{r}"))
}

/// The canonical spelling of a base tag (`storage` → `Storage`).
pub fn canonical(tag: &str) -> Option<&'static str> {
    base(tag).map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_tags_and_regional_variants() {
        assert!(is_known("BatchNodeManagement"));
        assert!(is_known("batchnodemanagement.eastus2"));
        assert!(is_known("Storage.EastUS2"));
        assert!(is_known("AzureFrontDoor.Frontend"));
        assert!(is_known("VirtualNetwork"));
        assert!(
            !is_known("VirtualNetwork.eastus2"),
            "VirtualNetwork has no regional variants"
        );
        assert!(!is_known("Storage.mars1"));
        assert!(!is_known("BatchNodeManagment"));
    }

    #[test]
    fn suggests_close_spellings() {
        assert_eq!(
            suggest("BatchNodeManagment").as_deref(),
            Some("BatchNodeManagement")
        );
        assert_eq!(
            suggest("Strage.eastus2").as_deref(),
            Some("Storage.eastus2")
        );
        assert_eq!(
            suggest("Storage.eastus22").as_deref(),
            Some("Storage.eastus2")
        );
        assert_eq!(suggest("Zzzzzz"), None);
        assert!(looks_like_tag("Storage.eastus2"));
        assert!(!looks_like_tag("10.0.0.0/8"));
        assert_eq!(canonical("virtualnetwork"), Some("VirtualNetwork"));
    }
}
