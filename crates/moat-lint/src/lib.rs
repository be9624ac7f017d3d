//! moat-lint: the secure-network rule catalogue for Azure ML (rule IDs, messages with fixes,
//! spans). Being built; the catalogue lands with the lint issue.

use moat_model::Model;
use moat_spec::{Diagnostic, SourceFile};

/// Runs every rule on a resolved model.
pub fn lint(_model: &Model) -> Vec<Diagnostic> {
    Vec::new()
}

/// SARIF 2.1.0 log of diagnostics.
pub fn sarif(_file: &SourceFile, _diags: &[Diagnostic]) -> serde_json::Value {
    serde_json::json!({})
}
