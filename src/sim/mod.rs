//! Wiring a validated scenario into a runnable simulation, running it for one
//! seed, and condensing what was recorded into a [`RunResult`].

pub mod consistency;
pub mod msg;
pub mod world;

use crate::components::cache::Cache;
use crate::components::client::Client;
use crate::components::dns::Dns;
use crate::components::faults::FaultInjector;
use crate::components::load_balancer::LoadBalancer;
use crate::components::mq::MessageQueue;
use crate::components::network::{NetCounters, Network};
use crate::components::server::Server;
use crate::components::store::replica::Replica;
use crate::engine::{NodeId, RunEnd, Sim, SimTime};
use crate::metrics::Recorder;
use crate::scenario::validated::{CallV, NodeKind, Scenario, WorkloadV};
use crate::theory::{self, Prediction};
use msg::Msg;
use serde::{Deserialize, Serialize};
use world::SimWorld;

/// Build the simulation for `seed`.
pub fn build(sc: &Scenario, seed: u64) -> Sim<Msg, SimWorld> {
    let mut rec = Recorder::new(sc.warmup, sc.bucket, sc.duration, sc.classes.len());
    let n = sc.nodes.len();
    let metric_ids: Vec<Option<usize>> = sc
        .nodes
        .iter()
        .map(|node| match &node.kind {
            NodeKind::Server(s) => Some(rec.add_node(&node.name, "server", s.workers, true)),
            NodeKind::Queue(q) => Some(rec.add_node(&node.name, "queue", q.consumers, true)),
            NodeKind::Cache(_) => Some(rec.add_node(&node.name, "cache", 1, true)),
            NodeKind::Client(c) => c.balance.as_ref().map(|b| {
                let names = b
                    .backends
                    .iter()
                    .map(|&x| sc.nodes.get(x).map(|n| n.name.clone()).unwrap_or_default())
                    .collect();
                rec.add_lb(&node.name, names)
            }),
            NodeKind::Dns(_) => Some(rec.add_dns(&node.name)),
            NodeKind::Replica { .. } => None,
            NodeKind::LoadBalancer(lb) => {
                let names = lb
                    .backends
                    .iter()
                    .map(|&b| sc.nodes.get(b).map(|n| n.name.clone()).unwrap_or_default())
                    .collect();
                Some(rec.add_lb(&node.name, names))
            }
        })
        .collect();
    let cache_ids: Vec<Option<usize>> = sc
        .nodes
        .iter()
        .map(|node| matches!(node.kind, NodeKind::Cache(_)).then(|| rec.add_cache(&node.name)))
        .collect();
    // Active–passive pairs: the first member owns the address at the start.
    let mut vips = std::collections::BTreeMap::new();
    let mut vip_member = std::collections::BTreeMap::new();
    for (i, node) in sc.nodes.iter().enumerate() {
        if let NodeKind::LoadBalancer(lb) = &node.kind
            && let Some(pair) = lb.pair
        {
            vip_member.insert(i as u32, pair.vip as u32);
            if pair.vip == i {
                vips.insert(i as u32, (i as u32, rec.add_vip(&node.name)));
            }
        }
    }
    let world = SimWorld {
        vips,
        vip_member,
        net: Network::new(seed, n + 1, &sc.links, sc.default_link.as_ref()).with_endpoints_only(
            sc.nodes
                .iter()
                .map(|nd| matches!(nd.kind, NodeKind::Client(_)))
                .collect(),
        ),
        rec,
        slow: vec![1.0; n + 1],
        node_events: Vec::new(),
        store_events: Vec::new(),
        history: Vec::new(),
        cache_latest: std::collections::BTreeMap::new(),
    };
    let mut sim = Sim::new(seed, world);
    let key_space = client_key_space(sc);
    let mut client_index = 0;
    for (i, node) in sc.nodes.iter().enumerate() {
        let id = match &node.kind {
            NodeKind::Client(c) => {
                client_index += 1;
                sim.add(
                    &node.name,
                    Box::new(
                        Client::new(c.clone(), client_index)
                            .with_balance_metric(metric_ids[i].unwrap_or(0)),
                    ),
                )
            }
            NodeKind::Dns(d) => sim.add(
                &node.name,
                Box::new(Dns::new(d.clone(), metric_ids[i].unwrap_or(0))),
            ),
            NodeKind::Server(s) => sim.add(
                &node.name,
                Box::new(Server::new(s.clone(), metric_ids[i].unwrap_or(0))),
            ),
            NodeKind::Queue(q) => sim.add(
                &node.name,
                Box::new(MessageQueue::new(q.clone(), metric_ids[i].unwrap_or(0))),
            ),
            NodeKind::LoadBalancer(lb) => sim.add(
                &node.name,
                Box::new(LoadBalancer::new(lb.clone(), metric_ids[i].unwrap_or(0))),
            ),
            NodeKind::Cache(c) => sim.add(
                &node.name,
                Box::new(
                    Cache::new(
                        c.clone(),
                        i,
                        metric_ids[i].unwrap_or(0),
                        cache_ids[i].unwrap_or(0),
                    )
                    .with_key_space(key_space),
                ),
            ),
            NodeKind::Replica { store, index } => {
                let st = &sc.stores[*store];
                let peers = st.replicas.iter().map(|&r| NodeId(r as u32)).collect();
                let policy = st.policy.build(*index, st.replicas.len());
                sim.add(
                    &node.name,
                    Box::new(Replica::new(
                        policy,
                        *store,
                        *index,
                        peers,
                        st.skew_ns[*index],
                    )),
                )
            }
        };
        debug_assert_eq!(id, NodeId(i as u32));
    }
    let faults =
        crate::components::faults::expand_random_crashes(&sc.faults, seed, sc.duration, |n| {
            sc.nodes
                .get(n)
                .map_or_else(String::new, |nd| nd.name.clone())
        });
    sim.add("__faults", Box::new(FaultInjector::new(faults)));
    sim
}

/// The number of keys clients request (keys are `0..count`): the largest
/// `keys.count` of any client (1000 without clients).
pub fn client_key_space(sc: &Scenario) -> u64 {
    sc.nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Client(c) => Some(match c.keys {
                crate::scenario::validated::KeysV::Uniform { count }
                | crate::scenario::validated::KeysV::Zipf { count, .. } => count,
            }),
            _ => None,
        })
        .max()
        .unwrap_or(1000)
}

