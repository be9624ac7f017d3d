//! When to retry an ARM request, and how long to wait.
//!
//! moat runs its own retry loop instead of azure_core's `RetryPolicy` (which the pipeline is
//! built with `RetryOptions::none()`), because ARM needs decisions that policy cannot make:
//!
//! * a write whose outcome is unknown (gateway timeout 504, a connection dropped after the
//!   request was sent, a client timeout) must be followed by a GET of the resource before it
//!   is re-issued — the SDK policy re-sends PUT, DELETE and even POST blindly;
//! * Network's 429 "another operation in progress" carries its wait in the message text
//!   ("…can be retried in 12 seconds"), not in `Retry-After`;
//! * 5xx retries must be capped separately (some validation errors surface as 500) while
//!   throttling retries are not;
//! * every attempt must pass through the client-side token bucket and be counted in the
//!   stats and the HTTP log, which sit outside the pipeline.
//!
//! # Throttling (429)
//!
//! A 429 means ARM refused the request before acting on it, so it is retried whatever the
//! method, and not by a count of attempts but **until [`THROTTLED_DEADLINE`] (5 minutes) has
//! passed since the request's first attempt**. That outlasts many refills of every bucket ARM
//! publishes (reads 250 at 25/s refill completely in 10 s, writes and deletes 200 at 10/s in
//! 20 s), so a read is not given up while several processes share the subscription's budget.
//! Each wait is the server's `Retry-After` / `retry-after-ms` / `x-ms-retry-after-ms` (or the
//! wait in a Network "retried in N seconds" message), **never less**, plus up to 10 % (at most
//! 1 s) of jitter so clients told the same time do not come back in lockstep. A 429 naming no
//! wait, or `Retry-After: 0`, gets the exponential backoff instead of an immediate retry. A
//! wait that would end past the deadline is not started: the 429 is returned.

use std::time::Duration;

use rand::Rng;

/// Most 5xx answers are retried this many times, whatever `max_retries` says.
pub(crate) const SERVER_ERROR_RETRY_CAP: u32 = 3;

/// How long a request refused with 429 keeps being retried, from its first attempt.
pub(crate) const THROTTLED_DEADLINE: Duration = Duration::from_secs(300);

/// The wait after a 429: the server's (never less) with a little jitter, else the backoff.
pub(crate) fn throttled_wait(
    server_wait: Option<Duration>,
    attempt: u32,
    backoff: &Backoff,
) -> Duration {
    match server_wait.filter(|w| !w.is_zero()) {
        Some(w) => {
            let spread = (w / 10).min(Duration::from_secs(1));
            w + spread.mul_f64(rand::rng().random_range(0.0..=1.0))
        }
        None => backoff.delay(attempt),
    }
}

/// What happened to one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// An HTTP answer with this status.
    Status(u16),
    /// No connection was made: the request surely did not reach the server.
    NotSent,
    /// The connection broke or timed out after the request may have been sent.
    Dropped,
}

/// How the retry loop must treat the request's method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Idempotence {
    /// GET: always safe to repeat.
    Read,
    /// PUT/PATCH/DELETE: safe to repeat once we know no earlier attempt is still running.
    IdempotentWrite,
    /// POST actions: only repeated when the server surely did not act.
    Action,
}

/// The retry loop's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Hand the answer to the caller.
    Done,
    /// Wait this long and send again.
    Retry(Duration),
    /// The write may have happened: read the resource before deciding anything.
    OutcomeUnknown,
}

/// Backoff shape (exponential with jitter).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    /// `base * 2^attempt`, capped at `max`, then scaled by a random factor in [0.5, 1.0]
    /// so concurrent clients do not retry in lockstep.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max);
        let factor = rand::rng().random_range(0.5..=1.0);
        exp.mul_f64(factor)
    }
}

/// Decides about one attempt. `attempt` counts retries so far, `server_errors` the 5xx retries,
/// `elapsed` the time since the first attempt (429s are retried until [`THROTTLED_DEADLINE`]).
/// `server_wait` is the wait the server asked for (`Retry-After`, or a message hint).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide(
    idempotence: Idempotence,
    outcome: Attempt,
    attempt: u32,
    server_errors: u32,
    max_retries: u32,
    elapsed: Duration,
    server_wait: Option<Duration>,
    backoff: &Backoff,
) -> Decision {
    let wait = || server_wait.unwrap_or_else(|| backoff.delay(attempt));
    let retries_left = attempt < max_retries;
    let server_errors_left =
        retries_left && server_errors < SERVER_ERROR_RETRY_CAP.min(max_retries);
    match outcome {
        Attempt::Status(429) => {
            let wait = throttled_wait(server_wait, attempt, backoff);
            if elapsed + wait <= THROTTLED_DEADLINE {
                Decision::Retry(wait)
            } else {
                Decision::Done
            }
        }
        Attempt::Status(503) if server_errors_left => Decision::Retry(wait()),
        Attempt::Status(500 | 502 | 408) if server_errors_left => match idempotence {
            Idempotence::Action => Decision::Done,
            _ => Decision::Retry(wait()),
        },
        Attempt::Status(504) if server_errors_left => match idempotence {
            Idempotence::Read => Decision::Retry(wait()),
            Idempotence::IdempotentWrite => Decision::OutcomeUnknown,
            Idempotence::Action => Decision::Done,
        },
        Attempt::NotSent if retries_left => Decision::Retry(backoff.delay(attempt)),
        Attempt::Dropped if retries_left => match idempotence {
            Idempotence::Read => Decision::Retry(backoff.delay(attempt)),
            Idempotence::IdempotentWrite => Decision::OutcomeUnknown,
            Idempotence::Action => Decision::Done,
        },
        _ => Decision::Done,
    }
}

