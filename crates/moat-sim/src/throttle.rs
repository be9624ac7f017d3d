//! ARM's subscription throttling: token buckets for reads, writes and deletes.

use std::collections::HashMap;

/// One bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Tokens when full.
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

/// Limits per subscription; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// GET and HEAD.
    pub reads: Option<Bucket>,
    /// PUT, PATCH and POST.
    pub writes: Option<Bucket>,
    /// DELETE.
    pub deletes: Option<Bucket>,
}

impl Default for Limits {
    /// ARM's regional token buckets: reads 250 + 25/s, writes 200 + 10/s, deletes 200 + 10/s.
    fn default() -> Self {
        Limits {
            reads: Some(Bucket {
                burst: 250.0,
                per_second: 25.0,
            }),
            writes: Some(Bucket {
                burst: 200.0,
                per_second: 10.0,
            }),
            deletes: Some(Bucket {
                burst: 200.0,
                per_second: 10.0,
            }),
        }
    }
}

impl Limits {
    /// No throttling at all.
    pub fn unlimited() -> Self {
        Limits {
            reads: None,
            writes: None,
            deletes: None,
        }
    }
}

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Reads.
    Read,
    /// Writes.
    Write,
    /// Deletes.
    Delete,
    /// PUT and PATCH of an online deployment: Azure ML's own, much smaller bucket
    /// (`x-ms-ratelimit-remaining-subscription-resource-requests: 24` on a deployment PUT in
    /// the recording `test_online_endpoint_k8s_deployment_cpu`, where other writes show ARM's
    /// `…-writes: 1199`).
    ResourceRequests,
}

/// The Azure ML resource provider's bucket for deployment writes: 25 (the recorded 24
/// remaining after one), refilled at 25 a minute [size recorded, refill unverified].
pub const RESOURCE_REQUESTS: Bucket = Bucket {
    burst: 25.0,
    per_second: 25.0 / 60.0,
};

/// Whether a request draws from the resource provider's bucket ([`Class::ResourceRequests`]):
/// a write of `…/onlineEndpoints/{e}/deployments/{d}`.
pub fn is_resource_request(method: &str, path: &str) -> bool {
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(str::to_ascii_lowercase)
        .collect();
    matches!(method, "PUT" | "PATCH")
        && segs.len() >= 4
        && segs[segs.len() - 2] == "deployments"
        && segs[segs.len() - 4] == "onlineendpoints"
}

impl Class {
    /// Class of an HTTP method.
    pub fn of(method: &str) -> Class {
        match method {
            "GET" | "HEAD" => Class::Read,
            "DELETE" => Class::Delete,
            _ => Class::Write,
        }
    }

    /// Suffix of the `x-ms-ratelimit-remaining-subscription-*` header.
    pub fn header(self) -> &'static str {
        match self {
            Class::Read => "x-ms-ratelimit-remaining-subscription-reads",
            Class::Write => "x-ms-ratelimit-remaining-subscription-writes",
            Class::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
            Class::ResourceRequests => "x-ms-ratelimit-remaining-subscription-resource-requests",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
            Class::Delete => "delete",
            Class::ResourceRequests => "resource requests",
        }
    }
}

/// Buckets by (subscription, class).
#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<(String, Class), (f64, f64)>,
}

/// The outcome of taking a token.
pub enum Taken {
    /// Allowed; remaining whole tokens (None when unlimited).
    Ok(Option<u64>),
    /// Refused; seconds until a token is back, and the class label.
    Throttled(u64, &'static str),
}

impl Throttle {
    /// Takes one token at time `now`.
    pub fn take(&mut self, limits: &Limits, sub: &str, class: Class, now: f64) -> Taken {
        let bucket = match class {
            Class::Read => limits.reads,
            Class::Write => limits.writes,
            Class::Delete => limits.deletes,
            Class::ResourceRequests => Some(RESOURCE_REQUESTS),
        };
        let Some(b) = bucket else {
            return Taken::Ok(None);
        };
        let entry = self
            .buckets
            .entry((sub.to_ascii_lowercase(), class))
            .or_insert((b.burst, now));
        let (tokens, last) = *entry;
        let tokens = (tokens + (now - last).max(0.0) * b.per_second).min(b.burst);
        if tokens >= 1.0 {
            *entry = (tokens - 1.0, now);
            Taken::Ok(Some((tokens - 1.0).floor() as u64))
        } else {
            *entry = (tokens, now);
            let wait = if b.per_second > 0.0 {
                ((1.0 - tokens) / b.per_second).ceil() as u64
            } else {
                3600
            };
            Taken::Throttled(wait.max(1), class.label())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_writes_draw_from_the_resource_providers_bucket() {
        let d = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/e/deployments/blue";
        assert!(is_resource_request("PUT", d));
        assert!(!is_resource_request("GET", d));
        assert!(!is_resource_request("DELETE", d));
        assert!(!is_resource_request(
            "PUT",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/e"
        ));
        let mut t = Throttle::default();
        let limits = Limits::unlimited();
        for i in 0..25 {
            match t.take(&limits, "s", Class::ResourceRequests, 0.0) {
                Taken::Ok(Some(left)) => assert_eq!(left, 24 - i),
                _ => panic!("token {i} refused"),
            }
        }
        assert!(matches!(
            t.take(&limits, "s", Class::ResourceRequests, 0.0),
            Taken::Throttled(3, "resource requests")
        ));
        assert!(matches!(
            t.take(&limits, "s", Class::ResourceRequests, 3.0),
            Taken::Ok(_)
        ));
    }

    #[test]
    fn bucket_empties_and_refills() {
        let limits = Limits {
            reads: Some(Bucket {
                burst: 3.0,
                per_second: 1.0,
            }),
            ..Limits::unlimited()
        };
        let mut t = Throttle::default();
        let ok = |x: Taken| matches!(x, Taken::Ok(_));
        assert!(ok(t.take(&limits, "s", Class::Read, 0.0)));
        assert!(ok(t.take(&limits, "s", Class::Read, 0.0)));
        assert!(ok(t.take(&limits, "s", Class::Read, 0.0)));
        assert!(!ok(t.take(&limits, "s", Class::Read, 0.0)));
        assert!(
            ok(t.take(&limits, "other", Class::Read, 0.0)),
            "buckets are per subscription"
        );
        assert!(
            ok(t.take(&limits, "s", Class::Write, 0.0)),
            "writes unlimited here"
        );
        assert!(
            ok(t.take(&limits, "s", Class::Read, 1.0)),
            "refilled after a second"
        );
    }
}
