//! Client-side throttling: ARM's budgets are per subscription and shared by every client in
//! it, so moat paces itself from what ARM says is left rather than assuming the whole bucket.
//!
//! # The rules
//!
//! For each subscription and class (reads, writes, deletes) the client keeps an estimate of
//! the tokens ARM has left, seeded from ARM's published bucket (90 % of the burst until ARM
//! has reported a count) and replaced by every `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` (and
//! `-global-*`) header: *remaining − our other requests still in flight*. Between headers the
//! estimate refills at the published rate, scaled by our share (below).
//!
//! * **Pacing.** While the estimate is above the *pace level* (one second of refill: 25
//!   reads, 10 writes or deletes; never more than half the bucket, for buckets that refill
//!   faster than their burst per second, as a time-scaled emulator's do) requests go out as fast as the caller sends them, at most
//!   one in flight per 16 tokens left — per 32 for 30 s after a header came in more than 3
//!   below our own count, i.e. showed other clients drawing on the bucket — so up to 16
//!   processes starting together cannot overdraw the burst in their first round trip. Below it, a client sends at
//!   `refill × (left − floor) / (level − floor)`, where the *floor* is 0.4 s of refill (10
//!   reads, 4 writes), and never slower than 1/32 of the refill. Every client in the
//!   subscription sees the same `left`, so *k* clients settle where their shares add up to
//!   the refill, at `left = floor + (level − floor) / k` tokens (10 reads + 15/k): together
//!   they use the whole refill and the bucket keeps a margin, with no coordination but the
//!   headers. A client alone leaves one second of refill unused.
//! * **429.** A 429 whose code is `SubscriptionRequestsThrottled`, or that reports 0 remaining
//!   for the class, empties the estimate and holds every request of that class in the
//!   subscription until `Retry-After` has passed (the wait the server named, never sooner);
//!   one reporting a resource-provider bucket (or carrying a throttling code without a
//!   subscription header) holds that provider only. Network's "another operation is in
//!   progress" 429 is about one resource: only that request waits (see [`crate::retry`]).
//! * **Resource-provider buckets** (`x-ms-ratelimit-remaining-subscription-resource-requests`,
//!   its `-pt5m`/`-pt1h` forms, `x-ms-ratelimit-remaining-resource`'s `name;count` lists)
//!   have no published size, so they are paced by what is left alone: below
//!   [`RP_LOW`] remaining, requests to that provider are spaced by
//!   `(RP_LOW − left) / RP_LOW` seconds (one a second when nothing is left).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng as _;
use tokio::sync::Notify;

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

/// The share of a bucket's burst the client lets itself use before ARM has said anything.
/// ARM's bucket starts when ARM sees the first request, ours when we send it; under a burst
/// the first request may wait longer in queues than later ones, so ARM's bucket can lag ours.
/// Keeping 10% in reserve absorbs that skew; refill rates are kept exact. Once a header has
/// said what ARM counts, the estimate may rise to the whole burst: the skew is measured.
const BURST_HEADROOM: f64 = 0.9;

/// Below this many seconds of refill left, a client paces itself (see the module doc).
const PACE_SECONDS: f64 = 1.0;

/// At this many seconds of refill left, a client sends at its slowest pace: the margin the
/// shared bucket keeps however many clients share it.
const PACE_FLOOR_SECONDS: f64 = 0.4;

/// The slowest pace, as a share of the published refill.
const MIN_SHARE: f64 = 1.0 / 32.0;

/// At most one request in flight per this many tokens left.
const TOKENS_PER_IN_FLIGHT: f64 = 16.0;

/// While other clients are seen drawing on the bucket: one request in flight per this many
/// tokens left (k clients starting together then overdraw nothing up to k = 32).
const TOKENS_PER_IN_FLIGHT_CROWDED: f64 = 32.0;

/// A header this many tokens below our own estimate shows another client.
const CROWDED_MARGIN: f64 = 3.0;

/// How long a sighting of another client keeps us careful.
const CROWDED_FOR: Duration = Duration::from_secs(30);

/// A header older than this no longer describes the shared bucket; the estimate then refills
/// at the full published rate.
const HEADER_FRESH: Duration = Duration::from_secs(1);

/// Resource-provider buckets are paced below this many requests left.
pub(crate) const RP_LOW: u64 = 20;

/// Hold after a throttling 429 that named no wait.
const DEFAULT_HOLD: Duration = Duration::from_secs(1);

