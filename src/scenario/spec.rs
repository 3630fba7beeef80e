//! Scenario file types, exactly as written in RON (stage one of loading).
//! Every struct denies unknown fields, so a typo is an error with a position.
//! Units are in the field names: `_s` seconds, `_ms` milliseconds, `_bytes`.

use crate::dist::DistSpec;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn one() -> u32 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn default_seed() -> u64 {
    1
}
fn default_max_events() -> u64 {
    2_000_000_000
}
fn yes() -> bool {
    true
}

/// A whole scenario.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "Scenario")]
pub struct ScenarioSpec {
    /// Short name, used for the output folder `output/<name>/`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The question this scenario answers (shown first in the report).
    #[serde(default)]
    pub question: String,
    /// Simulated time to run, in seconds.
    pub duration_s: f64,
    /// Excluded from every metric.
    #[serde(default)]
    pub warmup: Warmup,
    /// Master seed (default 1). `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Seeds per variant (default 1). `--seeds` overrides it.
    #[serde(default = "one")]
    pub seeds: u32,
    /// Width of time-series buckets, seconds (default 1).
    #[serde(default = "one_f")]
    pub bucket_s: f64,
    /// Safety limit on processed events (default 2e9).
    #[serde(default = "default_max_events")]
    pub max_events: u64,
    pub nodes: Vec<NodeSpec>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    /// Used between nodes that have no path of links (default: none, which is an error).
    #[serde(default)]
    pub default_link: Option<LinkParams>,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    #[serde(default)]
    pub variants: Vec<VariantSpec>,
    #[serde(default)]
    pub sweep: Vec<SweepSpec>,
    #[serde(default)]
    pub charts: Option<ChartsSpec>,
}

/// Warm-up period excluded from metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
pub enum Warmup {
    #[default]
    None,
    /// The first seconds of the run.
    Seconds(f64),
    /// Until this many requests have completed.
    Requests(u64),
}

/// Which charts a scenario gets (defaults: all that apply).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChartsSpec {
    /// Chart kinds to draw; empty = the defaults.
    #[serde(default)]
    pub include: Vec<String>,
    /// Metrics shown as bars across variants (summary metric names).
    #[serde(default)]
    pub bars: Vec<String>,
    /// Scatter charts: (x metric, y metric).
    #[serde(default)]
    pub scatter: Vec<(String, String)>,
    /// Metrics plotted against the swept parameter.
    #[serde(default)]
    pub sweep_metrics: Vec<String>,
    /// Variants drawn in the over-time charts (default: the first 8).
    #[serde(default)]
    pub timelines: Vec<String>,
}

/// Chart kinds a scenario may list in `charts: (include: [...])`.
pub const CHART_KINDS: &[&str] = &[
    "latency",
    "throughput",
    "cdf",
    "nodes",
    "consistency",
    "bars",
    "sweep",
    "scatter",
    "cache",
    "balancers",
];

/// A named set of overrides of the base scenario.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Path → RON value, e.g. `{"nodes[app].workers": 8}`.
    #[serde(default)]
    pub set: BTreeMap<String, IgnoredAny>,
}

/// One swept parameter; several form a grid.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Path to the parameter, e.g. `nodes[users].workload.rate_per_s`.
    pub param: String,
    /// Label for charts (default: the path).
    #[serde(default)]
    pub label: Option<String>,
    pub values: Vec<IgnoredAny>,
}

/// A node of the system.
#[derive(Debug, Deserialize)]
pub enum NodeSpec {
    Client(ClientSpec),
    Server(ServerSpec),
    Queue(QueueSpec),
    Store(StoreSpec),
    LoadBalancer(LoadBalancerSpec),
    Cache(CacheSpec),
    Dns(DnsSpec),
}

/// A DNS server holding one round-robin record: clients that target it resolve
/// (a network round trip), cache the answer for `ttl_s` and rotate through the
/// addresses. With `health`, addresses failing their checks leave the answer
/// (all of them are returned if none is healthy).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    pub name: String,
    /// Node names in the record (typically load balancers).
    pub addresses: Vec<String>,
    /// How long clients cache an answer, seconds.
    pub ttl_s: f64,
    /// Health checks of the addresses (default: none, dead addresses stay in the answer).
    #[serde(default)]
    pub health: Option<HealthCheckSpec>,
}