/// One time bucket of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TsRow {
    pub t_s: f64,
    pub ok: u64,
    pub errors: u64,
    pub rejected: u64,
    pub timeouts: u64,
    pub throughput_per_s: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_p999: f64,
    /// Stale reads invoked in this bucket (stores only).
    #[serde(default)]
    pub stale_reads: u64,
    /// Keys whose replicas disagree at the end of the bucket (NaN without stores).
    #[serde(default)]
    pub divergent_keys: f64,
    /// Hit ratio of all caches' lookups in this bucket (NaN without caches).
    #[serde(default = "nan")]
    pub cache_hit_ratio: f64,
    /// Requests all caches sent to their origins, per second, in this bucket
    /// (NaN without caches).
    #[serde(default = "nan")]
    pub cache_origin_per_s: f64,
    /// Stale reads / lookups of all caches in this bucket (NaN without lookups).
    #[serde(default = "nan")]
    pub cache_stale_read_rate: f64,
}

/// One cache node's time series (per bucket), for `cache_nodes.csv` and charts.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CacheSeries {
    pub name: String,
    pub hits: Vec<u64>,
    pub misses: Vec<u64>,
    /// Requests sent to the origin.
    pub origin_requests: Vec<u64>,
    /// Stale reads.
    #[serde(default)]
    pub stale_reads: Vec<u64>,
}

impl CacheSeries {
    /// Hit ratio of bucket `b` (NaN without lookups).
    pub fn hit_ratio(&self, b: usize) -> f64 {
        let h = self.hits.get(b).copied().unwrap_or(0);
        let m = self.misses.get(b).copied().unwrap_or(0);
        if h + m > 0 {
            h as f64 / (h + m) as f64
        } else {
            f64::NAN
        }
    }
}

fn nan() -> f64 {
    f64::NAN
}

/// One balancer's (or smart client's) per-backend time series, for
/// `balancers.csv` and the backend-share chart.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BalancerSeries {
    pub name: String,
    pub backends: Vec<String>,
    /// Per backend, per bucket: requests sent.
    pub requests: Vec<Vec<u64>>,
    /// Per backend, per bucket: mean outstanding requests at that backend seen by
    /// the requests sent (NaN without requests).
    pub outstanding_mean: Vec<Vec<f64>>,
    /// Per backend, per bucket: mean balancer-to-backend-and-back latency of the
    /// answers received (ms, NaN without answers).
    pub latency_ms_mean: Vec<Vec<f64>>,
}

impl BalancerSeries {
    /// Backend `b`'s share of this balancer's requests in bucket `t` (NaN without requests).
    pub fn share(&self, b: usize, t: usize) -> f64 {
        let total: u64 = self.requests.iter().filter_map(|r| r.get(t)).sum();
        if total == 0 {
            f64::NAN
        } else {
            self.requests[b].get(t).copied().unwrap_or(0) as f64 / total as f64
        }
    }
}

/// Per node summary.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeSummary {
    pub name: String,
    pub kind: String,
    pub workers: u32,
    pub utilization: f64,
    pub queue_len_mean: f64,
    pub queue_len_max: u32,
    pub arrivals: u64,
    pub completed: u64,
    pub rejected: u64,
    pub lost_crash: u64,
    pub sojourn_ms_mean: f64,
    pub sojourn_ms_p99: f64,
    pub offered_per_s: Option<f64>,
    pub prediction: Option<Prediction>,
    /// Per bucket (utilization, mean queue length).
    pub series: Vec<(f64, f64)>,
}

/// Everything a run produced, condensed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResult {
    pub seed: u64,
    pub end: RunEnd,
    pub end_message: String,
    pub events: u64,
    pub simulated_s: f64,
    pub measured_s: f64,
    /// Flat, ordered summary metrics (name, value); the basis of aggregation.
    pub metrics: Vec<(String, f64)>,
    pub nodes: Vec<NodeSummary>,
    pub network: NetCounters,
    pub timeseries: Vec<TsRow>,
    /// Latency CDF points (ms, cumulative fraction).
    pub cdf: Vec<(f64, f64)>,
    /// Linearizability verdicts per store, as text.
    #[serde(default)]
    pub verdicts: Vec<String>,
    /// Jepsen-format histories per (store, key) when exporting.
    #[serde(skip)]
    pub exported: Vec<(String, String)>,
    /// Per cache node: hits, misses and origin requests per bucket.
    #[serde(default)]
    pub caches: Vec<CacheSeries>,
    /// Leadership spans of replicated stores with leaders (`leaders.csv`).
    #[serde(default)]
    pub leaders: Vec<LeaderSpan>,
    /// Periods with two or more leaders of one store accepting writes.
    #[serde(default)]
    pub split_brain: Vec<SplitBrainSpan>,
    /// Per balancer (and smart client): per-backend requests, outstanding and latency per bucket.
    #[serde(default)]
    pub balancers: Vec<BalancerSeries>,
}

/// A replica's leadership of its store: from becoming leader (elected or
/// appointed) until it stepped down, crashed or the run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderSpan {
    pub store: String,
    pub node: String,
    pub term: u64,
    pub from_ns: u64,
    pub to_ns: u64,
}

/// Split brain: two or more replicas of `store` leading at once, in a design
/// where each of them acknowledges writes on its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitBrainSpan {
    pub store: String,
    pub from_ns: u64,
    pub to_ns: u64,
    /// The nodes leading during the period.
    pub leaders: Vec<String>,
}

