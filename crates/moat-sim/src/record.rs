//! Recording of exchanges as traffic files that `validate-traffic` (oav) reads, with secrets
//! redacted the way moat's own HTTP log does, so a recording can be shared or committed.

use serde_json::{Map, Value, json};

/// What replaces a redacted value.
pub const REDACTED: &str = "<redacted>";

/// Parts of a property or query parameter name (any case) that mark a string value as a
/// secret: the same rule as moat's `--log-http` trace.
const SECRET_NAME_PARTS: &[&str] = &["secret", "password", "token", "connectionstring"];

/// Properties marked `"x-ms-secret": true` in the API definitions under
/// `../shared/arm/specs` (every provider there, not only the emulated api-versions); their
/// string values are redacted. The object-valued ones (`keys`, `secrets`, `customHeaders`)
/// hold secret-named strings that are redacted by name, while the same names elsewhere hold
/// enums that must stay (a vault's `permissions.keys: ["get"]`). A unit test checks the list
/// against the definitions when they are present.
pub const X_MS_SECRET: &[&str] = &[
    "accessToken",
    "adminUserPassword",
    "adminUserSshPublicKey",
    "appInsightsInstrumentationKey",
    "cert",
    "clientSecret",
    "configurationProtectedSettings",
    "customHeaders",
    "developerToken",
    "key",
    "keys",
    "password",
    "primaryAccessKey",
    "privateKeyData",
    "publicKeyData",
    "refreshToken",
    "relayConnectionString",
    "sasUri",
    "secondaryAccessKey",
    "secrets",
    "securityToken",
    "serviceBusConnectionString",
    "serviceUri",
    "sharedKey",
    "sshPassword",
    "userStorageKey",
];

/// `x-ms-secret` maps whose every value is a secret whatever its key's name (an extension's
/// protected settings: `sslKeyPemFile`, …).
const SECRET_MAPS: &[&str] = &["configurationProtectedSettings", "protectedSettings"];

/// Whether a string under this name may be a secret: a secret-named part, or a name ending in
/// `key` (`InstrumentationKey`, `primaryKey`). Discriminators (`secretsType`, `tokenType`) are
/// enums naming a kind of secret, never one, and must keep their value for the recording to
/// match the API definitions.
fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with("type") {
        return false;
    }
    SECRET_NAME_PARTS.iter().any(|p| lower.contains(p)) || lower.ends_with("key") || lower == "sig"
}

/// Whether the API definitions mark this property `x-ms-secret`.
fn x_ms_secret(name: &str) -> bool {
    X_MS_SECRET.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// A copy of `value` with secrets replaced by [`REDACTED`]: every string under an
/// `x-ms-secret` property or a secret-named key, at any depth. Non-string values under
/// secret-looking names (`keyPolicy`, `allowSharedKeyAccess`, `permissions.keys`) are kept so
/// the recording still matches the API definitions.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if v.is_string() && (x_ms_secret(k) || secret_name(k)) {
                        Value::String(REDACTED.to_string())
                    } else if SECRET_MAPS.iter().any(|s| s.eq_ignore_ascii_case(k))
                        && let Value::Object(m) = v
                    {
                        Value::Object(
                            m.iter()
                                .map(|(k, _)| (k.clone(), Value::String(REDACTED.to_string())))
                                .collect(),
                        )
                    } else {
                        redact(v)
                    };
                    (k.clone(), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// The URL with the values of secret-named query parameters redacted.
fn redact_url(url: &str) -> String {
    let Some((path, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if secret_name(k) || x_ms_secret(k) => format!("{k}={REDACTED}"),
            _ => p.to_string(),
        })
        .collect();
    format!("{path}?{}", params.join("&"))
}
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes one JSON file per exchange into a directory.
#[derive(Debug)]
pub struct Recorder {
    dir: PathBuf,
    seq: AtomicU64,
}

/// One exchange to record.
pub struct Exchange<'a> {
    /// Method.
    pub method: &'a str,
    /// Full URL with query.
    pub url: &'a str,
    /// Request headers.
    pub req_headers: Vec<(String, String)>,
    /// Request body, parsed.
    pub req_body: Option<Value>,
    /// Response status.
    pub status: u16,
    /// Response headers.
    pub resp_headers: Vec<(String, String)>,
    /// Response body.
    pub resp_body: Option<Value>,
}

