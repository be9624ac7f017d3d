//! Which ARM endpoint moat talks to, and what that implies: the Entra authority, the token
//! scope, and whether plain `http` and credential-less access are allowed (loopback only).
//!
//! [`Egress`] is the one rule every outbound request of moat (ARM and Blob Storage) passes
//! before a connection is opened: a real credential goes only over https to a host of the
//! selected cloud (or one the user allowed on the command line or in the environment, never
//! from a spec); plain http goes only to a literal loopback address and carries at most a
//! public development credential (moat's fixed ARM token, Azurite's published key).

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use azure_core::cloud::CloudConfiguration;
use azure_core::http::Url;
use serde::{Deserialize, Serialize};

use crate::error::ArmError;

/// A sovereign Azure cloud with its own ARM endpoint and Entra authority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cloud {
    /// Azure public cloud (`management.azure.com`).
    AzurePublic,
    /// Azure operated by 21Vianet in China (`management.chinacloudapi.cn`).
    AzureChina,
    /// Azure US Government (`management.usgovcloudapi.net`).
    AzureUSGovernment,
}

impl Cloud {
    /// The ARM endpoint of this cloud.
    pub fn arm_endpoint(self) -> &'static str {
        match self {
            Cloud::AzurePublic => "https://management.azure.com/",
            Cloud::AzureChina => "https://management.chinacloudapi.cn/",
            Cloud::AzureUSGovernment => "https://management.usgovcloudapi.net/",
        }
    }

    /// The Entra (Azure AD) authority host credentials of this cloud ask for tokens.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::AzurePublic => "https://login.microsoftonline.com/",
            Cloud::AzureChina => "https://login.chinacloudapi.cn/",
            Cloud::AzureUSGovernment => "https://login.microsoftonline.us/",
        }
    }

    /// The OAuth scope of an ARM token in this cloud.
    pub fn token_scope(self) -> &'static str {
        match self {
            Cloud::AzurePublic => "https://management.azure.com/.default",
            Cloud::AzureChina => "https://management.chinacloudapi.cn/.default",
            Cloud::AzureUSGovernment => "https://management.usgovcloudapi.net/.default",
        }
    }

    /// The DNS suffix of this cloud's storage endpoints (`core.windows.net`).
    pub fn storage_suffix(self) -> &'static str {
        match self {
            Cloud::AzurePublic => "core.windows.net",
            Cloud::AzureChina => "core.chinacloudapi.cn",
            Cloud::AzureUSGovernment => "core.usgovcloudapi.net",
        }
    }

    fn sdk_configuration(self) -> CloudConfiguration {
        match self {
            Cloud::AzurePublic => CloudConfiguration::AzurePublic,
            Cloud::AzureChina => CloudConfiguration::AzureChina,
            Cloud::AzureUSGovernment => CloudConfiguration::AzureGovernment,
        }
    }
}

impl FromStr for Cloud {
    type Err = ArmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "azurepublic" | "public" | "azurecloud" => Ok(Cloud::AzurePublic),
            "azurechina" | "china" | "azurechinacloud" => Ok(Cloud::AzureChina),
            "azureusgovernment" | "usgovernment" | "usgov" | "azureusgovernmentcloud" => {
                Ok(Cloud::AzureUSGovernment)
            }
            _ => Err(ArmError::Config {
                message: format!(
                    "unknown cloud `{s}` (expected `AzurePublic`, `AzureChina` or `AzureUSGovernment`)"
                ),
            }),
        }
    }
}

/// Where ARM requests go: a known cloud or an arbitrary URL (`--arm-endpoint`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// One of the Azure clouds.
    Cloud(Cloud),
    /// Any ARM-compatible endpoint, e.g. the local emulator `http://127.0.0.1:8080`.
    Custom(Url),
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint::Cloud(Cloud::AzurePublic)
    }
}

impl Endpoint {
    /// Parses the value of `--arm-endpoint` / `MOAT_ARM_ENDPOINT`: a URL, or a cloud name.
    pub fn parse(value: &str) -> Result<Endpoint, ArmError> {
        if let Ok(cloud) = value.parse::<Cloud>() {
            return Ok(Endpoint::Cloud(cloud));
        }
        let url = Url::parse(value).map_err(|e| ArmError::Config {
            message: format!("invalid ARM endpoint `{value}`: {e}"),
        })?;
        let endpoint = Endpoint::Custom(url);
        endpoint.validate()?;
        Ok(endpoint)
    }