impl RunResult {
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

/// Offered Poisson load (per second) at each node, propagated along calls.
/// `None` where it is not known (see [`offered_load_explained`] for why).
pub fn offered_load(sc: &Scenario) -> Vec<Option<f64>> {
    offered_load_explained(sc)
        .into_iter()
        .map(|o| o.ok())
        .collect()
}

/// Offered load per node (per second), or why it cannot be predicted before the
/// run: a closed loop (the rate depends on response times), a layer-7 balancer
/// (the split depends on the request mix and keys), or a cache (its origin sees
/// only the misses, which depend on the hit ratio). Load is carried along server
/// calls (each call, each scatter target, each enqueue gets the caller's full
/// rate) and through balancers in proportion to backend weights — the long-run
/// split of round robin, random, hashing and, for identical backends, of the
/// load-aware policies (which shift load away from slow backends, so for those it
/// is an estimate). An active–passive pair's load is the first (active) member's,
/// the standby's is 0 until a takeover; a smart client splits its own load like a
/// balancer (by weights); a DNS record splits its clients' load evenly over its
/// addresses (round-robin rotation while all are up).
pub fn offered_load_explained(sc: &Scenario) -> Vec<Result<f64, &'static str>> {
    use crate::components::load_balancer::{PolicySpec, RouteMatch};
    use crate::scenario::spec::OpSpec;
    const CLOSED: &str = "closed loop: the rate depends on response times";
    const KEYS: &str = "behind layer-7 key-range routing: the split depends on the keys";
    const CACHE: &str = "behind a cache: it sees the misses, which depend on the hit ratio";
    const DNS: &str =
        "a DNS server: clients query it once per TTL; their requests go to its addresses";
    let n = sc.nodes.len();
    let nc = sc.classes.len().max(1);
    // Per (node, class): rate per second, and the first reason it is unknown.
    let mut why: Vec<Option<&'static str>> = vec![None; n * nc];
    let mut direct = vec![0.0f64; n * nc];
    for node in &sc.nodes {
        if let NodeKind::Client(c) = &node.kind {
            if c.target >= n {
                continue;
            }
            let r = match &c.workload {
                WorkloadV::Closed { .. } => None,
                WorkloadV::Poisson { rate_per_ns } | WorkloadV::Constant { rate_per_ns } => {
                    Some(*rate_per_ns * 1e9)
                }
                WorkloadV::Schedule { points, .. } => {
                    // Time-average over the run.
                    let d = sc.duration.as_ns() as f64;
                    let steps = 1000;
                    Some(
                        (0..steps)
                            .map(|k| {
                                crate::scenario::validated::schedule_rate(
                                    points,
                                    d * (k as f64 + 0.5) / steps as f64,
                                )
                            })
                            .sum::<f64>()
                            / steps as f64
                            * 1e9,
                    )
                }
            };
            // A smart client splits its load itself, in proportion to the weights.
            let dests: Vec<(usize, f64)> = match &c.balance {
                Some(b) => {
                    let total: f64 = b.weights.iter().map(|&w| f64::from(w)).sum();
                    b.backends
                        .iter()
                        .zip(&b.weights)
                        .filter(|(x, _)| **x < n)
                        .map(|(&x, &w)| {
                            let share = if total > 0.0 {
                                f64::from(w) / total
                            } else {
                                1.0 / b.backends.len() as f64
                            };
                            (x, share)
                        })
                        .collect()
                }
                None => vec![(c.target, 1.0)],
            };
            for &(dest, share) in &dests {
                let mut prev = 0.0;
                for m in &c.mix {
                    let k = dest * nc + usize::from(m.class).min(nc - 1);
                    match r {
                        Some(r) => direct[k] += r * share * (m.cum_weight - prev),
                        None => {
                            why[k].get_or_insert(CLOSED);
                        }
                    }
                    prev = m.cum_weight;
                }
            }
        }
    }
    // Where node i's class-k load goes: (target, fraction), or why it is unknown.
    let out_edges = |i: usize, class: usize| -> (Vec<(usize, f64)>, Option<&'static str>) {
        let op = sc.classes.get(class).map(|c| c.op);
        match &sc.nodes[i].kind {
            NodeKind::Server(s) => {
                let mut e = Vec::new();
                for c in &s.calls {
                    match c {
                        CallV::Call { target, .. } => e.push((*target, 1.0)),
                        CallV::Parallel { targets, .. } => {
                            e.extend(targets.iter().map(|t| (*t, 1.0)))
                        }
                        CallV::Enqueue { queue, .. } => e.push((*queue, 1.0)),
                    }
                }
                (e, None)
            }
            NodeKind::LoadBalancer(lb) => {
                // Layer 7: the class's pool, by the first matching route.
                let mut pool = None;
                if let PolicySpec::Layer7 {
                    routes,
                    default_pool,
                    ..
                } = &lb.policy
                {
                    let mut chosen = None;
                    for r in routes {
                        let m = match r.when {
                            RouteMatch::Any => Some(true),
                            RouteMatch::Reads => op.map(|o| o == OpSpec::Read),
                            RouteMatch::Writes => op.map(|o| o != OpSpec::Read),
                            RouteMatch::KeyRange { .. } => None,
                        };
                        match m {
                            Some(true) => {
                                chosen = Some(r.pool);
                                break;
                            }
                            Some(false) => {}
                            None => {
                                let all = lb.backends.iter().map(|&b| (b, 0.0)).collect();
                                return (all, Some(KEYS));
                            }
                        }
                    }
                    pool = Some(chosen.unwrap_or(*default_pool));
                }
                let in_pool =
                    |k: usize| pool.is_none_or(|p| lb.pools.get(k).copied().unwrap_or(0) == p);
                let weight = |k: usize| lb.weights.get(k).map_or(1.0, |&w| f64::from(w));
                let total: f64 = (0..lb.backends.len())
                    .filter(|&k| in_pool(k))
                    .map(weight)
                    .sum();
                let members = (0..lb.backends.len()).filter(|&k| in_pool(k)).count();
                let e = lb
                    .backends
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| in_pool(k))
                    .map(|(k, &b)| {
                        let share = if total > 0.0 {
                            weight(k) / total
                        } else {
                            1.0 / members as f64
                        };
                        (b, share)
                    })
                    .collect();
                (e, None)
            }
            NodeKind::Cache(c) => (vec![(c.origin, 0.0)], Some(CACHE)),
            // DNS round robin: each client rotates through the answer, an even split
            // while every address is up (health checks change it after a failure).
            NodeKind::Dns(d) => {
                let share = 1.0 / d.addresses.len().max(1) as f64;
                (d.addresses.iter().map(|&a| (a, share)).collect(), None)
            }
            _ => (Vec::new(), None),
        }
    };
    // Propagate in rounds (call graphs are small); cycles stop after n rounds.
    let mut cur = direct.clone();
    let mut total = direct;
    let mut cur_why = why.clone();
    for _ in 0..n {
        let mut next = vec![0.0; n * nc];
        let mut next_why: Vec<Option<&'static str>> = vec![None; n * nc];
        let mut any = false;
        for i in 0..n {
            for k in 0..nc {
                let x = i * nc + k;
                if cur[x] == 0.0 && cur_why[x].is_none() {
                    continue;
                }
                let (edges, reason) = out_edges(i, k);
                for (t, f) in edges {
                    if t >= n {
                        continue;
                    }
                    next[t * nc + k] += cur[x] * f;
                    if let Some(r) = cur_why[x].or(reason) {
                        next_why[t * nc + k].get_or_insert(r);
                    }
                    any = true;
                }
            }
        }
        if !any {
            break;
        }
        for x in 0..n * nc {
            total[x] += next[x];
            if let Some(r) = next_why[x] {
                why[x].get_or_insert(r);
            }
        }
        cur = next;
        cur_why = next_why;
    }
    (0..n)
        .map(|i| {
            if matches!(sc.nodes[i].kind, NodeKind::Dns(_)) {
                return Err(DNS);
            }
            match why[i * nc..(i + 1) * nc].iter().find_map(|w| *w) {
                Some(r) => Err(r),
                None => Ok(total[i * nc..(i + 1) * nc].iter().sum()),
            }
        })
        .collect()
}

