//! `moat import SPEC KEY ARM_ID`: adopt an existing resource into the stack, so that the next
//! apply manages it (and tags it) instead of refusing to touch it.

use crate::Status;
use crate::cli::{Global, ImportArgs};
use crate::output::Output;
use crate::pipeline::{Checked, check, read_state};
use crate::remote::{Remote, backend, connect};
use anyhow::{Context as _, bail};
use moat_arm::Arm as _;
use moat_engine::state::{LockInfo, ResourceState, StateBackend};
use moat_model::armid::same_id;

/// Runs the command.
pub fn run(g: &Global, args: &ImportArgs, out: &Output) -> anyhow::Result<Status> {
    let Some(c) = check(g, &args.spec, &args.vars, out)? else {
        return Ok(Status::Failed);
    };
    let Some(r) = c.model.get(&args.key).cloned() else {
        bail!(
            "`{}` is not a resource key of {}",
            args.key,
            c.path.display()
        );
    };
    if r.is_existing() {
        bail!(
            "`{}` is declared `existing:`; moat reads it and never needs to own it",
            args.key
        );
    }
    if !same_id(&r.id, &args.arm_id) {
        bail!(
            "`{}` resolves to {} in the spec, not {}; make the spec's name and group match the resource",
            args.key,
            r.id,
            args.arm_id
        );
    }
    crate::runtime()?.block_on(async {
        // Lock before connecting: with `--local` the embedded emulator reads its cloud when it
        // starts, so it must start under the lock (as apply does).
        moat_arm::install_crypto_provider();
        let backend = backend(g, &c.model, &c.state_dir)?;
        let guard = backend
            .lock(LockInfo::new("import"), args.lock_timeout)
            .await?;
        // Ctrl-C, SIGTERM or a panic release the lock too (import writes once, at the end).
        crate::remote::release_on_exit(&guard);
        let watcher = crate::remote::watch_interrupts(
            tokio_util::sync::CancellationToken::new(),
            std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        );
        let result = match connect(g, &c.state_dir).await {
            Ok(remote) => {
                let result = adopt(&remote, backend.as_ref(), &c, &r, args, out).await;
                remote.close().await;
                result
            }
            Err(e) => Err(e),
        };
        watcher.abort();
        guard.release().await.ok();
        crate::remote::forget_exit_release();
        result
    })
}

async fn adopt(
    remote: &Remote,
    backend: &dyn StateBackend,
    c: &Checked,
    r: &moat_model::Resource,
    args: &ImportArgs,
    out: &Output,
) -> anyhow::Result<Status> {
    let live = remote.client.get(&r.id, r.kind.api_version()).await?;
    let Some(body) = live else {
        bail!("{} does not exist; nothing to import", r.id)
    };
    if let Some(owner) = body
        .pointer(&format!("/tags/{}", moat_model::STACK_TAG))
        .and_then(|v| v.as_str())
        && owner != c.model.stack.value
    {
        bail!("{} belongs to stack `{owner}`; remove it there first", r.id);
    }
    let mut record = read_state(backend, &c.model.stack.value).await?;
    if record.resources.contains_key(&args.key) {
        bail!(
            "`{}` is already managed by stack `{}`",
            args.key,
            c.model.stack.value
        );
    }
    record.resources.insert(
        args.key.clone(),
        ResourceState {
            id: body
                .get("id")
                .and_then(|v| v.as_str())
                .unwrap_or(&r.id)
                .to_string(),
            kind: r.kind,
            api_version: r.kind.api_version().to_string(),
            // Nothing applied yet: the next plan compares the spec with live only.
            applied: serde_json::json!({}),
            etag: body
                .get("etag")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            updated_at: moat_engine::state::now_rfc3339(),
            depends_on: r
                .dependencies()
                .into_iter()
                .map(|(k, _)| k.to_string())
                .collect(),
            outputs: Default::default(),
        },
    );
    record.serial += 1;
    backend
        .write(&record)
        .await
        .context("cannot record the import")?;
    out.status(&format!(
        "Imported {} as `{}`; run `moat plan` to see what the spec would change.",
        r.id, args.key
    ));
    Ok(Status::Ok)
}