    /// The base URL every ARM path is joined onto (always ends with `/`).
    pub fn url(&self) -> Url {
        match self {
            // The constants are valid URLs; a parse failure would be a typo caught by tests.
            Endpoint::Cloud(cloud) => {
                Url::parse(cloud.arm_endpoint()).unwrap_or_else(|_| unreachable_url())
            }
            Endpoint::Custom(url) => {
                let mut url = url.clone();
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                url.set_query(None);
                url.set_fragment(None);
                url
            }
        }
    }

    /// The OAuth scope of tokens for this endpoint (`<endpoint>/.default`).
    pub fn token_scope(&self) -> String {
        match self {
            Endpoint::Cloud(cloud) => cloud.token_scope().to_owned(),
            Endpoint::Custom(url) => {
                let origin = url.origin().ascii_serialization();
                format!("{origin}/.default")
            }
        }
    }

    /// The cloud configuration handed to azure_identity credentials: it picks the authority host.
    /// `None` for a custom endpoint, so `AZURE_AUTHORITY_HOST` (or the public cloud) applies.
    pub fn sdk_cloud(&self) -> Option<Arc<CloudConfiguration>> {
        match self {
            Endpoint::Cloud(cloud) => Some(Arc::new(cloud.sdk_configuration())),
            Endpoint::Custom(_) => None,
        }
    }

    /// Whether this endpoint is on the local machine (then no credentials are used).
    pub fn is_loopback(&self) -> bool {
        match self {
            Endpoint::Cloud(_) => false,
            Endpoint::Custom(url) => is_loopback(url),
        }
    }

    /// Rejects endpoints moat must not talk to: anything but `https`, except on loopback.
    pub fn validate(&self) -> Result<(), ArmError> {
        let Endpoint::Custom(url) = self else {
            return Ok(());
        };
        match url.scheme() {
            "https" => Ok(()),
            "http" if is_loopback(url) => Ok(()),
            "http" => Err(ArmError::Config {
                message: format!(
                    "ARM endpoint `{url}` must use https (plain http is only allowed on a loopback address such as 127.0.0.1)"
                ),
            }),
            other => Err(ArmError::Config {
                message: format!("ARM endpoint `{url}` has unsupported scheme `{other}`"),
            }),
        }
    }

    /// The cloud this endpoint belongs to; a custom endpoint counts as the public cloud, so
    /// its storage hosts are `*.blob.core.windows.net`.
    pub fn cloud(&self) -> Cloud {
        match self {
            Endpoint::Cloud(cloud) => *cloud,
            Endpoint::Custom(_) => Cloud::AzurePublic,
        }
    }
}

fn unreachable_url() -> Url {
    // Only reached if a constant above were malformed; `about:blank` always parses.
    Url::parse("about:blank").unwrap_or_else(|_| std::process::abort())
}

/// The environment variable (and `--allow-endpoint`) that lets real credentials go to an
/// https endpoint outside the selected cloud — a private DNS name, an Azure Stack hub. It is
/// read from the process only: a spec can never set it.
pub const ALLOW_ENDPOINT_ENV: &str = "MOAT_ALLOW_ENDPOINT";

/// The service a request is for; each has its own trusted hosts in a cloud.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Azure Resource Manager: exactly the cloud's ARM host.
    Arm,
    /// Azure Blob Storage: `*.blob.<storage suffix>`.
    Blob,
}

impl Service {
    fn noun(self) -> &'static str {
        match self {
            Service::Arm => "an ARM token",
            Service::Blob => "a storage credential",
        }
    }
}

/// What a request carries that its receiver could use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carries {
    /// No credential at all.
    Nothing,
    /// A credential that is public by design: moat's fixed development token, or the Azurite
    /// emulator's published account key (or a signature made with it).
    Development,
    /// A real Entra token, a real account key, or a Shared Key signature made with one (a
    /// signature can be replayed for a while, so it is a credential too).
    Real,
}

