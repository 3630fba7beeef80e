//! The per-run recorder components report into (through the world).

use crate::engine::SimTime;
use crate::scenario::validated::WarmupV;
use hdrhistogram::Histogram;

/// How a client request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
    Rejected,
    Timeout,
}

fn hist() -> Histogram<u64> {
    // 1 ns .. ~1 hour at 3 significant digits; values above are clamped.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// Per-bucket histograms: 2 significant digits, 1 µs resolution, 32-bit counts
/// (≈ 13 KB each), so long runs with many buckets stay small.
fn small_hist() -> Histogram<u32> {
    Histogram::new_with_bounds(1_000, 3_600_000_000_000, 2).expect("valid bounds")
}

/// Counters and a latency histogram for one time bucket.
#[derive(Clone)]
pub struct Bucket {
    pub ok: u64,
    pub errors: u64,
    pub rejected: u64,
    pub timeouts: u64,
    pub latency: Histogram<u32>,
}

impl Bucket {
    fn new() -> Self {
        Bucket {
            ok: 0,
            errors: 0,
            rejected: 0,
            timeouts: 0,
            latency: small_hist(),
        }
    }
}

/// Time-weighted levels of one node (busy workers, queue length).
#[derive(Clone, Debug)]
pub struct NodeLevels {
    pub name: String,
    pub kind: &'static str,
    /// Worker pool size (for utilization).
    pub capacity: u32,
    last: SimTime,
    busy: u32,
    queued: u32,
    pub busy_area: f64,
    pub queue_area: f64,
    pub queue_max: u32,
    pub arrivals: u64,
    pub completed: u64,
    pub rejected: u64,
    /// Arrivals that found every worker busy and queued.
    pub waited: u64,
    pub lost_crash: u64,
    /// Per bucket: (busy area, queue area) in ns·count.
    pub buckets: Vec<(f64, f64)>,
    /// Sojourn time of work done here (queue nodes: job latency).
    pub sojourn: Option<Histogram<u64>>,
}

/// Counters of one cache node (measured interval only, except the end levels).
#[derive(Clone, Debug, Default)]
pub struct CacheCounters {
    pub name: String,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Acknowledged writes lost (dirty entries dropped by a crash).
    pub lost_writes: u64,
    /// Reads answered with a value other than the latest acknowledged write.
    pub stale_reads: u64,
    /// Write-back flushes sent to the origin (entries).
    pub flushed: u64,
    /// Refresh-ahead refreshes sent to the origin.
    pub refreshes: u64,
    /// Time from a read's arrival at the cache to its answer, hits and misses
    /// (coalesced misses included) apart; the client's network legs excluded.
    pub hit_latency: Option<Histogram<u64>>,
    pub miss_latency: Option<Histogram<u64>>,
    /// Read misses that waited for an origin read already out for their key
    /// (read-through loading) instead of sending their own.
    pub coalesced: u64,
    /// Requests forwarded to the owning peer (distributed cache).
    pub forwarded: u64,
    /// Bytes and entries held at the end of the run.
    pub memory_bytes: u64,
    pub entries: u64,
    /// Per bucket: (hits, misses).
    pub buckets: Vec<(u64, u64)>,
    /// Forwarded requests whose owner shard did not answer in time.
    pub forward_timeouts: u64,
    /// Writes pushed to edge caches (one per target) and pushes received.
    pub pushes_sent: u64,
    pub pushes_received: u64,
    /// Pushes dropped by an edge because a newer one for the key had arrived first.
    pub pushes_outdated: u64,
    /// Requests sent to the origin (fetches, writes, flushes, refreshes, pass-throughs).
    pub origin_requests: u64,
    /// Per bucket: requests sent to the origin.
    pub origin_buckets: Vec<u64>,
    /// Per bucket: stale reads.
    pub stale_buckets: Vec<u64>,
    /// Membership changes of this shard's ring (every one, warm-up included: a
    /// structural figure, not a rate).
    pub remaps: Vec<RemapEvent>,
}

/// A shard's view of its distributed cache changed: a peer left or joined its ring.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RemapEvent {
    pub t: SimTime,
    /// Node index of the peer that left or joined.
    pub peer: usize,
    pub joined: bool,
    /// Shards on the ring before and after.
    pub members_before: u32,
    pub members_after: u32,
    /// Fraction of the key space whose owner changed (measured over the clients' keys).
    pub moved_fraction: f64,
    /// The placement's expected fraction: the peer's share of the hash space
    /// (consistent hashing) or (n − 1)/n with n the larger membership (modulo).
    pub theory: f64,
}

