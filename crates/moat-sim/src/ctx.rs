//! What a handler gets for one request: the emulated cloud, the request's clock and URLs, and
//! the helpers that store a write and scale its duration.

use crate::kind::ResPath;
use crate::store::{Record, State};
use crate::util;
use serde_json::Value;

/// How long an operation of a kind takes, in seconds before `--time-scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// The duration used when no seed is given (and the bench's bound).
    pub typical: f64,
    /// Shortest duration a seeded draw gives.
    pub min: f64,
    /// Longest duration a seeded draw gives.
    pub max: f64,
}

impl Span {
    /// A duration that never varies.
    pub const fn fixed(secs: f64) -> Span {
        Span {
            typical: secs,
            min: secs,
            max: secs,
        }
    }

    /// A duration of `typical` seconds that a seeded run draws from `min..=max`.
    pub const fn new(typical: f64, min: f64, max: f64) -> Span {
        Span { typical, min, max }
    }
}

/// Everything a kind handler needs for one request.
pub struct Ctx<'a> {
    /// The emulated cloud.
    pub st: &'a mut State,
    /// Request time.
    pub now: f64,
    /// `--time-scale`.
    pub scale: f64,
    /// `http://host` the client used, for LRO URLs.
    pub base: String,
    /// A fault rule asked for the next LRO to end `Failed`.
    pub fail_lro: Option<(String, String)>,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// The full URL of the request (poll endpoints hand it back in `Location`).
    pub self_url: String,
}

impl Ctx<'_> {
    /// A query parameter (case-insensitive name).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Scaled duration.
    pub fn scaled(&self, secs: f64) -> f64 {
        secs * self.scale
    }

    /// Scaled `Retry-After` value.
    pub fn retry_after(&self, secs: f64) -> u64 {
        (secs * self.scale).round().max(0.0) as u64
    }

    /// The duration of an operation on `rp` described by `span`, before scaling.
    pub fn secs(&self, span: Span, _rp: &ResPath, _verb: &str) -> f64 {
        span.typical
    }

    /// Stores a resource after a write and returns whether it was created.
    ///
    /// The resource is busy (`transitional`) for `secs` scaled seconds; a pending LRO fault
    /// makes it end `Failed`.
    pub fn commit(&mut self, rp: &ResPath, body: Value, secs: f64, transitional: &str) -> bool {
        let until = self.now + self.scaled(secs);
        let failed = self.fail_lro.is_some();
        let etag = util::weak_etag();
        match self.st.get_mut(&rp.id()) {
            Some(rec) => {
                rec.body = body;
                rec.modified = self.now;
                rec.busy_until = until;
                rec.transitional = transitional.to_string();
                rec.failed = failed;
                rec.etag = etag;
                false
            }
            None => {
                let id = rp.id();
                self.st.resources.insert(
                    id.to_ascii_lowercase(),
                    Record {
                        id,
                        kind: rp.kind,
                        sub: rp.sub.clone(),
                        rg: rp.rg.clone(),
                        body,
                        created: self.now,
                        modified: self.now,
                        busy_until: until,
                        transitional: transitional.to_string(),
                        failed,
                        deleting_until: None,
                        etag,
                    },
                );
                true
            }
        }
    }

    /// Gives the parent a new etag (Network children share their parent's etag).
    pub fn touch_parent(&mut self, rp: &ResPath) {
        if let Some(pid) = rp.parent_id()
            && let Some(p) = self.st.get_mut(&pid)
        {
            p.etag = util::weak_etag();
        }
    }
}
