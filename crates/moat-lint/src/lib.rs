//! moat-lint: the secure-network rule catalogue for Azure ML. Each rule has a stable ID
//! (`ML` + three digits), a message that says how to fix the problem and the span of the
//! offending field. Rules read a resolved [`Model`] and never repeat what resolution already
//! reports (naming, CIDR syntax, references, regions of managed networks, ranges).
//!
//! The catalogue is [`rules()`]; `docs/rules.md` documents every rule with a failing and a
//! passing snippet.

mod aks;
mod aml;
mod attach;
pub mod catalogue;
mod cx;
mod endpoints;
mod general;
mod grants;
mod live;
pub mod nsg;
mod private;
mod sarif;
mod storage;
pub mod tags;
mod usage;
pub mod vmsizes;

pub use catalogue::Rule;
pub use live::{NOT_FOUND, PolicyRead, PolicyReads, checked_live, lint_live, live_reads};

use moat_model::Model;
use moat_spec::{Diagnostic, SourceFile};

/// Runs every rule on a resolved model. Findings come in source order; `code` is the rule ID.
pub fn lint(model: &Model) -> Vec<Diagnostic> {
    let mut cx = cx::Cx::new(model);
    usage::check(&mut cx);
    aml::check(&mut cx);
    attach::check(&mut cx);
    storage::check(&mut cx);
    aks::check(&mut cx);
    general::check(&mut cx);
    grants::check(&mut cx);
    endpoints::check(&mut cx);
    private::check(&mut cx);
    let mut out = cx.finish();
    out.sort_by(|a, b| {
        (a.primary.span.start, &a.code, &a.message).cmp(&(
            b.primary.span.start,
            &b.code,
            &b.message,
        ))
    });
    out.dedup();
    out
}

/// A SARIF 2.1.0 log of diagnostics for one spec file: lint findings with their catalogue entry
/// as `tool.driver.rules`, and spec and model diagnostics as results of their own codes.
pub fn sarif(file: &SourceFile, diags: &[Diagnostic]) -> serde_json::Value {
    sarif::log(file, diags)
}

/// Every rule, ordered by ID.
pub fn rules() -> &'static [Rule] {
    catalogue::RULES
}
