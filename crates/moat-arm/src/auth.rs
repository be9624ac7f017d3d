//! Credentials: the documented chain moat tries (azure_identity has no
//! `DefaultAzureCredential`), the GitHub Actions and Azure Pipelines OIDC assertions, the fixed
//! development token for a loopback emulator, a token cache, and the pipeline policy that
//! attaches the token.
//!
//! `--auth auto` tries, in this order, stopping at the first that yields a token:
//!
//! 1. `env` — a service principal with a client secret: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!    `AZURE_CLIENT_SECRET` (certificates are refused: azure_identity needs OpenSSL for them);
//! 2. `workload-identity` — a federated token file (AKS): `AZURE_FEDERATED_TOKEN_FILE`,
//!    `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`; or the token itself in Terraform's `ARM_OIDC_TOKEN`;
//! 3. `github-oidc` — GitHub Actions' OIDC token exchanged for an Entra token:
//!    `ACTIONS_ID_TOKEN_REQUEST_URL`, `ACTIONS_ID_TOKEN_REQUEST_TOKEN` (the workflow needs
//!    `permissions: id-token: write`), `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`;
//! 4. `azure-pipelines` — an Azure Pipelines service connection with workload identity
//!    federation: `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`, `SYSTEM_OIDCREQUESTURI` (set by the
//!    agent), `SYSTEM_ACCESSTOKEN` (mapped from `$(System.AccessToken)`), and the client and
//!    tenant in `AZURESUBSCRIPTION_CLIENT_ID`/`AZURESUBSCRIPTION_TENANT_ID` (as the `AzureCLI@2`
//!    task sets them) or `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`;
//! 5. `managed-identity` — App Service or the VM's IMDS endpoint (user-assigned when
//!    `AZURE_CLIENT_ID` is set), given a few seconds in `auto` mode;
//! 6. `azure-cli` — `az account get-access-token`.
//!
//! Terraform's names are accepted where moat's are absent, so a pipeline written for the
//! azurerm provider works unchanged: `ARM_CLIENT_ID`, `ARM_TENANT_ID`, `ARM_SUBSCRIPTION_ID`
//! stand in for `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_SUBSCRIPTION_ID` ([`with_fallbacks`]).
//!
//! A source whose variables are absent is skipped. A source that is configured (its variables
//! are set) but fails stops the chain, so a broken CI secret is reported instead of silently
//! falling back to another identity. When nothing works, the error lists every source tried and
//! why it failed. A loopback endpoint never gets real credentials: it is sent [`DEV_TOKEN`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{ClientMethodOptions, ClientOptions, Context, Request, Url};
use azure_core::time::OffsetDateTime;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertion, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};

use crate::cloud::{Carries, Egress, Endpoint, Service, is_loopback};
use crate::error::ArmError;

/// The token sent to a loopback endpoint (the emulator), which needs no real credentials.
pub const DEV_TOKEN: &str = "moat-local-dev-token";

/// The audience GitHub's OIDC token must carry for an Entra federated credential.
pub const GITHUB_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The Azure DevOps REST api-version of the pipelines OIDC token endpoint.
pub const PIPELINES_OIDC_API_VERSION: &str = "7.1";

/// Terraform's variable names (azurerm provider), read when moat's own are absent.
pub const TERRAFORM_FALLBACKS: [(&str, &str); 3] = [
    ("AZURE_CLIENT_ID", "ARM_CLIENT_ID"),
    ("AZURE_TENANT_ID", "ARM_TENANT_ID"),
    ("AZURE_SUBSCRIPTION_ID", "ARM_SUBSCRIPTION_ID"),
];

/// How long `auto` mode gives managed identity before moving on (off Azure, IMDS never answers).
const MANAGED_IDENTITY_PROBE: Duration = Duration::from_secs(2);

/// A token is renewed this long before it expires (or at half its lifetime, if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Which credential to use (`--auth` / `MOAT_AUTH`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AuthChoice {
    /// Try the chain in the documented order.
    #[default]
    Auto,
    /// Service principal with a client secret from the environment.
    Env,
    /// Federated token file (AKS workload identity).
    WorkloadIdentity,
    /// GitHub Actions OIDC.
    GithubOidc,
    /// An Azure Pipelines service connection (workload identity federation).
    AzurePipelines,
    /// Managed identity (App Service, VM).
    ManagedIdentity,
    /// The Azure CLI's login.
    AzureCli,
    /// Send no `Authorization` header at all.
    None,
}

impl AuthChoice {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthChoice::Auto => "auto",
            AuthChoice::Env => "env",
            AuthChoice::WorkloadIdentity => "workload-identity",
            AuthChoice::GithubOidc => "github-oidc",
            AuthChoice::AzurePipelines => "azure-pipelines",
            AuthChoice::ManagedIdentity => "managed-identity",
            AuthChoice::AzureCli => "azure-cli",
            AuthChoice::None => "none",
        }
    }

    /// Every choice, in the order `auto` tries the real ones.
    pub const ALL: [AuthChoice; 8] = [
        AuthChoice::Auto,
        AuthChoice::Env,
        AuthChoice::WorkloadIdentity,
        AuthChoice::GithubOidc,
        AuthChoice::AzurePipelines,
        AuthChoice::ManagedIdentity,
        AuthChoice::AzureCli,
        AuthChoice::None,
    ];
}