/// Parses `Retry-After` (seconds or an HTTP date) and the millisecond variants ARM also uses.
/// `get` looks a header up by lower-case name.
pub(crate) fn retry_after(get: impl Fn(&str) -> Option<String>) -> Option<Duration> {
    for name in ["x-ms-retry-after-ms", "retry-after-ms"] {
        if let Some(ms) = get(name).and_then(|v| v.trim().parse::<f64>().ok())
            && ms.is_finite()
            && ms >= 0.0
        {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let value = get("retry-after")?;
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let date =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let delta = date - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff {
        base: Duration::from_millis(100),
        max: Duration::from_secs(2),
    };

    fn d(i: Idempotence, o: Attempt, attempt: u32, server_errors: u32) -> Decision {
        decide(i, o, attempt, server_errors, 5, Duration::ZERO, None, &B)
    }

    fn throttled(elapsed: Duration, attempt: u32, server_wait: Option<Duration>) -> Decision {
        decide(
            Idempotence::Read,
            Attempt::Status(429),
            attempt,
            0,
            5,
            elapsed,
            server_wait,
            &B,
        )
    }

    #[test]
    fn throttling_waits_at_least_the_servers_wait() {
        for _ in 0..50 {
            let Decision::Retry(w) = throttled(Duration::ZERO, 0, Some(Duration::from_secs(12)))
            else {
                panic!("retried");
            };
            // Never sooner than asked; at most 1 s of jitter.
            assert!(
                w >= Duration::from_secs(12) && w <= Duration::from_secs(13),
                "{w:?}"
            );
            let Decision::Retry(w) = throttled(Duration::ZERO, 0, Some(Duration::from_secs(2)))
            else {
                panic!("retried");
            };
            assert!(
                w >= Duration::from_secs(2) && w <= Duration::from_millis(2200),
                "{w:?}"
            );
        }
        // Any method: a 429 was refused before anything was done.
        assert!(matches!(
            decide(
                Idempotence::Action,
                Attempt::Status(429),
                0,
                0,
                5,
                Duration::ZERO,
                Some(Duration::from_secs(1)),
                &B
            ),
            Decision::Retry(_)
        ));
    }

    #[test]
    fn retry_after_zero_gets_the_backoff_not_an_immediate_retry() {
        for server_wait in [None, Some(Duration::ZERO)] {
            let Decision::Retry(w) = throttled(Duration::ZERO, 3, server_wait) else {
                panic!("retried");
            };
            // Attempt 3: 100 ms × 2³ = 800 ms, jittered down to at most half.
            assert!(
                w >= Duration::from_millis(400) && w <= Duration::from_millis(800),
                "{w:?}"
            );
        }
    }

    #[test]
    fn throttled_requests_retry_past_max_retries_until_the_deadline() {
        // Far beyond `max_retries` (5): still retried while within the deadline.
        assert!(matches!(
            throttled(Duration::from_secs(200), 40, Some(Duration::from_secs(10))),
            Decision::Retry(_)
        ));
        // A wait that would end past the deadline is not started.
        assert_eq!(
            throttled(Duration::from_secs(295), 40, Some(Duration::from_secs(10))),
            Decision::Done
        );
        assert_eq!(
            throttled(Duration::ZERO, 0, Some(Duration::from_secs(600))),
            Decision::Done
        );
    }

    #[test]
    fn server_errors_are_capped() {
        assert!(matches!(
            d(Idempotence::Read, Attempt::Status(500), 0, 0),
            Decision::Retry(_)
        ));
        assert_eq!(
            d(
                Idempotence::Read,
                Attempt::Status(500),
                3,
                SERVER_ERROR_RETRY_CAP
            ),
            Decision::Done
        );
        assert_eq!(
            d(Idempotence::Action, Attempt::Status(500), 0, 0),
            Decision::Done
        );
        assert!(matches!(
            d(Idempotence::Action, Attempt::Status(503), 0, 0),
            Decision::Retry(_)
        ));
    }

    #[test]
    fn unknown_write_outcomes_are_checked_first() {
        assert_eq!(
            d(Idempotence::IdempotentWrite, Attempt::Status(504), 0, 0),
            Decision::OutcomeUnknown
        );
        assert_eq!(
            d(Idempotence::IdempotentWrite, Attempt::Dropped, 0, 0),
            Decision::OutcomeUnknown
        );
        assert!(matches!(
            d(Idempotence::IdempotentWrite, Attempt::NotSent, 0, 0),
            Decision::Retry(_)
        ));
        assert_eq!(
            d(Idempotence::Action, Attempt::Dropped, 0, 0),
            Decision::Done
        );
        assert!(matches!(
            d(Idempotence::Read, Attempt::Dropped, 0, 0),
            Decision::Retry(_)
        ));
    }

    #[test]
    fn client_errors_are_final() {
        for status in [200, 201, 202, 204, 400, 401, 403, 404, 409] {
            assert_eq!(
                d(Idempotence::Read, Attempt::Status(status), 0, 0),
                Decision::Done
            );
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_cap() {
        for attempt in 0..10 {
            let delay = B.delay(attempt);
            let nominal = (B.base * 2u32.pow(attempt)).min(B.max);
            assert!(
                delay >= nominal / 2 && delay <= nominal,
                "{attempt}: {delay:?}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        let h = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            retry_after(h(&[("retry-after", "10")])),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after(h(&[("retry-after", "0")])),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(h(&[("retry-after-ms", "250"), ("retry-after", "10")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(h(&[("retry-after", "soon")])), None);
        assert_eq!(
            retry_after(h(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(h(&[])), None);
    }
}
