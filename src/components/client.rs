//! Clients: open-loop (Poisson, constant, rate schedules) and closed-loop (users
//! with think time) workloads, a request mix, uniform or Zipf keys, timeouts and
//! retries with exponential backoff and jitter. Records end-to-end outcomes.
//!
//! Two client-side routing modes: a *smart client* (`balance`) picks the backend
//! itself with a balancing policy of `load_balancer::policy` (outstanding counts,
//! latency averages and passive ejection kept here, as a balancer would), and a
//! *DNS client* (target a `Dns` node) resolves the name with a query, caches the
//! answer for its TTL and sends each attempt to the next cached address in turn
//! (so a retry goes to the next address). The first answer's TTL is scaled by a
//! uniform draw in (0, 1]: clients joined at random times, so their caches do not
//! all expire together.

use crate::components::load_balancer::{
    ActiveHealth, BackendView, Balancer, LatencyEwma, PassiveHealth, PolicySpec, RequestInfo, build,
};
use crate::engine::{Component, NodeId, SimTime};
use crate::metrics::Outcome;
use crate::scenario::spec::{Jitter, OpSpec};
use crate::scenario::validated::{ClientV, KeysV, WorkloadV};
use crate::sim::msg::{Msg, Request, Response, Status};
use crate::sim::world::{Ctx, SimWorld};
use rand::Rng;
use rand_distr::{Distribution, Exp1, Zipf};
use std::any::Any;

const T_ARRIVAL: u64 = 0;
const T_TIMEOUT: u64 = 1;
const T_RETRY: u64 = 2;
const T_THINK: u64 = 3;
const T_PASSIVE: u64 = 4;
const T_DNS_RETRY: u64 = 5;
/// A DNS query unanswered this long is sent again.
const DNS_RETRY: SimTime = SimTime(1_000_000_000);
const NO_BACKEND: u32 = u32::MAX;
const T_CHECK_TICK: u64 = 6;
const T_CHECK_TIMEOUT: u64 = 7;
/// Backend index bits in a health-check id.
const CHECK_BITS: u32 = 16;
const KIND_SHIFT: u32 = 56;
const LOW: u64 = (1 << KIND_SHIFT) - 1;
const SLOT_BITS: u32 = 24;

#[derive(Clone, Copy)]
struct Pending {
    id: u64,
    started: SimTime,
    /// When the current attempt was sent (history invoke time).
    invoked: SimTime,
    attempt: u32,
    redirects: u8,
    req: Request,
    user: u32,
    live: bool,
    /// Smart client: backend index of the current attempt (`NO_BACKEND`: none).
    backend: u32,
    /// Node the current attempt was sent to.
    dest: u32,
}

/// Smart-client state: what a balancer would keep, per backend.
struct Smart {
    policy: Box<dyn Balancer>,
    views: Vec<BackendView>,
    ewma: Vec<LatencyEwma>,
    passive: Option<PassiveHealth>,
    active: Option<ActiveHealth>,
    /// Outstanding health check per backend (its id).
    pending_check: Vec<Option<u64>>,
    check_seq: u64,
    /// For metrics: the backend crash (time) whose detection was already recorded.
    detected: Vec<Option<SimTime>>,
    backends: Vec<NodeId>,
    /// Recorder balancer index (the client's per-backend figures).
    metric: usize,
    breaks_seen: u64,
    transitions: Vec<crate::components::load_balancer::Transition>,
    /// The policy keeps sticky sessions (their routing is measured, as a balancer's).
    sticky: bool,
}

/// DNS-client state: the cached answer and the rotation.
#[derive(Default)]
struct Resolver {
    addresses: Vec<NodeId>,
    expires: SimTime,
    next: usize,
    resolving: bool,
    query: u64,
    answers: u64,
    /// Slots waiting for an answer.
    waiting: Vec<u32>,
}

pub struct Client {
    cfg: ClientV,
    index: u32,
    target: NodeId,
    seq: u64,
    slots: Vec<Pending>,
    free: Vec<u32>,
    zipf: Option<Zipf<f64>>,
    write_seq: i64,
    pub sent: u64,
    /// Store routing: the replica believed to be leader (index into the store's replicas).
    leader_guess: usize,
    /// Last value read per key, used as the expected value of compare-and-set.
    last_read: std::collections::BTreeMap<u64, i64>,
    hist_seq: u64,
    smart: Option<Smart>,
    resolver: Option<Resolver>,
}

