//! Faults on demand: rules that make matching requests fail, hang, drop or throttle, with
//! counts, probabilities and a seed so that runs are reproducible.

use crate::errors::SimError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A set of fault rules (the `--faults` file).
///
/// ```json
/// { "seed": 7, "rules": [
///   { "method": "PUT", "path": "*/virtualNetworks/*", "fault": { "kind": "status", "status": 503, "html": true }, "count": 2 },
///   { "path": "/storageAccounts/", "fault": { "kind": "fail_lro", "code": "InternalError" }, "probability": 0.5 }
/// ] }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Seed of the generator used for `probability`.
    #[serde(default)]
    pub seed: u64,
    /// Rules, tried in order; the first that fires wins.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// HTTP method to match (any when absent).
    #[serde(default)]
    pub method: Option<String>,
    /// Path pattern, case-insensitive, without the query. Without `*` it matches as a
    /// substring; with `*` it is a glob over the whole path (`*` = any characters).
    pub path: String,
    /// What happens.
    pub fault: Fault,
    /// Let this many matching requests through first.
    #[serde(default)]
    pub skip: u32,
    /// Fire at most this many times (unlimited when absent).
    #[serde(default)]
    pub count: Option<u32>,
    /// Fire with this probability (always when absent).
    #[serde(default)]
    pub probability: Option<f64>,
}

/// What a rule does to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer with this status (e.g. 500, 503) instead of handling the request.
    Status {
        /// HTTP status.
        status: u16,
        /// Send an HTML page instead of an ARM JSON error.
        #[serde(default)]
        html: bool,
        /// Error code of the JSON body.
        #[serde(default)]
        code: Option<String>,
        /// Error message of the JSON body.
        #[serde(default)]
        message: Option<String>,
    },
    /// Close the connection without answering.
    Drop,
    /// 429 with `Retry-After` (a storm when combined with `count`).
    Throttle {
        /// Seconds in `Retry-After`.
        #[serde(default = "default_retry")]
        retry_after: u64,
    },
    /// Handle the request, but make the long-running operation it starts end `Failed`.
    FailLro {
        /// Error code reported by the poll endpoint.
        #[serde(default)]
        code: Option<String>,
        /// Error message reported by the poll endpoint.
        #[serde(default)]
        message: Option<String>,
    },
    /// Delay the answer.
    Slow {
        /// Added delay in milliseconds.
        delay_ms: u64,
    },
}

fn default_retry() -> u64 {
    10
}

/// Reads a faults file.
pub fn load_faults(path: &Path) -> Result<FaultPlan, SimError> {
    let text = std::fs::read_to_string(path).map_err(|source| SimError::FaultsRead {
        path: path.to_path_buf(),
        source,
    })?;
    let plan: FaultPlan = serde_json::from_str(&text).map_err(|e| SimError::FaultsInvalid {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    for (i, r) in plan.rules.iter().enumerate() {
        if let Some(p) = r.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(SimError::FaultsInvalid {
                path: path.to_path_buf(),
                detail: format!("rule {i}: probability {p} is outside 0..1"),
            });
        }
    }
    Ok(plan)
}

/// A plan with its counters and generator.
#[derive(Debug, Clone, Default)]
pub struct FaultState {
    plan: FaultPlan,
    seen: Vec<u32>,
    fired: Vec<u32>,
    rng: u64,
}

impl FaultState {
    /// Fresh state for a plan.
    pub fn new(plan: FaultPlan) -> FaultState {
        let n = plan.rules.len();
        let rng = plan.seed ^ 0x9e37_79b9_7f4a_7c15;
        FaultState {
            plan,
            seen: vec![0; n],
            fired: vec![0; n],
            rng,
        }
    }

    /// The fault for a request, if a rule fires.
    pub fn pick(&mut self, method: &str, path: &str) -> Option<Fault> {
        for i in 0..self.plan.rules.len() {
            let rule = &self.plan.rules[i];
            if rule
                .method
                .as_deref()
                .is_some_and(|m| !m.eq_ignore_ascii_case(method))
                || !path_matches(&rule.path, path)
            {
                continue;
            }
            self.seen[i] += 1;
            if self.seen[i] <= rule.skip || rule.count.is_some_and(|c| self.fired[i] >= c) {
                continue;
            }
            if let Some(p) = rule.probability {
                let roll = next_unit(&mut self.rng);
                if roll >= p {
                    continue;
                }
            }
            self.fired[i] += 1;
            return Some(self.plan.rules[i].fault.clone());
        }
        None
    }
}

// splitmix64: tiny, seedable, and identical on every platform.
fn next_unit(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Substring match without `*`, whole-path glob with it; both case-insensitive.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pat = pattern.to_ascii_lowercase();
    let path = path.to_ascii_lowercase();
    if !pat.contains('*') {
        return path.contains(&pat);
    }
    let parts: Vec<&str> = pat.split('*').collect();
    let mut rest = path.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(path_matches(
            "*/virtualNetworks/*",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/virtualnetworks/v"
        ));
        assert!(path_matches(
            "storageaccounts",
            "/x/Microsoft.Storage/storageAccounts/a"
        ));
        assert!(!path_matches(
            "/subscriptions/*/vaults",
            "/subscriptions/s/vaults/x"
        ));
        assert!(path_matches(
            "/subscriptions/*/vaults/*",
            "/subscriptions/s/vaults/x"
        ));
    }

    #[test]
    fn counts_skip_and_seeded_probability() {
        let plan = FaultPlan {
            seed: 42,
            rules: vec![
                FaultRule {
                    method: Some("PUT".into()),
                    path: "vnet".into(),
                    fault: Fault::Drop,
                    skip: 1,
                    count: Some(2),
                    probability: None,
                },
                FaultRule {
                    method: None,
                    path: "rand".into(),
                    fault: Fault::Slow { delay_ms: 1 },
                    skip: 0,
                    count: None,
                    probability: Some(0.5),
                },
            ],
        };
        let mut s = FaultState::new(plan.clone());
        let got: Vec<bool> = (0..4).map(|_| s.pick("PUT", "/vnet").is_some()).collect();
        assert_eq!(got, vec![false, true, true, false]);
        assert!(s.pick("GET", "/vnet").is_none());
        let a: Vec<bool> = (0..64).map(|_| s.pick("GET", "/rand").is_some()).collect();
        let mut s2 = FaultState::new(plan);
        let b: Vec<bool> = (0..64).map(|_| s2.pick("GET", "/rand").is_some()).collect();
        assert_eq!(a, b, "same seed, same faults");
        let fired = a.iter().filter(|x| **x).count();
        assert!((16..48).contains(&fired), "about half fire: {fired}");
    }
}