impl fmt::Display for AuthChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthChoice {
    type Err = ArmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        AuthChoice::ALL
            .into_iter()
            .find(|c| c.as_str() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = AuthChoice::ALL.iter().map(|c| c.as_str()).collect();
                ArmError::config(format!(
                    "unknown auth method `{s}` (expected one of {})",
                    names.join(", ")
                ))
            })
    }
}

/// Reads environment variables; tests pass a map instead of the process environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment, ignoring empty values.
pub fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// `env` with Terraform's names ([`TERRAFORM_FALLBACKS`]) standing in for moat's when those
/// are absent; moat's own name wins when both are set.
pub fn with_fallbacks(env: &EnvLookup) -> EnvLookup {
    let env = env.clone();
    Arc::new(move |name| {
        env(name).or_else(|| {
            TERRAFORM_FALLBACKS
                .iter()
                .find(|(ours, _)| *ours == name)
                .and_then(|(_, theirs)| env(theirs))
        })
    })
}

/// An OIDC token handed over as a value (Terraform's `ARM_OIDC_TOKEN`), used as it is.
#[derive(Debug)]
struct FixedAssertion(Secret);

#[async_trait::async_trait]
impl ClientAssertion for FixedAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        Ok(self.0.secret().to_owned())
    }
}

/// Builds the HTTP client of an assertion source, which sends a secret to `url`: so `url`
/// must be https unless it is on loopback (tests).
fn assertion_http(variable: &str, url: &str) -> Result<(Url, reqwest::Client), ArmError> {
    let url =
        Url::parse(url).map_err(|e| ArmError::config(format!("{variable} is not a URL: {e}")))?;
    if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
        return Err(ArmError::config(format!("{variable} must use https")));
    }
    crate::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| ArmError::config(format!("cannot build an HTTP client: {e}")))?;
    Ok((url, http))
}

/// A fixed token, for the emulator.
#[derive(Debug)]
pub struct FixedToken(Secret);

impl FixedToken {
    /// A credential that always returns `token`.
    pub fn new(token: impl Into<String>) -> Self {
        FixedToken(Secret::new(token.into()))
    }
}

#[async_trait::async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            self.0.clone(),
            OffsetDateTime::now_utc() + azure_core::time::Duration::hours(24),
        ))
    }
}

/// GitHub Actions' OIDC token, fetched from the runner for each token exchange.
#[derive(Debug)]
pub struct GithubOidcAssertion {
    request_url: Url,
    request_token: Secret,
    http: reqwest::Client,
}

impl GithubOidcAssertion {
    /// An assertion source for `ACTIONS_ID_TOKEN_REQUEST_URL` / `_TOKEN`; the URL must be
    /// https unless it is on loopback (tests), since the request token is sent to it.
    pub fn new(request_url: &str, request_token: Secret) -> Result<Self, ArmError> {
        let (url, http) = assertion_http("ACTIONS_ID_TOKEN_REQUEST_URL", request_url)?;
        Ok(GithubOidcAssertion {
            request_url: url,
            request_token,
            http,
        })
    }

    /// Fetches the OIDC token (a JWT) for the Entra audience.
    pub async fn fetch(&self) -> Result<String, String> {
        let mut url = self.request_url.clone();
        url.query_pairs_mut()
            .append_pair("audience", GITHUB_AUDIENCE);
        let response = self
            .http
            .get(url)
            .bearer_auth(self.request_token.secret())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("cannot reach the Actions OIDC endpoint: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "the Actions OIDC endpoint answered HTTP {}",
                status.as_u16()
            ));
        }
        token_field(response, "the Actions OIDC endpoint", "value").await
    }
}

#[async_trait::async_trait]
impl ClientAssertion for GithubOidcAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.fetch()
            .await
            .map_err(|message| azure_core::Error::with_message(ErrorKind::Credential, message))
    }
}

/// An Azure Pipelines job's OIDC token for a service connection, fetched from the agent's
/// `SYSTEM_OIDCREQUESTURI` with the job's access token for each token exchange.
///
/// azure_identity 1.0.0 has an `AzurePipelinesCredential`, but it reads `SYSTEM_OIDCREQUESTURI`
/// from the process environment itself: the chain could then not read every variable through
/// one [`EnvLookup`] (what it reports missing, what tests pass in). The exchange is small, so it
/// is done here, like [`GithubOidcAssertion`], and handed to `ClientAssertionCredential`.
#[derive(Debug)]
pub struct AzurePipelinesAssertion {
    request_url: Url,
    access_token: Secret,
    http: reqwest::Client,
}

impl AzurePipelinesAssertion {
    /// An assertion source for `SYSTEM_OIDCREQUESTURI`, the service connection's ID and
    /// `SYSTEM_ACCESSTOKEN`; the URL must be https unless it is on loopback (tests).
    pub fn new(
        request_url: &str,
        service_connection_id: &str,
        access_token: Secret,
    ) -> Result<Self, ArmError> {
        let (mut url, http) = assertion_http("SYSTEM_OIDCREQUESTURI", request_url)?;
        url.query_pairs_mut()
            .append_pair("api-version", PIPELINES_OIDC_API_VERSION)
            .append_pair("serviceConnectionId", service_connection_id);
        Ok(AzurePipelinesAssertion {
            request_url: url,
            access_token,
            http,
        })
    }