impl Client {
    pub fn new(cfg: ClientV, index: u32) -> Self {
        let zipf = match cfg.keys {
            KeysV::Zipf { count, s } => Zipf::new(count as f64, s).ok(),
            KeysV::Uniform { .. } => None,
        };
        let target = NodeId(cfg.target as u32);
        let smart = cfg.balance.as_ref().map(|b| {
            let n = b.backends.len();
            let policy = build(&b.policy, n).unwrap_or_else(|_| {
                build(&PolicySpec::RoundRobin, n).expect("round robin always builds")
            });
            let views: Vec<BackendView> = (0..n)
                .map(|k| BackendView {
                    healthy: true,
                    weight: b.weights.get(k).copied().unwrap_or(1),
                    ..BackendView::default()
                })
                .collect();
            let mut sm = Smart {
                policy,
                views,
                ewma: vec![LatencyEwma::new(0.2).expect("0.2 is a valid alpha"); n],
                passive: b.passive.and_then(|p| PassiveHealth::new(p, n).ok()),
                active: b.health.and_then(|h| ActiveHealth::new(h, n).ok()),
                pending_check: vec![None; n],
                check_seq: 0,
                detected: vec![None; n],
                backends: b.backends.iter().map(|&x| NodeId(x as u32)).collect(),
                metric: 0,
                breaks_seen: 0,
                transitions: Vec::new(),
                sticky: matches!(b.policy, PolicySpec::Sticky { .. }),
            };
            sm.policy.on_membership_change(&sm.views);
            sm
        });
        let resolver = cfg.dns.then(Resolver::default);
        Client {
            smart,
            resolver,
            cfg,
            index,
            target,
            seq: 0,
            slots: Vec::new(),
            free: Vec::new(),
            zipf,
            write_seq: 0,
            sent: 0,
            leader_guess: 0,
            last_read: Default::default(),
            hist_seq: 0,
        }
    }

    /// Record this smart client's per-backend figures under recorder balancer `metric`.
    pub fn with_balance_metric(mut self, metric: usize) -> Self {
        if let Some(sm) = self.smart.as_mut() {
            sm.metric = metric;
        }
        self
    }

    fn next_arrival(&self, ctx: &mut Ctx<'_>) -> Option<SimTime> {
        match &self.cfg.workload {
            WorkloadV::Poisson { rate_per_ns } => {
                let e: f64 = Exp1.sample(ctx.rng);
                Some(SimTime::from_ns_f64(e / rate_per_ns))
            }
            WorkloadV::Constant { rate_per_ns } => Some(SimTime::from_ns_f64(1.0 / rate_per_ns)),
            WorkloadV::Schedule {
                points,
                max_rate_per_ns,
                poisson,
            } => {
                if *max_rate_per_ns <= 0.0 {
                    return None;
                }
                // Invert the integrated rate: exact for a piecewise-linear schedule.
                let mass: f64 = if *poisson { Exp1.sample(ctx.rng) } else { 1.0 };
                let now = ctx.now.as_ns() as f64;
                let t = crate::scenario::validated::schedule_advance(points, now, mass)?;
                Some(SimTime::from_ns_f64(t - now))
            }
            WorkloadV::Closed { .. } => None,
        }
    }

    fn alloc(&mut self) -> u32 {
        if let Some(s) = self.free.pop() {
            s
        } else {
            self.slots.push(Pending {
                id: 0,
                started: SimTime::ZERO,
                invoked: SimTime::ZERO,
                attempt: 0,
                redirects: 0,
                req: blank(),
                user: 0,
                live: false,
                backend: NO_BACKEND,
                dest: u32::MAX,
            });
            (self.slots.len() - 1) as u32
        }
    }

    fn new_id(&mut self, slot: u32) -> u64 {
        self.seq += 1;
        ((self.seq << SLOT_BITS) | u64::from(slot)) & LOW
    }