/// Predictions per node (index-aligned with `sc.nodes`).
pub fn predictions(sc: &Scenario) -> Vec<(Option<f64>, Option<Prediction>)> {
    let lam = offered_load(sc);
    sc.nodes
        .iter()
        .enumerate()
        .map(|(i, node)| match &node.kind {
            NodeKind::Server(s) => {
                let l = lam[i];
                // Only leaves (no calls) have a service time that is the whole story.
                let p = l
                    .filter(|_| {
                        s.calls.is_empty() && s.service_by_class.iter().all(Option::is_none)
                    })
                    .and_then(|l| {
                        theory::predict(
                            l,
                            s.workers,
                            s.queue_capacity,
                            s.service.mean_ns() / 1e9,
                            s.service.scv(),
                            s.service.is_exponential(),
                        )
                    });
                (l, p)
            }
            NodeKind::Queue(q) => {
                let l = lam[i];
                (
                    l,
                    l.and_then(|l| {
                        theory::predict(
                            l,
                            q.consumers,
                            q.capacity.saturating_sub(q.consumers),
                            q.service.mean_ns() / 1e9,
                            q.service.scv(),
                            q.service.is_exponential(),
                        )
                    }),
                )
            }
            NodeKind::Client(_) | NodeKind::Replica { .. } => (None, None),
            NodeKind::LoadBalancer(_) => (lam[i], None),
            NodeKind::Cache(_) | NodeKind::Dns(_) => (lam[i], None),
        })
        .collect()
}

/// Run one seed of a scenario to its horizon.
pub fn run(sc: &Scenario, seed: u64) -> RunResult {
    run_with(sc, seed, false)
}

