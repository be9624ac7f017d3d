//! The parallel ready-set walker: runs every node as soon as the nodes it waits for have
//! succeeded, within a parallelism cap and per-group mutual exclusion.
//!
//! All node futures are polled from the walker's own task (no `spawn`), so the closure may
//! borrow from its caller and nothing needs to be `'static`; a caller that wants a node's
//! work on another thread spawns inside its closure.
//!
//! Scheduling is greedy list scheduling: whenever a slot is free, a ready node starts at
//! once, never waiting for a "level" to finish. When more nodes are ready than slots are
//! free, the one with the longest chain of work waiting on it goes first (the classic
//! critical-path heuristic), ties by key, so that the cap delays the longest chain least.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::GraphError;
use crate::graph::Graph;
use crate::order::kahn;

/// Which way the walk follows the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WalkDirection {
    /// A node runs once everything it depends on has succeeded (create, update).
    #[default]
    Forward,
    /// A node runs once everything that depends on it has succeeded (delete).
    Reverse,
}

/// How to walk.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// The most nodes running at once; `0` means no limit.
    pub parallelism: usize,
    /// Forward for creates, reverse for deletes.
    pub direction: WalkDirection,
    /// Node key to lock group: two nodes of the same group never run at the same time.
    pub lock_groups: BTreeMap<String, String>,
    /// Once cancelled, no new node starts; the running ones are awaited.
    pub cancel: Option<CancellationToken>,
    /// Expected cost of a node (any unit, e.g. seconds; default 1), used only to pick which
    /// ready node goes first when the cap is reached: the one with the costliest chain waiting
    /// on it.
    pub weights: BTreeMap<String, u64>,
}

impl WalkOptions {
    /// Forward, unbounded, no lock group, not cancellable.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the parallelism cap (`0`: no limit).
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n;
        self
    }

    /// Walks dependents before dependencies.
    pub fn reverse(mut self) -> Self {
        self.direction = WalkDirection::Reverse;
        self
    }

    /// Puts `key` in lock group `group`.
    pub fn lock_group(mut self, key: impl Into<String>, group: impl Into<String>) -> Self {
        self.lock_groups.insert(key.into(), group.into());
        self
    }

    /// Sets the expected cost of `key` (default 1).
    pub fn weight(mut self, key: impl Into<String>, cost: u64) -> Self {
        self.weights.insert(key.into(), cost);
        self
    }

    /// Stops scheduling when `token` is cancelled.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

/// What happened to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<E> {
    /// The closure returned `Ok`.
    Succeeded,
    /// The closure returned this error.
    Failed(E),
    /// Not run because `because` failed and this node (transitively) waits for it.
    Skipped {
        /// The key of the failed node.
        because: String,
    },
    /// Not run because the walk was cancelled first.
    NotStarted,
}

/// One node's outcome and timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport<E> {
    /// What happened.
    pub outcome: Outcome<E>,
    /// When its closure was called.
    pub started: Option<Instant>,
    /// When its future completed.
    pub finished: Option<Instant>,
}

impl<E> NodeReport<E> {
    /// How long the node ran, if it ran.
    pub fn duration(&self) -> Option<Duration> {
        Some(self.finished?.duration_since(self.started?))
    }
}

/// The result of a walk: every node of the graph, in key order.
#[derive(Debug, Clone)]
pub struct WalkReport<E> {
    /// Per node, in key order.
    pub nodes: BTreeMap<String, NodeReport<E>>,
    /// Whether the walk saw the cancellation token fired (nodes it kept from starting are
    /// [`Outcome::NotStarted`]).
    pub cancelled: bool,
    /// When the walk began.
    pub started: Instant,
    /// When the last node finished.
    pub finished: Instant,
}

impl<E> WalkReport<E> {
    /// Whether every node succeeded.
    pub fn is_success(&self) -> bool {
        self.nodes
            .values()
            .all(|n| matches!(n.outcome, Outcome::Succeeded))
    }

    /// The wall time of the walk.
    pub fn elapsed(&self) -> Duration {
        self.finished.duration_since(self.started)
    }

    /// The outcome of one node.
    pub fn outcome(&self, key: &str) -> Option<&Outcome<E>> {
        self.nodes.get(key).map(|n| &n.outcome)
    }

    /// Keys that succeeded, in key order.
    pub fn succeeded(&self) -> Vec<&str> {
        self.filter(|o| matches!(o, Outcome::Succeeded))
    }

    /// Keys that failed with their errors, in key order.
    pub fn failed(&self) -> Vec<(&str, &E)> {
        self.nodes
            .iter()
            .filter_map(|(k, n)| match &n.outcome {
                Outcome::Failed(e) => Some((k.as_str(), e)),
                _ => None,
            })
            .collect()
    }

    /// Skipped keys with the failed key that caused each, in key order.
    pub fn skipped(&self) -> Vec<(&str, &str)> {
        self.nodes
            .iter()
            .filter_map(|(k, n)| match &n.outcome {
                Outcome::Skipped { because } => Some((k.as_str(), because.as_str())),
                _ => None,
            })
            .collect()
    }

