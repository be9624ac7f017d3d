//! Which ARM endpoint moat talks to, and what that implies: the Entra authority, the token
//! scope, and whether plain `http` and credential-less access are allowed (loopback only).

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
}

fn unreachable_url() -> Url {
    // Only reached if a constant above were malformed; `about:blank` always parses.
    Url::parse("about:blank").unwrap_or_else(|_| std::process::abort())
}

/// True when `url` points at this machine: `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
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