/// Run one seed; `export_history` keeps Jepsen-format histories of store operations.
pub fn run_with(sc: &Scenario, seed: u64, export_history: bool) -> RunResult {
    let mut sim = build(sc, seed);
    // With stores, stop at every bucket boundary to sample replica divergence.
    let mut divergence: Vec<f64> = Vec::new();
    let mut tracker = crate::consistency::anomalies::ConvergenceTracker::new();
    let heals: Vec<u64> = sc
        .faults
        .iter()
        .filter(|f| {
            matches!(
                f.action,
                crate::scenario::validated::FaultActionV::Heal
                    | crate::scenario::validated::FaultActionV::Restart(_)
            )
        })
        .map(|f| f.at.as_ns())
        .collect();
    let end = if sc.stores.is_empty() {
        sim.run(sc.duration, sc.max_events)
    } else {
        let b = sc.bucket.as_ns().max(1);
        let mut t = 0u64;
        let mut hi = 0;
        loop {
            let next = (t + b).min(sc.duration.as_ns());
            let e = sim.run(SimTime(next), sc.max_events);
            while hi < heals.len() && heals[hi] <= next {
                tracker.record_heal(heals[hi]);
                hi += 1;
            }
            let d = consistency::divergence(&sim, &sc.stores);
            tracker.record_sample(next, d);
            divergence.push(d as f64);
            t = next;
            if e == RunEnd::EventLimit || e == RunEnd::Stopped || t >= sc.duration.as_ns() {
                break e;
            }
        }
    };
    sim.finish();
    let now = sim.now();
    let events = sim.events();
    let end_message = match end {
        RunEnd::Horizon | RunEnd::Idle => format!(
            "reached the scenario's duration ({} s)",
            sc.duration.as_secs_f64()
        ),
        RunEnd::EventLimit => format!(
            "stopped at the event limit ({} events) at t = {:.3} s of {} s; raise `max_events` or shorten `duration_s`",
            sc.max_events,
            now.as_secs_f64(),
            sc.duration.as_secs_f64()
        ),
        RunEnd::Stopped => format!("stopped by a component at t = {:.3} s", now.as_secs_f64()),
    };
    sim.world.rec.finish(now);
    let mut res = summarize(sc, seed, end, end_message, events, now, &sim.world);
    if !sc.stores.is_empty() {
        let rec = &sim.world.rec;
        let names: Vec<&str> = sc.nodes.iter().map(|n| n.name.as_str()).collect();
        let co = consistency::analyze(
            &sim,
            &sc.stores,
            &names,
            rec.bucket_ns(),
            rec.n_buckets,
            rec.measure_from.unwrap_or(now),
            now,
        );
        res.metrics.extend(co.metrics);
        // Convergence after each heal: under continuous writes replicas are never
        // identical at an instant (replication is in flight), so "converged" means
        // back to the divergence seen in normal operation: at most the largest
        // sample between the end of the warm-up and the first fault.
        let _ = tracker.finish();
        let b = sc.bucket.as_ns().max(1);
        let first_fault = sc.faults.first().map(|f| f.at.as_ns()).unwrap_or(u64::MAX);
        let warm = sim.world.rec.measure_from.unwrap_or(SimTime::ZERO).as_ns();
        let baseline = divergence
            .iter()
            .enumerate()
            .filter(|(k, _)| (*k as u64 + 1) * b > warm && (*k as u64 + 1) * b < first_fault)
            .map(|(_, d)| *d)
            .fold(0.0, f64::max);
        let mut worst: f64 = f64::NAN;
        let mut all_converged = true;
        for &h in &heals {
            let k0 = (h / b) as usize;
            match divergence
                .iter()
                .enumerate()
                .skip(k0)
                .find(|(_, d)| **d <= baseline)
            {
                Some((k, _)) => {
                    let t = ((k as u64 + 1) * b)
                        .min(sc.duration.as_ns())
                        .saturating_sub(h) as f64
                        / 1e9;
                    worst = if worst.is_nan() { t } else { worst.max(t) };
                }
                None => all_converged = false,
            }
        }
        res.metrics.push((
            "convergence_s".into(),
            if all_converged { worst } else { f64::NAN },
        ));
        res.metrics
            .push(("converged".into(), if all_converged { 1.0 } else { 0.0 }));
        res.metrics
            .push(("divergent_keys_baseline".into(), baseline));
        res.metrics.push((
            "divergent_keys_max".into(),
            tracker.max_divergent_keys() as f64,
        ));
        for (b, row) in res.timeseries.iter_mut().enumerate() {
            row.stale_reads = co.stale_per_bucket.get(b).copied().unwrap_or(0);
            row.divergent_keys = divergence.get(b).copied().unwrap_or(f64::NAN);
        }
        res.verdicts = co.verdicts;
        res.leaders = co.leaders;
        res.split_brain = co.split_brain;
        if export_history {
            for (si, st) in sc.stores.iter().enumerate() {
                for (k, text) in consistency::export(&sim.world.history, si as u32) {
                    res.exported
                        .push((format!("{}/key-{k}.log", st.name), text));
                }
            }
        }
    }
    res
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Per load balancer: backend shares and latency, load imbalance, failure detection.
fn lb_metrics(m: &mut Vec<(String, f64)>, rec: &crate::metrics::Recorder) {
    for lb in &rec.lbs {
        let total: u64 = lb.forwarded.iter().sum();
        let n = lb.forwarded.len();
        for (b, name) in lb.backends.iter().enumerate() {
            let c = lb.forwarded[b];
            m.push((format!("lb.{}.backend.{name}.requests", lb.name), c as f64));
            m.push((
                format!("lb.{}.backend.{name}.share", lb.name),
                if total > 0 {
                    c as f64 / total as f64
                } else {
                    f64::NAN
                },
            ));
            let h = &lb.latency[b];
            m.push((
                format!("lb.{}.backend.{name}.latency_ms_mean", lb.name),
                if h.is_empty() {
                    f64::NAN
                } else {
                    h.mean() / 1e6
                },
            ));
            m.push((
                format!("lb.{}.backend.{name}.latency_ms_p99", lb.name),
                if h.is_empty() {
                    f64::NAN
                } else {
                    ms(h.value_at_quantile(0.99))
                },
            ));
        }
        let max = lb.forwarded.iter().copied().max().unwrap_or(0);
        let mean = if n > 0 { total as f64 / n as f64 } else { 0.0 };
        m.push((
            format!("lb.{}.load_imbalance", lb.name),
            if mean > 0.0 {
                max as f64 / mean
            } else {
                f64::NAN
            },
        ));
        let detect = if lb.detect_ns.is_empty() {
            f64::NAN
        } else {
            lb.detect_ns.iter().map(|&d| d as f64).sum::<f64>() / lb.detect_ns.len() as f64 / 1e9
        };
        m.push((format!("lb.{}.detect_s_mean", lb.name), detect));
        m.push((
            format!("lb.{}.detections", lb.name),
            lb.detect_ns.len() as f64,
        ));
        m.push((
            format!("lb.{}.sent_to_dead", lb.name),
            lb.sent_to_dead as f64,
        ));
        m.push((
            format!("lb.{}.false_ejections", lb.name),
            lb.false_ejections as f64,
        ));
        m.push((format!("lb.{}.ejections", lb.name), lb.ejections as f64));
        m.push((format!("lb.{}.no_backend", lb.name), lb.no_backend as f64));
        m.push((
            format!("lb.{}.backend_timeouts", lb.name),
            lb.backend_timeouts as f64,
        ));
        m.push((format!("lb.{}.lost_crash", lb.name), lb.lost_crash as f64));
        m.push((
            format!("lb.{}.affinity_breaks", lb.name),
            lb.affinity_breaks as f64,
        ));
    }
    let mean_s = |v: &[u64]| {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().map(|&d| d as f64).sum::<f64>() / v.len() as f64 / 1e9
        }
    };
    for v in &rec.vips {
        m.push((
            format!("vip.{}.takeovers", v.name),
            v.takeover_ns.len() as f64,
        ));
        m.push((
            format!("vip.{}.takeover_s_mean", v.name),
            mean_s(&v.takeover_ns),
        ));
        m.push((
            format!("vip.{}.takeover_s_max", v.name),
            v.takeover_ns
                .iter()
                .max()
                .map_or(f64::NAN, |&x| x as f64 / 1e9),
        ));
        m.push((
            format!("vip.{}.false_takeovers", v.name),
            v.false_takeovers as f64,
        ));
        m.push((format!("vip.{}.lost_requests", v.name), v.lost as f64));
    }
    for d in &rec.dns {
        m.push((format!("dns.{}.queries", d.name), d.queries as f64));
        m.push((
            format!("dns.{}.detect_s_mean", d.name),
            mean_s(&d.detect_ns),
        ));
    }
    // Totals with the same name in every variant (for tables and bars across
    // balancer set-ups): requests lost inside crashed balancers (in flight) or
    // sent to a pair's crashed owner, and sessions re-pinned.
    if !rec.lbs.is_empty() || !rec.vips.is_empty() {
        let lost: u64 = rec.lbs.iter().map(|l| l.lost_crash).sum::<u64>()
            + rec.vips.iter().map(|v| v.lost).sum::<u64>();
        m.push(("balancer_lost_requests".into(), lost as f64));
        m.push((
            "affinity_breaks".into(),
            rec.lbs.iter().map(|l| l.affinity_breaks).sum::<u64>() as f64,
        ));
    }
    // Sticky balancing: requests that found their session on another backend
    // than its previous request (re-pins plus fresh pins at a takeover).
    if rec.sticky_routing {
        m.push(("session_moves".into(), rec.session_moves as f64));
    }
}

