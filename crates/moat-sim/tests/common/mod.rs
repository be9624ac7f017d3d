//! Plain-HTTP helpers shared by the integration tests (deliberately not moat-arm).
#![allow(dead_code)]

use moat_sim::{Limits, SimConfig, SimHandle};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;

pub const SUB: &str = "00000000-1111-2222-3333-444444444444";
pub const NET: &str = "2024-03-01";
pub const RES: &str = "2024-07-01";
pub const STORAGE: &str = "2023-05-01";
pub const KV: &str = "2023-07-01";
pub const ML: &str = "2024-04-01";
pub const AKS: &str = "2024-08-01";
pub const INSIGHTS: &str = "2020-02-02";
pub const ACR: &str = "2023-07-01";

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn code(&self) -> &str {
        self.body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    pub fn str(&self, ptr: &str) -> &str {
        self.body.pointer(ptr).and_then(Value::as_str).unwrap_or("")
    }
}

/// A tiny ARM client over reqwest.
pub struct Arm {
    pub base: String,
    pub client: reqwest::Client,
    pub token: Option<String>,
}

pub async fn start(config: SimConfig) -> (SimHandle, Arm) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = moat_sim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("sim starts");
    let arm = Arm {
        base: sim.url(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
        token: Some("dev-token".into()),
    };
    (sim, arm)
}

/// Instant provisioning, no throttling.
pub fn fast() -> SimConfig {
    SimConfig {
        time_scale: 0.0,
        limits: Limits::unlimited(),
        ..SimConfig::default()
    }
}

pub fn rg_path(rg: &str) -> String {
    format!("/subscriptions/{SUB}/resourcegroups/{rg}")
}

pub fn res(rg: &str, rest: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/{rest}")
}

impl Arm {
    pub async fn call(&self, method: &str, path: &str, api: &str, body: Option<Value>) -> Resp {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = if api.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}{sep}api-version={api}", self.base)
        };
        self.call_url(method, &url, body).await
    }

    pub async fn call_url(&self, method: &str, url: &str, body: Option<Value>) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.client.request(m, url);
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).unwrap());
        }
        let r = rb.send().await.expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, api: &str) -> Resp {
        self.call("GET", path, api, None).await
    }
    pub async fn put(&self, path: &str, api: &str, body: Value) -> Resp {
        self.call("PUT", path, api, Some(body)).await
    }
    pub async fn patch(&self, path: &str, api: &str, body: Value) -> Resp {
        self.call("PATCH", path, api, Some(body)).await
    }
    pub async fn delete(&self, path: &str, api: &str) -> Resp {
        self.call("DELETE", path, api, None).await
    }

    /// Follows an LRO to its end the way a client should; returns the last poll response.
    pub async fn wait(&self, r: &Resp) -> Option<Resp> {
        let ao = r.header("azure-asyncoperation");
        let loc = r.header("location");
        for _ in 0..200 {
            if let Some(url) = &ao {
                let p = self.call_url("GET", url, None).await;
                assert_eq!(p.status, 200, "async operation poll: {:?}", p.body);
                let s = p.str("/status").to_string();
                // ARM says `InProgress`; Azure ML's endpoints say `Updating` (and others
                // their provisioning words) until a terminal status.
                if s.is_empty() || matches!(s.as_str(), "Succeeded" | "Failed" | "Canceled") {
                    return Some(p);
                }
            } else if let Some(url) = &loc {
                let p = self.call_url("GET", url, None).await;
                if p.status != 202 {
                    return Some(p);
                }
            } else {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("operation did not finish");
    }

    /// Write + wait for the LRO to succeed.
    pub async fn put_wait(&self, path: &str, api: &str, body: Value) -> Resp {
        let r = self.put(path, api, body).await;
        assert!(r.status < 300, "PUT {path}: {} {}", r.status, r.body);
        if let Some(p) = self.wait(&r).await
            && p.body.get("status").is_some()
        {
            assert_eq!(p.str("/status"), "Succeeded", "{path}: {}", p.body);
        }
        r
    }
}