    /// Fetches the OIDC token (a JWT) for the service connection.
    pub async fn fetch(&self) -> Result<String, String> {
        let response = self
            .http
            .post(self.request_url.clone())
            .bearer_auth(self.access_token.secret())
            // Without it an expired or missing access token gets a 203 sign-in page.
            .header("x-tfs-fedauthredirect", "Suppress")
            .header("accept", "application/json")
            .header("content-length", "0")
            .send()
            .await
            .map_err(|e| format!("cannot reach the Azure Pipelines OIDC endpoint: {e}"))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            // The support reference Azure DevOps asks for when a request fails.
            let reference = response
                .headers()
                .get("x-vss-e2eid")
                .and_then(|v| v.to_str().ok())
                .map(|v| format!(", x-vss-e2eid {v}"))
                .unwrap_or_default();
            return Err(format!(
                "the Azure Pipelines OIDC endpoint answered HTTP {}{reference}: check \
                 AZURESUBSCRIPTION_SERVICE_CONNECTION_ID, that the service connection uses \
                 workload identity federation, and that SYSTEM_ACCESSTOKEN is $(System.AccessToken)",
                status.as_u16()
            ));
        }
        token_field(response, "the Azure Pipelines OIDC endpoint", "oidcToken").await
    }
}

/// The non-empty string `field` of an OIDC endpoint's JSON answer (GitHub's `value`, Azure
/// Pipelines' `oidcToken`), or why there is none.
async fn token_field(
    response: reqwest::Response,
    endpoint: &str,
    field: &str,
) -> Result<String, String> {
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("{endpoint} sent no JSON: {e}"))?;
    body.get(field)
        .and_then(serde_json::Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{endpoint}'s answer has no `{field}`"))
}

#[async_trait::async_trait]
impl ClientAssertion for AzurePipelinesAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.fetch()
            .await
            .map_err(|message| azure_core::Error::with_message(ErrorKind::Credential, message))
    }
}

