//! Connecting a command to Azure or to the embedded emulator, and opening the stack's state
//! backend. `--local` starts `moat-sim` inside the process with its cloud kept in the state
//! directory, time-scaled so the full example finishes in seconds.

use crate::cli::Global;
use anyhow::{Context as _, bail};
use moat_arm::blob::AZURITE_KEY;
use moat_arm::{ArmClient, AuthChoice, ClientConfig, Egress, Endpoint};
use moat_engine::state::{
    BlobAuth, BlobBackend, BlobLocation, BlobOptions, LocalBackend, LockGuard, StateBackend,
    TokenSource,
};
use moat_model::Model;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Time scale of the embedded emulator: real provisioning times × this (AKS: ~4 min → ~2 s).
/// `MOAT_LOCAL_TIME_SCALE=F` overrides it.
pub const LOCAL_TIME_SCALE: f64 = 0.008;

/// `MOAT_LOCAL_FAULTS=FILE`: the embedded emulator of `--local` injects the faults of FILE
/// (the JSON of `moat sim --faults`), so failure handling can be tried without a second process.
pub const LOCAL_FAULTS_ENV: &str = "MOAT_LOCAL_FAULTS";

/// `MOAT_LOCAL_REPLICATION_SECS=S`: the embedded emulator keeps a new principal invisible to
/// role assignments for S seconds (before its time scale; `moat sim --replication-delay`).
pub const LOCAL_REPLICATION_ENV: &str = "MOAT_LOCAL_REPLICATION_SECS";

/// A connection to ARM.
pub struct Remote {
    /// The client.
    pub client: Arc<ArmClient>,
    /// The embedded emulator, when `--local`.
    pub sim: Option<moat_sim::SimHandle>,
    /// Tenant for key vaults without `tenant_id`.
    pub tenant: String,
}

impl Remote {
    /// Stops the embedded emulator.
    ///
    /// The emulator has already saved its cloud after every write. It is dropped rather than
    /// shut down, because a shutdown saves the whole in-memory cloud once more: a `plan`
    /// started before a concurrent `apply` wrote would then put back its stale copy, and an
    /// apply closing just after releasing the lock could overwrite the next holder's writes.
    pub async fn close(self) {
        drop(self.sim);
    }
}

/// The state directory: `--state-dir`, else `.moat` beside the spec.
pub fn state_dir(g: &Global, spec: &Path) -> PathBuf {
    g.state_dir.clone().unwrap_or_else(|| {
        spec.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            .join(".moat")
    })
}

/// Connects to ARM: the embedded emulator with `--local`, else `--arm-endpoint`, else Azure.
pub async fn connect(g: &Global, state_dir: &Path) -> anyhow::Result<Remote> {
    moat_arm::install_crypto_provider();
    let mut sim = None;
    let mut local_speed = None;
    let endpoint = if g.local {
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("cannot create state directory `{}`", state_dir.display()))?;
        let scale = std::env::var("MOAT_LOCAL_TIME_SCALE")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(LOCAL_TIME_SCALE);
        let faults = match std::env::var_os(LOCAL_FAULTS_ENV) {
            Some(f) if !f.is_empty() => moat_sim::load_faults(Path::new(&f))
                .with_context(|| format!("cannot use `{LOCAL_FAULTS_ENV}`"))?,
            _ => moat_sim::FaultPlan::default(),
        };
        // Time runs `1/scale` times faster here, so ARM's refill rates do too: otherwise a
        // large local apply would be throttled ~100x harder than on Azure.
        let speed = if scale > 0.0 { 1.0 / scale } else { 1.0 };
        let mut limits = moat_sim::Limits::default();
        for bucket in [&mut limits.reads, &mut limits.writes, &mut limits.deletes]
            .into_iter()
            .flatten()
        {
            bucket.per_second *= speed;
        }
        local_speed = Some(speed);
        let config = moat_sim::SimConfig {
            time_scale: scale,
            limits,
            faults,
            state_file: Some(state_dir.join("local-cloud.json")),
            record_dir: std::env::var_os("MOAT_LOCAL_RECORD").map(PathBuf::from),
            replication_secs: std::env::var(LOCAL_REPLICATION_ENV)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(moat_sim::SimConfig::default().replication_secs),
            ..moat_sim::SimConfig::default()
        };
        let handle = moat_sim::start("127.0.0.1:0".parse()?, config)
            .await
            .context("cannot start the embedded emulator")?;
        let url = handle.url();
        sim = Some(handle);
        Endpoint::parse(&url)?
    } else {
        match &g.arm_endpoint {
            Some(e) => Endpoint::parse(e)?,
            None => Endpoint::default(),
        }
    };
    let loopback = endpoint.is_loopback();
    if sim.is_none() {
        crate::reach::check(&endpoint.url(), crate::reach::REACH_TIMEOUT).await?;
    }
    let mut config = ClientConfig::for_endpoint(endpoint);
    config.auth = match &g.auth {
        Some(a) => a
            .parse::<AuthChoice>()
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        None => AuthChoice::Auto,
    };
    config.log_http = g.log_http.clone();
    if let Some(speed) = local_speed {
        for bucket in [
            &mut config.limits.reads,
            &mut config.limits.writes,
            &mut config.limits.deletes,
        ] {
            bucket.refill_per_sec *= speed;
        }
    }
    let client = ArmClient::new(config).await?;
    let tenant = if loopback {
        moat_model::LOCAL_TENANT.to_string()
    } else if let Ok(t) = std::env::var("AZURE_TENANT_ID") {
        t
    } else {
        client.tenant_id().await?.unwrap_or_default()
    };
    Ok(Remote {
        client: Arc::new(client),
        sim,
        tenant,
    })
}

