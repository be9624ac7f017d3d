//! A local Azure Resource Manager emulator (library and server).
//!
//! `moat-sim` answers ARM REST calls on loopback the way Azure does for the resource kinds
//! moat manages: the same URLs and api-versions, long-running operation headers and poll
//! endpoints, error bodies and codes, server defaults, validation rules and throttling. It is
//! used by moat's tests, by `moat --local` (embedded) and by `moat sim` (standalone).
//!
//! It shares no code or wire types with `moat-arm`, so a serialization bug cannot hide on
//! both sides of the wire.

mod ctx;
mod errors;
mod faults;
mod kind;
mod kinds;
mod lro;
mod record;
mod reply;
mod server;
mod service_tags;
mod store;
mod throttle;
mod util;

pub use errors::SimError;
pub use faults::{Fault, FaultPlan, FaultRule, load_faults};
pub use kinds::{operation_seconds, poll_cadence_seconds, provisioning_seconds};
pub use server::LIST_PAGE;
pub use throttle::{Bucket, Limits};

use serde::{Deserialize, Serialize};
use server::{Shared, lock};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How the emulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Multiplier on every provisioning time (0 = instant, 0.01 = 100× faster).
    pub time_scale: f64,
    /// Where the emulated cloud is kept across restarts.
    pub state_file: Option<PathBuf>,
    /// Where traffic files are written, one per non-polling exchange.
    pub record_dir: Option<PathBuf>,
    /// Faults to inject.
    pub faults: FaultPlan,
    /// Throttling buckets per subscription.
    pub limits: Limits,
    /// Fixed latency added to every request.
    pub latency: std::time::Duration,
    /// Seed of the provisioning durations (`moat sim --seed N`): with one, every create takes
    /// a time drawn from its kind's recorded range (AKS 240–600 s, storage 15–30 s, …), the
    /// same for the same seed and resource id; without one (the default), its typical time.
    pub seed: Option<u64>,
    /// Seconds (before `time_scale`) a new principal stays invisible to role assignments —
    /// Entra ID's replication delay: a role assignment naming it is refused with 400
    /// `PrincipalNotFound` until then (default 10 s; 0 turns the delay off).
    pub replication_secs: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            time_scale: 1.0,
            state_file: None,
            record_dir: None,
            faults: FaultPlan::default(),
            limits: Limits::default(),
            latency: std::time::Duration::ZERO,
            seed: None,
            replication_secs: kinds::role_assignment::REPLICATION_SECS,
        }
    }
}

/// Request counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests received, by HTTP method.
    pub requests: BTreeMap<String, u64>,
    /// 429 responses sent (throttling, busy VNets and injected storms).
    pub throttled: u64,
    /// Requests a fault rule fired on.
    pub faults_injected: u64,
    /// Microseconds requests held the cloud's state lock alone, all together: every request
    /// but a list (which shares it with the other lists) is served one at a time under it, so
    /// no number of clients gets those answers sooner than this.
    #[serde(default)]
    pub state_lock_micros: u64,
}

impl Stats {
    /// All requests received.
    pub fn total(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// A running emulator.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Starts the emulator on `listen` (port 0 picks a free port) and returns once it accepts
/// connections.
pub async fn start(listen: SocketAddr, config: SimConfig) -> Result<SimHandle, SimError> {
    let state = match &config.state_file {
        Some(p) => store::State::load(p)?,
        None => store::State::default(),
    };
    let recorder = match &config.record_dir {
        Some(d) => {
            Some(
                record::Recorder::new(d.clone()).map_err(|source| SimError::RecordDir {
                    path: d.clone(),
                    source,
                })?,
            )
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: listen,
        source,
    })?;
    let time_scale = if config.time_scale.is_finite() {
        config.time_scale.max(0.0)
    } else {
        1.0
    };
    let shared = Arc::new(Shared {
        state: std::sync::RwLock::new(state),
        faults: Mutex::new(faults::FaultState::new(config.faults)),
        throttle: Mutex::new(throttle::Throttle::default()),
        stats: Mutex::new(Stats::default()),
        time_scale,
        seed: config.seed,
        replication_secs: config.replication_secs.max(0.0),
        limits: config.limits,
        latency_us: std::sync::atomic::AtomicU64::new(config.latency.as_micros() as u64),
        state_file: config.state_file,
        recorder,
    });
    let app_shared = shared.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let s = app_shared.clone();
        async move { server::handle(s, req).await }
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            eprintln!("moat sim: server error: {e}");
        }
    });
    Ok(SimHandle {
        addr,
        shared,
        stop: Some(tx),
        task: Some(task),
    })
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the fault plan (counters start again).
    pub fn set_faults(&self, plan: FaultPlan) {
        *lock(&self.shared.faults) = faults::FaultState::new(plan);
    }

    /// Changes the latency added to every request from now on.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.shared.latency_us.store(
            latency.as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Request counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Every live resource as a GET would return it, sorted by id.
    pub fn resources(&self) -> Vec<serde_json::Value> {
        let now = util::now();
        let mut st = server::write(&self.shared.state);
        st.sweep(now);
        let st = &*st;
        st.resources()
            .values()
            .map(|r| kinds::render(st, r, now))
            .collect()
    }

    /// Stops accepting requests, waits for the ones in flight and saves the state.
    pub async fn shutdown(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            // Keep-alive connections of clients that never close must not hang shutdown.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
        if let Some(path) = &self.shared.state_file
            && let Err(e) = server::write(&self.shared.state).save(path)
        {
            eprintln!("moat sim: {e}");
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Options of `moat sim`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Emulator configuration.
    pub config: SimConfig,
}

/// Runs the emulator until Ctrl-C or SIGTERM, printing `moat sim listening on http://ADDR`.
pub async fn serve(opts: ServeOptions) -> Result<(), SimError> {
    let handle = start(opts.listen, opts.config).await?;
    println!("moat sim listening on {}", handle.url());
    wait_for_signal().await?;
    eprintln!("moat sim: shutting down");
    handle.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> Result<(), SimError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(SimError::Signal)?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(SimError::Signal),
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Result<(), SimError> {
    tokio::signal::ctrl_c().await.map_err(SimError::Signal)
}