/// A named credential source for [`Credentials::chain`]: the credential, or why it is unavailable.
pub type NamedSource = (&'static str, Result<Arc<dyn TokenCredential>, String>);

/// One source of the chain: built from the environment, or unavailable with a reason.
struct Candidate {
    name: &'static str,
    credential: Result<Arc<dyn TokenCredential>, String>,
    /// A failure of this configured source stops the chain.
    decisive: bool,
    /// Give up on this source after this long.
    timeout: Option<Duration>,
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("name", &self.name)
            .field("available", &self.credential.is_ok())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct ChainState {
    chosen: Option<usize>,
    cached: Option<(AccessToken, OffsetDateTime)>,
}

/// The credential chain with its token cache. Only one token request runs at a time; every
/// concurrent caller waits for it and shares the result.
#[derive(Debug)]
pub struct Credentials {
    scope: String,
    /// Only ever yields [`DEV_TOKEN`], which is public: it may go over plain http to loopback.
    development: bool,
    candidates: Vec<Candidate>,
    state: tokio::sync::Mutex<ChainState>,
}

fn missing(env: &EnvLookup, names: &[&str]) -> Option<String> {
    let absent: Vec<&str> = names.iter().copied().filter(|n| env(n).is_none()).collect();
    match absent.as_slice() {
        [] => None,
        [one] => Some(format!("{one} is not set")),
        many => Some(format!("{} are not set", many.join(", "))),
    }
}

fn sdk_error_text(e: &azure_core::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Credentials {
    /// The credentials for `endpoint` and `choice`, reading variables through `env` (with
    /// Terraform's names as fallbacks, [`with_fallbacks`]).
    /// A loopback endpoint always gets [`DEV_TOKEN`]. `None` means: send no token.
    pub fn for_endpoint(
        endpoint: &Endpoint,
        choice: AuthChoice,
        env: &EnvLookup,
    ) -> Option<Credentials> {
        let env = &with_fallbacks(env);
        // azure_identity builds its HTTP clients in the constructors.
        crate::install_crypto_provider();
        let scope = endpoint.token_scope();
        if endpoint.is_loopback() {
            return Some(Credentials::fixed(scope, DEV_TOKEN));
        }
        if choice == AuthChoice::None {
            return None;
        }
        let options = ClientOptions {
            cloud: endpoint.sdk_cloud(),
            ..ClientOptions::default()
        };
        let auto = choice == AuthChoice::Auto;
        let wanted = |c: AuthChoice| auto || choice == c;
        let mut candidates = Vec::new();
        if wanted(AuthChoice::Env) {
            candidates.push(env_candidate(env, &options));
        }
        if wanted(AuthChoice::WorkloadIdentity) {
            candidates.push(workload_identity_candidate(env, &options));
        }
        if wanted(AuthChoice::GithubOidc) {
            candidates.push(github_candidate(env, &options));
        }
        if wanted(AuthChoice::AzurePipelines) {
            candidates.push(azure_pipelines_candidate(env, &options));
        }
        if wanted(AuthChoice::ManagedIdentity) {
            let mut c = managed_identity_candidate(env, &options);
            if auto {
                c.timeout = Some(MANAGED_IDENTITY_PROBE);
                c.decisive = false;
            }
            candidates.push(c);
        }
        if wanted(AuthChoice::AzureCli) {
            candidates.push(azure_cli_candidate());
        }
        Some(Credentials::from_candidates(scope, candidates))
    }

    /// Credentials that always send `token`.
    pub fn fixed(scope: impl Into<String>, token: &str) -> Credentials {
        let mut credentials = Credentials::from_candidates(
            scope.into(),
            vec![Candidate {
                name: "development token",
                credential: Ok(Arc::new(FixedToken::new(token))),
                decisive: true,
                timeout: None,
            }],
        );
        credentials.development = token == DEV_TOKEN;
        credentials
    }

    /// Whether these credentials only ever give the public development token.
    pub fn is_development(&self) -> bool {
        self.development
    }

    /// A chain of named credentials (for tests and embedders), tried in order; none decisive.
    pub fn chain(scope: impl Into<String>, sources: Vec<NamedSource>) -> Credentials {
        Credentials::from_candidates(
            scope.into(),
            sources
                .into_iter()
                .map(|(name, credential)| Candidate {
                    name,
                    credential,
                    decisive: false,
                    timeout: None,
                })
                .collect(),
        )
    }

    fn from_candidates(scope: String, candidates: Vec<Candidate>) -> Credentials {
        Credentials {
            scope,
            development: false,
            candidates,
            state: tokio::sync::Mutex::new(ChainState::default()),
        }
    }

    /// The names of the sources, in the order they are tried.
    pub fn sources(&self) -> Vec<&'static str> {
        self.candidates.iter().map(|c| c.name).collect()
    }

    /// The name of the source that produced the current token, once one did.
    pub async fn chosen(&self) -> Option<&'static str> {
        let state = self.state.lock().await;
        state.chosen.map(|i| self.candidates[i].name)
    }

    /// A valid token: the cached one, or a fresh one from the source that worked before, or
    /// from the first source in the chain that works.
    pub async fn token(&self) -> Result<AccessToken, ArmError> {
        let mut state = self.state.lock().await;
        if let Some((token, refresh_at)) = &state.cached
            && OffsetDateTime::now_utc() < *refresh_at
        {
            return Ok(token.clone());
        }
        let order: Vec<usize> = match state.chosen {
            Some(i) => vec![i],
            None => (0..self.candidates.len()).collect(),
        };
        let mut tried = Vec::new();
        for i in order {
            let candidate = &self.candidates[i];
            let credential = match &candidate.credential {
                Ok(c) => c,
                Err(why) => {
                    tried.push((candidate.name.to_owned(), why.clone()));
                    continue;
                }
            };
            let scopes = [self.scope.as_str()];
            let attempt = credential.get_token(&scopes, None);
            let result = match candidate.timeout {
                Some(limit) => match tokio::time::timeout(limit, attempt).await {
                    Ok(r) => r.map_err(|e| sdk_error_text(&e)),
                    Err(_) => Err(format!("no answer within {}s", limit.as_secs())),
                },
                None => attempt.await.map_err(|e| sdk_error_text(&e)),
            };
            match result {
                Ok(token) => {
                    let refresh_at = refresh_time(&token);
                    state.chosen = Some(i);
                    state.cached = Some((token.clone(), refresh_at));
                    return Ok(token);
                }
                Err(why) => {
                    tried.push((candidate.name.to_owned(), why));
                    if candidate.decisive {
                        break;
                    }
                }
            }
        }
        Err(ArmError::Credential { tried })
    }
}

impl Credentials {
    /// The tenant of the current token (its `tid` claim), for defaults such as a key vault's
    /// `tenantId`. `None` when the token is not a JWT (the development token).
    pub async fn tenant_id(&self) -> Result<Option<String>, ArmError> {
        let token = self.token().await?;
        Ok(jwt_claim(token.token.secret(), "tid"))
    }
}

/// Reads one string claim of a JWT's payload without verifying it (it is our own token).
pub(crate) fn jwt_claim(jwt: &str, claim: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64url_decode(payload)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get(claim)?.as_str().map(str::to_owned)
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

fn refresh_time(token: &AccessToken) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let lifetime = token.expires_on - now;
    let margin = azure_core::time::Duration::try_from(REFRESH_MARGIN)
        .unwrap_or(azure_core::time::Duration::minutes(5));
    token.expires_on - margin.min(lifetime / 2)
}

#[async_trait::async_trait]
impl TokenCredential for Credentials {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.token()
            .await
            .map_err(|e| azure_core::Error::new(ErrorKind::Credential, e))
    }
}

