//! Secret fields, between the spec and the wire. A kind's body writes a *marker* where a secret
//! goes (`(secret: env DSVM_SSH_KEY)`), never the value, so plans, saved plan files and the
//! journal hold only the marker. The CLI reads every secret of the model once ([`read`]); the
//! planner compares *fingerprints* — `hmac-sha256:<hex>`, keyed with the stack's fingerprint
//! key kept beside the state — so a rotated secret plans an update and an unchanged one
//! nothing, and the state records the fingerprint only; apply replaces each marker with its
//! value ([`fill`]) just before the request leaves.
//!
//! A literal secret (warned about, `W0130`) is marked by its position in the spec
//! (`(secret: literal at byte N)`): a saved plan is applied only with the very spec text it
//! was made from, so the position finds it again.

use crate::arm::Projection;
use crate::model::Model;
use hmac::{Hmac, Mac};
use moat_spec::secret::Secret;
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A marker's opening words.
const OPEN: &str = "(secret: ";

/// What a fingerprint starts with.
pub const FINGERPRINT_PREFIX: &str = "hmac-sha256:";

/// The marker a body writes for the secret `s`.
pub fn marker(s: &Spanned<Secret>) -> String {
    match &s.value {
        Secret::Env(n) => format!("{OPEN}env {n})"),
        Secret::File(p) => format!("{OPEN}file {p})"),
        Secret::Literal(_) => format!("{OPEN}literal at byte {})", s.span.start),
    }
}

/// True when `s` is a secret marker.
pub fn is_marker(s: &str) -> bool {
    s.starts_with(OPEN) && s.ends_with(')')
}

/// True when `v` is a fingerprint (what the plan and the state hold for a secret).
pub fn is_fingerprint(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.starts_with(FINGERPRINT_PREFIX))
}

/// `HMAC-SHA256(key, value)` as `hmac-sha256:<hex>`.
pub fn fingerprint(key: &[u8], value: &str) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(value.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{FINGERPRINT_PREFIX}{hex}")
}

/// The values of a model's secrets, by marker, with their fingerprints. Its `Debug` form
/// shows the markers only.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
    fingerprints: BTreeMap<String, String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("markers", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// No secrets.
    pub fn none() -> Secrets {
        Secrets::default()
    }

    /// The value behind `marker`.
    pub fn value(&self, marker: &str) -> Option<&str> {
        self.values.get(marker).map(String::as_str)
    }

    /// Marker → fingerprint, for the planner ([`crate::arm::MapContext::fingerprints`]).
    pub fn fingerprints(&self) -> &BTreeMap<String, String> {
        &self.fingerprints
    }

    /// Every value (tests grep outputs for them).
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.values.values().map(String::as_str)
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Where [`read`] looks.
pub struct Sources<'a> {
    /// Environment variables.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Reads a file.
    pub file: &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    /// The spec's directory: relative `file:` paths start there.
    pub base: &'a Path,
}

/// Drops one trailing line break (`echo "$KEY" > file` adds one).
fn chomp(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// Reads every secret of `model`, fingerprinting each with `key`. A variable that is unset or
/// empty, or a file that cannot be read, is empty or is not UTF-8, is a located error
/// (`E0130`) at the reference; no message ever quotes a value.
pub fn read(model: &Model, src: &Sources<'_>, key: &[u8]) -> (Secrets, Vec<Diagnostic>) {
    let mut out = Secrets::default();
    let mut diags = Vec::new();
    for s in &model.secrets {
        let m = marker(s);
        if out.values.contains_key(&m) {
            continue;
        }
        let value = match &s.value {
            Secret::Literal(t) => Ok(t.0.clone()),
            Secret::Env(n) => match (src.env)(n) {
                Some(v) if !v.is_empty() => Ok(v),
                Some(_) => Err((
                    format!("environment variable `{n}` is empty"),
                    format!("put the secret in `{n}` before running moat"),
                )),
                None => Err((
                    format!("environment variable `{n}` is not set"),
                    format!(
                        "set `{n}` to the secret (it is read, fingerprinted and sent, never stored)"
                    ),
                )),
            },
            Secret::File(p) => {
                let path = expand(p, src);
                let shown = moat_spec::diag::escape_text(p);
                match (src.file)(&path) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(t) if !chomp(t.clone()).is_empty() => Ok(chomp(t)),
                        Ok(_) => Err((
                            format!("secret file `{shown}` is empty"),
                            "put the secret in the file".to_string(),
                        )),
                        Err(_) => Err((
                            format!("secret file `{shown}` is not UTF-8 text"),
                            "secrets are sent as JSON strings; store the key in its text (PEM/OpenSSH) form".to_string(),
                        )),
                    },
                    Err(e) => Err((
                        format!("cannot read secret file `{shown}`: {}", io_reason(&e)),
                        format!(
                            "relative paths start at the spec's directory ({})",
                            moat_spec::diag::escape_text(&src.base.display().to_string())
                        ),
                    )),
                }
            }
        };
        match value {
            Ok(v) => {
                out.fingerprints.insert(m.clone(), fingerprint(key, &v));
                out.values.insert(m, v);
            }
            Err((message, hint)) => diags.push(
                Diagnostic::error(codes::E0130, message, s.span)
                    .label("the secret is read from here")
                    .hint(hint),
            ),
        }
    }
    (out, diags)
}