fn capacity(limit: BucketLimit) -> f64 {
    (f64::from(limit.burst) * BURST_HEADROOM).floor().max(1.0)
}

/// One second of refill, but never more than half the bucket: a bucket that refills faster
/// than its burst per second (ARM's own do not; a time-scaled emulator's do) would otherwise
/// sit below its pace level even when full, and every request would go at the slowest pace.
fn pace_level(limit: BucketLimit) -> f64 {
    (limit.refill_per_sec * PACE_SECONDS)
        .min(capacity(limit) / 2.0)
        .max(1.0)
}

/// The same share of the pace level as [`PACE_FLOOR_SECONDS`] is of [`PACE_SECONDS`].
fn pace_floor(limit: BucketLimit) -> f64 {
    pace_level(limit) * (PACE_FLOOR_SECONDS / PACE_SECONDS)
}

#[derive(Debug)]
struct Bucket {
    /// Estimate of what ARM has left for the whole subscription.
    tokens: f64,
    updated: Instant,
    /// When our last request of this class went out (pacing counts from it).
    last_sent: Option<Instant>,
    /// After a 429: nothing of this class is sent before this.
    hold_until: Instant,
    in_flight: u32,
    last_header: Option<Instant>,
    /// A header showed others drawing on the bucket: send less at once until then.
    crowded_until: Option<Instant>,
}

impl Bucket {
    fn new(limit: BucketLimit, now: Instant) -> Bucket {
        Bucket {
            tokens: capacity(limit),
            updated: now,
            last_sent: None,
            hold_until: now,
            in_flight: 0,
            last_header: None,
            crowded_until: None,
        }
    }

    /// Our share of the refill: the pace we send at, as a fraction of the published rate.
    fn share(&self, limit: BucketLimit) -> f64 {
        let (floor, level) = (pace_floor(limit), pace_level(limit));
        ((self.tokens - floor) / (level - floor)).clamp(MIN_SHARE, 1.0)
    }

    /// The most the estimate may hold: the reserve is kept until ARM has reported a count.
    fn ceiling(&self, limit: BucketLimit) -> f64 {
        if self.last_header.is_some() {
            f64::from(limit.burst)
        } else {
            capacity(limit)
        }
    }

    /// How fast the estimate refills between headers.
    fn refill_rate(&self, limit: BucketLimit, now: Instant) -> f64 {
        let fresh = self
            .last_header
            .is_some_and(|t| now.saturating_duration_since(t) < HEADER_FRESH);
        // With fresh headers the others' consumption is in them; refilling at the full rate
        // between two of them would count the whole refill as ours.
        if fresh {
            limit.refill_per_sec * self.share(limit)
        } else {
            limit.refill_per_sec
        }
    }

    fn refresh(&mut self, limit: BucketLimit, now: Instant) {
        if now < self.updated {
            // Held after a 429: nothing refills before the hold ends.
            return;
        }
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        let rate = self.refill_rate(limit, now);
        self.tokens = (self.tokens + elapsed * rate).min(self.ceiling(limit));
        self.updated = now;
    }
}

#[derive(Debug)]
struct ProviderGate {
    next_at: Instant,
    hold_until: Instant,
    left: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<(String, RequestClass), Bucket>,
    providers: HashMap<(String, String), ProviderGate>,
}

/// Why a request cannot go yet.
#[derive(Debug, PartialEq)]
enum Wait {
    /// Try again after this long.
    For(Duration),
    /// Too many requests in flight: try again when one returns.
    InFlight,
}

/// The buckets of every subscription seen so far.
#[derive(Debug)]
pub(crate) struct Throttle {
    limits: ClientLimits,
    state: Mutex<State>,
    returned: Notify,
}

/// A request allowed out; dropping it says it is no longer in flight.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    throttle: &'a Throttle,
    subscription: String,
    provider: String,
    class: RequestClass,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.throttle.lock();
        if let Some(b) = state
            .buckets
            .get_mut(&(self.subscription.clone(), self.class))
        {
            b.in_flight = b.in_flight.saturating_sub(1);
        }
        drop(state);
        self.throttle.returned.notify_waiters();
    }
}

/// What one answer said about the budgets.
#[derive(Debug)]
pub(crate) struct Observed<'a> {
    pub(crate) status: u16,
    /// The ARM error code, for 429s.
    pub(crate) code: Option<&'a str>,
    /// Lower-case header names.
    pub(crate) headers: &'a BTreeMap<String, String>,
    /// The wait the server asked for.
    pub(crate) retry_after: Option<Duration>,
}