/// Client-side ("smart client") balancing: the client picks the backend itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientBalanceSpec {
    pub backends: Vec<String>,
    /// Weight per backend (default all 1).
    #[serde(default)]
    pub weights: Vec<u32>,
    pub policy: crate::components::load_balancer::PolicySpec,
    /// Passive ejection on consecutive errors or timeouts (default: none).
    #[serde(default)]
    pub passive: Option<PassiveSpec>,
    /// Active health checks from this client to each backend (default: none).
    #[serde(default)]
    pub health: Option<HealthCheckSpec>,
}

/// Heartbeats of an active–passive balancer pair.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatSpec {
    pub interval_ms: f64,
    /// The standby suspects the active after this long without a heartbeat.
    pub timeout_ms: f64,
}

/// How a cache handles reads and writes (see `components::cache::component`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum CachePattern {
    /// The application loads: every read miss is its own origin read, stored when it
    /// returns whatever happened meanwhile (concurrent misses are not coalesced; a
    /// write landing in between leaves the old value cached). Write: origin, then
    /// invalidate.
    #[default]
    CacheAside,
    /// The cache loads: one origin read per key at a time (concurrent misses wait
    /// for it), not stored if the key was written meanwhile. Write: origin, then
    /// invalidate.
    ReadThrough,
    /// Read-through loading. Write: origin, then cache the value (write-allocate); ack after both.
    WriteThrough,
    /// Read-through loading. Write: origin, then update the entry only if it is
    /// cached (no-write-allocate: written keys do not displace read ones).
    WriteAround,
    /// Read-through loading. Ack after caching; dirty entries flushed to origin
    /// periodically and on eviction.
    WriteBack,
    /// Read-through, plus an asynchronous refresh of entries hit near the end of their TTL.
    RefreshAhead,
}

/// How a distributed cache maps keys to its shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum CachePlacement {
    ConsistentHash { vnodes: u32 },
    Modulo,
}

/// A cache node in front of an `origin` (any node that answers requests).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSpec {
    pub name: String,
    /// Backing node (e.g. a `Server` with `data: true`).
    pub origin: String,
    #[serde(default)]
    pub pattern: CachePattern,
    #[serde(default)]
    pub eviction: crate::components::cache::EvictionPolicy,
    #[serde(default)]
    pub capacity_entries: Option<u64>,
    #[serde(default)]
    pub capacity_bytes: Option<u64>,
    #[serde(default)]
    pub ttl_ms: Option<f64>,
    #[serde(default)]
    pub ttl_mode: crate::components::cache::TtlMode,
    /// Write-back: flush period (default 1000 ms).
    #[serde(default)]
    pub flush_interval_ms: Option<f64>,
    /// Write-back: most dirty entries flushed per period (default 100).
    #[serde(default)]
    pub batch_size: Option<u32>,
    /// Refresh-ahead: a hit within this fraction of the TTL from expiry refreshes (default 0.2).
    #[serde(default)]
    pub refresh_fraction: Option<f64>,
    /// Lookup time (default Constant(0.05 ms)).
    #[serde(default)]
    pub service: Option<DistSpec>,
    /// Other cache nodes sharing the key space with this one (distributed cache):
    /// requests for keys owned by a peer are forwarded to it. Every shard lists the others.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Key placement across this cache and its `peers` (default `ConsistentHash(vnodes: 100)`).
    #[serde(default)]
    pub placement: Option<CachePlacement>,
    /// Distributed cache: health checks this shard sends to each peer; a peer failing
    /// `unhealthy_threshold` checks in a row leaves this shard's ring (its keys remap),
    /// and rejoins after `healthy_threshold` successes (default: none, static membership).
    #[serde(default)]
    pub peer_health: Option<HealthCheckSpec>,
    /// Distributed cache: a request forwarded to a peer and not answered within this
    /// long is read from the origin directly (writes fail) (default: wait forever).
    #[serde(default)]
    pub forward_timeout_ms: Option<f64>,
    /// Push mode (CDN): every write this cache acknowledges is sent to these caches,
    /// which store it at once (default: none).
    #[serde(default)]
    pub push_to: Vec<String>,
}

