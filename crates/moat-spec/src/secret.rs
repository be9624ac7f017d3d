//! Secret fields: a value moat sends to Azure but never shows or stores. A spec writes a
//! *reference* — `{ env: NAME }` or `{ file: PATH }` — which the CLI reads when it plans (to
//! compare fingerprints) and when it applies (to send the value). A literal string is
//! accepted with a warning ([`codes::W0130`]): it sits in the spec file, where secrets do not
//! belong.
//!
//! Nothing here ever echoes the text of a literal: its `Debug` form is redacted and no
//! diagnostic quotes it.

use crate::codes;
use crate::decode::{Cx, Decode, MapReader};
use crate::diag::Diagnostic;
use crate::span::Spanned;
use crate::yaml::{Node, Value};
use serde_json::json;

/// The text of a secret written literally in the spec; its `Debug` form hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

/// A value of a secret field, as the spec wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    /// `{ env: NAME }`: the value of an environment variable of the process running moat.
    Env(String),
    /// `{ file: PATH }`: the contents of a file (relative paths from the spec's directory;
    /// one trailing newline is dropped).
    File(String),
    /// A literal string in the spec (warned about).
    Literal(SecretText),
}

impl Secret {
    /// How the value is referred to in messages and plans: `env DSVM_KEY`, `file ./id`, or
    /// `a literal in the spec` — never the value.
    pub fn describe(&self) -> String {
        match self {
            Secret::Env(n) => format!("environment variable `{n}`"),
            Secret::File(p) => format!("file `{}`", crate::diag::escape_text(p)),
            Secret::Literal(_) => "a literal in the spec".to_string(),
        }
    }
}

/// True for a valid environment variable name.
fn env_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Decode for Secret {
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
        let secret = match &node.value {
            Value::Scalar(s) => {
                // Interpolation errors name the expression, never the text around it.
                let text = cx.interpolate(&s.text, node.span)?;
                let mut d = Diagnostic::warning(
                    codes::W0130,
                    "a secret written literally in the spec",
                    node.span,
                )
                .label("literal secret")
                .hint(
                    "write a reference instead: `{ env: NAME }` (an environment variable) or `{ file: PATH }`; moat reads it when it plans and applies and never stores it",
                );
                if s.text.contains("${") {
                    d = d.note(
                        "an interpolated value is a literal too: a variable's value is recorded in saved plans",
                    );
                }
                cx.push(d);
                Secret::Literal(SecretText(text))
            }
            Value::Map(_) => {
                let mut r = MapReader::new(node, "secret reference", cx)?;
                let env = r.opt::<String>("env", cx);
                let file = r.opt::<String>("file", cx);
                let span = r.span();
                r.finish(cx, &["env", "file"]);
                match (env, file) {
                    (Some(e), None) => {
                        if !env_name_ok(&e.value) {
                            cx.push(
                                Diagnostic::error(
                                    codes::E0130,
                                    "not an environment variable name",
                                    e.span,
                                )
                                .label("letters, digits and `_`, not starting with a digit")
                                .hint("name the variable that holds the secret, e.g. `{ env: DSVM_SSH_KEY }`"),
                            );
                            return None;
                        }
                        Secret::Env(e.value)
                    }
                    (None, Some(f)) if !f.value.is_empty() => Secret::File(f.value),
                    (None, Some(f)) => {
                        cx.push(
                            Diagnostic::error(codes::E0130, "empty file path", f.span)
                                .label("no path")
                                .hint("name the file that holds the secret, e.g. `{ file: ~/.ssh/id_ed25519 }`"),
                        );
                        return None;
                    }
                    (Some(_), Some(_)) => {
                        cx.push(
                            Diagnostic::error(
                                codes::E0130,
                                "a secret reference names one source",
                                span,
                            )
                            .label("both `env` and `file`")
                            .hint("keep one: `{ env: NAME }` or `{ file: PATH }`"),
                        );
                        return None;
                    }
                    (None, None) => {
                        cx.push(
                            Diagnostic::error(codes::E0130, "an empty secret reference", span)
                                .label("no source")
                                .hint("write `{ env: NAME }` or `{ file: PATH }`"),
                        );
                        return None;
                    }
                }
            }
            _ => {
                cx.type_error(
                    node,
                    "a secret reference (`{ env: NAME }` or `{ file: PATH }`)",
                );
                return None;
            }
        };
        cx.secrets.push(Spanned::new(secret.clone(), node.span));
        Some(secret)
    }

    fn schema() -> serde_json::Value {
        json!({
            "anyOf": [
                {
                    "type": "object",
                    "description": "Read from an environment variable when moat plans and applies; never stored.",
                    "properties": { "env": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" } },
                    "required": ["env"],
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "description": "Read from a file (relative to the spec's directory) when moat plans and applies; never stored.",
                    "properties": { "file": { "type": "string", "minLength": 1 } },
                    "required": ["file"],
                    "additionalProperties": false,
                },
                { "type": "string", "description": "A literal secret (warned about: use a reference)." },
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> (Option<Secret>, Vec<Diagnostic>, usize) {
        let node = crate::yaml::parse(text).expect("yaml");
        let env = |_: &str| None;
        let mut cx = Cx::new(text, &env);
        let v = Secret::decode(&node, &mut cx);
        let n = cx.secrets.len();
        (v, cx.diags, n)
    }

    #[test]
    fn references_decode_and_are_collected() {
        let (v, d, n) = decode("{ env: DSVM_KEY }");
        assert_eq!(v, Some(Secret::Env("DSVM_KEY".into())));
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(n, 1);
        let (v, _, _) = decode("{ file: keys/id }");
        assert_eq!(v, Some(Secret::File("keys/id".into())));
    }

    #[test]
    fn a_literal_warns_and_never_shows_its_text() {
        let (v, d, _) = decode("hunter2-s3cr3t");
        assert!(matches!(v, Some(Secret::Literal(_))));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, codes::W0130);
        let shown = format!("{v:?} {d:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn bad_references_are_located_errors() {
        for text in [
            "{ env: 1BAD }",
            "{ env: A, file: b }",
            "{}",
            "[a]",
            "{ file: '' }",
        ] {
            let (v, d, n) = decode(text);
            assert!(v.is_none(), "{text}");
            assert!(!d.is_empty(), "{text}");
            assert_eq!(n, 0, "{text}");
        }
    }
}
