//! Recording of exchanges as traffic files that `validate-traffic` (oav) reads.

use serde_json::{Map, Value, json};
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
                "url": ex.url,
                "headers": headers(&ex.req_headers),
                "body": ex.req_body.unwrap_or(Value::Null),
            },
            "liveResponse": {
                "statusCode": ex.status.to_string(),
                "headers": headers(&ex.resp_headers),
                "body": ex.resp_body.unwrap_or(Value::Null),
            }
        });
        let text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        if let Err(e) = std::fs::write(&file, text) {
            eprintln!("moat sim: cannot write recording {}: {e}", file.display());
        }
    }
}
