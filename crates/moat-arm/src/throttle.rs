//! Client-side throttling: token buckets per subscription for reads, writes and deletes, seeded
//! from ARM's published limits and corrected from `x-ms-ratelimit-remaining-*` headers, so a
//! large plan slows itself down instead of tripping 429s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The three budgets ARM keeps per subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestClass {
    /// GET (including long-running-operation polls).
    Read,
    /// PUT, PATCH, POST.
    Write,
    /// DELETE.
    Delete,
}

/// One token bucket's shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketLimit {
    /// Tokens available at once (and the bucket's capacity).
    pub burst: u32,
    /// Tokens added per second.
    pub refill_per_sec: f64,
}

/// The client-side budgets; the defaults are ARM's published per-subscription token buckets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientLimits {
    /// GET budget (ARM: 250 burst, 25/s).
    pub reads: BucketLimit,
    /// PUT/PATCH/POST budget (ARM: 200 burst, 10/s).
    pub writes: BucketLimit,
    /// DELETE budget (ARM: 200 burst, 10/s).
    pub deletes: BucketLimit,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            reads: BucketLimit {
                burst: 250,
                refill_per_sec: 25.0,
            },
            writes: BucketLimit {
                burst: 200,
                refill_per_sec: 10.0,
            },
            deletes: BucketLimit {
                burst: 200,
                refill_per_sec: 10.0,
            },
        }
    }
}

impl ClientLimits {
    /// Budgets so large they never delay a request (for tests that measure other things).
    pub fn unlimited() -> Self {
        let huge = BucketLimit {
            burst: u32::MAX,
            refill_per_sec: 1e12,
        };
        ClientLimits {
            reads: huge,
            writes: huge,
            deletes: huge,
        }
    }