impl Recorder {
    /// A recorder writing into `dir` (created if needed).
    pub fn new(dir: PathBuf) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(&dir)?;
        // Continue numbering after files already there, so restarts never overwrite.
        let start = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.split('-').next())
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .max()
            .map_or(0, |m| m + 1);
        Ok(Recorder {
            dir,
            seq: AtomicU64::new(start),
        })
    }

    /// Writes the exchange; IO errors are reported once on stderr and otherwise ignored,
    /// because a full disk must not change what the emulator answers.
    pub fn write(&self, ex: Exchange<'_>) {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let path_part = ex.url.split('?').next().unwrap_or("");
        let last = path_part.rsplit('/').next().unwrap_or("root");
        let safe: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        let file = self.dir.join(format!("{n:05}-{}-{safe}.json", ex.method));
        let headers = |h: &[(String, String)]| {
            let mut m = Map::new();
            for (k, v) in h {
                let k = k.to_ascii_lowercase();
                let v = if k == "authorization" {
                    "Bearer <redacted>".to_string()
                } else {
                    v.clone()
                };
                m.insert(k, json!(v));
            }
            Value::Object(m)
        };
        let doc = json!({
            "liveRequest": {
                "method": ex.method,
                "url": redact_url(ex.url),
                "headers": headers(&ex.req_headers),
                "body": ex.req_body.as_ref().map_or(Value::Null, redact),
            },
            "liveResponse": {
                "statusCode": ex.status.to_string(),
                "headers": headers(&ex.resp_headers),
                "body": ex.resp_body.as_ref().map_or(Value::Null, redact),
            }
        });
        let text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        // Written aside and renamed, so a reader listing the directory while the emulator
        // serves (a test counting PUTs mid-apply) never sees half a file.
        let partial = self.dir.join(format!(".{n:05}.partial"));
        if let Err(e) =
            std::fs::write(&partial, text).and_then(|()| std::fs::rename(&partial, &file))
        {
            eprintln!("moat sim: cannot write recording {}: {e}", file.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_and_schema_shapes_stay() {
        let body = json!({
            "properties": {
                "InstrumentationKey": "1111-2222",
                "ConnectionString": "InstrumentationKey=1111-2222;IngestionEndpoint=https://x/",
                "servicePrincipalProfile": {"clientId": "abc", "secret": "s3cret"},
                "userAccountCredentials": {"adminUserName": "azure", "adminUserPassword": "pw"},
                "sslConfiguration": {"status": "Enabled", "key": "PEM", "cert": "PEM"},
                "keyPolicy": {"keyExpirationPeriodInDays": 7},
                "allowSharedKeyAccess": true,
                "keySource": "Microsoft.Storage",
                "list": [{"password": "x"}, {"name": "kept"}],
                "accessPolicies": [{"permissions": {"keys": ["get"], "secrets": ["list"]}}],
                "secrets": {"secretsType": "AccountKey", "key": "k3y"},
                "appInsightsInstrumentationKey": null
            }
        });
        let r = redact(&body);
        let p = &r["properties"];
        for ptr in [
            "/InstrumentationKey",
            "/ConnectionString",
            "/servicePrincipalProfile/secret",
            "/userAccountCredentials/adminUserPassword",
            "/sslConfiguration/key",
            "/sslConfiguration/cert",
            "/list/0/password",
        ] {
            assert_eq!(p.pointer(ptr), Some(&json!(REDACTED)), "{ptr}");
        }
        assert_eq!(p["servicePrincipalProfile"]["clientId"], "abc");
        assert_eq!(p["userAccountCredentials"]["adminUserName"], "azure");
        assert_eq!(p["keyPolicy"], json!({"keyExpirationPeriodInDays": 7}));
        assert_eq!(p["allowSharedKeyAccess"], true);
        assert_eq!(p["keySource"], "Microsoft.Storage");
        assert_eq!(p["list"][1]["name"], "kept");
        assert_eq!(
            p["accessPolicies"][0]["permissions"],
            json!({"keys": ["get"], "secrets": ["list"]})
        );
        assert_eq!(p["secrets"]["key"], REDACTED);
        assert_eq!(p["secrets"]["secretsType"], "AccountKey");
        assert!(p["appInsightsInstrumentationKey"].is_null());
        assert!(!r.to_string().contains("1111-2222"));
    }

    /// Every `"x-ms-secret": true` property of the API definitions, when they can be found.
    fn spec_secrets(dir: &std::path::Path, out: &mut Vec<String>) {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::Object(props)) = m.get("properties") {
                        for (name, p) in props {
                            if p.get("x-ms-secret") == Some(&Value::Bool(true)) {
                                out.push(name.clone());
                            }
                        }
                    }
                    m.values().for_each(|v| walk(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                spec_secrets(&path, out);
            } else if path.extension().is_some_and(|e| e == "json")
                && let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
            {
                walk(&v, out);
            }
        }
    }

    #[test]
    fn every_x_ms_secret_of_the_definitions_is_listed() {
        let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let specs = [
            std::env::var_os("ARM_ORACLE_DIR").map(std::path::PathBuf::from),
            Some(manifest.join("../../../shared/arm")),
            Some(manifest.join("../../shared/arm")),
        ]
        .into_iter()
        .flatten()
        .map(|d| d.join("specs"))
        .find(|d| d.is_dir());
        let Some(specs) = specs else {
            eprintln!("API definitions not found; skipping");
            return;
        };
        let mut found = Vec::new();
        spec_secrets(&specs, &mut found);
        assert!(found.len() > 10, "found only {found:?}");
        let missing: Vec<&String> = found.iter().filter(|n| !x_ms_secret(n)).collect();
        assert!(missing.is_empty(), "not in X_MS_SECRET: {missing:?}");
        for name in &found {
            let v = redact(&json!({ name.as_str(): "value" }));
            assert_eq!(v[name.as_str()], REDACTED, "{name}");
        }
    }

    #[test]
    fn secret_query_parameters_are_redacted() {
        assert_eq!(
            redact_url("http://h/x?api-version=1&sig=abc&sasToken=t"),
            "http://h/x?api-version=1&sig=<redacted>&sasToken=<redacted>"
        );
        assert_eq!(redact_url("http://h/x"), "http://h/x");
    }
}