fn env_candidate(env: &EnvLookup, options: &ClientOptions) -> Candidate {
    let name = "env (service principal)";
    let credential = (|| {
        if env("AZURE_CLIENT_SECRET").is_none() && env("AZURE_CLIENT_CERTIFICATE_PATH").is_some() {
            return Err("AZURE_CLIENT_CERTIFICATE_PATH is set, but certificate credentials are not supported (they need OpenSSL); use AZURE_CLIENT_SECRET or workload identity".to_owned());
        }
        if let Some(why) = missing(
            env,
            &["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"],
        ) {
            return Err(why);
        }
        let tenant = env("AZURE_TENANT_ID").unwrap_or_default();
        let client = env("AZURE_CLIENT_ID").unwrap_or_default();
        let secret = Secret::new(env("AZURE_CLIENT_SECRET").unwrap_or_default());
        let options = ClientSecretCredentialOptions {
            client_options: options.clone(),
        };
        ClientSecretCredential::new(&tenant, client, secret, Some(options))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| sdk_error_text(&e))
    })();
    Candidate {
        name,
        credential,
        decisive: true,
        timeout: None,
    }
}

fn workload_identity_candidate(env: &EnvLookup, options: &ClientOptions) -> Candidate {
    let credential = (|| {
        // Terraform's `ARM_OIDC_TOKEN` carries the token itself rather than a file's path.
        if env("AZURE_FEDERATED_TOKEN_FILE").is_none()
            && let Some(token) = env("ARM_OIDC_TOKEN")
        {
            if let Some(why) = missing(env, &["AZURE_CLIENT_ID", "AZURE_TENANT_ID"]) {
                return Err(format!("ARM_OIDC_TOKEN is set, but {why}"));
            }
            let options = ClientAssertionCredentialOptions {
                client_options: options.clone(),
            };
            return ClientAssertionCredential::new(
                env("AZURE_TENANT_ID").unwrap_or_default(),
                env("AZURE_CLIENT_ID").unwrap_or_default(),
                FixedAssertion(Secret::new(token)),
                Some(options),
            )
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| sdk_error_text(&e));
        }
        if let Some(why) = missing(
            env,
            &[
                "AZURE_FEDERATED_TOKEN_FILE",
                "AZURE_CLIENT_ID",
                "AZURE_TENANT_ID",
            ],
        ) {
            return Err(why);
        }
        let options = WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions {
                client_options: options.clone(),
            },
            client_id: env("AZURE_CLIENT_ID"),
            tenant_id: env("AZURE_TENANT_ID"),
            token_file_path: env("AZURE_FEDERATED_TOKEN_FILE").map(Into::into),
        };
        WorkloadIdentityCredential::new(Some(options))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| sdk_error_text(&e))
    })();
    Candidate {
        name: "workload-identity",
        credential,
        decisive: true,
        timeout: None,
    }
}

fn github_candidate(env: &EnvLookup, options: &ClientOptions) -> Candidate {
    let credential = (|| {
        if env("ACTIONS_ID_TOKEN_REQUEST_URL").is_none() {
            return Err("ACTIONS_ID_TOKEN_REQUEST_URL is not set (outside GitHub Actions, or the workflow lacks `permissions: id-token: write`)".to_owned());
        }
        if let Some(why) = missing(
            env,
            &[
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                "AZURE_CLIENT_ID",
                "AZURE_TENANT_ID",
            ],
        ) {
            return Err(why);
        }
        let assertion = GithubOidcAssertion::new(
            &env("ACTIONS_ID_TOKEN_REQUEST_URL").unwrap_or_default(),
            Secret::new(env("ACTIONS_ID_TOKEN_REQUEST_TOKEN").unwrap_or_default()),
        )
        .map_err(|e| e.to_string())?;
        let options = ClientAssertionCredentialOptions {
            client_options: options.clone(),
        };
        ClientAssertionCredential::new(
            env("AZURE_TENANT_ID").unwrap_or_default(),
            env("AZURE_CLIENT_ID").unwrap_or_default(),
            assertion,
            Some(options),
        )
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| sdk_error_text(&e))
    })();
    Candidate {
        name: "github-oidc",
        credential,
        decisive: true,
        timeout: None,
    }
}

fn azure_pipelines_candidate(env: &EnvLookup, options: &ClientOptions) -> Candidate {
    let credential = (|| {
        let Some(connection) = env("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID") else {
            return Err("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID is not set (outside Azure Pipelines, or no service connection named)".to_owned());
        };
        // The AzureCLI@2 task's names first, then moat's (and, through them, Terraform's).
        let client = env("AZURESUBSCRIPTION_CLIENT_ID").or_else(|| env("AZURE_CLIENT_ID"));
        let tenant = env("AZURESUBSCRIPTION_TENANT_ID").or_else(|| env("AZURE_TENANT_ID"));
        let mut absent = Vec::new();
        if env("SYSTEM_OIDCREQUESTURI").is_none() {
            absent.push("SYSTEM_OIDCREQUESTURI");
        }
        if env("SYSTEM_ACCESSTOKEN").is_none() {
            absent.push(
                "SYSTEM_ACCESSTOKEN (map it: `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`)",
            );
        }
        if client.is_none() {
            absent.push("AZURESUBSCRIPTION_CLIENT_ID (or AZURE_CLIENT_ID)");
        }
        if tenant.is_none() {
            absent.push("AZURESUBSCRIPTION_TENANT_ID (or AZURE_TENANT_ID)");
        }
        match absent.as_slice() {
            [] => {}
            [one] => return Err(format!("{one} is not set")),
            many => return Err(format!("{} are not set", many.join(", "))),
        }
        let assertion = AzurePipelinesAssertion::new(
            &env("SYSTEM_OIDCREQUESTURI").unwrap_or_default(),
            &connection,
            Secret::new(env("SYSTEM_ACCESSTOKEN").unwrap_or_default()),
        )
        .map_err(|e| e.to_string())?;
        let options = ClientAssertionCredentialOptions {
            client_options: options.clone(),
        };
        ClientAssertionCredential::new(
            tenant.unwrap_or_default(),
            client.unwrap_or_default(),
            assertion,
            Some(options),
        )
        .map(|c| c as Arc<dyn TokenCredential>)
        .map_err(|e| sdk_error_text(&e))
    })();
    Candidate {
        name: "azure-pipelines",
        credential,
        decisive: true,
        timeout: None,
    }
}