impl Throttle {
    pub(crate) fn new(limits: ClientLimits) -> Self {
        Throttle {
            limits,
            state: Mutex::new(State::default()),
            returned: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one token if the request may go now.
    fn try_take(
        &self,
        subscription: &str,
        provider: &str,
        class: RequestClass,
    ) -> Result<(), Wait> {
        let limit = self.limits.limit(class);
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(gate) = state
            .providers
            .get(&(subscription.to_owned(), provider.to_owned()))
        {
            let at = gate.hold_until.max(gate.next_at);
            if now < at {
                return Err(Wait::For(at - now));
            }
        }
        let bucket = state
            .buckets
            .entry((subscription.to_owned(), class))
            .or_insert_with(|| Bucket::new(limit, now));
        bucket.refresh(limit, now);
        if now < bucket.hold_until {
            return Err(Wait::For(bucket.hold_until - now));
        }
        // Below the pace level, the gap since our last request follows what is left now (a
        // header that raised the count shortens it).
        if bucket.tokens < pace_level(limit)
            && let Some(last) = bucket.last_sent
        {
            let rate = limit.refill_per_sec * bucket.share(limit);
            let at = last + Duration::from_secs_f64((1.0 / rate.max(1e-9)).min(3600.0));
            if now < at {
                return Err(Wait::For(at - now));
            }
        }
        if bucket.tokens < 1.0 {
            let rate = bucket.refill_rate(limit, now);
            let secs = (1.0 - bucket.tokens) / rate.max(1e-9);
            return Err(Wait::For(
                Duration::from_secs_f64(secs.min(3600.0)).max(Duration::from_millis(1)),
            ));
        }
        let per_request = if bucket.crowded_until.is_some_and(|t| now < t) {
            TOKENS_PER_IN_FLIGHT_CROWDED
        } else {
            TOKENS_PER_IN_FLIGHT
        };
        let allowed = (bucket.tokens / per_request).max(1.0);
        if f64::from(bucket.in_flight) >= allowed {
            return Err(Wait::InFlight);
        }
        bucket.tokens -= 1.0;
        bucket.in_flight += 1;
        bucket.last_sent = Some(now);
        if let Some(gate) = state
            .providers
            .get_mut(&(subscription.to_owned(), provider.to_owned()))
            && let Some(left) = gate.left
            && left < RP_LOW
        {
            #[allow(clippy::cast_precision_loss)]
            let spacing = (RP_LOW - left) as f64 / RP_LOW as f64;
            gate.next_at = now + Duration::from_secs_f64(spacing);
        }
        Ok(())
    }

    /// Waits until a request to `path` of `class` may go, and counts it as in flight.
    pub(crate) async fn acquire(&self, path: &str, class: RequestClass) -> Permit<'_> {
        let subscription = subscription_of(path);
        let provider = provider_of(path);
        loop {
            // Registered before looking, so a permit returned in between is not missed.
            let returned = self.returned.notified();
            match self.try_take(&subscription, &provider, class) {
                Ok(()) => {
                    return Permit {
                        throttle: self,
                        subscription,
                        provider,
                        class,
                    };
                }
                Err(Wait::For(wait)) => tokio::time::sleep(wait).await,
                Err(Wait::InFlight) => {
                    // The timeout only guards against a wake-up lost to a dropped future.
                    let _ = tokio::time::timeout(Duration::from_millis(100), returned).await;
                }
            }
        }
    }

    /// Takes in what one answer says about the budgets: the remaining counts (for the
    /// request's class and its provider) and, on a throttling 429, the hold.
    pub(crate) fn observe(&self, permit: &Permit<'_>, seen: &Observed<'_>) {
        let now = Instant::now();
        let mut subscription_left: HashMap<RequestClass, u64> = HashMap::new();
        let mut provider_left: Option<u64> = None;
        for (name, value) in seen.headers {
            if let Some(class) = class_of_header(name) {
                if let Ok(n) = value.trim().parse::<u64>() {
                    let e = subscription_left.entry(class).or_insert(n);
                    *e = (*e).min(n);
                }
            } else if is_provider_header(name)
                && let Some(n) = parse_remaining(value)
            {
                provider_left = Some(provider_left.map_or(n, |p| p.min(n)));
            }
        }
        let throttling_code = seen.code.is_some_and(|c| {
            let c = c.to_ascii_lowercase();
            c.contains("throttl") || c == "toomanyrequests"
        });
        let subscription_throttled = seen.status == 429
            && (seen.code == Some("SubscriptionRequestsThrottled")
                || subscription_left.get(&permit.class) == Some(&0));
        let provider_throttled = seen.status == 429
            && !subscription_throttled
            && (provider_left == Some(0) || throttling_code);
        let hold = seen
            .retry_after
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_HOLD);

        let mut state = self.lock();
        for (class, left) in subscription_left {
            let limit = self.limits.limit(class);
            let bucket = state
                .buckets
                .entry((permit.subscription.clone(), class))
                .or_insert_with(|| Bucket::new(limit, now));
            bucket.refresh(limit, now);
            // Our requests ARM has not counted yet (this one is counted: it was answered).
            let ours = if class == permit.class {
                bucket.in_flight.saturating_sub(1)
            } else {
                bucket.in_flight
            };
            bucket.last_header = Some(now);
            // A count above the bucket (the classic hourly limits) says only that it is full.
            #[allow(clippy::cast_precision_loss)]
            let left = ((left as f64).min(bucket.ceiling(limit)) - f64::from(ours)).max(0.0);
            // Our own estimate already counts what we sent; a count well below it is what
            // other clients took.
            if left < bucket.tokens - CROWDED_MARGIN {
                bucket.crowded_until = Some(now + CROWDED_FOR);
            }
            bucket.tokens = left;
        }
        if subscription_throttled {
            let limit = self.limits.limit(permit.class);
            let bucket = state
                .buckets
                .entry((permit.subscription.clone(), permit.class))
                .or_insert_with(|| Bucket::new(limit, now));
            // Every client told the same wait would come back at once and empty the bucket
            // again: spread the ends of the holds over a quarter of the wait.
            let until = now + hold + hold.mul_f64(rand::rng().random_range(0.0..0.25));
            bucket.hold_until = bucket.hold_until.max(until);
            // Nothing is counted as refilled during the hold, and the count stays "fresh" at
            // its end: one request goes then, and its answer tells what the others left.
            bucket.tokens = 1.0;
            bucket.updated = bucket.hold_until;
            bucket.last_header = Some(bucket.hold_until);
            bucket.last_sent = None;
        }
        if provider_left.is_some() || provider_throttled {
            let gate = state
                .providers
                .entry((permit.subscription.clone(), permit.provider.clone()))
                .or_insert_with(|| ProviderGate {
                    next_at: now,
                    hold_until: now,
                    left: None,
                });
            if provider_left.is_some() {
                gate.left = provider_left;
            }
            if provider_throttled {
                gate.hold_until = gate.hold_until.max(now + hold);
            }
        }
    }

