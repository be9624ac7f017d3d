//! `protect: true`: a plan that would delete or replace a protected resource is refused. The
//! check runs on the plan that is about to be shown or applied — after `--target`/`--exclude`
//! narrowed it — so a targeted destroy of something else is not blocked by a protected
//! neighbour, and a plan saved by an older moat is checked too.

use crate::plan::{Action, Plan};
use moat_model::Model;
use moat_spec::Span;

/// A protected resource the plan would delete or replace.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` is protected (`protect: true`), but this plan would {}", verb(*action))]
pub struct Protected {
    /// The resource's key.
    pub key: String,
    /// What the plan does to it (`delete` or `replace`).
    pub action: Action,
    /// Where `protect: true` was written.
    pub span: Span,
    /// Why the plan does it (the field forcing a replacement…), for the hint.
    pub reasons: Vec<String>,
}

fn verb(a: Action) -> &'static str {
    if a == Action::Replace {
        "replace it (delete it and create it again)"
    } else {
        "delete it"
    }
}

impl Protected {
    /// What to do about it.
    pub fn hint(&self) -> String {
        let why = if self.reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.reasons.join("; "))
        };
        match self.action {
            Action::Replace => format!(
                "put back what forces the replacement{why}, or, if losing `{}` is intended, remove `protect: true` first",
                self.key
            ),
            _ => format!(
                "keep `{}` out of this run (`--exclude {}`), or, if deleting it is intended, remove `protect: true` first",
                self.key, self.key
            ),
        }
    }
}

/// The protected resources of `model` that `plan` deletes or replaces, in plan order. A
/// resource already gone from the spec carries no `protect:` any more; the spec is the only
/// place protection is written, as with Terraform's `prevent_destroy`.
pub fn violations(plan: &Plan, model: &Model) -> Vec<Protected> {
    plan.resources
        .iter()
        .filter(|r| matches!(r.action, Action::Delete | Action::Replace))
        .filter_map(|r| {
            let span = model.get(&r.key)?.protect?;
            Some(Protected {
                key: r.key.clone(),
                action: r.action,
                span,
                reasons: r.reasons.clone(),
            })
        })
        .collect()
}