struct ArmToken(Arc<moat_arm::Credentials>);

#[async_trait::async_trait]
impl TokenSource for ArmToken {
    async fn token(&self) -> Result<String, String> {
        self.0
            .token()
            .await
            .map(|t| t.token.secret().to_string())
            .map_err(|e| e.to_string())
    }
}

/// The selected cloud: `--arm-endpoint`'s, else the public cloud. Its storage suffix is where
/// the state backend's real credentials may go.
fn cloud(g: &Global) -> anyhow::Result<moat_arm::Cloud> {
    Ok(match &g.arm_endpoint {
        Some(e) if !g.local => Endpoint::parse(e)?.cloud(),
        _ => moat_arm::Cloud::AzurePublic,
    })
}

/// Where credentials may go besides the selected cloud: `--allow-endpoint` and
/// `MOAT_ALLOW_ENDPOINT` (read by clap into the same list) — never anything from the spec.
pub fn egress(g: &Global) -> anyhow::Result<Egress> {
    let mut egress = Egress::new(cloud(g)?);
    for e in &g.allow_endpoint {
        if !e.trim().is_empty() {
            egress.allow(e)?;
        }
    }
    Ok(egress)
}

/// The stack's state backend: the spec's `backend:` blob, else the local directory.
///
/// The blob's endpoint comes from the spec, so it is checked by [`Egress`] before any
/// credential is fetched: Azurite's published key goes only to a literal loopback address
/// (and only for Azurite's account); a real key or token only over https to the selected
/// cloud's storage hosts or an endpoint the user allowed.
pub fn backend(
    g: &Global,
    model: &Model,
    state_dir: &Path,
) -> anyhow::Result<Arc<dyn StateBackend>> {
    let stack = model.stack.value.clone();
    let Some(b) = &model.backend else {
        return Ok(Arc::new(LocalBackend::new(state_dir, stack)));
    };
    let b = &b.value;
    let blob = b
        .blob
        .as_ref()
        .map_or_else(|| format!("{stack}.moatstate"), |x| x.value.clone());
    let location = match &b.endpoint {
        Some(e) => BlobLocation {
            endpoint: e.value.trim_end_matches('/').to_string(),
            account: b.account.value.clone(),
            container: b.container.value.clone(),
            blob,
        },
        None => BlobLocation::azure(b.account.value.clone(), b.container.value.clone(), blob),
    };
    let loopback = moat_arm::Url::parse(&location.endpoint)
        .map(|u| moat_arm::is_loopback(&u))
        .unwrap_or(false);
    let options = moat_arm::blob::BlobOptions {
        egress: egress(g)?,
        log_http: g.log_http.clone(),
        ..moat_arm::blob::BlobOptions::default()
    };
    let auth = if let Ok(key) = std::env::var("MOAT_BLOB_KEY") {
        BlobAuth::SharedKey { account_key: key }
    } else if loopback && location.account == moat_arm::AZURITE_ACCOUNT {
        BlobAuth::SharedKey {
            account_key: AZURITE_KEY.to_string(),
        }
    } else {
        let choice = match &g.auth {
            Some(a) => a
                .parse::<AuthChoice>()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            None => AuthChoice::Auto,
        };
        if choice == AuthChoice::None {
            bail!("the blob state backend needs credentials; `--auth none` gives none");
        }
        // Checked before the credential is even built, so a refused endpoint never makes
        // moat ask for a token.
        moat_arm::blob::check_location(&location, moat_arm::Carries::Real, &options.egress)
            .map_err(|e| anyhow::Error::new(e).context("cannot use the blob state backend"))?;
        let endpoint = Endpoint::Custom(
            moat_arm::Url::parse("https://storage.azure.com").context("storage scope")?,
        );
        let Some(creds) =
            moat_arm::Credentials::for_endpoint(&endpoint, choice, &moat_arm::process_env())
        else {
            bail!("the blob state backend needs credentials; `--auth none` gives none");
        };
        BlobAuth::Bearer(Arc::new(ArmToken(Arc::new(creds))))
    };
    let client = moat_arm::blob::BlobClient::new(location, auth, options)
        .map_err(|e| anyhow::Error::new(e).context("cannot use the blob state backend"))?;
    Ok(Arc::new(BlobBackend::with_client(
        client,
        stack,
        BlobOptions::default(),
    )?))
}