/// Cache figures across nodes: stale reads, origin load, remapped key fractions
/// (mean over ring changes, measured and expected), and the hit-ratio dip after
/// the first fault (see README, "Cache metrics").
fn cache_metrics(
    m: &mut Vec<(String, f64)>,
    sc: &Scenario,
    rec: &crate::metrics::Recorder,
    measured_s: f64,
) {
    let (mut lookups, mut stale, mut origin) = (0u64, 0u64, 0u64);
    for c in &rec.caches {
        lookups += c.hits + c.misses;
        stale += c.stale_reads;
        origin += c.origin_requests;
    }
    m.push(("cache_stale_reads".into(), stale as f64));
    m.push((
        "cache_stale_read_rate".into(),
        if lookups > 0 {
            stale as f64 / lookups as f64
        } else {
            f64::NAN
        },
    ));
    m.push((
        "cache_origin_per_s".into(),
        if measured_s > 0.0 {
            origin as f64 / measured_s
        } else {
            f64::NAN
        },
    ));
    let events: Vec<&crate::metrics::recorder::RemapEvent> =
        rec.caches.iter().flat_map(|c| c.remaps.iter()).collect();
    let distributed = sc
        .nodes
        .iter()
        .any(|n| matches!(&n.kind, NodeKind::Cache(c) if !c.peers.is_empty()));
    if distributed {
        m.push(("cache_ring_changes".into(), events.len() as f64));
    }
    if !events.is_empty() {
        for (joined, what) in [(false, "leave"), (true, "join")] {
            let es: Vec<_> = events.iter().filter(|e| e.joined == joined).collect();
            let mean = |f: &dyn Fn(&crate::metrics::recorder::RemapEvent) -> f64| {
                if es.is_empty() {
                    f64::NAN
                } else {
                    es.iter().map(|e| f(e)).sum::<f64>() / es.len() as f64
                }
            };
            m.push((
                format!("cache_remap_{what}_fraction"),
                mean(&|e| e.moved_fraction),
            ));
            m.push((format!("cache_remap_{what}_theory"), mean(&|e| e.theory)));
        }
    }
    // The dip: buckets ending by the first fault form the baseline; from the first
    // fault on, the lowest bucket hit ratio (buckets with under a quarter of the
    // baseline's mean lookups skipped), the time spent below 95% of the baseline,
    // and the misses beyond the baseline miss ratio.
    let Some(fault) = sc.faults.first().map(|f| f.at.as_ns()) else {
        return;
    };
    let b_ns = rec.bucket_ns().max(1);
    let nb = rec.n_buckets;
    let per_bucket = |b: usize| -> (u64, u64) {
        rec.caches.iter().fold((0, 0), |a, c| {
            let (h, mi) = c.buckets.get(b).copied().unwrap_or((0, 0));
            (a.0 + h, a.1 + mi)
        })
    };
    let (mut bh, mut bm, mut nbase) = (0u64, 0u64, 0u64);
    for b in 0..nb {
        if (b as u64 + 1) * b_ns <= fault {
            let (h, mi) = per_bucket(b);
            if h + mi > 0 {
                bh += h;
                bm += mi;
                nbase += 1;
            }
        }
    }
    if bh + bm == 0 {
        return;
    }
    let base = bh as f64 / (bh + bm) as f64;
    let min_lookups = (bh + bm) as f64 / nbase as f64 / 4.0;
    let (mut min, mut below, mut extra) = (f64::NAN, 0u64, 0.0f64);
    for b in 0..nb {
        if (b as u64 + 1) * b_ns <= fault {
            continue;
        }
        let (h, mi) = per_bucket(b);
        let n = (h + mi) as f64;
        if n < min_lookups || n == 0.0 {
            continue;
        }
        let r = h as f64 / n;
        min = if min.is_nan() { r } else { min.min(r) };
        if r < 0.95 * base {
            below += 1;
        }
        extra += mi as f64 - (1.0 - base) * n;
    }
    m.push(("cache_hit_ratio_baseline".into(), base));
    m.push(("cache_hit_ratio_min".into(), min));
    m.push(("cache_hit_ratio_dip".into(), base - min));
    m.push(("cache_dip_s".into(), below as f64 * b_ns as f64 / 1e9));
    m.push(("cache_extra_misses".into(), extra));
}

