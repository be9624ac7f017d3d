//! The physical limit of an apply: a lower bound on the wall time of any schedule of a plan's
//! writes, given each write's provisioning time in the emulator and the constraints moat must
//! respect (dependencies, one write at a time per VNet, the parallelism cap). Also a
//! zero-overhead simulation of list scheduling, to show how tight the bound is.
//!
//! The bound is the largest of three relaxations, each of which every valid schedule obeys:
//! - the longest dependency chain, weighted by provisioning time;
//! - per lock group (one VNet and its subnets), the one-machine bound: for any subset `S` of
//!   the group, `min head(S) + Σ duration(S) + min tail(S)`, where `head` is the longest chain
//!   before a write and `tail` the longest chain after it — the group's writes run one at a
//!   time, none can start before its head, and whichever ends last still has its tail to go;
//! - with a cap of `m` writes in flight, `Σ duration / m`.

use moat_engine::plan::{Plan, ResourcePlan};
use serde::Serialize;
use std::collections::BTreeMap;

/// One write to schedule.
#[derive(Clone, Debug)]
pub struct Task {
    /// Resource key.
    pub key: String,
    /// Provisioning seconds (before time scaling).
    pub secs: f64,
    /// Indices of the tasks it waits for.
    pub deps: Vec<usize>,
    /// Lock group, if any.
    pub group: Option<String>,
}

/// Which durations a bound uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// The emulator's seed: each create takes the duration it draws (its typical time
    /// without one).
    pub seed: Option<u64>,
    /// Round each operation up to its provider's polling interval (`Retry-After` on Azure):
    /// the earliest a client that polls at the advised cadence can see it finish.
    pub observable: bool,
}

/// The emulator's provisioning time of one planned resource, in unscaled seconds (typical
/// durations, as observed by the emulator itself).
pub fn provisioning_secs(r: &ResourcePlan) -> f64 {
    op_secs(r, Timing::default())
}

/// The duration of one planned write under `timing`, in unscaled seconds.
///
/// Mirrors `moat-sim`: ML computes are keyed by compute type (`computes:AmlCompute`,
/// `computes:AKS`, `computes:AKS-attach` when an existing cluster is attached) and take at
/// least 5 s; everything else by ARM type.
pub fn op_secs(r: &ResourcePlan, timing: Timing) -> f64 {
    if !r.action.writes() {
        return 0.0;
    }
    let ty = moat_arm::resource_type_of(&r.id);
    let mut full = ty.clone();
    let mut floor = 0.0;
    if ty.eq_ignore_ascii_case("Microsoft.MachineLearningServices/workspaces/computes") {
        let body = r.request.as_ref().and_then(|q| q.body.as_ref());
        let ctype = body
            .and_then(|b| b.pointer("/properties/computeType"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let attach = body
            .and_then(|b| b.pointer("/properties/resourceId"))
            .is_some_and(|v| v.is_string());
        let suffix = match (ctype, attach) {
            ("AKS", true) => "AKS-attach",
            (t, _) => t,
        };
        full = format!("{ty}:{suffix}");
        floor = 5.0;
    }
    let secs = moat_sim::operation_seconds(&full, &r.id, timing.seed).max(floor);
    let cadence = moat_sim::poll_cadence_seconds(&ty);
    if timing.observable && cadence > 0.0 && secs > 0.0 {
        (secs / cadence).ceil() * cadence
    } else {
        secs
    }
}

/// The tasks of a plan's create/update phase (every non-delete resource; non-writes take 0 s),
/// as moat's apply runs them: a child that rides in its parent's PUT
/// (`moat_engine::apply::inline_children`) costs nothing and its parent waits for what the
/// child needs; locks are the IDs Azure serialises on.
pub fn tasks_of(plan: &Plan, timing: Timing) -> Vec<Task> {
    let items: Vec<&ResourcePlan> = plan
        .resources
        .iter()
        .filter(|r| r.action != moat_engine::plan::Action::Delete)
        .collect();
    let inline = moat_engine::apply::inline_children(&items);
    let index: BTreeMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key.as_str(), i))
        .collect();
    let mut tasks: Vec<Task> = items
        .iter()
        .map(|r| {
            let carried = inline.contains_key(&r.key);
            Task {
                key: r.key.clone(),
                secs: if carried { 0.0 } else { op_secs(r, timing) },
                deps: r
                    .depends_on
                    .iter()
                    .filter_map(|d| index.get(d.as_str()).copied())
                    .collect(),
                group: r
                    .kind
                    .lock_id(&r.id)
                    .or_else(|| r.lock_group.clone())
                    .filter(|_| r.action.writes() && !carried),
            }
        })
        .collect();
    for (child, parent) in &inline {
        let (Some(&c), Some(&p)) = (index.get(child.as_str()), index.get(parent.as_str())) else {
            continue;
        };
        let extra: Vec<usize> = tasks[c]
            .deps
            .iter()
            .copied()
            .filter(|&d| d != p && inline.get(&tasks[d].key) != Some(parent))
            .collect();
        for d in extra {
            if !tasks[p].deps.contains(&d) {
                tasks[p].deps.push(d);
            }
        }
        if !tasks[c].deps.contains(&p) {
            tasks[c].deps.push(p);
        }
    }
    tasks
}

