//! The validated, resolved scenario (stage two of loading): names resolved to node
//! indices, units converted to nanoseconds, defaults and models applied. Everything
//! downstream (wiring, running, reporting) reads this, never the raw spec.

use super::spec::{ChartsSpec, Gather, Jitter, OpSpec};
use crate::dist::Dist;
use crate::engine::SimTime;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Scenario {
    pub file: PathBuf,
    pub name: String,
    pub description: String,
    pub question: String,
    pub duration: SimTime,
    pub warmup: WarmupV,
    pub seed: u64,
    pub seeds: u32,
    pub bucket: SimTime,
    pub max_events: u64,
    pub nodes: Vec<Node>,
    /// Replicated stores (their replicas are in `nodes`).
    pub stores: Vec<StoreV>,
    /// All request types across clients; `class` ids index this.
    pub classes: Vec<ClassV>,
    pub links: Vec<LinkV>,
    pub default_link: Option<LinkProps>,
    /// Sorted by time (stable), with `for_s` undo actions expanded.
    pub faults: Vec<FaultV>,
    /// Fault windows for chart shading.
    pub windows: Vec<FaultWindow>,
    pub charts: ChartsSpec,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WarmupV {
    None,
    Time(SimTime),
    Requests(u64),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    Client(ClientV),
    Server(ServerV),
    Queue(QueueV),
    /// Replica `index` of store `store`.
    Replica {
        store: usize,
        index: usize,
    },
    LoadBalancer(LoadBalancerV),
    Cache(CacheV),
    Dns(DnsV),
}

/// A DNS server with one round-robin record.
#[derive(Clone, Debug)]
pub struct DnsV {
    /// Node indices in the record.
    pub addresses: Vec<usize>,
    pub ttl: SimTime,
    pub health: Option<crate::components::load_balancer::ActiveCheckConfig>,
}

/// The active–passive pair a balancer belongs to.
#[derive(Clone, Copy, Debug)]
pub struct PairV {
    /// The virtual address: the node index of the pair's first (initially active) member.
    pub vip: usize,
    /// The other member.
    pub peer: usize,
    pub heartbeat: crate::components::load_balancer::HeartbeatConfig,
    pub takeover_delay: SimTime,
    /// Replicate sticky session pins to the peer.
    pub sync_sessions: bool,
}

/// Client-side balancing.
#[derive(Clone, Debug)]
pub struct ClientBalanceV {
    pub backends: Vec<usize>,
    pub weights: Vec<u32>,
    pub policy: crate::components::load_balancer::PolicySpec,
    pub passive: Option<crate::components::load_balancer::PassiveConfig>,
    pub health: Option<crate::components::load_balancer::ActiveCheckConfig>,
}

/// A cache node (see `components::cache::component`).
#[derive(Clone, Debug)]
pub struct CacheV {
    /// Node index of the backing node.
    pub origin: usize,
    pub pattern: super::spec::CachePattern,
    /// Eviction, capacities and TTL of the store.
    pub store: crate::components::cache::CacheConfig,
    /// Write-back flush period.
    pub flush_interval: SimTime,
    pub batch_size: u32,
    pub refresh_fraction: f64,
    /// Lookup time.
    pub service: Dist,
    /// Node indices of the other shards (distributed cache); empty = standalone.
    pub peers: Vec<usize>,
    pub placement: super::spec::CachePlacement,
    /// Health checks between shards (membership changes), if any.
    pub peer_health: Option<crate::components::load_balancer::ActiveCheckConfig>,
    /// Forwarded requests unanswered this long fall back to the origin.
    pub forward_timeout: Option<SimTime>,
    /// Node indices of the caches every acknowledged write is pushed to.
    pub push_to: Vec<usize>,
}

/// A load balancer: backends resolved to node indices, times in ns.
#[derive(Clone, Debug)]
pub struct LoadBalancerV {
    pub backends: Vec<usize>,
    /// One per backend.
    pub weights: Vec<u32>,
    /// One per backend.
    pub pools: Vec<u32>,
    pub policy: crate::components::load_balancer::PolicySpec,
    pub health: Option<crate::components::load_balancer::ActiveCheckConfig>,
    pub passive: Option<crate::components::load_balancer::PassiveConfig>,
    pub timeout: Option<SimTime>,
    pub ewma_alpha: f64,
    /// Member of an active–passive pair (both members carry it).
    pub pair: Option<PairV>,
}

/// A replicated store group.
#[derive(Clone, Debug)]
pub struct StoreV {
    pub name: String,
    /// Node indices of the replicas, in replica order.
    pub replicas: Vec<usize>,
    pub policy: crate::components::store::PolicySpec,
    pub skew_ns: Vec<i64>,
}

/// A client's store target.
#[derive(Clone, Debug)]
pub struct StoreTarget {
    pub store: usize,
    pub replicas: Vec<usize>,
    pub route: crate::components::store::Route,
    /// Replica (index into `replicas`) with the lowest mean latency from the client.
    pub nearest: usize,
}

impl NodeKind {
    pub fn label(&self) -> &'static str {
        match self {
            NodeKind::Client(_) => "client",
            NodeKind::Server(_) => "server",
            NodeKind::Queue(_) => "queue",
            NodeKind::Replica { .. } => "replica",
            NodeKind::LoadBalancer(_) => "load_balancer",
            NodeKind::Cache(_) => "cache",
            NodeKind::Dns(_) => "dns",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ClassV {
    pub name: String,
    pub op: OpSpec,
}

#[derive(Clone, Debug)]
pub struct ClientV {
    /// Node requests go to (for a store: its first replica; see `store`).
    pub target: usize,
    pub store: Option<StoreTarget>,
    pub workload: WorkloadV,
    /// (cumulative weight in (0,1], class id, request bytes, response bytes)
    pub mix: Vec<MixEntry>,
    pub keys: KeysV,
    pub timeout: Option<SimTime>,
    pub retry: Option<RetryV>,
    /// Sessions carried (≥ 1); a request's session is one of them at random.
    pub sessions: u32,
    /// Smart client: balance over these backends itself (`target` is unused).
    pub balance: Option<ClientBalanceV>,
    /// `target` is a DNS node: resolve, cache for the TTL, rotate.
    pub dns: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct MixEntry {
    pub cum_weight: f64,
    pub class: u16,
    pub op: OpSpec,
    pub size_bytes: u32,
    pub response_bytes: u32,
}

#[derive(Clone, Debug)]
pub enum WorkloadV {
    Poisson {
        rate_per_ns: f64,
    },
    Constant {
        rate_per_ns: f64,
    },
    /// Piecewise-linear rate (per ns) over time: sorted breakpoints (t_ns, rate) with
    /// linear interpolation; constant before the first and after the last.
    Schedule {
        points: Vec<(f64, f64)>,
        max_rate_per_ns: f64,
        poisson: bool,
    },
    Closed {
        users: u32,
        think: Dist,
    },
}

impl WorkloadV {
    /// Offered rate at time `t_ns`, per ns (closed loops: none).
    pub fn rate_at(&self, t_ns: f64) -> Option<f64> {
        match self {
            WorkloadV::Poisson { rate_per_ns } | WorkloadV::Constant { rate_per_ns } => {
                Some(*rate_per_ns)
            }
            WorkloadV::Schedule { points, .. } => Some(schedule_rate(points, t_ns)),
            WorkloadV::Closed { .. } => None,
        }
    }
}

/// Rate of a piecewise-linear schedule at `t`.
pub fn schedule_rate(points: &[(f64, f64)], t: f64) -> f64 {
    if points.is_empty() {
        return 0.0;
    }
    let i = points.partition_point(|&(pt, _)| pt <= t);
    if i == 0 {
        return points[0].1;
    }
    if i == points.len() {
        return points[i - 1].1;
    }
    let (t0, r0) = points[i - 1];
    let (t1, r1) = points[i];
    if t1 <= t0 {
        r1
    } else {
        r0 + (r1 - r0) * (t - t0) / (t1 - t0)
    }
}

/// The time at which the integrated rate of a piecewise-linear schedule, counted
/// from `t0`, reaches `mass`; `None` if it never does (the rate drops to zero for
/// good). With `mass` ~ Exp(1) this is the next arrival of the non-homogeneous
/// Poisson process (time-change theorem: Λ(T) − Λ(t0) ~ Exp(1)); with `mass` = 1
/// arrivals are evenly spaced in expected count. Exact, and O(breakpoints passed):
/// no thinning, so a tall spike does not slow the rest of the schedule down.
pub fn schedule_advance(points: &[(f64, f64)], t0: f64, mass: f64) -> Option<f64> {
    if points.is_empty() || !(mass.is_finite() && mass >= 0.0) {
        return None;
    }
    let mut t = t0;
    let mut left = mass;
    let mut i = points.partition_point(|&(pt, _)| pt <= t);
    loop {
        if i == points.len() {
            let r = points[i - 1].1;
            return (r > 0.0).then(|| t + left / r);
        }
        let tb = points[i].0;
        // Rate at t and just before the next breakpoint (linear in between).
        let (ra, rb) = if i == 0 {
            (points[0].1, points[0].1)
        } else {
            (schedule_rate(points, t), points[i].1)
        };
        let span = tb - t;
        let piece = 0.5 * (ra + rb) * span;
        if piece >= left && span > 0.0 {
            // Solve ra·x + k·x²/2 = left for x in [0, span], k the slope; written
            // as 2·left / (ra + √(ra² + 2·k·left)) it is stable for any sign of k.
            let k = (rb - ra) / span;
            let disc = (ra * ra + 2.0 * k * left).max(0.0);
            let den = ra + disc.sqrt();
            let x = if den > 0.0 { 2.0 * left / den } else { span };
            return Some(t + x.min(span));
        }
        left -= piece;
        t = tb;
        i += 1;
    }
}

#[derive(Clone, Debug)]
pub enum KeysV {
    Uniform {
        count: u64,
    },
    /// Cumulative probabilities for Zipf over `count` keys (inverse-CDF sampling).
    Zipf {
        count: u64,
        s: f64,
    },
}

#[derive(Clone, Debug)]
pub struct RetryV {
    pub max_attempts: u32,
    pub base: SimTime,
    pub max: SimTime,
    pub multiplier: f64,
    pub jitter: Jitter,
}

#[derive(Clone, Debug)]
pub struct ServerV {
    pub workers: u32,
    pub queue_capacity: u32,
    pub service: Dist,
    /// Per class id; `None` = use `service`.
    pub service_by_class: Vec<Option<Dist>>,
    pub blocking: bool,
    pub calls: Vec<CallV>,
    /// The model this server was described from, if any.
    pub model: Option<String>,
    /// Keeps a key → value map (writes store, reads return).
    pub data: bool,
}

#[derive(Clone, Debug)]
pub enum CallV {
    Call {
        target: usize,
        timeout: Option<SimTime>,
    },
    Parallel {
        targets: Vec<usize>,
        wait_for: Gather,
        timeout: Option<SimTime>,
    },
    Enqueue {
        queue: usize,
        timeout: Option<SimTime>,
    },
}

#[derive(Clone, Debug)]
pub struct QueueV {
    pub capacity: u32,
    pub consumers: u32,
    pub service: Dist,
}

#[derive(Clone, Debug)]
pub struct LinkProps {
    pub latency: Dist,
    pub loss: f64,
    /// Bytes per ns; `None` = infinite bandwidth.
    pub bytes_per_ns: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct LinkV {
    pub from: usize,
    pub to: usize,
    pub one_way: bool,
    pub props: LinkProps,
}

#[derive(Clone, Debug)]
pub struct FaultV {
    pub at: SimTime,
    pub action: FaultActionV,
}

#[derive(Clone, Debug)]
pub enum FaultActionV {
    Partition {
        groups: Vec<Vec<usize>>,
    },
    PartitionOneWay {
        from: Vec<usize>,
        to: Vec<usize>,
    },
    Heal,
    Crash(usize),
    Restart(usize),
    Slow {
        node: usize,
        factor: f64,
    },
    LinkLatency {
        link: usize,
        latency: Dist,
    },
    LinkLoss {
        link: usize,
        loss: f64,
    },
    /// Expanded per seed into crashes and restarts when the run is built
    /// (`sim::build`); `stream` names the fault's RNG streams.
    RandomCrashes {
        nodes: Vec<usize>,
        mtbf_ns: f64,
        mttr_ns: f64,
        until: Option<SimTime>,
        stream: String,
    },
}

/// A fault's time window, for chart shading and "during the fault" metrics.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FaultWindow {
    pub start_s: f64,
    pub end_s: f64,
    pub label: String,
    pub kind: String,
}

impl Scenario {
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}