/// Everything a run records.
pub struct Recorder {
    /// Cache nodes' counters.
    pub caches: Vec<CacheCounters>,
    pub warmup: WarmupV,
    /// When measurement started (end of warm-up), once known.
    pub measure_from: Option<SimTime>,
    bucket_ns: u64,
    pub n_buckets: usize,
    pub latency: Histogram<u64>,
    pub latency_by_class: Vec<Histogram<u64>>,
    pub buckets: Vec<Bucket>,
    pub ok: u64,
    pub errors: u64,
    pub rejected: u64,
    pub timeouts: u64,
    pub retries: u64,
    pub late_responses: u64,
    pub started: u64,
    /// Sum of end-to-end times of every finished request (all outcomes), for λW.
    pub sojourn_sum_ns: f64,
    pub finished: u64,
    completed_total: u64,
    /// Requests in the system (sent by clients, not yet finished): Little's L.
    in_system: u64,
    in_system_last: SimTime,
    pub in_system_area: f64,
    pub nodes: Vec<NodeLevels>,
    /// Load balancers (and smart clients), indexed by the id [`Recorder::add_lb`] returned.
    pub lbs: Vec<LbStats>,
    /// Virtual addresses of active–passive balancer pairs.
    pub vips: Vec<VipStats>,
    /// DNS nodes.
    pub dns: Vec<DnsStats>,
    /// Sticky sessions: the backend node that received each session's last
    /// request, whichever balancer sent it (lookup only).
    session_backend: crate::detrand::FastMap<u64, u32>,
    /// Requests of a sticky session that reached another backend than the
    /// session's previous request (measured interval), and whether any balancer
    /// reported sticky routing at all.
    pub session_moves: u64,
    pub sticky_routing: bool,
}

/// One active–passive pair's virtual address.
#[derive(Clone, Debug, Default)]
pub struct VipStats {
    /// The address's name (the first member's).
    pub name: String,
    /// Crash of the owner → the other member owns the address (all run long).
    pub takeover_ns: Vec<u64>,
    /// Takeovers while the previous owner was alive (suspected by mistake).
    pub false_takeovers: u64,
    /// Requests sent to the address that arrived at a crashed owner (measured interval).
    pub lost: u64,
}

/// One DNS node.
#[derive(Clone, Debug, Default)]
pub struct DnsStats {
    pub name: String,
    /// Queries answered (measured interval).
    pub queries: u64,
    /// Crash-to-removal times of addresses the health checks removed (all run long).
    pub detect_ns: Vec<u64>,
}

/// What one load balancer recorded: per-backend traffic and latency, failure
/// detection and ejection counts.
#[derive(Clone)]
pub struct LbStats {
    pub name: String,
    /// Backend node names, in backend order.
    pub backends: Vec<String>,
    /// Requests forwarded to each backend (measured interval).
    pub forwarded: Vec<u64>,
    /// LB-to-backend-and-back latency of answered requests, per backend.
    pub latency: Vec<Histogram<u64>>,
    /// Crash-to-ejection times of backend crashes the balancer detected (all run long).
    pub detect_ns: Vec<u64>,
    /// Requests forwarded to a backend that was down at the time.
    pub sent_to_dead: u64,
    /// Ejections of a backend that was alive (slow, or its checks lost).
    pub false_ejections: u64,
    /// All ejections (active or passive).
    pub ejections: u64,
    /// Requests answered with an error because no backend was usable.
    pub no_backend: u64,
    /// Backend requests that timed out at the balancer.
    pub backend_timeouts: u64,
    /// Requests in flight through the balancer when it crashed.
    pub lost_crash: u64,
    /// Sessions re-pinned to another backend (sticky policies; measured interval).
    pub affinity_breaks: u64,
    /// Per backend, per bucket: requests forwarded.
    pub bucket_requests: Vec<Vec<u64>>,
    /// Per backend, per bucket: sum of the backend's outstanding requests seen by
    /// each forwarded request (before adding it).
    pub bucket_outstanding: Vec<Vec<u64>>,
    /// Per backend, per bucket: answers and the sum of their latencies (ns).
    pub bucket_answers: Vec<Vec<u64>>,
    pub bucket_latency_ns: Vec<Vec<f64>>,
}