/// ARM's request budget for an apply of `plan`, in unscaled seconds: the refill time of each
/// bucket for the requests the apply cannot do without — one write per PUT or DELETE sent
/// (children riding in their parent's PUT send none), and for reads the plan's own reads
/// (`plan_reads`), at least one poll per long-running write and one final GET per PUT.
/// Limits are ARM's defaults (reads 250 + 25/s, writes and deletes 200 + 10/s).
pub fn budget_secs(plan: &Plan, plan_reads: usize) -> f64 {
    let items: Vec<&ResourcePlan> = plan.resources.iter().collect();
    let inline = moat_engine::apply::inline_children(&items);
    let mut writes = 0.0;
    let mut deletes = 0.0;
    let mut reads = plan_reads as f64;
    for r in items
        .iter()
        .filter(|r| r.action.writes() && !inline.contains_key(&r.key))
    {
        let ty = moat_arm::resource_type_of(&r.id);
        let lro = moat_sim::poll_cadence_seconds(&ty) > 0.0;
        match r.action {
            moat_engine::plan::Action::Delete => deletes += 1.0,
            moat_engine::plan::Action::Replace => {
                deletes += 1.0;
                writes += 1.0;
                reads += 1.0;
            }
            _ => {
                writes += 1.0;
                reads += 1.0;
            }
        }
        if lro {
            reads += 1.0;
        }
    }
    let l = moat_sim::Limits::default();
    let term = |need: f64, b: Option<moat_sim::Bucket>| {
        b.map_or(0.0, |b| ((need - b.burst) / b.per_second).max(0.0))
    };
    term(writes, l.writes)
        .max(term(deletes, l.deletes))
        .max(term(reads, l.reads))
}

/// The lower bound and its parts, in unscaled seconds.
#[derive(Clone, Debug, Serialize)]
pub struct Bound {
    /// Longest dependency chain.
    pub longest_path_s: f64,
    /// The keys along it.
    pub longest_path: Vec<String>,
    /// Best one-machine bound over the lock groups (0 without groups).
    pub lock_group_s: f64,
    /// The group that gives it.
    pub lock_group: Option<String>,
    /// `Σ duration / parallelism` (0 when unbounded).
    pub capacity_s: f64,
    /// The largest of the three.
    pub lower_bound_s: f64,
    /// Sum of all durations (what a one-at-a-time script needs at least).
    pub sequential_s: f64,
}