fn managed_identity_candidate(env: &EnvLookup, options: &ClientOptions) -> Candidate {
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: env("AZURE_CLIENT_ID").map(UserAssignedId::ClientId),
        client_options: options.clone(),
    };
    Candidate {
        name: "managed-identity",
        credential: ManagedIdentityCredential::new(Some(options))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| sdk_error_text(&e)),
        decisive: true,
        timeout: None,
    }
}

fn azure_cli_candidate() -> Candidate {
    Candidate {
        name: "azure-cli",
        credential: AzureCliCredential::new(Some(AzureCliCredentialOptions::default()))
            .map(|c| c as Arc<dyn TokenCredential>)
            .map_err(|e| sdk_error_text(&e)),
        decisive: false,
        timeout: None,
    }
}

/// Attaches `Authorization: Bearer …` from [`Credentials`] to every try.
///
/// moat uses this instead of azure_core's `BearerTokenAuthorizationPolicy` because that policy
/// refuses every `http` URL (the emulator is plain http on loopback) and reduces a failed chain
/// to one string; this one asks [`Egress`] (the one rule of every outbound request) before the
/// token is even fetched, and carries the typed [`ArmError::Credential`] (listing what was
/// tried) through the pipeline.
#[derive(Debug)]
pub(crate) struct BearerPolicy {
    pub(crate) credentials: Arc<Credentials>,
    pub(crate) egress: Egress,
}