impl Recorder {
    pub fn new(warmup: WarmupV, bucket: SimTime, duration: SimTime, classes: usize) -> Self {
        let bucket_ns = bucket.as_ns().max(1);
        let n_buckets = (duration.as_ns().div_ceil(bucket_ns) as usize).max(1);
        let measure_from = match warmup {
            WarmupV::None => Some(SimTime::ZERO),
            WarmupV::Time(t) => Some(t),
            WarmupV::Requests(0) => Some(SimTime::ZERO),
            WarmupV::Requests(_) => None,
        };
        Recorder {
            warmup,
            measure_from,
            bucket_ns,
            n_buckets,
            latency: hist(),
            latency_by_class: (0..classes).map(|_| hist()).collect(),
            buckets: (0..n_buckets).map(|_| Bucket::new()).collect(),
            ok: 0,
            errors: 0,
            rejected: 0,
            timeouts: 0,
            retries: 0,
            late_responses: 0,
            started: 0,
            sojourn_sum_ns: 0.0,
            finished: 0,
            completed_total: 0,
            in_system: 0,
            in_system_last: SimTime::ZERO,
            in_system_area: 0.0,
            nodes: Vec::new(),
            lbs: Vec::new(),
            vips: Vec::new(),
            dns: Vec::new(),
            caches: Vec::new(),
            session_backend: Default::default(),
            session_moves: 0,
            sticky_routing: false,
        }
    }

    /// A sticky balancer sent a request of `session` to `backend` (a node id).
    /// A session whose previous request went to another backend moved: its
    /// server-side state is gone, whether its balancer re-pinned it (backend
    /// down) or another balancer, without the table, pinned it afresh.
    pub fn session_routed(&mut self, now: SimTime, session: u64, backend: u32) {
        self.sticky_routing = true;
        if let Some(prev) = self.session_backend.insert(session, backend)
            && prev != backend
            && self.measuring(now)
        {
            self.session_moves += 1;
        }
    }

    /// Register a load balancer in front of `backends`; returns its index.
    pub fn add_lb(&mut self, name: &str, backends: Vec<String>) -> usize {
        let n = backends.len();
        self.lbs.push(LbStats {
            name: name.to_string(),
            backends,
            forwarded: vec![0; n],
            latency: (0..n).map(|_| hist()).collect(),
            detect_ns: Vec::new(),
            sent_to_dead: 0,
            false_ejections: 0,
            ejections: 0,
            no_backend: 0,
            backend_timeouts: 0,
            lost_crash: 0,
            affinity_breaks: 0,
            bucket_requests: vec![vec![0; self.n_buckets]; n],
            bucket_outstanding: vec![vec![0; self.n_buckets]; n],
            bucket_answers: vec![vec![0; self.n_buckets]; n],
            bucket_latency_ns: vec![vec![0.0; self.n_buckets]; n],
        });
        self.lbs.len() - 1
    }

    /// Register a pair's virtual address; returns its index.
    pub fn add_vip(&mut self, name: &str) -> usize {
        self.vips.push(VipStats {
            name: name.to_string(),
            ..VipStats::default()
        });
        self.vips.len() - 1
    }

    /// Register a DNS node; returns its index.
    pub fn add_dns(&mut self, name: &str) -> usize {
        self.dns.push(DnsStats {
            name: name.to_string(),
            ..DnsStats::default()
        });
        self.dns.len() - 1
    }

    /// A request to virtual address `vip` reached its crashed owner.
    pub fn vip_lost(&mut self, vip: usize, now: SimTime) {
        if self.measuring(now)
            && let Some(v) = self.vips.get_mut(vip)
        {
            v.lost += 1;
        }
    }

