//! The stable JSON plan (`schemas/plan.schema.json`): ARM's paths, values and IDs as they are.

use crate::plan::Plan;

/// The stable JSON plan (pretty, final newline).
pub fn json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).unwrap_or_default();
    s.push('\n');
    s
}