fn summarize(
    sc: &Scenario,
    seed: u64,
    end: RunEnd,
    end_message: String,
    events: u64,
    now: SimTime,
    w: &SimWorld,
) -> RunResult {
    let rec = &w.rec;
    let measured_ns = rec.measured_ns(now);
    let measured_s = measured_ns / 1e9;
    let done = rec.ok + rec.errors + rec.rejected + rec.timeouts;
    let h = &rec.latency;
    let q = |p: f64| {
        if h.is_empty() {
            f64::NAN
        } else {
            ms(h.value_at_quantile(p))
        }
    };
    let mut m: Vec<(String, f64)> = Vec::new();
    let rate = |x: u64| {
        if measured_s > 0.0 {
            x as f64 / measured_s
        } else {
            f64::NAN
        }
    };
    m.push(("throughput_per_s".into(), rate(rec.ok)));
    m.push(("offered_per_s".into(), rate(rec.started)));
    m.push((
        "availability".into(),
        if done > 0 {
            rec.ok as f64 / done as f64
        } else {
            f64::NAN
        },
    ));
    m.push((
        "latency_ms_mean".into(),
        if h.is_empty() {
            f64::NAN
        } else {
            h.mean() / 1e6
        },
    ));
    m.push(("latency_ms_p50".into(), q(0.5)));
    m.push(("latency_ms_p90".into(), q(0.9)));
    m.push(("latency_ms_p99".into(), q(0.99)));
    m.push(("latency_ms_p999".into(), q(0.999)));
    m.push((
        "latency_ms_max".into(),
        if h.is_empty() { f64::NAN } else { ms(h.max()) },
    ));
    m.push(("requests_ok".into(), rec.ok as f64));
    m.push(("errors".into(), rec.errors as f64));
    m.push(("rejected".into(), rec.rejected as f64));
    m.push(("timeouts".into(), rec.timeouts as f64));
    m.push(("retries".into(), rec.retries as f64));
    // Availability during fault windows (buckets overlapping any window).
    if !sc.windows.is_empty() {
        let bw = rec.bucket_ns() as f64 / 1e9;
        let (mut ok, mut all) = (0u64, 0u64);
        for (b, bk) in rec.buckets.iter().enumerate() {
            let (t0, t1) = (b as f64 * bw, (b + 1) as f64 * bw);
            if sc.windows.iter().any(|w| w.start_s < t1 && w.end_s > t0) {
                ok += bk.ok;
                all += bk.ok + bk.errors + bk.rejected + bk.timeouts;
            }
        }
        m.push((
            "availability_during_faults".into(),
            if all > 0 {
                ok as f64 / all as f64
            } else {
                f64::NAN
            },
        ));
    }
    m.push((
        "error_rate".into(),
        if done > 0 {
            (done - rec.ok) as f64 / done as f64
        } else {
            f64::NAN
        },
    ));
    // Little's law over the clients: L (time-average requests in the system)
    // against λW (completion rate × mean time in system, all outcomes).
    let l_measured = if measured_ns > 0.0 {
        rec.in_system_area / measured_ns
    } else {
        f64::NAN
    };
    m.push(("littles_l_measured".into(), l_measured));
    // λW with every outcome (timeouts and errors spend time in the system too).
    let l_pred = if measured_ns > 0.0 {
        rec.sojourn_sum_ns / measured_ns
    } else {
        f64::NAN
    };
    m.push(("littles_l_lambda_w".into(), l_pred));
    for (ci, c) in sc.classes.iter().enumerate() {
        if sc.classes.len() > 1 {
            let hc = &rec.latency_by_class[ci];
            m.push((
                format!("class.{}.latency_ms_p50", c.name),
                if hc.is_empty() {
                    f64::NAN
                } else {
                    ms(hc.value_at_quantile(0.5))
                },
            ));
            m.push((
                format!("class.{}.latency_ms_p99", c.name),
                if hc.is_empty() {
                    f64::NAN
                } else {
                    ms(hc.value_at_quantile(0.99))
                },
            ));
            m.push((format!("class.{}.throughput_per_s", c.name), rate(hc.len())));
        }
    }
    lb_metrics(&mut m, rec);
    // Caches: hit ratio (overall and per cache), evictions, lost writes, stale reads, memory.
    if !rec.caches.is_empty() {
        let (h, mi): (u64, u64) = rec
            .caches
            .iter()
            .fold((0, 0), |a, c| (a.0 + c.hits, a.1 + c.misses));
        let ratio = |h: u64, mi: u64| {
            if h + mi > 0 {
                h as f64 / (h + mi) as f64
            } else {
                f64::NAN
            }
        };
        m.push(("cache_hit_ratio".into(), ratio(h, mi)));
        for c in &rec.caches {
            m.push((
                format!("cache.{}.hit_ratio", c.name),
                ratio(c.hits, c.misses),
            ));
            m.push((format!("cache.{}.hits", c.name), c.hits as f64));
            m.push((format!("cache.{}.misses", c.name), c.misses as f64));
            m.push((format!("cache.{}.evictions", c.name), c.evictions as f64));
            m.push((
                format!("cache.{}.lost_writes", c.name),
                c.lost_writes as f64,
            ));
            m.push((
                format!("cache.{}.stale_reads", c.name),
                c.stale_reads as f64,
            ));
            m.push((format!("cache.{}.flushed", c.name), c.flushed as f64));
            m.push((format!("cache.{}.refreshes", c.name), c.refreshes as f64));
            m.push((format!("cache.{}.coalesced", c.name), c.coalesced as f64));
            for (what, h) in [("hit", &c.hit_latency), ("miss", &c.miss_latency)] {
                let (mean, p99) = match h {
                    Some(h) if !h.is_empty() => (h.mean() / 1e6, ms(h.value_at_quantile(0.99))),
                    _ => (f64::NAN, f64::NAN),
                };
                m.push((format!("cache.{}.{what}_latency_ms_mean", c.name), mean));
                m.push((format!("cache.{}.{what}_latency_ms_p99", c.name), p99));
            }
            m.push((format!("cache.{}.forwarded", c.name), c.forwarded as f64));
            m.push((
                format!("cache.{}.memory_bytes", c.name),
                c.memory_bytes as f64,
            ));
            m.push((format!("cache.{}.entries", c.name), c.entries as f64));
            m.push((
                format!("cache.{}.stale_read_rate", c.name),
                if c.hits + c.misses > 0 {
                    c.stale_reads as f64 / (c.hits + c.misses) as f64
                } else {
                    f64::NAN
                },
            ));
            m.push((
                format!("cache.{}.origin_requests", c.name),
                c.origin_requests as f64,
            ));
            m.push((
                format!("cache.{}.forward_timeouts", c.name),
                c.forward_timeouts as f64,
            ));
            m.push((
                format!("cache.{}.pushes_sent", c.name),
                c.pushes_sent as f64,
            ));
            m.push((
                format!("cache.{}.pushes_received", c.name),
                c.pushes_received as f64,
            ));
            m.push((
                format!("cache.{}.pushes_outdated", c.name),
                c.pushes_outdated as f64,
            ));
            m.push((
                format!("cache.{}.ring_changes", c.name),
                c.remaps.len() as f64,
            ));
        }
        cache_metrics(&mut m, sc, rec, measured_s);
    }
    // Measured uptime of every node a fault can crash: the time-average of
    // "alive" over the measured period (availability arithmetic checks use it).
    let mut crashable: Vec<usize> = Vec::new();
    for f in &sc.faults {
        match &f.action {
            crate::scenario::validated::FaultActionV::Crash(n) => crashable.push(*n),
            crate::scenario::validated::FaultActionV::RandomCrashes { nodes, .. } => {
                crashable.extend(nodes)
            }
            _ => {}
        }
    }
    crashable.sort_unstable();
    crashable.dedup();
    let from_ns = rec.measure_from.unwrap_or(now).as_ns();
    let span_ns = now.as_ns().saturating_sub(from_ns);
    for &n in &crashable {
        let Some(node) = sc.nodes.get(n) else {
            continue;
        };
        let (mut alive, mut last, mut up) = (true, from_ns, 0u64);
        for &(t, who, now_alive) in &w.node_events {
            if who as usize != n {
                continue;
            }
            let t = t.as_ns().clamp(from_ns, now.as_ns());
            if alive {
                up += t - last;
            }
            last = t;
            alive = now_alive;
        }
        if alive {
            up += now.as_ns() - last;
        }
        let uptime = if span_ns > 0 {
            up as f64 / span_ns as f64
        } else {
            f64::NAN
        };
        m.push((format!("node.{}.uptime", node.name), uptime));
    }
    let preds = predictions(sc);
    let mut nodes = Vec::new();
    let bucket_ns = rec.bucket_ns() as f64;
    let measure_from = rec.measure_from.unwrap_or(now);
    for nl in &rec.nodes {
        let idx = sc.node_index(&nl.name).unwrap_or(0);
        let util = if measured_ns > 0.0 {
            nl.busy_area / measured_ns / f64::from(nl.capacity.max(1))
        } else {
            f64::NAN
        };
        let qlen = if measured_ns > 0.0 {
            nl.queue_area / measured_ns
        } else {
            f64::NAN
        };
        let (sj_mean, sj_p99) = match &nl.sojourn {
            Some(hs) if !hs.is_empty() => (hs.mean() / 1e6, ms(hs.value_at_quantile(0.99))),
            _ => (f64::NAN, f64::NAN),
        };
        m.push((format!("node.{}.utilization", nl.name), util));
        m.push((format!("node.{}.queue_len_mean", nl.name), qlen));
        m.push((format!("node.{}.sojourn_ms_mean", nl.name), sj_mean));
        m.push((format!("node.{}.rejected", nl.name), nl.rejected as f64));
        let arr = nl.arrivals as f64;
        m.push((
            format!("node.{}.p_wait", nl.name),
            if arr > 0.0 {
                nl.waited as f64 / arr
            } else {
                f64::NAN
            },
        ));
        m.push((
            format!("node.{}.reject_rate", nl.name),
            if arr > 0.0 {
                nl.rejected as f64 / arr
            } else {
                f64::NAN
            },
        ));
        m.push((format!("node.{}.lost_crash", nl.name), nl.lost_crash as f64));
        let series = nl
            .buckets
            .iter()
            .enumerate()
            .map(|(b, &(busy, queue))| {
                // Measured length of this bucket.
                let start = (b as f64 * bucket_ns).max(measure_from.as_ns() as f64);
                let end = ((b + 1) as f64 * bucket_ns).min(now.as_ns() as f64);
                let len = (end - start).max(0.0);
                if len > 0.0 {
                    (busy / len / f64::from(nl.capacity.max(1)), queue / len)
                } else {
                    (f64::NAN, f64::NAN)
                }
            })
            .collect();
        nodes.push(NodeSummary {
            name: nl.name.clone(),
            kind: nl.kind.to_string(),
            workers: nl.capacity,
            utilization: util,
            queue_len_mean: qlen,
            queue_len_max: nl.queue_max,
            arrivals: nl.arrivals,
            completed: nl.completed,
            rejected: nl.rejected,
            lost_crash: nl.lost_crash,
            sojourn_ms_mean: sj_mean,
            sojourn_ms_p99: sj_p99,
            offered_per_s: preds[idx].0,
            prediction: preds[idx].1.clone(),
            series,
        });
    }
    let mut timeseries = Vec::with_capacity(rec.buckets.len());
    let bucket_s = bucket_ns / 1e9;
    for (b, bk) in rec.buckets.iter().enumerate() {
        let t0 = b as f64 * bucket_s;
        let qb = |p: f64| {
            if bk.latency.is_empty() {
                f64::NAN
            } else {
                ms(bk.latency.value_at_quantile(p))
            }
        };
        timeseries.push(TsRow {
            t_s: t0,
            ok: bk.ok,
            errors: bk.errors,
            rejected: bk.rejected,
            timeouts: bk.timeouts,
            throughput_per_s: bk.ok as f64 / bucket_s,
            latency_ms_p50: qb(0.5),
            latency_ms_p99: qb(0.99),
            latency_ms_p999: qb(0.999),
            stale_reads: 0,
            divergent_keys: f64::NAN,
            cache_hit_ratio: {
                let (h, mi) = rec.caches.iter().fold((0u64, 0u64), |a, c| {
                    (a.0 + c.buckets[b].0, a.1 + c.buckets[b].1)
                });
                if h + mi > 0 {
                    h as f64 / (h + mi) as f64
                } else {
                    f64::NAN
                }
            },
            cache_origin_per_s: if rec.caches.is_empty() {
                f64::NAN
            } else {
                rec.caches
                    .iter()
                    .map(|c| c.origin_buckets.get(b).copied().unwrap_or(0))
                    .sum::<u64>() as f64
                    / bucket_s
            },
            cache_stale_read_rate: {
                let (st, n) = rec.caches.iter().fold((0u64, 0u64), |a, c| {
                    (
                        a.0 + c.stale_buckets.get(b).copied().unwrap_or(0),
                        a.1 + c.buckets[b].0 + c.buckets[b].1,
                    )
                });
                if n > 0 {
                    st as f64 / n as f64
                } else {
                    f64::NAN
                }
            },
        });
    }
    let mut cdf = Vec::new();
    if !h.is_empty() {
        let mut last_q = -1.0;
        for v in h.iter_quantiles(1) {
            let qv = v.quantile_iterated_to();
            if qv - last_q >= 0.002 || qv >= 1.0 {
                cdf.push((ms(v.value_iterated_to()), qv));
                last_q = qv;
            }
        }
    }
    RunResult {
        seed,
        end,
        end_message,
        events,
        simulated_s: now.as_secs_f64(),
        measured_s,
        metrics: m,
        nodes,
        network: w.net.counters,
        timeseries,
        cdf,
        verdicts: Vec::new(),
        exported: Vec::new(),
        balancers: rec
            .lbs
            .iter()
            .map(|l| {
                let div = |a: f64, n: u64| if n > 0 { a / n as f64 } else { f64::NAN };
                BalancerSeries {
                    name: l.name.clone(),
                    backends: l.backends.clone(),
                    requests: l.bucket_requests.clone(),
                    outstanding_mean: l
                        .bucket_outstanding
                        .iter()
                        .zip(&l.bucket_requests)
                        .map(|(o, r)| o.iter().zip(r).map(|(&o, &r)| div(o as f64, r)).collect())
                        .collect(),
                    latency_ms_mean: l
                        .bucket_latency_ns
                        .iter()
                        .zip(&l.bucket_answers)
                        .map(|(s, n)| s.iter().zip(n).map(|(&s, &n)| div(s / 1e6, n)).collect())
                        .collect(),
                }
            })
            .collect(),
        caches: rec
            .caches
            .iter()
            .map(|c| CacheSeries {
                name: c.name.clone(),
                hits: c.buckets.iter().map(|x| x.0).collect(),
                misses: c.buckets.iter().map(|x| x.1).collect(),
                origin_requests: c.origin_buckets.clone(),
                stale_reads: c.stale_buckets.clone(),
            })
            .collect(),
        leaders: Vec::new(),
        split_brain: Vec::new(),
    }
}
