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

    /// A draw from the triangular distribution over `min..=max` with its mode at `typical`
    /// (most recorded operations end near the typical time, a few take much longer), keyed by
    /// `seed` and `key`.
    pub fn draw(self, seed: u64, key: &str) -> f64 {
        if self.max <= self.min {
            return self.typical;
        }
        let u = unit(seed ^ util::stable_hash(key));
        let (lo, hi, mode) = (self.min, self.max, self.typical.clamp(self.min, self.max));
        let c = (mode - lo) / (hi - lo);
        let x = if u < c {
            lo + (u * (hi - lo) * (mode - lo)).sqrt()
        } else {
            hi - ((1.0 - u) * (hi - lo) * (hi - mode)).sqrt()
        };
        x.clamp(lo, hi)
    }
}

/// A number in `0..1` from a 64-bit key (splitmix64's finaliser, whose output bits are all
/// well mixed even for keys that differ in one bit).
fn unit(key: u64) -> f64 {
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
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
    /// Seed of the provisioning durations (`None`: every operation takes its typical time).
    pub seed: Option<u64>,
    /// The request carried `If-None-Match: *` (create only, never overwrite).
    pub if_none_match: bool,
    /// Seconds (before scaling) a new principal stays invisible to role assignments.
    pub replication_secs: f64,
}

/// A scaled polling interval, sent as `retry-after-ms` (exact) and `Retry-After` (whole
/// seconds, rounded up, for clients that read only that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Milliseconds.
    pub ms: u64,
}

impl Cadence {
    /// The `Retry-After` value: whole seconds, rounded up so a client that reads only this
    /// header never polls faster than the provider asks.
    pub fn secs(self) -> u64 {
        self.ms.div_ceil(1000)
    }

    /// Adds both headers to a list (`with_secs: false` leaves `Retry-After` out, for providers
    /// whose contract bounds it).
    pub fn headers(self, with_secs: bool) -> Vec<(String, String)> {
        let mut h = vec![("retry-after-ms".to_string(), self.ms.to_string())];
        if with_secs {
            h.push(("Retry-After".to_string(), self.secs().to_string()));
        }
        h
    }
}

/// What a request that only reads gets (a list): the emulated cloud, shared with the other
/// readers, and the request's clock and URL.
pub struct View<'a> {
    /// The emulated cloud.
    pub st: &'a State,
    /// Request time.
    pub now: f64,
    /// Query parameters.
    pub query: &'a [(String, String)],
    /// The full URL of the request (a list's `nextLink` is built from it).
    pub self_url: &'a str,
}

impl View<'_> {
    /// A query parameter (case-insensitive name).
    pub fn query(&self, name: &str) -> Option<&str> {
        query_of(self.query, name)
    }
}

fn query_of<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Ctx<'_> {
    /// A query parameter (case-insensitive name).
    pub fn query(&self, name: &str) -> Option<&str> {
        query_of(&self.query, name)
    }

    /// The request as a reader sees it.
    pub fn view(&self) -> View<'_> {
        View {
            st: self.st,
            now: self.now,
            query: &self.query,
            self_url: &self.self_url,
        }
    }

    /// Scaled duration.
    pub fn scaled(&self, secs: f64) -> f64 {
        secs * self.scale
    }

    /// The polling cadence of a provider that would send `Retry-After: secs` on Azure, at
    /// this time scale.
    pub fn cadence(&self, secs: f64) -> Cadence {
        let ms = (secs * self.scale * 1000.0).round();
        // Never 0 when the provider asks for a wait: azure-core treats 0 as "no advice" and
        // falls back to its own, much longer, default interval.
        let ms = if secs > 0.0 && ms.is_finite() {
            (ms as u64).max(1)
        } else {
            0
        };
        Cadence { ms }
    }

    /// The duration of an operation (`verb`) on `rp` described by `span`, in seconds before
    /// scaling: its typical value, or with a seed a draw from the span that depends only on
    /// the seed, the resource id and the verb (not on request order, so concurrent clients
    /// see the same durations on every run).
    pub fn secs(&self, span: Span, rp: &ResPath, verb: &str) -> f64 {
        match self.seed {
            None => span.typical,
            Some(seed) => span.draw(seed, &format!("{}#{verb}", rp.id().to_ascii_lowercase())),
        }
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
                self.st.resources_mut().insert(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(st: &mut State, scale: f64, seed: Option<u64>) -> Ctx<'_> {
        Ctx {
            st,
            now: 0.0,
            scale,
            base: String::new(),
            fail_lro: None,
            query: Vec::new(),
            self_url: String::new(),
            seed,
            if_none_match: false,
            replication_secs: 0.0,
        }
    }

    #[test]
    fn cadence_keeps_the_providers_interval_scaled() {
        let mut st = State::default();
        let c = ctx(&mut st, 0.01, None);
        assert_eq!(c.cadence(10.0), Cadence { ms: 100 });
        assert_eq!(c.cadence(10.0).secs(), 1, "never Retry-After: 0");
        assert_eq!(c.cadence(17.0).ms, 170);
        let c = ctx(&mut st, 1.0, None);
        assert_eq!((c.cadence(10.0).ms, c.cadence(10.0).secs()), (10_000, 10));
        assert_eq!(c.cadence(17.0).secs(), 17);
        let c = ctx(&mut st, 0.25, None);
        assert_eq!((c.cadence(10.0).ms, c.cadence(10.0).secs()), (2500, 3));
        // Instant emulation still advises a wait, the shortest one.
        let c = ctx(&mut st, 0.0, None);
        assert_eq!((c.cadence(10.0).ms, c.cadence(10.0).secs()), (1, 1));
        assert_eq!(c.cadence(0.0).ms, 0);
    }

    #[test]
    fn seeded_durations_are_reproducible_and_in_range() {
        let span = Span::new(300.0, 240.0, 600.0);
        let rp = |i: usize| ResPath {
            sub: "s".into(),
            rg: "rg".into(),
            kind: crate::kind::Kind::ManagedCluster,
            names: vec![format!("aks{i}")],
        };
        let mut st = State::default();
        let none: Vec<f64> = (0..50)
            .map(|i| ctx(&mut st, 1.0, None).secs(span, &rp(i), "put"))
            .collect();
        assert!(
            none.iter().all(|d| *d == 300.0),
            "no seed: the typical time"
        );
        let draws = |seed| -> Vec<f64> {
            let mut st = State::default();
            (0..200)
                .map(|i| ctx(&mut st, 1.0, Some(seed)).secs(span, &rp(i), "put"))
                .collect()
        };
        let a = draws(7);
        assert_eq!(a, draws(7), "same seed, same durations");
        assert_ne!(a, draws(8), "another seed, other durations");
        assert!(a.iter().all(|d| (240.0..=600.0).contains(d)), "{a:?}");
        let (lo, hi) = a
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), d| (l.min(*d), h.max(*d)));
        assert!(lo < 270.0 && hi > 500.0, "the range is used: {lo}..{hi}");
        // The mode is the typical time: more draws below the midpoint than above.
        let below = a.iter().filter(|d| **d < 420.0).count();
        assert!(below > 120, "{below} of 200 below the midpoint");
        // The key matters: the same resource's delete draws independently of its create.
        assert_ne!(
            ctx(&mut st, 1.0, Some(7)).secs(span, &rp(0), "put"),
            ctx(&mut st, 1.0, Some(7)).secs(span, &rp(0), "delete")
        );
        assert_eq!(Span::fixed(5.0).draw(7, "x"), 5.0);
    }
}