#[async_trait::async_trait]
impl Policy for BearerPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let carries = if self.credentials.is_development() {
            Carries::Development
        } else {
            Carries::Real
        };
        self.egress
            .check(Service::Arm, request.url(), carries)
            .map_err(|e| azure_core::Error::new(ErrorKind::Other, e))?;
        let token = self
            .credentials
            .token()
            .await
            .map_err(|e| azure_core::Error::new(ErrorKind::Credential, e))?;
        request.insert_header("authorization", format!("Bearer {}", token.token.secret()));
        next[0].send(ctx, request, &next[1..]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn env_of(pairs: &[(&str, &str)]) -> EnvLookup {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Arc::new(move |name| map.get(name).cloned())
    }

    fn public() -> Endpoint {
        Endpoint::Cloud(crate::Cloud::AzurePublic)
    }

    #[test]
    fn auth_choice_parses_and_prints() {
        for c in AuthChoice::ALL {
            assert_eq!(c.as_str().parse::<AuthChoice>().ok(), Some(c));
        }
        assert_eq!(
            "Azure_CLI".parse::<AuthChoice>().ok(),
            Some(AuthChoice::AzureCli)
        );
        let err = "kerberos".parse::<AuthChoice>().expect_err("unknown");
        assert!(err.to_string().contains("github-oidc"), "{err}");
    }

    #[test]
    fn auto_chain_order_is_documented_order() {
        let creds =
            Credentials::for_endpoint(&public(), AuthChoice::Auto, &env_of(&[])).expect("chain");
        assert_eq!(
            creds.sources(),
            [
                "env (service principal)",
                "workload-identity",
                "github-oidc",
                "azure-pipelines",
                "managed-identity",
                "azure-cli"
            ]
        );
        let only = Credentials::for_endpoint(&public(), AuthChoice::GithubOidc, &env_of(&[]))
            .expect("chain");
        assert_eq!(only.sources(), ["github-oidc"]);
        assert!(Credentials::for_endpoint(&public(), AuthChoice::None, &env_of(&[])).is_none());
    }

    #[tokio::test]
    async fn loopback_always_gets_the_dev_token() {
        let endpoint = Endpoint::parse("http://127.0.0.1:9").expect("endpoint");
        let env = env_of(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "real-secret"),
        ]);
        let creds = Credentials::for_endpoint(&endpoint, AuthChoice::Env, &env).expect("creds");
        let token = creds.token().await.expect("token");
        assert_eq!(token.token.secret(), DEV_TOKEN);
    }

    #[tokio::test]
    async fn env_detection_reports_what_is_missing() {
        let env = env_of(&[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")]);
        let creds = Credentials::for_endpoint(&public(), AuthChoice::Env, &env).expect("chain");
        let ArmError::Credential { tried } = creds.token().await.expect_err("no secret") else {
            panic!("expected a credential error");
        };
        assert_eq!(
            tried,
            [(
                "env (service principal)".to_owned(),
                "AZURE_CLIENT_SECRET is not set".to_owned()
            )]
        );

        let env = env_of(&[("AZURE_CLIENT_CERTIFICATE_PATH", "/x.pem")]);
        let creds = Credentials::for_endpoint(&public(), AuthChoice::Env, &env).expect("chain");
        let err = creds.token().await.expect_err("certificates unsupported");
        assert!(err.to_string().contains("OpenSSL"), "{err}");

        let env = env_of(&[("AZURE_CLIENT_ID", "c")]);
        let creds = Credentials::for_endpoint(&public(), AuthChoice::WorkloadIdentity, &env)
            .expect("chain");
        let err = creds.token().await.expect_err("no token file");
        assert!(
            err.to_string()
                .contains("AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID are not set"),
            "{err}"
        );

        let creds = Credentials::for_endpoint(&public(), AuthChoice::GithubOidc, &env_of(&[]))
            .expect("chain");
        let err = creds.token().await.expect_err("not in actions");
        assert!(err.to_string().contains("id-token: write"), "{err}");
    }

    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        lifetime: azure_core::time::Duration,
        fail: bool,
    }

    #[async_trait::async_trait]
    impl TokenCredential for Counting {
        async fn get_token(
            &self,
            scopes: &[&str],
            _o: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            assert_eq!(scopes, ["https://management.azure.com/.default"]);
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(azure_core::Error::with_message(
                    ErrorKind::Credential,
                    "refused by test",
                ));
            }
            Ok(AccessToken::new(
                format!("token-{n}"),
                OffsetDateTime::now_utc() + self.lifetime,
            ))
        }
    }

    fn counting(lifetime: azure_core::time::Duration, fail: bool) -> Arc<Counting> {
        Arc::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime,
            fail,
        })
    }

    #[tokio::test]
    async fn chain_lists_every_failure_and_remembers_the_winner() {
        let bad = counting(azure_core::time::Duration::hours(1), true);
        let good = counting(azure_core::time::Duration::hours(1), false);
        let creds = Credentials::chain(
            "https://management.azure.com/.default",
            vec![
                ("absent", Err("NOT_SET is not set".to_owned())),
                ("bad", Ok(bad.clone() as Arc<dyn TokenCredential>)),
                ("good", Ok(good.clone() as Arc<dyn TokenCredential>)),
            ],
        );
        assert_eq!(
            creds.token().await.expect("token").token.secret(),
            "token-0"
        );
        assert_eq!(creds.chosen().await, Some("good"));
        // Cached: neither credential is asked again.
        assert_eq!(
            creds.token().await.expect("token").token.secret(),
            "token-0"
        );
        assert_eq!(bad.calls.load(Ordering::SeqCst), 1);
        assert_eq!(good.calls.load(Ordering::SeqCst), 1);

        let creds = Credentials::chain(
            "https://management.azure.com/.default",
            vec![
                ("absent", Err("NOT_SET is not set".to_owned())),
                ("bad", Ok(bad.clone() as Arc<dyn TokenCredential>)),
            ],
        );
        let ArmError::Credential { tried } = creds.token().await.expect_err("nothing works") else {
            panic!("expected a credential error");
        };
        assert_eq!(tried.len(), 2);
        assert_eq!(
            tried[0],
            ("absent".to_owned(), "NOT_SET is not set".to_owned())
        );
        assert_eq!(tried[1].0, "bad");
        assert!(tried[1].1.contains("refused by test"), "{tried:?}");
    }

    #[tokio::test]
    async fn tokens_are_refreshed_before_expiry() {
        // A 2-second token is renewed after half its lifetime.
        let short = counting(azure_core::time::Duration::seconds(2), false);
        let creds = Credentials::chain(
            "https://management.azure.com/.default",
            vec![("short", Ok(short.clone() as Arc<dyn TokenCredential>))],
        );
        assert_eq!(creds.token().await.expect("t").token.secret(), "token-0");
        assert_eq!(creds.token().await.expect("t").token.secret(), "token-0");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(creds.token().await.expect("t").token.secret(), "token-1");
    }

    #[tokio::test]
    async fn tenant_comes_from_the_token() {
        // {"alg":"none"} . {"tid":"72f988bf-86f1-41af-91ab-2d7cd011db47","sub":"x"} . (no signature)
        let jwt = "eyJhbGciOiJub25lIn0.eyJ0aWQiOiI3MmY5ODhiZi04NmYxLTQxYWYtOTFhYi0yZDdjZDAxMWRiNDciLCJzdWIiOiJ4In0.";
        let creds = Credentials::fixed("s", jwt);
        assert_eq!(
            creds.tenant_id().await.expect("token").as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        let dev = Credentials::fixed("s", DEV_TOKEN);
        assert_eq!(dev.tenant_id().await.expect("token"), None);
    }

    #[test]
    fn terraform_names_stand_in_for_absent_azure_names() {
        let env = with_fallbacks(&env_of(&[
            ("ARM_CLIENT_ID", "tf-client"),
            ("ARM_TENANT_ID", "tf-tenant"),
            ("AZURE_TENANT_ID", "az-tenant"),
            ("ARM_SUBSCRIPTION_ID", "tf-sub"),
        ]));
        assert_eq!(env("AZURE_CLIENT_ID").as_deref(), Some("tf-client"));
        assert_eq!(env("AZURE_TENANT_ID").as_deref(), Some("az-tenant"));
        assert_eq!(env("AZURE_SUBSCRIPTION_ID").as_deref(), Some("tf-sub"));
        assert_eq!(env("AZURE_CLIENT_SECRET"), None);
    }

    #[tokio::test]
    async fn the_chain_reads_terraform_names() {
        // Tenant and client come from ARM_*: only the secret is reported missing.
        let env = env_of(&[("ARM_TENANT_ID", "t"), ("ARM_CLIENT_ID", "c")]);
        let creds = Credentials::for_endpoint(&public(), AuthChoice::Env, &env).expect("chain");
        let ArmError::Credential { tried } = creds.token().await.expect_err("no secret") else {
            panic!("expected a credential error");
        };
        assert_eq!(tried[0].1, "AZURE_CLIENT_SECRET is not set");
    }

    #[tokio::test]
    async fn an_oidc_token_value_configures_workload_identity() {
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let env = env_of(&[
            ("ARM_OIDC_TOKEN", "header.payload.signature"),
            ("ARM_CLIENT_ID", "c"),
            ("ARM_TENANT_ID", tenant),
        ]);
        let creds = Credentials::for_endpoint(&public(), AuthChoice::WorkloadIdentity, &env)
            .expect("chain");
        assert!(
            creds.candidates[0].credential.is_ok(),
            "{:?}",
            creds.candidates[0].credential.as_ref().err()
        );
        assert_eq!(
            FixedAssertion(Secret::new("jwt"))
                .secret(None)
                .await
                .expect("secret"),
            "jwt"
        );

        let env = env_of(&[("ARM_OIDC_TOKEN", "header.payload.signature")]);
        let creds = Credentials::for_endpoint(&public(), AuthChoice::WorkloadIdentity, &env)
            .expect("chain");
        let err = creds.token().await.expect_err("no client");
        assert!(
            err.to_string().contains(
                "ARM_OIDC_TOKEN is set, but AZURE_CLIENT_ID, AZURE_TENANT_ID are not set"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn azure_pipelines_reports_what_is_missing() {
        let creds = Credentials::for_endpoint(&public(), AuthChoice::AzurePipelines, &env_of(&[]))
            .expect("chain");
        let err = creds.token().await.expect_err("not in a pipeline");
        assert!(
            err.to_string()
                .contains("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID is not set"),
            "{err}"
        );

        let env = env_of(&[
            ("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "conn"),
            ("AZURE_CLIENT_ID", "c"),
        ]);
        let creds =
            Credentials::for_endpoint(&public(), AuthChoice::AzurePipelines, &env).expect("chain");
        let ArmError::Credential { tried } = creds.token().await.expect_err("incomplete") else {
            panic!("expected a credential error");
        };
        assert_eq!(tried[0].0, "azure-pipelines");
        assert_eq!(
            tried[0].1,
            "SYSTEM_OIDCREQUESTURI, SYSTEM_ACCESSTOKEN (map it: `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`), \
             AZURESUBSCRIPTION_TENANT_ID (or AZURE_TENANT_ID) are not set"
        );
    }

    #[test]
    fn azure_pipelines_is_configured_from_the_task_variables() {
        let env = env_of(&[
            ("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "conn"),
            ("AZURESUBSCRIPTION_CLIENT_ID", "c"),
            (
                "AZURESUBSCRIPTION_TENANT_ID",
                "72f988bf-86f1-41af-91ab-2d7cd011db47",
            ),
            (
                "SYSTEM_OIDCREQUESTURI",
                "https://dev.azure.com/org/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken",
            ),
            ("SYSTEM_ACCESSTOKEN", "job-token"),
        ]);
        let creds =
            Credentials::for_endpoint(&public(), AuthChoice::AzurePipelines, &env).expect("chain");
        assert_eq!(creds.sources(), ["azure-pipelines"]);
        assert!(
            creds.candidates[0].credential.is_ok(),
            "{:?}",
            creds.candidates[0].credential.as_ref().err()
        );
        let err = AzurePipelinesAssertion::new(
            "http://dev.example.com/oidctoken",
            "conn",
            Secret::new("t"),
        )
        .expect_err("http");
        assert!(
            err.to_string()
                .contains("SYSTEM_OIDCREQUESTURI must use https"),
            "{err}"
        );
    }

    #[test]
    fn github_assertion_refuses_remote_http() {
        let err =
            GithubOidcAssertion::new("http://actions.example.com/token?x=1", Secret::new("t"))
                .expect_err("http");
        assert!(err.to_string().contains("https"), "{err}");
        assert!(
            GithubOidcAssertion::new("https://actions.example.com/t", Secret::new("t")).is_ok()
        );
    }
}