/// Where credentials may go: the hosts of one cloud, plus the https origins the user allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Egress {
    cloud: Cloud,
    allowed: Vec<String>,
}

impl Egress {
    /// Only the hosts of `cloud`.
    pub fn new(cloud: Cloud) -> Egress {
        Egress {
            cloud,
            allowed: Vec::new(),
        }
    }

    /// The selected cloud.
    pub fn cloud(&self) -> Cloud {
        self.cloud
    }

    /// Also lets real credentials go to `value`'s origin, which must be an https URL.
    pub fn allow(&mut self, value: &str) -> Result<(), ArmError> {
        let url = Url::parse(value.trim()).map_err(|e| ArmError::Config {
            message: format!("allowed endpoint `{value}` is not a URL: {e}"),
        })?;
        if url.scheme() != "https" {
            return Err(ArmError::Config {
                message: format!(
                    "allowed endpoint `{value}` must use https (credentials never go over plain http)"
                ),
            });
        }
        self.allowed.push(url.origin().ascii_serialization());
        Ok(())
    }

    /// [`Egress::new`] plus every comma-separated origin of [`ALLOW_ENDPOINT_ENV`] in `env`.
    pub fn from_env(cloud: Cloud, env: &crate::EnvLookup) -> Result<Egress, ArmError> {
        let mut egress = Egress::new(cloud);
        for value in env(ALLOW_ENDPOINT_ENV).unwrap_or_default().split(',') {
            if !value.trim().is_empty() {
                egress.allow(value)?;
            }
        }
        Ok(egress)
    }

    /// Whether a request for `service` carrying `carries` may be sent to `url`; the error says
    /// why not. Called before any connection is opened.
    pub fn check(&self, service: Service, url: &Url, carries: Carries) -> Result<(), ArmError> {
        let origin = url.origin().ascii_serialization();
        let refuse = |why: String| {
            Err(ArmError::Config {
                message: format!("refusing to send {} to `{origin}`: {why}", service.noun()),
            })
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(url) => {
                return match carries {
                    Carries::Nothing | Carries::Development => Ok(()),
                    Carries::Real => refuse(match service {
                        Service::Blob => format!(
                            "plain http carries only the Azurite emulator's development key \
                             (account `{AZURITE_ACCOUNT}`); use https with a real account"
                        ),
                        Service::Arm => "plain http carries only the emulator's development \
                                         token; use https"
                            .to_owned(),
                    }),
                };
            }
            "http" => {
                return refuse(
                    "plain http is only allowed to a literal loopback address \
                     (127.0.0.1, [::1], localhost)"
                        .to_owned(),
                );
            }
            other => return refuse(format!("unsupported scheme `{other}`")),
        }
        if carries != Carries::Real || self.allowed.contains(&origin) {
            return Ok(());
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        let (trusted, pattern) = match service {
            Service::Arm => {
                let arm = Url::parse(self.cloud.arm_endpoint()).ok();
                let arm_host = arm.as_ref().and_then(Url::host_str).unwrap_or_default();
                (
                    host == arm_host && url.port().is_none(),
                    arm_host.to_owned(),
                )
            }
            Service::Blob => {
                let suffix = format!(".blob.{}", self.cloud.storage_suffix());
                (
                    host.len() > suffix.len() && host.ends_with(&suffix) && url.port().is_none(),
                    format!("*{suffix}"),
                )
            }
        };
        if trusted {
            return Ok(());
        }
        refuse(format!(
            "it is not a host of {:?} (`{pattern}`); if you trust it, allow it with \
             `--allow-endpoint {origin}` or `{ALLOW_ENDPOINT_ENV}={origin}` (a spec cannot)",
            self.cloud
        ))
    }
}

/// The Azurite emulator's development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";

/// True when `url` points at this machine by a literal address — `127.0.0.0/8`, `[::1]` — or
/// is `localhost` itself. Other names under `.localhost` do not count: they are resolved by
/// DNS like any other name, so nothing guarantees they stay on this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain
            .trim_end_matches('.')
            .eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Whether two URLs share scheme, host and port, or are both on loopback: the only hosts a
/// poll URL from a response may point at, so a token is never sent to a host we did not pick.
pub(crate) fn same_authority(endpoint: &Url, other: &Url) -> bool {
    endpoint.origin() == other.origin() || (is_loopback(endpoint) && is_loopback(other))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    #[test]
    fn clouds_have_endpoint_authority_and_scope() {
        for cloud in [
            Cloud::AzurePublic,
            Cloud::AzureChina,
            Cloud::AzureUSGovernment,
        ] {
            let endpoint = Endpoint::Cloud(cloud);
            assert_eq!(endpoint.url().as_str(), cloud.arm_endpoint());
            assert!(cloud.authority_host().starts_with("https://login."));
            assert_eq!(
                endpoint.token_scope(),
                format!("{}.default", cloud.arm_endpoint())
            );
            assert!(!endpoint.is_loopback());
            assert!(endpoint.sdk_cloud().is_some());
        }
        assert_eq!(
            Cloud::AzureUSGovernment.authority_host(),
            "https://login.microsoftonline.us/"
        );
        assert_eq!(
            Cloud::AzureChina.token_scope(),
            "https://management.chinacloudapi.cn/.default"
        );
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback(&url("http://127.0.0.1:8080")));
        assert!(is_loopback(&url("http://127.8.9.1/")));
        assert!(is_loopback(&url("http://localhost:1")));
        assert!(is_loopback(&url("http://LOCALHOST./")));
        assert!(is_loopback(&url("http://[::1]:9/")));
        assert!(!is_loopback(&url("http://10.0.0.1/")));
        assert!(!is_loopback(&url("https://management.azure.com/")));
        assert!(!is_loopback(&url("http://localhost.example.com/")));
        // Resolved by DNS like any other name: not loopback by name.
        assert!(!is_loopback(&url("http://evil.localhost:10000/")));
        assert!(!is_loopback(&url("http://a.b.localhost./")));
    }