/// The reason of an IO error, without the OS's own wording of the path.
fn io_reason(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file",
        std::io::ErrorKind::PermissionDenied => "permission denied",
        std::io::ErrorKind::IsADirectory => "it is a directory",
        _ => "it cannot be read",
    }
}

/// A `file:` path: `~/` is the home directory, a relative path starts at the spec's directory.
fn expand(p: &str, src: &Sources<'_>) -> std::path::PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = (src.env)("HOME")
    {
        return Path::new(&home).join(rest);
    }
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        src.base.join(path)
    }
}

/// Replaces every marker in a projection by its fingerprint (markers without one — secrets
/// that were not read — stay, and compare as themselves).
pub fn fingerprinted(mut p: Projection, fingerprints: &BTreeMap<String, String>) -> Projection {
    for v in p.values_mut() {
        if let Some(f) = v.as_str().and_then(|s| fingerprints.get(s)) {
            *v = Value::String(f.clone());
        }
    }
    p
}

/// A marker of `body` whose secret is not among `secrets`.
#[derive(Debug, thiserror::Error)]
#[error("the secret {0} was not read; run `moat plan` (or `apply`) with it available")]
pub struct Unresolved(pub String);

/// Replaces every marker in `body` by its value: the last step before a request is sent.
pub fn fill(body: &mut Value, secrets: &Secrets) -> Result<(), Unresolved> {
    let mut stack = vec![body];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => stack.extend(m.values_mut()),
            Value::Array(a) => stack.extend(a.iter_mut()),
            Value::String(s) if is_marker(s) => match secrets.value(s) {
                Some(x) => *s = x.to_string(),
                None => {
                    return Err(Unresolved(
                        s.trim_start_matches(OPEN).trim_end_matches(')').to_string(),
                    ));
                }
            },
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprints_are_keyed_and_stable() {
        let a = fingerprint(b"k1", "value");
        assert_eq!(a, fingerprint(b"k1", "value"));
        assert_ne!(a, fingerprint(b"k2", "value"));
        assert_ne!(a, fingerprint(b"k1", "value2"));
        assert!(is_fingerprint(&json!(a)));
        assert!(!a.contains("value"));
    }

    #[test]
    fn markers_fill_and_unknown_ones_fail() {
        let s = Spanned::new(Secret::Env("K".into()), moat_spec::Span::new(3, 9));
        let m = marker(&s);
        assert!(is_marker(&m));
        let mut secrets = Secrets::default();
        secrets.values.insert(m.clone(), "v".into());
        let mut body = json!({ "a": [ { "b": m } ], "c": "(other)" });
        fill(&mut body, &secrets).expect("filled");
        assert_eq!(body, json!({ "a": [ { "b": "v" } ], "c": "(other)" }));
        let mut body = json!({ "x": "(secret: env OTHER)" });
        let e = fill(&mut body, &secrets).unwrap_err();
        assert!(e.to_string().contains("env OTHER"), "{e}");
    }

    #[test]
    fn chomp_drops_one_line_break() {
        assert_eq!(chomp("k\n".into()), "k");
        assert_eq!(chomp("k\r\n".into()), "k");
        assert_eq!(chomp("k\n\n".into()), "k\n");
    }
}