/// A load balancer in front of `backends` (node names); clients and servers
/// target it by `name` like any node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerSpec {
    pub name: String,
    pub backends: Vec<String>,
    /// Weight per backend (default all 1; 0 = draining).
    #[serde(default)]
    pub weights: Vec<u32>,
    /// Layer-7 pool per backend (default all 0).
    #[serde(default)]
    pub pools: Vec<u32>,
    /// Balancing algorithm, e.g. `LeastConnections`, `PowerOfD(d: 2)`.
    pub policy: crate::components::load_balancer::PolicySpec,
    /// Active health checks (default: none).
    #[serde(default)]
    pub health: Option<HealthCheckSpec>,
    /// Passive ejection on consecutive errors of real traffic (default: none).
    #[serde(default)]
    pub passive: Option<PassiveSpec>,
    /// Give up on a backend request after this long: an error for the client
    /// and a passive-health failure (default: never).
    #[serde(default)]
    pub timeout_ms: Option<f64>,
    /// Smoothing factor of the per-backend latency average (default 0.2).
    #[serde(default)]
    pub ewma_alpha: Option<f64>,
    /// Active–passive pair: this balancer starts as the active and owns the
    /// virtual address clients send to (its own name); `standby` (another
    /// balancer with the same backends) takes the address over when the
    /// heartbeats stop (default: no standby).
    #[serde(default)]
    pub standby: Option<String>,
    /// Heartbeats from the active to the standby (default interval 100 ms, timeout 300 ms).
    #[serde(default)]
    pub heartbeat: Option<HeartbeatSpec>,
    /// Time from suspicion to owning the address (gratuitous ARP), ms (default 0).
    #[serde(default)]
    pub takeover_delay_ms: Option<f64>,
    /// Active–passive pair with a `Sticky` policy: replicate the session table
    /// to the other member (each new pin is pushed to it over the network, like
    /// HAProxy's `peers`; a member back from a crash asks for the whole table),
    /// so sessions keep their backend across a takeover (default false).
    #[serde(default)]
    pub sync_sessions: bool,
}

fn two_u() -> u32 {
    2
}
fn three_u() -> u32 {
    3
}
fn hundred() -> u32 {
    100
}

/// Active health checks: a check to every backend each `interval_ms`, failed
/// after `timeout_ms` (≤ interval) without a reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    pub interval_ms: f64,
    pub timeout_ms: f64,
    /// Consecutive successes to re-admit (default 2).
    #[serde(default = "two_u")]
    pub healthy_threshold: u32,
    /// Consecutive failures to eject (default 3).
    #[serde(default = "three_u")]
    pub unhealthy_threshold: u32,
}

/// Passive ejection: after `consecutive_errors` errors or timeouts in a row a
/// backend is out for `ejection_ms`, then back on probation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveSpec {
    pub consecutive_errors: u32,
    pub ejection_ms: f64,
    /// Successes to leave probation (default 1).
    #[serde(default = "one")]
    pub probation_successes: u32,
    /// At most this percentage of backends ejected at once (default 100).
    #[serde(default = "hundred")]
    pub max_ejection_percent: u32,
}

/// A replicated key-value store: `replicas` nodes named `<name>-1`, `<name>-2`, …
/// (or `replica_names`), each an ordinary network node; clients target the store
/// by its `name` and reach a replica chosen by their `route`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    pub name: String,
    /// Number of replicas (default 3).
    #[serde(default = "three")]
    pub replicas: u32,
    /// Names of the replica nodes (default `<name>-1` …).
    #[serde(default)]
    pub replica_names: Vec<String>,
    pub policy: crate::components::store::PolicySpec,
    /// Clock offset of each replica in ms (for last-writer-wins); missing entries are 0.
    #[serde(default)]
    pub clock_skew_ms: Vec<f64>,
}

fn three() -> u32 {
    3
}

impl StoreSpec {
    /// Name of replica `i` (0-based).
    pub fn replica_name(&self, i: usize) -> String {
        self.replica_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("{}-{}", self.name, i + 1))
    }
}

impl NodeSpec {
    pub fn name(&self) -> &str {
        match self {
            NodeSpec::Client(c) => &c.name,
            NodeSpec::Server(s) => &s.name,
            NodeSpec::Queue(q) => &q.name,
            NodeSpec::Store(s) => &s.name,
            NodeSpec::LoadBalancer(l) => &l.name,
            NodeSpec::Cache(c) => &c.name,
            NodeSpec::Dns(d) => &d.name,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            NodeSpec::Client(_) => "client",
            NodeSpec::Server(_) => "server",
            NodeSpec::Queue(_) => "queue",
            NodeSpec::Store(_) => "store",
            NodeSpec::LoadBalancer(_) => "load_balancer",
            NodeSpec::Cache(_) => "cache",
            NodeSpec::Dns(_) => "dns",
        }
    }
}