    /// Balancer `lb` forwarded a request to `backend`, which had `outstanding`
    /// requests already; `dead` if that backend was down.
    #[inline]
    pub fn lb_forwarded(
        &mut self,
        lb: usize,
        backend: usize,
        now: SimTime,
        dead: bool,
        outstanding: u32,
    ) {
        if self.measuring(now) {
            let b = self.bucket_of(now);
            let s = &mut self.lbs[lb];
            if let Some(c) = s.forwarded.get_mut(backend) {
                *c += 1;
                s.bucket_requests[backend][b] += 1;
                s.bucket_outstanding[backend][b] += u64::from(outstanding);
            }
            if dead {
                s.sent_to_dead += 1;
            }
        }
    }

    /// Balancer `lb` re-pinned `n` sessions (sticky).
    pub fn lb_affinity_breaks(&mut self, lb: usize, now: SimTime, n: u64) {
        if self.measuring(now) {
            self.lbs[lb].affinity_breaks += n;
        }
    }

    /// `backend` of balancer `lb` answered after `latency`.
    #[inline]
    pub fn lb_answered(&mut self, lb: usize, backend: usize, now: SimTime, latency: SimTime) {
        if !self.measuring(now) {
            return;
        }
        let b = self.bucket_of(now);
        let s = &mut self.lbs[lb];
        if let Some(h) = s.latency.get_mut(backend) {
            h.saturating_record(latency.as_ns().max(1));
            s.bucket_answers[backend][b] += 1;
            s.bucket_latency_ns[backend][b] += latency.as_ns() as f64;
        }
    }

    /// Balancer `lb` ejected a backend: `crashed_for` is how long it had been down
    /// (`None`: it was alive, a false ejection; `Some` only for the first ejection after a crash).
    pub fn lb_ejected(&mut self, lb: usize, alive: bool, crashed_for: Option<SimTime>) {
        let s = &mut self.lbs[lb];
        s.ejections += 1;
        if alive {
            s.false_ejections += 1;
        }
        if let Some(d) = crashed_for {
            s.detect_ns.push(d.as_ns());
        }
    }

    /// Balancer `lb` had no usable backend for a request.
    pub fn lb_no_backend(&mut self, lb: usize, now: SimTime) {
        if self.measuring(now) {
            self.lbs[lb].no_backend += 1;
        }
    }

    /// A request from balancer `lb` to a backend timed out.
    pub fn lb_backend_timeout(&mut self, lb: usize, now: SimTime) {
        if self.measuring(now) {
            self.lbs[lb].backend_timeouts += 1;
        }
    }

    /// Balancer `lb` crashed with `count` requests in flight.
    pub fn lb_lost(&mut self, lb: usize, now: SimTime, count: u64) {
        if self.measuring(now) {
            self.lbs[lb].lost_crash += count;
        }
    }

    /// Register a cache node; returns its index.
    pub fn add_cache(&mut self, name: &str) -> usize {
        self.caches.push(CacheCounters {
            name: name.to_string(),
            buckets: vec![(0, 0); self.n_buckets],
            origin_buckets: vec![0; self.n_buckets],
            stale_buckets: vec![0; self.n_buckets],
            hit_latency: Some(hist()),
            miss_latency: Some(hist()),
            ..CacheCounters::default()
        });
        self.caches.len() - 1
    }

    /// A cache lookup that hit or missed.
    #[inline]
    pub fn cache_lookup(&mut self, cache: usize, now: SimTime, hit: bool) {
        if self.measuring(now) {
            let b = self.bucket_of(now);
            let c = &mut self.caches[cache];
            if hit {
                c.hits += 1;
                c.buckets[b].0 += 1;
            } else {
                c.misses += 1;
                c.buckets[b].1 += 1;
            }
        }
    }