    fn limit(&self, class: RequestClass) -> BucketLimit {
        match class {
            RequestClass::Read => self.reads,
            RequestClass::Write => self.writes,
            RequestClass::Delete => self.deletes,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The share of a bucket's burst the client lets itself use. ARM's bucket starts when ARM sees
/// the first request, ours when we send it; under a burst the first request may wait longer
/// in queues than later ones, so ARM's bucket can lag ours. Keeping 10% in reserve (a full
/// second of reads) absorbs that skew; refill rates are kept exact.
const BURST_HEADROOM: f64 = 0.9;

fn capacity(limit: BucketLimit) -> f64 {
    (f64::from(limit.burst) * BURST_HEADROOM).floor().max(1.0)
}

/// The buckets of every subscription seen so far.
#[derive(Debug)]
pub(crate) struct Throttle {
    limits: ClientLimits,
    buckets: Mutex<HashMap<(String, RequestClass), Bucket>>,
}

impl Throttle {
    pub(crate) fn new(limits: ClientLimits) -> Self {
        Throttle {
            limits,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from the bucket, or says how long until one is available.
    fn try_take(&self, subscription: &str, class: RequestClass) -> Result<(), Duration> {
        let limit = self.limits.limit(class);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets
            .entry((subscription.to_ascii_lowercase(), class))
            .or_insert_with(|| Bucket {
                tokens: capacity(limit),
                updated: now,
            });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.refill_per_sec).min(capacity(limit));
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            let secs = missing / limit.refill_per_sec.max(1e-9);
            Err(Duration::from_secs_f64(secs.min(3600.0)).max(Duration::from_millis(1)))
        }
    }

    /// Waits until the subscription's bucket for `class` has a token, and takes it.
    pub(crate) async fn acquire(&self, subscription: &str, class: RequestClass) {
        while let Err(wait) = self.try_take(subscription, class) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Lowers the bucket to what ARM says is left; never raises it (our own count already
    /// includes requests ARM has not seen yet).
    pub(crate) fn observe_remaining(
        &self,
        subscription: &str,
        class: RequestClass,
        remaining: u64,
    ) {
        let limit = self.limits.limit(class);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets
            .entry((subscription.to_ascii_lowercase(), class))
            .or_insert_with(|| Bucket {
                tokens: capacity(limit),
                updated: now,
            });
        // Precision loss is irrelevant: bucket sizes are far below 2^52.
        #[allow(clippy::cast_precision_loss)]
        let remaining = remaining as f64;
        if remaining < bucket.tokens {
            bucket.tokens = remaining;
        }
    }

    /// After a 429, empties the bucket so concurrent requests wait too.
    pub(crate) fn observe_throttled(&self, subscription: &str, class: RequestClass) {
        self.observe_remaining(subscription, class, 0);
    }

    #[cfg(test)]
    fn tokens(&self, subscription: &str, class: RequestClass) -> Option<f64> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .get(&(subscription.to_ascii_lowercase(), class))
            .map(|b| b.tokens)
    }
}

/// Maps a `x-ms-ratelimit-remaining-*` header name to the bucket it reports on.
pub(crate) fn class_of_header(name: &str) -> Option<RequestClass> {
    let rest = name
        .to_ascii_lowercase()
        .strip_prefix("x-ms-ratelimit-remaining-subscription-")?
        .to_owned();
    match rest.as_str() {
        "reads" | "global-reads" => Some(RequestClass::Read),
        "writes" | "global-writes" => Some(RequestClass::Write),
        "deletes" | "global-deletes" => Some(RequestClass::Delete),
        _ => None,
    }
}

/// The subscription id in an ARM path (`/subscriptions/{id}/…`), lower-cased; empty if none.
pub(crate) fn subscription_of(path: &str) -> String {
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    while let Some(segment) = segments.next() {
        if segment.eq_ignore_ascii_case("subscriptions") {
            return segments.next().unwrap_or_default().to_ascii_lowercase();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_arms_published_limits() {
        let l = ClientLimits::default();
        assert_eq!((l.reads.burst, l.reads.refill_per_sec), (250, 25.0));
        assert_eq!((l.writes.burst, l.writes.refill_per_sec), (200, 10.0));
        assert_eq!((l.deletes.burst, l.deletes.refill_per_sec), (200, 10.0));
    }

    #[test]
    fn burst_then_wait() {
        let limits = ClientLimits {
            reads: BucketLimit {
                burst: 4,
                refill_per_sec: 10.0,
            },
            ..ClientLimits::default()
        };
        let t = Throttle::new(limits);
        for _ in 0..3 {
            assert!(t.try_take("s", RequestClass::Read).is_ok());
        }
        let wait = t
            .try_take("s", RequestClass::Read)
            .expect_err("bucket empty");
        assert!(
            wait <= Duration::from_millis(101) && wait >= Duration::from_millis(50),
            "{wait:?}"
        );
        // Other classes and subscriptions have their own buckets.
        assert!(t.try_take("s", RequestClass::Write).is_ok());
        assert!(t.try_take("other", RequestClass::Read).is_ok());
    }

    #[test]
    fn headers_only_lower_the_bucket() {
        let t = Throttle::new(ClientLimits::default());
        t.observe_remaining("S", RequestClass::Read, 11_999);
        // 10% of the burst is kept in reserve.
        assert_eq!(t.tokens("s", RequestClass::Read), Some(225.0));
        t.observe_remaining("s", RequestClass::Read, 7);
        assert_eq!(t.tokens("s", RequestClass::Read), Some(7.0));
        t.observe_throttled("s", RequestClass::Write);
        assert_eq!(t.tokens("s", RequestClass::Write), Some(0.0));
    }

    #[tokio::test]
    async fn acquire_waits_for_refill() {
        let limits = ClientLimits {
            deletes: BucketLimit {
                burst: 1,
                refill_per_sec: 50.0,
            },
            ..ClientLimits::default()
        };
        let t = Throttle::new(limits);
        let start = Instant::now();
        for _ in 0..4 {
            t.acquire("s", RequestClass::Delete).await;
        }
        // 3 refills at 50/s need at least 60 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(55),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn header_names_and_subscriptions() {
        assert_eq!(
            class_of_header("x-ms-ratelimit-remaining-subscription-reads"),
            Some(RequestClass::Read)
        );
        assert_eq!(
            class_of_header("X-MS-RateLimit-Remaining-Subscription-Global-Writes"),
            Some(RequestClass::Write)
        );
        assert_eq!(
            class_of_header("x-ms-ratelimit-remaining-subscription-deletes"),
            Some(RequestClass::Delete)
        );
        assert_eq!(
            class_of_header("x-ms-ratelimit-remaining-tenant-reads"),
            None
        );
        assert_eq!(
            subscription_of("/subscriptions/ABC/resourceGroups/rg"),
            "abc"
        );
        assert_eq!(subscription_of("/providers/Microsoft.Resources"), "");
    }
}