    fn make_request(&mut self, ctx: &mut Ctx<'_>) -> Request {
        let u: f64 = ctx.rng.random();
        let mix = &self.cfg.mix;
        let m = mix
            .iter()
            .find(|m| u <= m.cum_weight)
            .copied()
            .unwrap_or(mix[mix.len() - 1]);
        let key = match (&self.cfg.keys, &self.zipf) {
            (KeysV::Zipf { .. }, Some(z)) => (z.sample(ctx.rng) as u64).saturating_sub(1),
            (KeysV::Uniform { count }, _) | (KeysV::Zipf { count, .. }, None) => {
                ctx.rng.random_range(0..*count)
            }
        };
        let mut value = 0;
        if m.op != OpSpec::Read {
            // Globally unique write values: client index in the high bits.
            self.write_seq += 1;
            value = (i64::from(self.index) << 40) | self.write_seq;
        }
        let expected = if m.op == OpSpec::Cas {
            self.last_read.get(&key).copied().unwrap_or(i64::MIN)
        } else {
            i64::MIN
        };
        Request {
            id: 0,
            class: m.class,
            op: m.op,
            key,
            value,
            expected,
            size_bytes: m.size_bytes,
            response_bytes: m.response_bytes,
            client: ctx.me.0,
            session: if self.cfg.sessions > 1 {
                (u64::from(ctx.me.0) << 32) | ctx.rng.random_range(0..u64::from(self.cfg.sessions))
            } else {
                u64::from(ctx.me.0)
            },
        }
    }

    /// Where the current attempt goes.
    fn destination(&mut self, ctx: &mut Ctx<'_>) -> NodeId {
        use crate::components::store::Route;
        match &self.cfg.store {
            None => self.target,
            Some(st) => {
                let n = st.replicas.len();
                let i = match st.route {
                    Route::Leader => self.leader_guess % n,
                    Route::Random => ctx.rng.random_range(0..n),
                    Route::Nearest => st.nearest,
                    Route::Replica(i) => i.min(n - 1),
                };
                NodeId(st.replicas[i] as u32)
            }
        }
    }

    /// Record the current attempt of `slot` in the history (store targets only).
    fn record(&mut self, ctx: &mut Ctx<'_>, slot: u32, outcome: u8, read: Option<i64>) {
        let Some(st) = &self.cfg.store else { return };
        let p = self.slots[slot as usize];
        self.hist_seq += 1;
        let session = match self.cfg.workload {
            WorkloadV::Closed { .. } => (u64::from(ctx.me.0) << 20) | u64::from(p.user),
            _ => u64::from(ctx.me.0),
        };
        ctx.world.history.push(crate::sim::world::HistRecord {
            id: (u64::from(ctx.me.0) << 40) | self.hist_seq,
            process: (u64::from(ctx.me.0) << 40) | self.hist_seq,
            session,
            store: st.store as u32,
            op: p.req.op,
            key: p.req.key,
            value: p.req.value,
            expected: (p.req.expected != i64::MIN).then_some(p.req.expected),
            read,
            invoke: p.invoked,
            complete: ctx.now,
            outcome,
        });
        if outcome == 0 && p.req.op == OpSpec::Read {
            match read {
                Some(v) => self.last_read.insert(p.req.key, v),
                None => self.last_read.remove(&p.req.key),
            };
        }
    }

    fn send_new(&mut self, ctx: &mut Ctx<'_>, user: u32) {
        let req = self.make_request(ctx);
        let slot = self.alloc();
        let id = self.new_id(slot);
        self.slots[slot as usize] = Pending {
            id,
            started: ctx.now,
            invoked: ctx.now,
            attempt: 1,
            redirects: 0,
            req,
            user,
            live: true,
            backend: NO_BACKEND,
            dest: u32::MAX,
        };
        ctx.world.rec.request_started(ctx.now);
        self.sent += 1;
        self.transmit(ctx, slot);
    }