    /// Keys never started because of cancellation, in key order.
    pub fn not_started(&self) -> Vec<&str> {
        self.filter(|o| matches!(o, Outcome::NotStarted))
    }

    fn filter(&self, pred: impl Fn(&Outcome<E>) -> bool) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|(_, n)| pred(&n.outcome))
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// Runs `run(key, payload)` for every node of `graph`, each as soon as the nodes it waits
/// for (its dependencies, or its dependents in reverse) have succeeded, and returns what
/// happened to every node.
///
/// A node whose closure fails makes every node that transitively waits for it
/// [`Outcome::Skipped`], naming the failed node, while independent branches go on. Fails
/// before running anything if the graph has a cycle or a lock group names an unknown key.
pub async fn walk<'g, N, E, F, Fut>(
    graph: &'g Graph<N>,
    options: &WalkOptions,
    mut run: F,
) -> Result<WalkReport<E>, GraphError>
where
    F: FnMut(&'g str, &'g N) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let d = graph.dense();
    let n = d.keys.len();
    let (before, after) = match options.direction {
        WalkDirection::Forward => (&d.deps, &d.dependents),
        WalkDirection::Reverse => (&d.dependents, &d.deps),
    };
    let order = kahn(&d, before, after)?;

    let mut group_ids: BTreeMap<&str, usize> = BTreeMap::new();
    let mut group_of: Vec<Option<usize>> = vec![None; n];
    for (key, group) in &options.lock_groups {
        let Ok(i) = d.keys.binary_search(&key.as_str()) else {
            return Err(GraphError::UnknownNode { key: key.clone() });
        };
        let next = group_ids.len();
        group_of[i] = Some(*group_ids.entry(group.as_str()).or_insert(next));
    }
    let mut group_busy = vec![false; group_ids.len()];

    // Cost of the costliest chain that starts at each node (in nodes, unless weighted).
    let weight: Vec<u64> = d
        .keys
        .iter()
        .map(|k| options.weights.get(*k).copied().unwrap_or(1))
        .collect();
    let mut chain = vec![1u64; n];
    for &i in order.iter().rev() {
        chain[i] = weight[i] + after[i].iter().map(|&j| chain[j]).max().unwrap_or(0);
    }

    let cap = if options.parallelism == 0 {
        usize::MAX
    } else {
        options.parallelism
    };
    let cancel = options.cancel.clone().unwrap_or_default();
    let mut cancelled = false;

    let mut waiting: Vec<usize> = before.iter().map(Vec::len).collect();
    let mut outcome: Vec<Option<Outcome<E>>> = (0..n).map(|_| None).collect();
    let mut started: Vec<Option<Instant>> = vec![None; n];
    let mut finished: Vec<Option<Instant>> = vec![None; n];
    let mut ready: BTreeSet<(Reverse<u64>, usize)> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| (Reverse(chain[i]), i))
        .collect();
    let mut running = FuturesUnordered::new();
    let walk_started = Instant::now();

    loop {
        cancelled |= cancel.is_cancelled();
        if !cancelled {
            while running.len() < cap {
                let pick = ready
                    .iter()
                    .find(|(_, i)| group_of[*i].is_none_or(|g| !group_busy[g]))
                    .copied();
                let Some(entry) = pick else { break };
                ready.remove(&entry);
                let i = entry.1;
                if let Some(g) = group_of[i] {
                    group_busy[g] = true;
                }
                started[i] = Some(Instant::now());
                let key = d.keys[i];
                let fut = run(key, graph.payload_at(key));
                running.push(async move { (i, fut.await) });
            }
        }
        let next = tokio::select! {
            biased;
            next = running.next() => next,
            () = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                continue;
            }
        };
        let Some((i, result)) = next else { break };
        finished[i] = Some(Instant::now());
        if let Some(g) = group_of[i] {
            group_busy[g] = false;
        }
        match result {
            Ok(()) => {
                outcome[i] = Some(Outcome::Succeeded);
                for &j in &after[i] {
                    waiting[j] -= 1;
                    if waiting[j] == 0 && outcome[j].is_none() {
                        ready.insert((Reverse(chain[j]), j));
                    }
                }
            }
            Err(e) => {
                outcome[i] = Some(Outcome::Failed(e));
                // Nodes already skipped by an earlier failure keep that first cause, and
                // so do their own waiters, which were skipped with them.
                let mut queue: VecDeque<usize> = after[i].iter().copied().collect();
                while let Some(j) = queue.pop_front() {
                    if outcome[j].is_none() {
                        outcome[j] = Some(Outcome::Skipped {
                            because: d.keys[i].to_owned(),
                        });
                        queue.extend(after[j].iter().copied());
                    }
                }
            }
        }
    }

    let walk_finished = Instant::now();
    let nodes = outcome
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            (
                d.keys[i].to_owned(),
                NodeReport {
                    outcome: o.unwrap_or(Outcome::NotStarted),
                    started: started[i],
                    finished: finished[i],
                },
            )
        })
        .collect();
    Ok(WalkReport {
        nodes,
        cancelled,
        started: walk_started,
        finished: walk_finished,
    })
}