/// Topological order (Kahn); `None` on a cycle.
fn topo(tasks: &[Task]) -> Option<Vec<usize>> {
    let n = tasks.len();
    let mut indeg: Vec<usize> = tasks.iter().map(|t| t.deps.len()).collect();
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, t) in tasks.iter().enumerate() {
        for &d in &t.deps {
            after[d].push(i);
        }
    }
    let mut queue: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = queue.pop() {
        order.push(i);
        for &j in &after[i] {
            indeg[j] -= 1;
            if indeg[j] == 0 {
                queue.push(j);
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// Longest chain before each task starts (`head`) and after it ends (`tail`).
fn heads_tails(tasks: &[Task], order: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let n = tasks.len();
    let mut head = vec![0.0f64; n];
    for &i in order {
        head[i] = tasks[i]
            .deps
            .iter()
            .map(|&d| head[d] + tasks[d].secs)
            .fold(0.0, f64::max);
    }
    let mut tail = vec![0.0f64; n];
    for &i in order.iter().rev() {
        for &d in &tasks[i].deps {
            tail[d] = tail[d].max(tasks[i].secs + tail[i]);
        }
    }
    (head, tail)
}

/// The lower bound of `tasks` with at most `parallelism` in flight (0: unbounded).
pub fn lower_bound(tasks: &[Task], parallelism: usize) -> Bound {
    let Some(order) = topo(tasks) else {
        return Bound {
            longest_path_s: f64::NAN,
            longest_path: Vec::new(),
            lock_group_s: f64::NAN,
            lock_group: None,
            capacity_s: f64::NAN,
            lower_bound_s: f64::NAN,
            sequential_s: f64::NAN,
        };
    };
    let (head, tail) = heads_tails(tasks, &order);
    // Longest path, and the chain that realises it.
    let mut best = 0.0;
    let mut end = None;
    for i in 0..tasks.len() {
        let len = head[i] + tasks[i].secs + tail[i];
        if end.is_none() || len > best {
            best = len;
            end = Some(i);
        }
    }
    let mut path = Vec::new();
    if let Some(mut i) = end {
        // Walk back through the predecessor that sets the head, then forward along the tail.
        let mut back = vec![i];
        while let Some(&d) = tasks[i]
            .deps
            .iter()
            .find(|&&d| (head[d] + tasks[d].secs - head[i]).abs() < 1e-9)
        {
            back.push(d);
            i = d;
        }
        back.reverse();
        let mut cur = *back.last().unwrap_or(&i);
        path.extend(back.iter().map(|&k| tasks[k].key.clone()));
        loop {
            let next = (0..tasks.len()).find(|&j| {
                tasks[j].deps.contains(&cur)
                    && (tasks[j].secs + tail[j] - tail[cur]).abs() < 1e-9
                    && tail[cur] > 0.0
            });
            match next {
                Some(j) => {
                    path.push(tasks[j].key.clone());
                    cur = j;
                }
                None => break,
            }
        }
    }
    // One-machine bound per lock group.
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in tasks.iter().enumerate() {
        if let Some(g) = &t.group {
            groups.entry(g.as_str()).or_default().push(i);
        }
    }
    let mut group_best = 0.0;
    let mut group_name = None;
    for (g, members) in &groups {
        for &a in members {
            for &b in members {
                let (ha, tb) = (head[a], tail[b]);
                let sum: f64 = members
                    .iter()
                    .filter(|&&j| head[j] >= ha && tail[j] >= tb)
                    .map(|&j| tasks[j].secs)
                    .sum();
                let lb = ha + sum + tb;
                if lb > group_best {
                    group_best = lb;
                    group_name = Some((*g).to_string());
                }
            }
        }
    }
    let sequential: f64 = tasks.iter().map(|t| t.secs).sum();
    let capacity = if parallelism == 0 {
        0.0
    } else {
        sequential / parallelism as f64
    };
    Bound {
        longest_path_s: best,
        longest_path: path,
        lock_group_s: group_best,
        lock_group: group_name,
        capacity_s: capacity,
        lower_bound_s: best.max(group_best).max(capacity),
        sequential_s: sequential,
    }
}

/// Which ready task a simulated scheduler starts first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Longest chain of provisioning time after the task (what an oracle would use).
    Weighted,
    /// Longest chain counted in tasks, ties by key (what moat's walker uses).
    Nodes,
}

/// Makespan of zero-overhead list scheduling with lock groups and a parallelism cap.
pub fn simulate(tasks: &[Task], parallelism: usize, priority: Priority) -> f64 {
    let Some(order) = topo(tasks) else {
        return f64::NAN;
    };
    let n = tasks.len();
    let (_, tail) = heads_tails(tasks, &order);
    let mut chain = vec![1usize; n];
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, t) in tasks.iter().enumerate() {
        for &d in &t.deps {
            after[d].push(i);
        }
    }
    for &i in order.iter().rev() {
        chain[i] = 1 + after[i].iter().map(|&j| chain[j]).max().unwrap_or(0);
    }
    let rank = |i: usize| -> (f64, usize, &str) {
        match priority {
            Priority::Weighted => (-(tasks[i].secs + tail[i]), 0, tasks[i].key.as_str()),
            Priority::Nodes => (0.0, usize::MAX - chain[i], tasks[i].key.as_str()),
        }
    };
    let cap = if parallelism == 0 {
        usize::MAX
    } else {
        parallelism
    };
    let mut waiting: Vec<usize> = tasks.iter().map(|t| t.deps.len()).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut running: Vec<(f64, usize)> = Vec::new();
    let mut busy: BTreeMap<&str, bool> = BTreeMap::new();
    let mut now = 0.0f64;
    let mut done = 0;
    while done < n {
        ready.sort_by(|&a, &b| {
            rank(a)
                .partial_cmp(&rank(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut k = 0;
        while k < ready.len() && running.len() < cap {
            let i = ready[k];
            let free = tasks[i]
                .group
                .as_deref()
                .is_none_or(|g| !busy.get(g).copied().unwrap_or(false));
            if free {
                if let Some(g) = tasks[i].group.as_deref() {
                    busy.insert(g, true);
                }
                running.push((now + tasks[i].secs, i));
                ready.remove(k);
            } else {
                k += 1;
            }
        }
        // Finish the earliest running task.
        let Some(pos) = running
            .iter()
            .enumerate()
            .min_by(|a, b| {
                a.1.0
                    .partial_cmp(&b.1.0)
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .map(|(p, _)| p)
        else {
            return f64::NAN;
        };
        let (t, i) = running.swap_remove(pos);
        now = t;
        done += 1;
        if let Some(g) = tasks[i].group.as_deref() {
            busy.insert(g, false);
        }
        for &j in &after[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(j);
            }
        }
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(key: &str, secs: f64, deps: &[usize], group: Option<&str>) -> Task {
        Task {
            key: key.into(),
            secs,
            deps: deps.to_vec(),
            group: group.map(Into::into),
        }
    }

    #[test]
    fn a_wide_vnet_is_one_write_with_its_subnets_and_the_observable_bound_rounds_up() {
        let model =
            crate::offline::model_of("w.yaml", &crate::specgen::grid("w", 1)).expect("model");
        let p = crate::offline::plan_from_empty(&model).expect("plan");
        let tasks = tasks_of(&p, Timing::default());
        let secs = |k: &str| tasks.iter().find(|t| t.key == k).expect(k).secs;
        assert_eq!(secs("vnet0/s3"), 0.0, "a subnet rides in its VNet's PUT");
        assert!(secs("vnet0") > 0.0);
        let vnet = tasks.iter().position(|t| t.key == "vnet0").unwrap();
        let nsg = tasks.iter().position(|t| t.key == "nsg0-3").unwrap();
        assert!(
            tasks[vnet].deps.contains(&nsg),
            "the VNet waits for its subnets' NSGs"
        );
        let b = lower_bound(&tasks, 0);
        // No lock group holds more than the VNet: no ten-subnet chain beyond the critical path
        // (rg → NSG → VNet with its subnets → storage).
        assert!(b.lock_group_s <= b.longest_path_s + 1e-9, "{b:?}");
        assert_eq!(b.longest_path_s, 32.0, "{b:?}");
        // Rounded up to Network's 10 s cadence, the VNet's 4 s take 10 s.
        let ob = tasks_of(
            &p,
            Timing {
                observable: true,
                ..Timing::default()
            },
        );
        assert_eq!(ob[vnet].secs, 10.0);
        // Seeded durations are the emulator's draws and stay in the recorded range.
        let seeded = tasks_of(
            &p,
            Timing {
                seed: Some(3),
                observable: false,
            },
        );
        assert!((1.0..=10.0).contains(&seeded[vnet].secs));
        assert!(budget_secs(&p, 0) == 0.0, "33 writes fit in ARM's burst");
    }

    #[test]
    fn longest_path_without_groups() {
        // a(1) -> b(5) -> d(1); a -> c(2) -> d
        let tasks = vec![
            t("a", 1.0, &[], None),
            t("b", 5.0, &[0], None),
            t("c", 2.0, &[0], None),
            t("d", 1.0, &[1, 2], None),
        ];
        let b = lower_bound(&tasks, 0);
        assert_eq!(b.longest_path_s, 7.0);
        assert_eq!(b.longest_path, ["a", "b", "d"]);
        assert_eq!(b.lower_bound_s, 7.0);
        assert_eq!(b.sequential_s, 9.0);
        assert_eq!(simulate(&tasks, 0, Priority::Weighted), 7.0);
    }

    #[test]
    fn a_lock_group_serialises_its_members() {
        // vnet(4) then ten subnets(3) in one group: the chain is 4 + 3, the group 4 + 30.
        let mut tasks = vec![t("vnet", 4.0, &[], Some("v"))];
        for i in 0..10 {
            tasks.push(t(&format!("s{i}"), 3.0, &[0], Some("v")));
        }
        // A storage account (25) behind s0.
        tasks.push(t("store", 25.0, &[1], None));
        let b = lower_bound(&tasks, 0);
        assert_eq!(b.longest_path_s, 32.0);
        assert_eq!(b.lock_group_s, 34.0);
        assert_eq!(b.lock_group.as_deref(), Some("v"));
        assert_eq!(b.lower_bound_s, 34.0);
        // s0 first reaches the bound; starting with the others first would not.
        assert_eq!(simulate(&tasks, 0, Priority::Weighted), 34.0);
    }

    #[test]
    fn the_group_bound_uses_tails() {
        // Two subnets each followed by 10 s of work: the second can start its tail only
        // after both subnet writes, so 1 + 1 + 10 = 12 > the chain of 11.
        let tasks = vec![
            t("a", 1.0, &[], Some("g")),
            t("b", 1.0, &[], Some("g")),
            t("x", 10.0, &[0], None),
            t("y", 10.0, &[1], None),
        ];
        let b = lower_bound(&tasks, 0);
        assert_eq!(b.longest_path_s, 11.0);
        assert_eq!(b.lower_bound_s, 12.0);
        assert_eq!(simulate(&tasks, 0, Priority::Weighted), 12.0);
    }

    #[test]
    fn the_cap_bounds_wide_graphs() {
        let tasks: Vec<Task> = (0..8)
            .map(|i| t(&format!("n{i}"), 2.0, &[], None))
            .collect();
        let b = lower_bound(&tasks, 4);
        assert_eq!(b.capacity_s, 4.0);
        assert_eq!(b.lower_bound_s, 4.0);
        assert_eq!(simulate(&tasks, 4, Priority::Nodes), 4.0);
    }

    #[test]
    fn node_count_priority_can_pick_the_short_chain() {
        // In one group: p leads to two 1 s tasks, q to one 10 s task. Counting nodes picks p.
        let tasks = vec![
            t("p", 1.0, &[], Some("g")),
            t("q", 1.0, &[], Some("g")),
            t("p1", 1.0, &[0], None),
            t("p2", 1.0, &[2], None),
            t("q1", 10.0, &[1], None),
        ];
        assert_eq!(simulate(&tasks, 0, Priority::Weighted), 11.0);
        assert_eq!(simulate(&tasks, 0, Priority::Nodes), 12.0);
        assert_eq!(lower_bound(&tasks, 0).lower_bound_s, 11.0);
    }
}