    fn transmit(&mut self, ctx: &mut Ctx<'_>, slot: u32) {
        let dest = if self.smart.is_some() {
            match self.smart_pick(ctx, slot) {
                Some(d) => d,
                None => {
                    // No usable backend: an immediate error, as a balancer answers.
                    if !self.maybe_retry(ctx, slot) {
                        self.finish(ctx, slot, Outcome::Error);
                    }
                    return;
                }
            }
        } else if let Some(r) = self.resolver.as_mut() {
            if ctx.now < r.expires && !r.addresses.is_empty() {
                let p = &mut self.slots[slot as usize];
                // A retry goes to the address after the one that failed; a new
                // request to the next one in turn.
                let k = if p.attempt > 1 && p.backend != NO_BACKEND {
                    p.backend as usize + 1
                } else {
                    r.next = r.next.wrapping_add(1);
                    r.next - 1
                } % r.addresses.len();
                p.backend = k as u32;
                r.addresses[k]
            } else {
                r.waiting.push(slot);
                if !r.resolving {
                    self.query(ctx);
                }
                return;
            }
        } else {
            self.destination(ctx)
        };
        self.transmit_to(ctx, slot, dest);
    }

    fn transmit_to(&mut self, ctx: &mut Ctx<'_>, slot: u32, dest: NodeId) {
        let p = &mut self.slots[slot as usize];
        p.invoked = ctx.now;
        p.dest = dest.0;
        let mut req = p.req;
        req.id = p.id;
        let id = p.id;
        ctx.send(dest, Msg::Request(req));
        if let Some(t) = self.cfg.timeout {
            ctx.set_timer(t, (T_TIMEOUT << KIND_SHIFT) | id);
        }
    }

    /// Send a DNS query to the target.
    fn query(&mut self, ctx: &mut Ctx<'_>) {
        let Some(r) = self.resolver.as_mut() else {
            return;
        };
        r.resolving = true;
        r.query += 1;
        let id = r.query & LOW;
        ctx.send(self.target, Msg::DnsQuery { id });
        ctx.set_timer(DNS_RETRY, (T_DNS_RETRY << KIND_SHIFT) | id);
    }

    fn on_dns_answer(&mut self, ctx: &mut Ctx<'_>, id: u64, addresses: Vec<u32>, ttl_ns: u64) {
        let Some(r) = self.resolver.as_mut() else {
            return;
        };
        if !r.resolving || id != r.query & LOW {
            return;
        }
        r.resolving = false;
        let ttl = if r.answers == 0 {
            // (0, 1]: the first cache entry has a uniformly random remaining life.
            let u: f64 = 1.0 - ctx.rng.random::<f64>();
            (ttl_ns as f64 * u) as u64
        } else {
            ttl_ns
        };
        r.answers += 1;
        r.addresses = addresses.into_iter().map(NodeId).collect();
        r.expires = ctx.now + SimTime(ttl.max(1));
        r.next = 0;
        let waiting = std::mem::take(&mut r.waiting);
        for slot in waiting {
            if self.slots.get(slot as usize).is_some_and(|p| p.live) {
                self.transmit(ctx, slot);
            }
        }
    }

    /// Smart client: choose the backend of `slot`'s attempt and account for it.
    fn smart_pick(&mut self, ctx: &mut Ctx<'_>, slot: u32) -> Option<NodeId> {
        let req = self.slots[slot as usize].req;
        let sm = self.smart.as_mut()?;
        let info = RequestInfo {
            client: u64::from(req.client),
            session: req.session,
            key: req.key,
            is_write: req.op != OpSpec::Read,
            size_bytes: req.size_bytes,
        };
        let Some(b) = sm
            .policy
            .pick(&info, &sm.views, ctx.rng)
            .filter(|&b| b < sm.views.len() && sm.views[b].healthy)
        else {
            ctx.world.rec.lb_no_backend(sm.metric, ctx.now);
            return None;
        };
        let breaks = sm.policy.stats().affinity_breaks;
        if breaks > sm.breaks_seen {
            ctx.world
                .rec
                .lb_affinity_breaks(sm.metric, ctx.now, breaks - sm.breaks_seen);
            sm.breaks_seen = breaks;
        }
        let outstanding = sm.views[b].active;
        sm.views[b].active += 1;
        sm.views[b].outstanding_bytes += u64::from(req.size_bytes) + u64::from(req.response_bytes);
        ctx.world
            .rec
            .lb_forwarded(sm.metric, b, ctx.now, false, outstanding);
        if sm.sticky {
            ctx.world
                .rec
                .session_routed(ctx.now, req.session, sm.backends[b].0);
        }
        self.slots[slot as usize].backend = b as u32;
        Some(sm.backends[b])
    }