/// Requests from a population of users.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub name: String,
    /// Node the requests go to (a `Dns` node: resolve it and rotate through the
    /// answer). Leave it out with `balance`.
    #[serde(default)]
    pub target: String,
    pub workload: Workload,
    /// Request types; default: one type `req`, a read of 100 bytes.
    #[serde(default)]
    pub mix: Vec<RequestType>,
    /// Key popularity; default uniform over 1000 keys.
    #[serde(default)]
    pub keys: KeySpec,
    /// Give up on a request after this long (default: never).
    #[serde(default)]
    pub timeout_ms: Option<f64>,
    /// Retries on error, rejection or timeout (default: none).
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// For a store target: which replica to contact (default: the policy's —
    /// `Leader` for leader-based policies, `Nearest` otherwise).
    #[serde(default)]
    pub route: Option<crate::components::store::Route>,
    /// Sessions this client carries (each request belongs to one, uniformly at
    /// random); sticky balancing pins sessions (default 1: the client is one session).
    #[serde(default)]
    pub sessions: Option<u32>,
    /// Smart client: pick the backend here with a balancing policy, no balancer node.
    #[serde(default)]
    pub balance: Option<ClientBalanceSpec>,
}

/// Arrival process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Workload {
    /// Open loop, exponential inter-arrival times.
    Poisson { rate_per_s: f64 },
    /// Open loop, evenly spaced arrivals.
    Constant { rate_per_s: f64 },
    /// Open loop with a rate that changes over time (steps, ramps, spikes);
    /// Poisson arrivals (non-homogeneous, by thinning) unless `poisson: false`.
    Schedule {
        segments: Vec<RateSegment>,
        #[serde(default = "yes")]
        poisson: bool,
    },
    /// Closed loop: `users` each send, wait for the answer (or timeout), think, repeat.
    Closed { users: u32, think: DistSpec },
}

/// A piece of a rate schedule. Later segments override earlier ones where they overlap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum RateSegment {
    /// From `at_s` on, the rate is `rate_per_s`.
    Step { at_s: f64, rate_per_s: f64 },
    /// Linear change from the rate at `from_s` to `to_rate_per_s` at `to_s`, then held.
    Ramp {
        from_s: f64,
        to_s: f64,
        to_rate_per_s: f64,
    },
    /// For `duration_s` from `at_s`, the rate is `rate_per_s`; afterwards it returns.
    Spike {
        at_s: f64,
        duration_s: f64,
        rate_per_s: f64,
    },
}

/// One request type in the mix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestType {
    pub name: String,
    /// Relative weight (default 1).
    #[serde(default = "one_f")]
    pub weight: f64,
    #[serde(default)]
    pub op: OpSpec,
    /// Request size on the wire (default 100).
    #[serde(default = "default_size")]
    pub size_bytes: u32,
    /// Response size on the wire (default 100).
    #[serde(default = "default_size")]
    pub response_bytes: u32,
}

fn default_size() -> u32 {
    100
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum OpSpec {
    #[default]
    Read,
    Write,
    Cas,
}

/// Which keys requests touch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum KeySpec {
    Uniform {
        count: u64,
    },
    /// Zipf with exponent `s` over `count` keys (key 0 most popular).
    Zipf {
        count: u64,
        s: f64,
    },
}

impl Default for KeySpec {
    fn default() -> Self {
        KeySpec::Uniform { count: 1000 }
    }
}

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Total attempts including the first (≥ 1).
    pub max_attempts: u32,
    /// First backoff, ms.
    pub base_ms: f64,
    /// Backoff cap, ms (default 10 s).
    #[serde(default = "default_backoff_cap")]
    pub max_ms: f64,
    /// Growth per attempt (default 2).
    #[serde(default = "two")]
    pub multiplier: f64,
    #[serde(default)]
    pub jitter: Jitter,
}

fn default_backoff_cap() -> f64 {
    10_000.0
}
fn two() -> f64 {
    2.0
}

/// Backoff jitter (AWS architecture blog terms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Jitter {
    None,
    /// Uniform in [0, backoff].
    #[default]
    Full,
    /// backoff/2 + uniform in [0, backoff/2].
    Equal,
}

/// A server: a pool of workers in front of a bounded FIFO queue.
/// Fields left out come from `model` (a file in `models/`), then from defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub name: String,
    /// Name of a server model in `models/` (file `models/<model>.ron`).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub workers: Option<u32>,
    /// Waiting room; a full queue rejects at once ("503"). Default 10000.
    #[serde(default)]
    pub queue_capacity: Option<u32>,
    /// Service (CPU) time per request.
    #[serde(default)]
    pub service: Option<DistSpec>,
    /// Per request type service time, overriding `service`.
    #[serde(default)]
    pub service_by_type: Option<BTreeMap<String, DistSpec>>,
    /// Blocking servers hold their worker while waiting on calls (default true).
    #[serde(default)]
    pub blocking: Option<bool>,
    /// Downstream calls made after the service time, in order.
    #[serde(default)]
    pub calls: Option<Vec<CallStep>>,
    /// Keep a key → value map (a tiny database): writes store the value, reads return it.
    #[serde(default)]
    pub data: bool,
}

