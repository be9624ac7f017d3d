//! A quick reachability check of the ARM endpoint before any read. Without it an endpoint
//! that does not resolve or refuses connections costs every read its full retry budget (over
//! two minutes) and ends in one "could not be read" per resource; with it the run fails within
//! seconds with one line that names the endpoint and the cause.

use std::time::Duration;

/// How long resolving the host and opening one TCP connection may take together.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment variables that route traffic through a proxy; a direct connection says
/// nothing about reachability then, so the check is skipped.
const PROXY_VARS: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Why the endpoint cannot be reached, as one line.
#[derive(Debug)]
pub struct Unreachable {
    /// The endpoint's origin (`https://host:port`).
    pub endpoint: String,
    /// What failed: resolution, the connection, or the time limit.
    pub why: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot reach ARM at {}: {}; nothing was read or changed",
            self.endpoint, self.why
        )
    }
}

impl std::error::Error for Unreachable {}

/// Resolves `url`'s host and opens (then drops) one TCP connection to it; no bytes are sent,
/// so no credential can leave. Skipped when a proxy is configured.
pub async fn check(url: &moat_arm::Url, limit: Duration) -> Result<(), Unreachable> {
    if PROXY_VARS
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
    {
        return Ok(());
    }
    let endpoint = url.origin().ascii_serialization();
    let fail = |why: String| Unreachable {
        endpoint: endpoint.clone(),
        why,
    };
    let Some(host) = url.host_str() else {
        return Err(fail("the URL has no host".into()));
    };
    // `Url` keeps IPv6 literals in brackets; the resolver wants them bare.
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let attempt = async {
        let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("`{host}` resolves to no address"));
        }
        let mut last = String::new();
        for addr in &addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => return Ok(()),
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        Err(last)
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(fail(why)),
        Err(_) => Err(fail(format!("no connection within {}s", limit.as_secs()))),
    }
}
