//! Test helpers: a scriptable loopback HTTP server that can answer, delay or drop each request
//! (the faults a real network has), and a loader for the recorded ARM cassettes.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moat_arm::{ArmClient, ClientConfig, ClientLimits, Endpoint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request the fake server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the fake server does with one request.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// Close the connection without answering (after reading the request).
    pub drop: bool,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            drop: false,
        }
    }

    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            body: body.to_string().into_bytes(),
            ..Reply::status(status)
        }
        .header("content-type", "application/json; charset=utf-8")
    }

    pub fn text(status: u16, body: &str, content_type: &str) -> Reply {
        Reply {
            body: body.as_bytes().to_vec(),
            ..Reply::status(status)
        }
        .header("content-type", content_type)
    }

    pub fn dropped() -> Reply {
        Reply {
            drop: true,
            ..Reply::status(0)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A loopback HTTP/1.1 server answering each request with its handler's reply; every
/// connection is closed after one exchange, so a dropped reply is a clean fault.
pub struct FakeServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = handler.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, handler, seen, addr).await;
                });
            }
        });
        FakeServer { addr, seen, task }
    }

    /// Serves `replies` in order; a request beyond the script gets a 599.
    pub async fn scripted(replies: Vec<Reply>) -> FakeServer {
        let queue = Mutex::new(VecDeque::from(replies));
        FakeServer::start(move |_| {
            queue
                .lock()
                .expect("lock")
                .pop_front()
                .unwrap_or_else(|| Reply::text(599, "script exhausted", "text/plain"))
        })
        .await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<Seen>>>,
    addr: SocketAddr,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let request = Seen {
        method,
        target,
        headers,
        body,
        at: Instant::now(),
    };
    seen.lock().expect("lock").push(request.clone());
    let reply = handler(&request);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if reply.drop {
        return Ok(());
    }
    let base = format!("http://{addr}");
    let body = String::from_utf8_lossy(&reply.body).replace("{base}", &base);
    let mut out = format!("HTTP/1.1 {} Status\r\n", reply.status);
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {}\r\n", v.replace("{base}", &base)));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(out.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// A client for a loopback server, with fast polls and retries.
pub fn fast_config(url: &str) -> ClientConfig {
    let mut config = ClientConfig::for_endpoint(Endpoint::parse(url).expect("endpoint"));
    config.min_poll_interval = Duration::from_millis(10);
    config.default_poll_interval = Duration::from_millis(10);
    config.retry_base_delay = Duration::from_millis(5);
    config.max_retry_delay = Duration::from_millis(50);
    config.max_retries = 4;
    config.request_timeout = Duration::from_secs(5);
    config.limits = ClientLimits::unlimited();
    config
}

pub async fn client(url: &str) -> ArmClient {
    moat_arm::install_crypto_provider();
    ArmClient::new(fast_config(url)).await.expect("client")
}

pub const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000000";

pub fn rg_id(rg: &str) -> String {
    format!("{SUB}/resourceGroups/{rg}")
}

// ---- recorded cassettes ---------------------------------------------------------------

#[derive(Clone, Debug, serde::Deserialize)]
pub struct Cassette {
    pub interactions: Vec<Interaction>,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct Interaction {
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub uri: String,
    #[serde(default)]
    pub body: Option<String>,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct RecordedResponse {
    pub body: RecordedBody,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Vec<String>>,
    pub status: RecordedStatus,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct RecordedBody {
    #[serde(default)]
    pub string: Option<String>,
}

#[derive(Clone, Debug, serde::Deserialize)]
pub struct RecordedStatus {
    pub code: u16,
}

/// The azure-cli recordings of the ARM oracle kit; `None` after one `SKIPPED` line when there
/// is no kit (a failure under `CI=true`).
pub fn recordings_dir() -> Option<std::path::PathBuf> {
    moat_testkit::kit("moat-arm/replay").map(|kit| kit.recordings().join("azure-cli"))
}

pub fn load_cassette(recordings: &std::path::Path, relative: &str) -> Cassette {
    let path = recordings.join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Interaction {
    /// The recorded response, with `https://management.azure.com` rewritten to `{base}` so the
    /// fake server substitutes its own address.
    pub fn reply(&self) -> Reply {
        let rewrite = |s: &str| s.replace("https://management.azure.com", "{base}");
        let mut reply = Reply::status(self.response.status.code);
        reply.body = rewrite(self.response.body.string.as_deref().unwrap_or_default()).into_bytes();
        for (name, values) in &self.response.headers {
            // The fake server frames bodies itself (plain content-length, no compression).
            if [
                "content-length",
                "transfer-encoding",
                "content-encoding",
                "connection",
            ]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
            {
                continue;
            }
            for v in values {
                reply.headers.push((name.clone(), rewrite(v)));
            }
        }
        reply
    }

    pub fn path(&self) -> String {
        let without_host = self
            .request
            .uri
            .trim_start_matches("https://management.azure.com");
        without_host
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}