/// Fields of a server model file (`models/*.ron` starting with `Server(`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerModel {
    #[serde(default)]
    pub workers: Option<u32>,
    #[serde(default)]
    pub queue_capacity: Option<u32>,
    #[serde(default)]
    pub service: Option<DistSpec>,
    #[serde(default)]
    pub service_by_type: Option<BTreeMap<String, DistSpec>>,
    #[serde(default)]
    pub blocking: Option<bool>,
    #[serde(default)]
    pub calls: Option<Vec<CallStep>>,
}

/// A downstream call made while handling a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum CallStep {
    /// Call one node and wait for its answer.
    Call {
        target: String,
        #[serde(default)]
        timeout_ms: Option<f64>,
    },
    /// Scatter to several nodes and gather `wait_for` answers.
    Parallel {
        targets: Vec<String>,
        #[serde(default)]
        wait_for: Gather,
        #[serde(default)]
        timeout_ms: Option<f64>,
    },
    /// Put a job on a message queue and carry on once it is accepted.
    Enqueue {
        queue: String,
        #[serde(default)]
        timeout_ms: Option<f64>,
    },
}

/// How many answers a scatter waits for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum Gather {
    #[default]
    All,
    First(u32),
}

/// A message-queue node: a bounded buffer drained by a pool of consumers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    pub name: String,
    /// Jobs held at most; a full queue refuses new jobs (back pressure).
    pub capacity: u32,
    pub consumers: u32,
    /// Time a consumer spends on one job.
    pub service: DistSpec,
}

/// Properties of a link (in a link or a link model).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkParams {
    /// Link model in `models/` (file `models/<model>.ron` starting with `Link(`).
    #[serde(default)]
    pub model: Option<String>,
    /// One-way latency.
    #[serde(default)]
    pub latency: Option<DistSpec>,
    /// Probability a message is lost, in [0, 1].
    #[serde(default)]
    pub loss: Option<f64>,
    /// Megabits per second; adds size/bandwidth transfer time with FIFO queueing.
    #[serde(default)]
    pub bandwidth_mbps: Option<f64>,
}

/// A network link between two nodes (both directions unless `one_way`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub one_way: bool,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub latency: Option<DistSpec>,
    #[serde(default)]
    pub loss: Option<f64>,
    #[serde(default)]
    pub bandwidth_mbps: Option<f64>,
}

/// Model files: `Server(...)` or `Link(...)`.
#[derive(Debug, Deserialize)]
pub enum ModelFile {
    Server(ServerModel),
    Link(LinkParams),
}

/// A timed fault.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub at_s: f64,
    /// Undo the fault after this long (heal, restart, restore speed or link).
    #[serde(default)]
    pub for_s: Option<f64>,
    pub action: FaultAction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FaultAction {
    /// Nodes in different groups cannot reach each other (nodes in no group reach all).
    Partition {
        groups: Vec<Vec<String>>,
    },
    /// Messages from `from` nodes to `to` nodes are lost; the other way works.
    PartitionOneWay {
        from: Vec<String>,
        to: Vec<String>,
    },
    /// Remove every partition.
    Heal,
    Crash {
        node: String,
    },
    Restart {
        node: String,
    },
    /// Multiply the node's service times by `factor` (1 restores).
    Slow {
        node: String,
        factor: f64,
    },
    /// Change a link's latency (both directions of a two-way link).
    LinkLatency {
        from: String,
        to: String,
        latency: DistSpec,
    },
    /// Change a link's loss probability.
    LinkLoss {
        from: String,
        to: String,
        loss: f64,
    },
    /// Each of `nodes` fails on its own, again and again: up for an exponential
    /// time with mean `mtbf_s`, then down (crashed) for an exponential time with
    /// mean `mttr_s`, from `at_s` until `for_s` later (then all come back) or the
    /// end of the run. Times are drawn per node from the run's seed, so each
    /// seed is a different failure history. Long-run availability of one node:
    /// mtbf / (mtbf + mttr).
    RandomCrashes {
        nodes: Vec<String>,
        mtbf_s: f64,
        mttr_s: f64,
    },
}