    #[test]
    fn real_credentials_go_only_to_the_clouds_hosts_over_https() {
        let public = Egress::new(Cloud::AzurePublic);
        let ok = |e: &Egress, s: Service, u: &str, c: Carries| e.check(s, &url(u), c).is_ok();
        // Blob: the cloud's storage suffix, https, default port.
        assert!(ok(
            &public,
            Service::Blob,
            "https://acct.blob.core.windows.net/c/b",
            Carries::Real
        ));
        assert!(ok(
            &public,
            Service::Blob,
            "https://a.privatelink.blob.core.windows.net/",
            Carries::Real
        ));
        assert!(!ok(
            &public,
            Service::Blob,
            "https://blob.core.windows.net/",
            Carries::Real
        ));
        assert!(!ok(
            &public,
            Service::Blob,
            "https://acct.blob.core.windows.net.evil.com/",
            Carries::Real
        ));
        assert!(!ok(
            &public,
            Service::Blob,
            "https://acct.blob.core.windows.net:8443/",
            Carries::Real
        ));
        assert!(!ok(
            &public,
            Service::Blob,
            "https://acct.blob.core.chinacloudapi.cn/",
            Carries::Real
        ));
        assert!(ok(
            &Egress::new(Cloud::AzureChina),
            Service::Blob,
            "https://acct.blob.core.chinacloudapi.cn/",
            Carries::Real
        ));
        assert!(!ok(
            &public,
            Service::Blob,
            "https://storage.example.com/",
            Carries::Real
        ));
        // ARM: exactly the cloud's ARM host.
        assert!(ok(
            &public,
            Service::Arm,
            "https://management.azure.com/x",
            Carries::Real
        ));
        assert!(!ok(
            &public,
            Service::Arm,
            "https://management.azure.com.evil.com/",
            Carries::Real
        ));
        // Plain http: loopback literals only, and never a real credential.
        assert!(ok(
            &public,
            Service::Blob,
            "http://127.0.0.1:10000/devstoreaccount1",
            Carries::Development
        ));
        assert!(ok(
            &public,
            Service::Arm,
            "http://[::1]:8080/",
            Carries::Development
        ));
        assert!(!ok(
            &public,
            Service::Blob,
            "http://127.0.0.1:10000/evil",
            Carries::Real
        ));
        assert!(!ok(
            &public,
            Service::Blob,
            "http://evil.localhost:10000/",
            Carries::Development
        ));
        assert!(!ok(
            &public,
            Service::Blob,
            "http://acct.blob.core.windows.net/",
            Carries::Nothing
        ));
        // What is public may go anywhere over https.
        assert!(ok(
            &public,
            Service::Blob,
            "https://storage.example.com/",
            Carries::Development
        ));
        assert!(!ok(
            &public,
            Service::Blob,
            "ftp://127.0.0.1/",
            Carries::Nothing
        ));
    }