/// The release of the stack lock this process holds, for the exits that never unwind to the
/// guard: a second Ctrl-C or a SIGTERM (`std::process::exit`), and a panic (the hook runs it
/// before anything else, so even a panic that aborts leaves no lease behind).
static EXIT_RELEASE: std::sync::Mutex<Option<Box<dyn Fn() + Send + Sync>>> =
    std::sync::Mutex::new(None);

/// Arranges for `guard`'s lock to be released by [`release_for_exit`] and by a panic.
pub fn release_on_exit(guard: &LockGuard) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Only a panic of the main thread ends the run: a task's panic is caught by the
            // runtime and reported as that task's error while the run (and its writes) go on,
            // so releasing the lock then would let a second run in beside it.
            if std::thread::current().name() == Some("main") {
                release_for_exit();
            }
            previous(info);
        }));
    });
    if let Ok(mut slot) = EXIT_RELEASE.lock() {
        *slot = Some(guard.exit_releaser());
    }
}

/// Forgets the lock registered by [`release_on_exit`] (it was released normally).
pub fn forget_exit_release() {
    if let Ok(mut slot) = EXIT_RELEASE.lock() {
        slot.take();
    }
}

/// Releases the lock registered by [`release_on_exit`], if any, and forgets it.
pub fn release_for_exit() {
    let release = EXIT_RELEASE.lock().ok().and_then(|mut slot| slot.take());
    if let Some(release) = release {
        release();
    }
}

/// Resolves at the next Ctrl-C or SIGTERM (a cancelled CI job gets SIGTERM first).
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// What Ctrl-C does while a command holds the stack lock: before any write starts, it
/// releases the lock and exits 130 at once; once writes run (`writing` is set), the first
/// stops scheduling (through `cancel`) and lets the writes in flight finish, and the second
/// releases the lock and exits 130, leaving the journal to the next run.
pub fn watch_interrupts(
    cancel: tokio_util::sync::CancellationToken,
    writing: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    use std::sync::atomic::Ordering;
    tokio::spawn(async move {
        interrupted().await;
        if !writing.load(Ordering::SeqCst) {
            eprintln!("\ninterrupted before any write; the stack lock is released");
            release_for_exit();
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupted: no new writes start; waiting for the ones in flight (Ctrl-C again to stop waiting — the next apply finishes them)"
        );
        cancel.cancel();
        interrupted().await;
        eprintln!("stopped; the state journal records what was in flight");
        release_for_exit();
        std::process::exit(130);
    })
}