    /// A cache answered a read that hit (or missed) `latency` after it arrived.
    #[inline]
    pub fn cache_read_latency(&mut self, cache: usize, now: SimTime, hit: bool, latency: SimTime) {
        if !self.measuring(now) {
            return;
        }
        if let Some(c) = self.caches.get_mut(cache) {
            let h = if hit {
                &mut c.hit_latency
            } else {
                &mut c.miss_latency
            };
            if let Some(h) = h {
                h.saturating_record(latency.as_ns().max(1));
            }
        }
    }

    /// A cache sent a request to its origin.
    #[inline]
    pub fn cache_origin_request(&mut self, cache: usize, now: SimTime) {
        if self.measuring(now) {
            let b = self.bucket_of(now);
            if let Some(c) = self.caches.get_mut(cache) {
                c.origin_requests += 1;
                if let Some(x) = c.origin_buckets.get_mut(b) {
                    *x += 1;
                }
            }
        }
    }

    /// A cache answered a read with a value other than the latest acknowledged write.
    #[inline]
    pub fn cache_stale_read(&mut self, cache: usize, now: SimTime) {
        if self.measuring(now) {
            let b = self.bucket_of(now);
            if let Some(c) = self.caches.get_mut(cache) {
                c.stale_reads += 1;
                if let Some(x) = c.stale_buckets.get_mut(b) {
                    *x += 1;
                }
            }
        }
    }

    /// A cache's counters, if `now` is measured (for plain counts).
    #[inline]
    pub fn cache_counters(&mut self, cache: usize, now: SimTime) -> Option<&mut CacheCounters> {
        if self.measuring(now) {
            self.caches.get_mut(cache)
        } else {
            None
        }
    }

    pub fn bucket_ns(&self) -> u64 {
        self.bucket_ns
    }

    #[inline]
    fn measuring(&self, now: SimTime) -> bool {
        matches!(self.measure_from, Some(t) if now >= t)
    }

    /// Start of the measured interval for a time-weighted level, if measuring.
    #[inline]
    fn clip(&self, from: SimTime) -> Option<SimTime> {
        self.measure_from.map(|m| from.max(m))
    }

    #[inline]
    fn bucket_of(&self, t: SimTime) -> usize {
        ((t.as_ns() / self.bucket_ns) as usize).min(self.n_buckets - 1)
    }

    /// Register a node whose levels are tracked; returns its index.
    pub fn add_node(
        &mut self,
        name: &str,
        kind: &'static str,
        capacity: u32,
        sojourn: bool,
    ) -> usize {
        self.nodes.push(NodeLevels {
            name: name.to_string(),
            kind,
            capacity,
            last: SimTime::ZERO,
            busy: 0,
            queued: 0,
            busy_area: 0.0,
            queue_area: 0.0,
            queue_max: 0,
            arrivals: 0,
            completed: 0,
            rejected: 0,
            waited: 0,
            lost_crash: 0,
            buckets: vec![(0.0, 0.0); self.n_buckets],
            sojourn: sojourn.then(hist),
        });
        self.nodes.len() - 1
    }

    /// A client sent a new request (first attempt).
    #[inline]
    pub fn request_started(&mut self, now: SimTime) {
        self.advance_in_system(now);
        self.in_system += 1;
        if self.measuring(now) {
            self.started += 1;
        }
    }

    #[inline]
    fn advance_in_system(&mut self, now: SimTime) {
        if let Some(from) = self.clip(self.in_system_last)
            && now > from
        {
            self.in_system_area += (now - from).as_ns() as f64 * self.in_system as f64;
        }
        self.in_system_last = now;
    }