    #[cfg(test)]
    fn tokens(&self, subscription: &str, class: RequestClass) -> Option<f64> {
        self.lock()
            .buckets
            .get(&(subscription.to_ascii_lowercase(), class))
            .map(|b| b.tokens)
    }
}

/// Maps a `x-ms-ratelimit-remaining-*` header name to the subscription bucket it reports on.
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

/// A header reporting a resource provider's own bucket.
fn is_provider_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("x-ms-ratelimit-remaining-subscription-resource-")
        || name == "x-ms-ratelimit-remaining-resource"
}

/// A remaining count: an integer, or Compute's `Policy;count,Policy;count` list (the least).
fn parse_remaining(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(n) = value.parse() {
        return Some(n);
    }
    value
        .split(',')
        .filter_map(|part| part.rsplit(';').next()?.trim().parse::<u64>().ok())
        .min()
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

/// The resource provider serving an ARM path: the namespace after its last `providers/`
/// (an extension resource is served by its own provider), lower-cased; empty if none.
pub(crate) fn provider_of(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segments
        .windows(2)
        .rev()
        .find(|w| w[0].eq_ignore_ascii_case("providers"))
        .map(|w| w[1].to_ascii_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str =
        "/subscriptions/S/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn answered(t: &Throttle, permit: Permit<'_>, status: u16, pairs: &[(&str, &str)]) {
        let h = headers(pairs);
        t.observe(
            &permit,
            &Observed {
                status,
                code: None,
                headers: &h,
                retry_after: None,
            },
        );
    }

    #[test]
    fn defaults_are_arms_published_limits() {
        let l = ClientLimits::default();
        assert_eq!((l.reads.burst, l.reads.refill_per_sec), (250, 25.0));
        assert_eq!((l.writes.burst, l.writes.refill_per_sec), (200, 10.0));
        assert_eq!((l.deletes.burst, l.deletes.refill_per_sec), (200, 10.0));
    }

    #[test]
    fn an_empty_bucket_waits_for_refill_and_buckets_are_separate() {
        let t = Throttle::new(ClientLimits::default());
        t.try_take("s", "p", RequestClass::Read).expect("first");
        {
            let mut state = t.lock();
            let b = state
                .buckets
                .get_mut(&("s".to_owned(), RequestClass::Read))
                .expect("bucket");
            b.tokens = 0.5;
            // Measured alone: no pacing gap since an earlier request.
            b.last_sent = None;
        }
        // Half a token at 25/s (no fresh header: the full published rate) is 20 ms away.
        let Err(Wait::For(wait)) = t.try_take("s", "p", RequestClass::Read) else {
            panic!("bucket empty");
        };
        assert!(
            wait >= Duration::from_millis(15) && wait <= Duration::from_millis(21),
            "{wait:?}"
        );
        // Other classes and subscriptions have their own buckets.
        assert!(t.try_take("s", "p", RequestClass::Write).is_ok());
        assert!(t.try_take("other", "p", RequestClass::Read).is_ok());
    }

    #[test]
    fn in_flight_is_capped_by_what_is_left() {
        let t = Throttle::new(ClientLimits::default());
        // 225 tokens, one in flight per 16 left: the n-th goes while n − 1 < (226 − n) / 16,
        // so 14 go at once, then the next waits for an answer.
        let mut n = 0;
        while t.try_take("s", "p", RequestClass::Read).is_ok() {
            n += 1;
        }
        assert_eq!(n, 14);
        assert_eq!(
            t.try_take("s", "p", RequestClass::Read),
            Err(Wait::InFlight)
        );
    }

    #[tokio::test]
    async fn a_count_below_our_own_shows_other_clients_and_halves_what_goes_at_once() {
        let t = Throttle::new(ClientLimits::default());
        let p = t.acquire(PATH, RequestClass::Read).await;
        // We count 224 left; ARM says 160: someone else took 64.
        answered(
            &t,
            p,
            200,
            &[("x-ms-ratelimit-remaining-subscription-reads", "160")],
        );
        let mut n = 0;
        while t
            .try_take("s", "microsoft.network", RequestClass::Read)
            .is_ok()
        {
            n += 1;
        }
        // One in flight per 32 left: n − 1 < (161 − n) / 32 holds up to n = 5.
        assert_eq!(n, 5);
    }

    #[tokio::test]
    async fn headers_set_the_estimate_less_what_is_in_flight() {
        let t = Throttle::new(ClientLimits::default());
        let a = t.acquire(PATH, RequestClass::Read).await;
        let b = t.acquire(PATH, RequestClass::Read).await;
        let _c = t.acquire(PATH, RequestClass::Read).await;
        // Before any header, 10 % of the burst is in reserve: 225 − our 3 in flight.
        assert_eq!(
            t.tokens("s", RequestClass::Read).map(f64::round),
            Some(222.0)
        );
        // The classic hourly bucket's large counts are capped at the whole burst, less the
        // two requests still in flight.
        answered(
            &t,
            a,
            200,
            &[("x-ms-ratelimit-remaining-subscription-reads", "11999")],
        );
        assert_eq!(t.tokens("s", RequestClass::Read), Some(248.0));
        // Another process used most of the bucket: 40 left, one more of ours in flight.
        answered(
            &t,
            b,
            200,
            &[("x-ms-ratelimit-remaining-subscription-reads", "40")],
        );
        let left = t.tokens("s", RequestClass::Read).expect("bucket");
        assert!((39.0..39.1).contains(&left), "{left}");
    }

    #[test]
    fn a_bucket_refilling_faster_than_its_burst_is_paced_below_half_of_it() {
        // ARM's own buckets: one second of refill, and 0.4 s of it as the floor.
        let reads = ClientLimits::default().reads;
        assert_eq!((pace_level(reads), pace_floor(reads)), (25.0, 10.0));
        // A time-scaled bucket (writes at time scale 0.01: 200 + 1 000/s) used to have a pace
        // level of 1 000 and a floor of 400, above its whole capacity of 180: it was always
        // "below the floor" and sent at 1/32 of the refill however full it was.
        let scaled = BucketLimit {
            burst: 200,
            refill_per_sec: 1000.0,
        };
        assert_eq!(capacity(scaled), 180.0);
        assert_eq!(pace_level(scaled), 90.0);
        assert!((pace_floor(scaled) - 36.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn below_the_pace_level_requests_are_spaced_by_what_is_left() {
        let t = Throttle::new(ClientLimits::default());
        let p = t.acquire(PATH, RequestClass::Read).await;
        answered(
            &t,
            p,
            200,
            &[("x-ms-ratelimit-remaining-subscription-reads", "16")],
        );
        // 16 left, floor 10, level 25: the next read leaves 15, so the one after it waits
        // 1 / (25 × (15 − 10) / 15) = 0.12 s.
        let started = Instant::now();
        drop(t.acquire(PATH, RequestClass::Read).await);
        drop(t.acquire(PATH, RequestClass::Read).await);
        let spent = started.elapsed();
        assert!(
            spent >= Duration::from_millis(115) && spent < Duration::from_millis(300),
            "{spent:?}"
        );
    }

    #[tokio::test]
    async fn a_subscription_429_holds_the_class_for_retry_after() {
        let t = Throttle::new(ClientLimits::default());
        let p = t.acquire(PATH, RequestClass::Read).await;
        let h = headers(&[("x-ms-ratelimit-remaining-subscription-reads", "0")]);
        t.observe(
            &p,
            &Observed {
                status: 429,
                code: Some("SubscriptionRequestsThrottled"),
                headers: &h,
                retry_after: Some(Duration::from_millis(300)),
            },
        );
        drop(p);
        let started = Instant::now();
        drop(t.acquire(PATH, RequestClass::Read).await);
        assert!(started.elapsed() >= Duration::from_millis(290));
        // Writes have their own bucket and are not held.
        let started = Instant::now();
        drop(t.acquire(PATH, RequestClass::Write).await);
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_busy_429_holds_nothing_shared() {
        let t = Throttle::new(ClientLimits::default());
        let p = t.acquire(PATH, RequestClass::Write).await;
        let h = headers(&[("x-ms-ratelimit-remaining-subscription-writes", "150")]);
        t.observe(
            &p,
            &Observed {
                status: 429,
                code: Some("RetryableError"),
                headers: &h,
                retry_after: Some(Duration::from_secs(12)),
            },
        );
        drop(p);
        let started = Instant::now();
        drop(t.acquire(PATH, RequestClass::Write).await);
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn provider_buckets_are_paced_and_held_on_their_own() {
        let t = Throttle::new(ClientLimits::default());
        let p = t.acquire(PATH, RequestClass::Read).await;
        answered(
            &t,
            p,
            200,
            &[(
                "x-ms-ratelimit-remaining-resource",
                "Microsoft.Compute/HighCostGet3Min;15,Microsoft.Compute/HighCostGet30Min;290",
            )],
        );
        // 15 of 20 left: the next request to Network waits 0.25 s; Storage is not paced.
        drop(t.acquire(PATH, RequestClass::Read).await);
        let started = Instant::now();
        drop(t.acquire(PATH, RequestClass::Read).await);
        let spent = started.elapsed();
        assert!(spent >= Duration::from_millis(240), "{spent:?}");
        let storage =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a";
        let started = Instant::now();
        drop(t.acquire(storage, RequestClass::Read).await);
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn header_names_paths_and_counts() {
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
        assert!(is_provider_header(
            "x-ms-ratelimit-remaining-subscription-resource-requests-pt5m"
        ));
        assert!(!is_provider_header(
            "x-ms-ratelimit-remaining-subscription-reads"
        ));
        assert_eq!(parse_remaining(" 11997 "), Some(11997));
        assert_eq!(parse_remaining("A;99,B;299"), Some(99));
        assert_eq!(parse_remaining("soon"), None);
        assert_eq!(
            subscription_of("/subscriptions/ABC/resourceGroups/rg"),
            "abc"
        );
        assert_eq!(subscription_of("/providers/Microsoft.Resources"), "");
        assert_eq!(provider_of(PATH), "microsoft.network");
        assert_eq!(
            provider_of(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/providers/Microsoft.Authorization/roleAssignments/r"
            ),
            "microsoft.authorization"
        );
        assert_eq!(provider_of("/subscriptions/s/resourceGroups/rg"), "");
    }
}