    /// Smart client: the attempt of `slot` ended (`ok`: `Some(true)` success,
    /// `Some(false)` error or timeout, `None` back pressure); release its backend.
    fn smart_done(&mut self, ctx: &mut Ctx<'_>, slot: u32, ok: Option<bool>) {
        let p = self.slots[slot as usize];
        let Some(sm) = self.smart.as_mut() else {
            return;
        };
        let b = p.backend as usize;
        if b >= sm.views.len() {
            return;
        }
        self.slots[slot as usize].backend = NO_BACKEND;
        let v = &mut sm.views[b];
        v.active = v.active.saturating_sub(1);
        v.outstanding_bytes = v
            .outstanding_bytes
            .saturating_sub(u64::from(p.req.size_bytes) + u64::from(p.req.response_bytes));
        if ok == Some(true) {
            let latency = ctx.now.saturating_sub(p.invoked);
            ctx.world.rec.lb_answered(sm.metric, b, ctx.now, latency);
            sm.ewma[b].observe(latency.as_ns());
            sm.views[b].ewma_latency_ns = sm.ewma[b].value_ns();
        }
        let Some(pass) = sm.passive.as_mut() else {
            return;
        };
        let now = ctx.now.as_ns();
        match ok {
            Some(true) => pass.on_success(b, now),
            Some(false) => {
                if let Some(t) = pass.on_failure(b, now) {
                    sm.transitions.push(t);
                }
            }
            None => {}
        }
        self.smart_apply(ctx);
    }

    /// Smart client: refresh views after health transitions (active checks and
    /// passive ejection); keep the re-admission timer.
    fn smart_apply(&mut self, ctx: &mut Ctx<'_>) {
        let Some(sm) = self.smart.as_mut() else {
            return;
        };
        if sm.transitions.is_empty() {
            return;
        }
        sm.transitions.clear();
        for b in 0..sm.views.len() {
            let ok = sm.active.as_ref().is_none_or(|a| a.is_healthy(b))
                && sm.passive.as_ref().is_none_or(|p| p.is_available(b));
            if ok && !sm.views[b].healthy {
                sm.ewma[b].reset();
                sm.views[b].ewma_latency_ns = 0.0;
            }
            if !ok && sm.views[b].healthy {
                // Metrics only: was the backend down (the world's crash timeline)?
                let node = sm.backends[b].0;
                let crash = ctx
                    .world
                    .node_events
                    .iter()
                    .rev()
                    .find(|e| e.1 == node)
                    .and_then(|&(t, _, alive)| (!alive).then_some(t));
                let first = crash.filter(|&c| sm.detected[b] != Some(c));
                if first.is_some() {
                    sm.detected[b] = first;
                }
                let crashed_for = first.map(|c| ctx.now.saturating_sub(c));
                ctx.world
                    .rec
                    .lb_ejected(sm.metric, crash.is_none(), crashed_for);
            }
            sm.views[b].healthy = ok;
        }
        if let Some(at) = sm
            .passive
            .as_ref()
            .and_then(PassiveHealth::next_readmission_ns)
        {
            ctx.set_timer(
                SimTime(at.saturating_sub(ctx.now.as_ns())),
                T_PASSIVE << KIND_SHIFT,
            );
        }
    }

    /// Smart client: one round of active health checks (as a balancer sends them).
    fn check_tick(&mut self, ctx: &mut Ctx<'_>) {
        let Some(cfg) = self
            .smart
            .as_ref()
            .and_then(|sm| sm.active.as_ref())
            .map(|a| *a.config())
        else {
            return;
        };
        let n = self.smart.as_ref().map_or(0, |sm| sm.backends.len());
        for b in 0..n {
            if self
                .smart
                .as_mut()
                .and_then(|sm| sm.pending_check[b].take())
                .is_some()
            {
                self.check_result(ctx, b, false);
            }
            let Some(sm) = self.smart.as_mut() else {
                return;
            };
            sm.check_seq += 1;
            let id = ((sm.check_seq << CHECK_BITS) | b as u64) & LOW;
            sm.pending_check[b] = Some(id);
            ctx.send(sm.backends[b], Msg::HealthCheck { id });
            ctx.set_timer(
                SimTime(cfg.timeout_ns),
                (T_CHECK_TIMEOUT << KIND_SHIFT) | id,
            );
        }
        ctx.set_timer(SimTime(cfg.interval_ns), T_CHECK_TICK << KIND_SHIFT);
    }