    /// A client request finished (after any retries).
    #[inline]
    pub fn request_done(&mut self, now: SimTime, started: SimTime, class: u16, outcome: Outcome) {
        self.advance_in_system(now);
        self.in_system = self.in_system.saturating_sub(1);
        self.completed_total += 1;
        if self.measure_from.is_none() {
            if let WarmupV::Requests(n) = self.warmup
                && self.completed_total >= n
            {
                self.measure_from = Some(now);
                self.in_system_last = now;
                for i in 0..self.nodes.len() {
                    let n = &mut self.nodes[i];
                    n.last = now;
                }
            }
            return;
        }
        if !self.measuring(now) {
            return;
        }
        let b = self.bucket_of(now);
        let lat = (now - started).as_ns().max(1);
        self.sojourn_sum_ns += lat as f64;
        self.finished += 1;
        match outcome {
            Outcome::Ok => {
                self.ok += 1;
                self.latency.saturating_record(lat);
                if let Some(h) = self.latency_by_class.get_mut(class as usize) {
                    h.saturating_record(lat);
                }
                self.buckets[b].ok += 1;
                self.buckets[b].latency.saturating_record(lat.max(1_000));
            }
            Outcome::Error => {
                self.errors += 1;
                self.buckets[b].errors += 1;
            }
            Outcome::Rejected => {
                self.rejected += 1;
                self.buckets[b].rejected += 1;
            }
            Outcome::Timeout => {
                self.timeouts += 1;
                self.buckets[b].timeouts += 1;
            }
        }
    }

    #[inline]
    pub fn retry(&mut self, now: SimTime) {
        if self.measuring(now) {
            self.retries += 1;
        }
    }

    #[inline]
    pub fn late_response(&mut self, now: SimTime) {
        if self.measuring(now) {
            self.late_responses += 1;
        }
    }

    /// A node's busy-worker count or queue length changes now.
    #[inline]
    pub fn node_levels(&mut self, node: usize, now: SimTime, busy: u32, queued: u32) {
        let bucket_ns = self.bucket_ns;
        let nb = self.n_buckets;
        let from = self.clip(self.nodes[node].last);
        let n = &mut self.nodes[node];
        if let Some(mut t) = from {
            if now > t && (n.busy > 0 || n.queued > 0) {
                let (b_lvl, q_lvl) = (n.busy as f64, n.queued as f64);
                n.busy_area += (now - t).as_ns() as f64 * b_lvl;
                n.queue_area += (now - t).as_ns() as f64 * q_lvl;
                while t < now {
                    let b = ((t.as_ns() / bucket_ns) as usize).min(nb - 1);
                    let end = if b == nb - 1 {
                        now
                    } else {
                        SimTime((b as u64 + 1) * bucket_ns).min(now)
                    };
                    let d = (end - t).as_ns() as f64;
                    n.buckets[b].0 += d * b_lvl;
                    n.buckets[b].1 += d * q_lvl;
                    t = end;
                }
            }
            if queued > n.queued && self.measure_from.is_some_and(|m| now >= m) {
                n.queue_max = n.queue_max.max(queued);
            }
        }
        n.last = now;
        n.busy = busy;
        n.queued = queued;
    }

    #[inline]
    pub fn node_arrival(&mut self, node: usize, now: SimTime) {
        if self.measuring(now) {
            self.nodes[node].arrivals += 1;
        }
    }

    #[inline]
    pub fn node_completed(&mut self, node: usize, now: SimTime, sojourn: Option<SimTime>) {
        if self.measuring(now) {
            let n = &mut self.nodes[node];
            n.completed += 1;
            if let (Some(h), Some(s)) = (&mut n.sojourn, sojourn) {
                h.saturating_record(s.as_ns().max(1));
            }
        }
    }

    #[inline]
    pub fn node_rejected(&mut self, node: usize, now: SimTime) {
        if self.measuring(now) {
            self.nodes[node].rejected += 1;
        }
    }

    #[inline]
    pub fn node_waited(&mut self, node: usize, now: SimTime) {
        if self.measuring(now) {
            self.nodes[node].waited += 1;
        }
    }

    pub fn node_lost(&mut self, node: usize, now: SimTime, count: u64) {
        if self.measuring(now) {
            self.nodes[node].lost_crash += count;
        }
    }

    /// Close time-weighted integrals at the end of the run.
    pub fn finish(&mut self, now: SimTime) {
        self.advance_in_system(now);
        for i in 0..self.nodes.len() {
            let (b, q) = (self.nodes[i].busy, self.nodes[i].queued);
            self.node_levels(i, now, b, q);
        }
    }

    /// Length of the measured interval.
    pub fn measured_ns(&self, end: SimTime) -> f64 {
        match self.measure_from {
            Some(m) if end > m => (end - m).as_ns() as f64,
            _ => 0.0,
        }
    }
}