    #[test]
    fn the_refusal_says_why_and_how_to_allow() {
        let public = Egress::new(Cloud::AzurePublic);
        let e = public
            .check(
                Service::Blob,
                &url("https://evil.example.com/x"),
                Carries::Real,
            )
            .expect_err("foreign host");
        let text = e.to_string();
        assert!(
            text.contains("refusing to send a storage credential to `https://evil.example.com`"),
            "{text}"
        );
        assert!(text.contains("*.blob.core.windows.net"), "{text}");
        assert!(
            text.contains("MOAT_ALLOW_ENDPOINT=https://evil.example.com"),
            "{text}"
        );
        let e = public
            .check(
                Service::Blob,
                &url("http://127.0.0.1:1/evil"),
                Carries::Real,
            )
            .expect_err("http");
        assert!(e.to_string().contains("development key"), "{e}");
    }

    #[test]
    fn allowed_endpoints_are_https_origins_from_the_environment() {
        let env: crate::EnvLookup = Arc::new(|name: &str| {
            (name == ALLOW_ENDPOINT_ENV).then(|| {
                "https://state.corp.example:8443/ignored/path, https://other.example".to_owned()
            })
        });
        let egress = Egress::from_env(Cloud::AzurePublic, &env).expect("egress");
        let real = |u: &str| egress.check(Service::Blob, &url(u), Carries::Real).is_ok();
        assert!(real("https://state.corp.example:8443/c/b"));
        assert!(real("https://other.example/c"));
        assert!(!real("https://state.corp.example/c/b"));
        assert!(!real("http://other.example/c"));
        let mut e = Egress::new(Cloud::AzurePublic);
        assert!(e.allow("http://127.0.0.1:1").is_err());
        assert!(e.allow("not a url").is_err());
    }

    #[test]
    fn http_only_on_loopback() {
        assert!(Endpoint::parse("http://127.0.0.1:4000").is_ok());
        assert!(Endpoint::parse("https://arm.example.com").is_ok());
        let err = Endpoint::parse("http://arm.example.com").expect_err("http must be refused");
        assert!(err.to_string().contains("must use https"), "{err}");
        assert!(Endpoint::parse("ftp://127.0.0.1").is_err());
        assert!(Endpoint::parse("not a url").is_err());
    }

    #[test]
    fn parse_accepts_cloud_names() {
        assert_eq!(
            Endpoint::parse("AzureUSGovernment").ok(),
            Some(Endpoint::Cloud(Cloud::AzureUSGovernment))
        );
        assert_eq!(
            Endpoint::parse("azure-china").ok(),
            Some(Endpoint::Cloud(Cloud::AzureChina))
        );
    }

    #[test]
    fn custom_endpoint_normalizes_and_scopes() {
        let endpoint = Endpoint::Custom(url("https://arm.example.com/base?x=1"));
        assert_eq!(endpoint.url().as_str(), "https://arm.example.com/base/");
        assert_eq!(endpoint.token_scope(), "https://arm.example.com/.default");
        assert!(endpoint.sdk_cloud().is_none());
    }

    #[test]
    fn poll_urls_must_stay_on_the_endpoint() {
        let arm = url("https://management.azure.com/");
        assert!(same_authority(
            &arm,
            &url("https://management.azure.com/subscriptions/x/operationresults/y")
        ));
        assert!(!same_authority(&arm, &url("https://evil.example.com/op")));
        assert!(!same_authority(
            &arm,
            &url("http://management.azure.com/op")
        ));
        assert!(same_authority(
            &url("http://localhost:3000/"),
            &url("http://127.0.0.1:3000/op")
        ));
    }
}