    fn check_result(&mut self, ctx: &mut Ctx<'_>, b: usize, ok: bool) {
        let now = ctx.now.as_ns();
        if let Some(sm) = self.smart.as_mut()
            && let Some(t) = sm.active.as_mut().and_then(|a| a.on_result(b, ok, now))
        {
            sm.transitions.push(t);
        }
        self.smart_apply(ctx);
    }

    fn on_check_answer(&mut self, ctx: &mut Ctx<'_>, from: Option<NodeId>, id: u64, ok: bool) {
        let b = (id & ((1 << CHECK_BITS) - 1)) as usize;
        let Some(sm) = self.smart.as_mut() else {
            return;
        };
        if b < sm.pending_check.len()
            && sm.pending_check[b] == Some(id)
            && from.is_none_or(|f| sm.backends[b] == f)
        {
            sm.pending_check[b] = None;
            self.check_result(ctx, b, ok);
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, slot: u32, outcome: Outcome) {
        let p = self.slots[slot as usize];
        self.slots[slot as usize].live = false;
        self.free.push(slot);
        ctx.world
            .rec
            .request_done(ctx.now, p.started, p.req.class, outcome);
        if let WorkloadV::Closed { think, .. } = &self.cfg.workload {
            let d = think.sample(ctx.rng);
            ctx.set_timer(d, (T_THINK << KIND_SHIFT) | u64::from(p.user));
        }
    }

    /// Retry if allowed; returns false when attempts are exhausted.
    fn maybe_retry(&mut self, ctx: &mut Ctx<'_>, slot: u32) -> bool {
        let Some(r) = &self.cfg.retry else {
            return false;
        };
        let p = &self.slots[slot as usize];
        if p.attempt >= r.max_attempts {
            return false;
        }
        let exp = r.multiplier.powi(p.attempt as i32 - 1);
        let backoff = (r.base.as_ns() as f64 * exp).min(r.max.as_ns() as f64);
        let wait = match r.jitter {
            Jitter::None => backoff,
            Jitter::Full => ctx.rng.random::<f64>() * backoff,
            Jitter::Equal => backoff / 2.0 + ctx.rng.random::<f64>() * backoff / 2.0,
        };
        let p = &mut self.slots[slot as usize];
        p.attempt += 1;
        // A new id, so a late answer to the old attempt is recognised as late.
        self.seq += 1;
        let id = ((self.seq << SLOT_BITS) | u64::from(slot)) & LOW;
        self.slots[slot as usize].id = id;
        ctx.world.rec.retry(ctx.now);
        ctx.set_timer(SimTime::from_ns_f64(wait), (T_RETRY << KIND_SHIFT) | id);
        true
    }

    fn lookup(&self, id: u64) -> Option<u32> {
        let slot = (id & ((1 << SLOT_BITS) - 1)) as u32;
        let p = self.slots.get(slot as usize)?;
        (p.live && p.id == id).then_some(slot)
    }

    fn on_response(&mut self, ctx: &mut Ctx<'_>, r: Response) {
        let Some(slot) = self.lookup(r.id) else {
            ctx.world.rec.late_response(ctx.now);
            return;
        };
        if self.smart.is_some() {
            let ok = match r.status {
                Status::Ok | Status::Fail => Some(true),
                Status::Error => Some(false),
                Status::Rejected => None,
            };
            self.smart_done(ctx, slot, ok);
        }
        let outcome = match r.status {
            Status::Ok => 0,
            Status::Fail | Status::Rejected => 1,
            Status::Error => 2,
        };
        self.record(ctx, slot, outcome, r.value);
        if r.redirect != crate::sim::msg::NO_REDIRECT {
            let mut to = None;
            if let Some(st) = &self.cfg.store {
                let n = st.replicas.len();
                let from_guess =
                    st.replicas[self.leader_guess % n] as u32 == self.slots[slot as usize].dest;
                self.leader_guess = if r.redirect == crate::sim::msg::REDIRECT_UNKNOWN {
                    // The replica does not know the leader either: move on, unless
                    // the guess has moved since this attempt was sent.
                    if from_guess {
                        (self.leader_guess + 1) % n
                    } else {
                        self.leader_guess
                    }
                } else {
                    r.redirect as usize % st.replicas.len()
                };
                to = Some(NodeId(st.replicas[self.leader_guess] as u32));
            }
            let p = &mut self.slots[slot as usize];
            if let Some(to) = to
                && p.redirects < 4
                && r.redirect != crate::sim::msg::REDIRECT_UNKNOWN
            {
                // Follow the redirect at once to the replica named, whatever the
                // route (a Random or Nearest client asking a follower of a
                // leader-based store): same attempt, new history operation.
                p.redirects += 1;
                self.transmit_to(ctx, slot, to);
                return;
            }
        }
        match r.status {
            Status::Ok => self.finish(ctx, slot, Outcome::Ok),
            Status::Error | Status::Rejected | Status::Fail => {
                if !self.maybe_retry(ctx, slot) {
                    let o = if r.status == Status::Rejected {
                        Outcome::Rejected
                    } else {
                        Outcome::Error
                    };
                    self.finish(ctx, slot, o);
                }
            }
        }
    }
}

fn blank() -> Request {
    Request {
        id: 0,
        class: 0,
        op: OpSpec::Read,
        key: 0,
        value: 0,
        expected: i64::MIN,
        size_bytes: 0,
        response_bytes: 0,
        client: 0,
        session: 0,
    }
}

impl Component<Msg, SimWorld> for Client {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.check_tick(ctx);
        match &self.cfg.workload {
            WorkloadV::Closed { users, think } => {
                for u in 0..*users {
                    // Stagger the first requests by one think time each.
                    let d = think.sample(ctx.rng);
                    ctx.set_timer(d, (T_THINK << KIND_SHIFT) | u64::from(u));
                }
            }
            _ => {
                if let Some(d) = self.next_arrival(ctx) {
                    ctx.set_timer(d, T_ARRIVAL << KIND_SHIFT);
                }
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Response(r) => self.on_response(ctx, r),
            Msg::HealthReply { id } => self.on_check_answer(ctx, Some(from), id, true),
            Msg::DnsAnswer {
                id,
                addresses,
                ttl_ns,
            } => self.on_dns_answer(ctx, id, addresses, ttl_ns),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tag: u64) {
        let low = tag & LOW;
        match tag >> KIND_SHIFT {
            T_ARRIVAL => {
                self.send_new(ctx, 0);
                if let Some(d) = self.next_arrival(ctx) {
                    ctx.set_timer(d, T_ARRIVAL << KIND_SHIFT);
                }
            }
            T_THINK => self.send_new(ctx, low as u32),
            T_TIMEOUT => {
                if let Some(slot) = self.lookup(low) {
                    self.smart_done(ctx, slot, Some(false));
                    self.record(ctx, slot, 2, None);
                    if let Some(st) = &self.cfg.store {
                        // The guessed leader did not answer: try the next replica next
                        // time — only if this attempt went to the current guess, so
                        // that a burst of timeouts of requests sent to one dead leader
                        // moves the guess once, not round and round the replicas.
                        let n = st.replicas.len();
                        if st.replicas[self.leader_guess % n] as u32
                            == self.slots[slot as usize].dest
                        {
                            self.leader_guess = (self.leader_guess + 1) % n;
                        }
                    }
                    if !self.maybe_retry(ctx, slot) {
                        self.finish(ctx, slot, Outcome::Timeout);
                    }
                }
            }
            T_RETRY => {
                if let Some(slot) = self.lookup(low) {
                    self.transmit(ctx, slot);
                }
            }
            T_CHECK_TICK => self.check_tick(ctx),
            T_CHECK_TIMEOUT => self.on_check_answer(ctx, None, low, false),
            T_PASSIVE => {
                if let Some(sm) = self.smart.as_mut()
                    && let Some(p) = sm.passive.as_mut()
                {
                    p.poll(ctx.now.as_ns(), &mut sm.transitions);
                }
                self.smart_apply(ctx);
            }
            T_DNS_RETRY
                if self
                    .resolver
                    .as_ref()
                    .is_some_and(|r| r.resolving && r.query & LOW == low) =>
            {
                self.query(ctx);
            }
            _ => {}
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
