//! The load-balancer engine component: a node in front of a pool of backend
//! nodes. It owns the per-backend live state (outstanding requests and bytes,
//! latency averages, health), the table of requests it forwarded, and the
//! timers of active health checks, backend timeouts and passive re-admission.
//! Which backend gets a request is decided by a [`Balancer`] policy and health
//! changes by the [`ActiveHealth`] / [`PassiveHealth`] state machines; this
//! component only feeds them and acts on their answers. It must not touch
//! another component's state: what it knows of backends comes from messages
//! (and, for metrics only, from the crash timeline in the world).
//!
//! Active–passive pair: both members carry the pair's config. The member that
//! owns the virtual address (the world's address table, one owner per address)
//! sends a heartbeat to the other every interval; the other runs a
//! [`HeartbeatDetector`], checks it exactly at each deadline and, once it
//! suspects the owner, claims the address after the takeover delay (if still
//! suspected). Requests in flight at a crashed member are lost with it. A member
//! that restarts, or that finds at a heartbeat round that the address moved,
//! becomes the standby: it never takes the address back while the owner's
//! heartbeats arrive (no preemption).

use super::health::{ActiveHealth, HeartbeatDetector, PassiveHealth, PeerStatus};
use super::policy::{BackendView, Balancer, LatencyEwma, RequestInfo};
use crate::detrand::FastMap;
use crate::engine::{Component, NodeId, SimTime};
use crate::scenario::spec::OpSpec;
use crate::scenario::validated::LoadBalancerV;
use crate::sim::msg::{Msg, NO_REDIRECT, Request, Response, Status};
use crate::sim::world::{Ctx, SimWorld};
use rand::Rng;
use std::any::Any;

const KIND_SHIFT: u32 = 60;
const LOW_MASK: u64 = (1 << KIND_SHIFT) - 1;
/// Timer: send the next round of health checks.
const T_CHECK_TICK: u64 = 0;
/// Timer: a health check timed out (low bits: the check id).
const T_CHECK_TIMEOUT: u64 = 1;
/// Timer: a forwarded request timed out (low bits: the forward id).
const T_REQ_TIMEOUT: u64 = 2;
/// Timer: a passive ejection may have ended.
const T_PASSIVE: u64 = 3;
/// Timer: pair heartbeat round (the owner of the address sends one).
const T_HEARTBEAT: u64 = 4;
/// Timer: the standby's heartbeat deadline.
const T_HB_DEADLINE: u64 = 5;
/// Timer: the takeover delay after suspicion has passed.
const T_TAKEOVER: u64 = 6;
/// Backend index bits in a health-check id (the rest is a sequence number).
const BACKEND_BITS: u32 = 16;
const BACKEND_MASK: u64 = (1 << BACKEND_BITS) - 1;

/// A request forwarded to a backend and not yet answered.
#[derive(Clone, Copy, Debug)]
struct Forwarded {
    client: NodeId,
    orig_id: u64,
    backend: u32,
    start: SimTime,
    bytes: u64,
}

/// A load balancer (see the module docs).
pub struct LoadBalancer {
    cfg: LoadBalancerV,
    /// Recorder index of this balancer.
    metric: usize,
    policy: Box<dyn Balancer>,
    backends: Vec<NodeId>,
    views: Vec<BackendView>,
    ewma: Vec<LatencyEwma>,
    active_health: Option<ActiveHealth>,
    passive: Option<PassiveHealth>,
    /// Outstanding health check per backend (its id).
    pending_check: Vec<Option<u64>>,
    check_seq: u64,
    inflight: FastMap<u64, Forwarded>,
    next_id: u64,
    /// Backend node → backend index.
    by_node: FastMap<u32, usize>,
    /// For metrics: crash time of each backend while it is down, from the world's timeline.
    dead_since: Vec<Option<SimTime>>,
    /// Whether the current crash of each backend has been detected.
    detected: Vec<bool>,
    events_seen: usize,
    transitions: Vec<super::health::Transition>,
    /// Session re-pins already recorded.
    breaks_seen: u64,
    /// Active–passive pair: the standby's failure detector on the owner's heartbeats.
    detector: Option<HeartbeatDetector>,
    /// Whether this member owned the address at its last look.
    was_owner: bool,
    /// The policy keeps sticky sessions (their routing is measured).
    sticky: bool,
    /// Session pins to push to the pair peer (reused buffer).
    pins: Vec<(u64, usize)>,
}

impl LoadBalancer {
    /// A balancer for `cfg`, recording into recorder balancer `metric`.
    /// The policy must have been validated (scenario loading does).
    pub fn new(cfg: LoadBalancerV, metric: usize) -> Self {
        let n = cfg.backends.len();
        let policy = super::policy::build(&cfg.policy, n).unwrap_or_else(|_| {
            super::policy::build(&super::policy::PolicySpec::RoundRobin, n)
                .expect("round robin always builds")
        });
        let views = (0..n)
            .map(|b| BackendView {
                healthy: true,
                weight: cfg.weights.get(b).copied().unwrap_or(1),
                pool: cfg.pools.get(b).copied().unwrap_or(0),
                ..BackendView::default()
            })
            .collect::<Vec<_>>();
        let ewma = LatencyEwma::new(cfg.ewma_alpha)
            .unwrap_or_else(|_| LatencyEwma::new(0.2).expect("0.2 is a valid alpha"));
        let active_health = cfg.health.and_then(|h| ActiveHealth::new(h, n).ok());
        let passive = cfg.passive.and_then(|p| PassiveHealth::new(p, n).ok());
        let backends: Vec<NodeId> = cfg.backends.iter().map(|&b| NodeId(b as u32)).collect();
        let mut by_node = FastMap::default();
        for (i, b) in backends.iter().enumerate() {
            by_node.insert(b.0, i);
        }
        let mut lb = LoadBalancer {
            metric,
            policy,
            views,
            ewma: vec![ewma; n],
            active_health,
            passive,
            pending_check: vec![None; n],
            check_seq: 0,
            inflight: FastMap::default(),
            next_id: 0,
            by_node,
            dead_since: vec![None; n],
            detected: vec![false; n],
            events_seen: 0,
            transitions: Vec::new(),
            breaks_seen: 0,
            detector: None,
            was_owner: false,
            sticky: matches!(cfg.policy, super::policy::PolicySpec::Sticky { .. }),
            pins: Vec::new(),
            backends,
            cfg,
        };
        lb.policy.on_membership_change(&lb.views);
        lb
    }

    /// Whether `b` may receive traffic: healthy by active checks and not passively ejected.
    fn usable(&self, b: usize) -> bool {
        self.active_health.as_ref().is_none_or(|a| a.is_healthy(b))
            && self.passive.as_ref().is_none_or(|p| p.is_available(b))
    }

    /// Catch up with the crash timeline (metrics only: the balancer's decisions never read it).
    fn sync_timeline(&mut self, ctx: &mut Ctx<'_>) {
        let ev = &ctx.world.node_events;
        while self.events_seen < ev.len() {
            let (t, node, alive) = ev[self.events_seen];
            self.events_seen += 1;
            if let Some(&b) = self.by_node.get(&node) {
                if alive {
                    self.dead_since[b] = None;
                } else if self.dead_since[b].is_none() {
                    self.dead_since[b] = Some(t);
                    self.detected[b] = false;
                }
            }
        }
    }

    /// Apply the health transitions collected in `self.transitions` (whatever
    /// caused them): refresh views and record ejections.
    fn apply_transitions(&mut self, ctx: &mut Ctx<'_>, was: &[bool]) {
        self.sync_timeline(ctx);
        for b in 0..self.views.len() {
            let now_ok = self.usable(b);
            if was.get(b).copied().unwrap_or(true) && !now_ok {
                let crashed_for = match self.dead_since[b] {
                    Some(c) if !self.detected[b] => {
                        self.detected[b] = true;
                        Some(ctx.now.saturating_sub(c))
                    }
                    _ => None,
                };
                let alive = self.dead_since[b].is_none();
                ctx.world.rec.lb_ejected(self.metric, alive, crashed_for);
            }
            if !self.views[b].healthy && now_ok {
                // Re-admitted: old latency samples describe a backend that no longer exists.
                self.ewma[b].reset();
                self.views[b].ewma_latency_ns = 0.0;
            }
            self.views[b].healthy = now_ok;
        }
        self.transitions.clear();
    }

    fn health_snapshot(&self) -> Vec<bool> {
        (0..self.views.len()).map(|b| self.usable(b)).collect()
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: Request) {
        let info = RequestInfo {
            client: u64::from(req.client),
            session: req.session,
            key: req.key,
            is_write: req.op != OpSpec::Read,
            size_bytes: req.size_bytes,
        };
        let Some(b) = self
            .policy
            .pick(&info, &self.views, ctx.rng)
            .filter(|&b| b < self.views.len() && self.views[b].healthy)
        else {
            ctx.world.rec.lb_no_backend(self.metric, ctx.now);
            ctx.send(
                from,
                Msg::Response(Response {
                    id: req.id,
                    status: Status::Error,
                    value: None,
                    size_bytes: 64,
                    redirect: NO_REDIRECT,
                }),
            );
            return;
        };
        self.next_id = (self.next_id + 1) & LOW_MASK;
        let id = self.next_id;
        let bytes = u64::from(req.size_bytes) + u64::from(req.response_bytes);
        self.inflight.insert(
            id,
            Forwarded {
                client: from,
                orig_id: req.id,
                backend: b as u32,
                start: ctx.now,
                bytes,
            },
        );
        if self.sticky {
            ctx.world
                .rec
                .session_routed(ctx.now, req.session, self.backends[b].0);
            self.policy.take_new_pins(&mut self.pins);
            if let Some(pair) = self.cfg.pair
                && pair.sync_sessions
                && !self.pins.is_empty()
            {
                let pins = self.pins.iter().map(|&(s, b)| (s, b as u32)).collect();
                ctx.send(NodeId(pair.peer as u32), Msg::SessionPins(pins));
            }
            self.pins.clear();
        }
        let breaks = self.policy.stats().affinity_breaks;
        if breaks > self.breaks_seen {
            ctx.world
                .rec
                .lb_affinity_breaks(self.metric, ctx.now, breaks - self.breaks_seen);
            self.breaks_seen = breaks;
        }
        let outstanding = self.views[b].active;
        let v = &mut self.views[b];
        v.active += 1;
        v.outstanding_bytes += bytes;
        self.sync_timeline(ctx);
        let dead = self.dead_since[b].is_some();
        ctx.world
            .rec
            .lb_forwarded(self.metric, b, ctx.now, dead, outstanding);
        let mut fwd = req;
        fwd.id = id;
        ctx.send(self.backends[b], Msg::Request(fwd));
        if let Some(t) = self.cfg.timeout {
            ctx.set_timer(t, (T_REQ_TIMEOUT << KIND_SHIFT) | id);
        }
    }

    /// Remove a forwarded request and release its backend accounting.
    fn take(&mut self, id: u64) -> Option<Forwarded> {
        let f = self.inflight.remove(&id)?;
        if let Some(v) = self.views.get_mut(f.backend as usize) {
            v.active = v.active.saturating_sub(1);
            v.outstanding_bytes = v.outstanding_bytes.saturating_sub(f.bytes);
        }
        Some(f)
    }

    fn on_response(&mut self, ctx: &mut Ctx<'_>, from: NodeId, r: Response) {
        let Some(f) = self.inflight.get(&r.id).copied() else {
            return;
        };
        if self.backends.get(f.backend as usize) != Some(&from) {
            return;
        }
        self.take(r.id);
        let b = f.backend as usize;
        let latency = ctx.now - f.start;
        ctx.world.rec.lb_answered(self.metric, b, ctx.now, latency);
        self.ewma[b].observe(latency.as_ns());
        self.views[b].ewma_latency_ns = self.ewma[b].value_ns();
        // A rejection (full queue) is back pressure, not a sick backend.
        if self.passive.is_some() {
            let was = self.health_snapshot();
            let p = self.passive.as_mut().expect("checked");
            match r.status {
                Status::Error => {
                    if let Some(t) = p.on_failure(b, ctx.now.as_ns()) {
                        self.transitions.push(t);
                        self.schedule_passive(ctx);
                    }
                }
                Status::Ok | Status::Fail => p.on_success(b, ctx.now.as_ns()),
                Status::Rejected => {}
            }
            self.apply_transitions(ctx, &was);
        }
        ctx.send(f.client, Msg::Response(Response { id: f.orig_id, ..r }));
    }

    fn on_request_timeout(&mut self, ctx: &mut Ctx<'_>, id: u64) {
        let Some(f) = self.take(id) else { return };
        let b = f.backend as usize;
        ctx.world.rec.lb_backend_timeout(self.metric, ctx.now);
        if self.passive.is_some() {
            let was = self.health_snapshot();
            if let Some(t) = self
                .passive
                .as_mut()
                .and_then(|p| p.on_failure(b, ctx.now.as_ns()))
            {
                self.transitions.push(t);
                self.schedule_passive(ctx);
            }
            self.apply_transitions(ctx, &was);
        }
        ctx.send(
            f.client,
            Msg::Response(Response {
                id: f.orig_id,
                status: Status::Error,
                value: None,
                size_bytes: 64,
                redirect: NO_REDIRECT,
            }),
        );
    }

    fn schedule_passive(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(t) = self
            .passive
            .as_ref()
            .and_then(PassiveHealth::next_readmission_ns)
        {
            ctx.set_timer(
                SimTime(t.saturating_sub(ctx.now.as_ns())),
                T_PASSIVE << KIND_SHIFT,
            );
        }
    }

    /// Record one health-check result for `b`.
    fn check_result(&mut self, ctx: &mut Ctx<'_>, b: usize, ok: bool) {
        let was = self.health_snapshot();
        if let Some(t) = self
            .active_health
            .as_mut()
            .and_then(|a| a.on_result(b, ok, ctx.now.as_ns()))
        {
            self.transitions.push(t);
        }
        self.apply_transitions(ctx, &was);
    }

    /// Send one round of health checks (fixed rate, independent of earlier results).
    fn check_tick(&mut self, ctx: &mut Ctx<'_>) {
        let Some(cfg) = self.active_health.as_ref().map(|a| *a.config()) else {
            return;
        };
        for b in 0..self.backends.len() {
            // With timeout == interval, a timeout can coincide with the next round: settle it first.
            if self.pending_check[b].take().is_some() {
                self.check_result(ctx, b, false);
            }
            self.check_seq += 1;
            let id = ((self.check_seq << BACKEND_BITS) | b as u64) & LOW_MASK;
            self.pending_check[b] = Some(id);
            ctx.send(self.backends[b], Msg::HealthCheck { id });
            ctx.set_timer(
                SimTime(cfg.timeout_ns),
                (T_CHECK_TIMEOUT << KIND_SHIFT) | id,
            );
        }
        ctx.set_timer(SimTime(cfg.interval_ns), T_CHECK_TICK << KIND_SHIFT);
    }

    fn on_check_answer(&mut self, ctx: &mut Ctx<'_>, id: u64, ok: bool) {
        let b = (id & BACKEND_MASK) as usize;
        if b < self.pending_check.len() && self.pending_check[b] == Some(id) {
            self.pending_check[b] = None;
            self.check_result(ctx, b, ok);
        }
    }

    /// Whether this member owns the pair's address now.
    fn owns_vip(&self, ctx: &Ctx<'_>) -> bool {
        self.cfg
            .pair
            .is_some_and(|p| ctx.world.vip_owner(p.vip as u32) == ctx.me.0)
    }

    /// Start (or restart) pair duty: heartbeats at a random phase; a member that
    /// does not own the address watches the owner's heartbeats.
    fn start_pair(&mut self, ctx: &mut Ctx<'_>) {
        let Some(pair) = self.cfg.pair else { return };
        let phase = ctx.rng.random_range(0..pair.heartbeat.interval_ns.max(1));
        ctx.set_timer(SimTime(phase), T_HEARTBEAT << KIND_SHIFT);
        self.was_owner = self.owns_vip(ctx);
        if !self.was_owner {
            self.become_standby(ctx);
        }
    }

    fn become_standby(&mut self, ctx: &mut Ctx<'_>) {
        let Some(pair) = self.cfg.pair else { return };
        let d = HeartbeatDetector::new(pair.heartbeat, ctx.now.as_ns()).ok();
        if let Some(d) = &d {
            ctx.set_timer(
                SimTime(d.deadline_ns().saturating_sub(ctx.now.as_ns())),
                T_HB_DEADLINE << KIND_SHIFT,
            );
        }
        self.detector = d;
    }

    fn heartbeat_tick(&mut self, ctx: &mut Ctx<'_>) {
        let Some(pair) = self.cfg.pair else { return };
        let owner = self.owns_vip(ctx);
        if owner {
            ctx.send(NodeId(pair.peer as u32), Msg::Heartbeat);
        } else if self.was_owner {
            // The peer took the address over (it suspected this member): stand by.
            self.become_standby(ctx);
        }
        self.was_owner = owner;
        ctx.set_timer(
            SimTime(pair.heartbeat.interval_ns),
            T_HEARTBEAT << KIND_SHIFT,
        );
    }

    /// The standby checks its detector at each deadline (exactly when it can expire).
    fn heartbeat_deadline(&mut self, ctx: &mut Ctx<'_>) {
        if self.owns_vip(ctx) {
            self.detector = None;
            return;
        }
        let Some(pair) = self.cfg.pair else { return };
        let Some(d) = self.detector.as_mut() else {
            return;
        };
        let now = ctx.now.as_ns();
        if d.check(now) == Some(PeerStatus::Suspected) {
            ctx.set_timer(pair.takeover_delay, T_TAKEOVER << KIND_SHIFT);
        } else if d.status() == PeerStatus::Alive {
            ctx.set_timer(
                SimTime(d.deadline_ns().saturating_sub(now).max(1)),
                T_HB_DEADLINE << KIND_SHIFT,
            );
        }
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx<'_>) {
        let now = ctx.now.as_ns();
        if let Some(d) = self.detector.as_mut()
            && d.on_heartbeat(now) == Some(PeerStatus::Alive)
        {
            // The owner is back before the takeover: keep watching.
            let deadline = d.deadline_ns();
            ctx.set_timer(
                SimTime(deadline.saturating_sub(now).max(1)),
                T_HB_DEADLINE << KIND_SHIFT,
            );
        }
    }

    /// The takeover delay passed: claim the address if the owner is still suspected.
    fn takeover(&mut self, ctx: &mut Ctx<'_>) {
        let Some(pair) = self.cfg.pair else { return };
        if self
            .detector
            .as_ref()
            .is_some_and(|d| d.status() == PeerStatus::Suspected)
        {
            ctx.world.claim_vip(pair.vip as u32, ctx.me.0, ctx.now);
            self.detector = None;
            self.was_owner = true;
        }
    }

    /// Reset volatile state (at a crash of the balancer itself).
    fn reset(&mut self) {
        self.inflight.clear();
        for (v, e) in self.views.iter_mut().zip(&mut self.ewma) {
            v.active = 0;
            v.outstanding_bytes = 0;
            v.ewma_latency_ns = 0.0;
            e.reset();
        }
        self.pending_check.iter_mut().for_each(|p| *p = None);
    }
}

impl Component<Msg, SimWorld> for LoadBalancer {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.check_tick(ctx);
        self.start_pair(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request(r) => self.on_request(ctx, from, r),
            Msg::Response(r) => self.on_response(ctx, from, r),
            Msg::HealthReply { id } => {
                if self.by_node.get(&from.0) == Some(&((id & BACKEND_MASK) as usize)) {
                    self.on_check_answer(ctx, id, true);
                }
            }
            // A balancer behind a balancer answers checks too.
            Msg::HealthCheck { id } => ctx.send(from, Msg::HealthReply { id }),
            Msg::Heartbeat => {
                if self.cfg.pair.is_some_and(|p| p.peer as u32 == from.0) {
                    self.on_heartbeat(ctx);
                }
            }
            Msg::SessionPins(pins) => {
                if self.cfg.pair.is_some_and(|p| p.peer as u32 == from.0) {
                    for (s, b) in pins {
                        if (b as usize) < self.views.len() {
                            self.policy.learn_pin(s, b as usize);
                        }
                    }
                }
            }
            Msg::SessionResync => {
                if self
                    .cfg
                    .pair
                    .is_some_and(|p| p.peer as u32 == from.0 && p.sync_sessions)
                {
                    let pins: Vec<(u64, u32)> = self
                        .policy
                        .all_pins()
                        .into_iter()
                        .map(|(s, b)| (s, b as u32))
                        .collect();
                    if !pins.is_empty() {
                        ctx.send(from, Msg::SessionPins(pins));
                    }
                }
            }
            Msg::Job { .. }
            | Msg::JobAck { .. }
            | Msg::Peer(_)
            | Msg::CachePush { .. }
            | Msg::DnsQuery { .. }
            | Msg::DnsAnswer { .. } => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tag: u64) {
        let low = tag & LOW_MASK;
        match tag >> KIND_SHIFT {
            T_CHECK_TICK => self.check_tick(ctx),
            T_CHECK_TIMEOUT => self.on_check_answer(ctx, low, false),
            T_REQ_TIMEOUT => self.on_request_timeout(ctx, low),
            T_HEARTBEAT => self.heartbeat_tick(ctx),
            T_HB_DEADLINE => self.heartbeat_deadline(ctx),
            T_TAKEOVER => self.takeover(ctx),
            T_PASSIVE if self.passive.is_some() => {
                let was = self.health_snapshot();
                if let Some(p) = self.passive.as_mut() {
                    p.poll(ctx.now.as_ns(), &mut self.transitions);
                }
                self.apply_transitions(ctx, &was);
                self.schedule_passive(ctx);
            }
            _ => {}
        }
    }

    fn on_crash(&mut self, ctx: &mut Ctx<'_>) {
        ctx.world
            .rec
            .lb_lost(self.metric, ctx.now, self.inflight.len() as u64);
        self.reset();
        // The policy's memory (session table, cursors, latency averages) dies
        // with the process: it restarts fresh.
        if let Ok(p) = super::policy::build(&self.cfg.policy, self.views.len()) {
            self.policy = p;
            self.policy.on_membership_change(&self.views);
            self.breaks_seen = 0;
        }
    }

    fn on_restart(&mut self, ctx: &mut Ctx<'_>) {
        // Timers died with the crash: restart the check schedule and any re-admission.
        self.check_tick(ctx);
        self.schedule_passive(ctx);
        // A member back from a crash never reclaims the address: if its peer took
        // it over, it comes back as the standby (no preemption).
        self.detector = None;
        self.start_pair(ctx);
        if let Some(pair) = self.cfg.pair
            && pair.sync_sessions
        {
            ctx.send(NodeId(pair.peer as u32), Msg::SessionResync);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::load_balancer::PolicySpec;

    fn cfg(n: usize) -> LoadBalancerV {
        LoadBalancerV {
            backends: (1..=n).collect(),
            weights: vec![1; n],
            pools: vec![0; n],
            policy: PolicySpec::LeastConnections,
            health: None,
            passive: None,
            timeout: None,
            ewma_alpha: 0.2,
            pair: None,
        }
    }

    #[test]
    fn invalid_policy_falls_back_instead_of_panicking() {
        let mut c = cfg(3);
        c.policy = PolicySpec::PowerOfD { d: 0 };
        let lb = LoadBalancer::new(c, 0);
        assert_eq!(lb.policy.name(), "RoundRobin");
        assert_eq!(lb.views.len(), 3);
    }

    #[test]
    fn take_releases_outstanding_accounting_once() {
        let mut lb = LoadBalancer::new(cfg(2), 0);
        lb.inflight.insert(
            7,
            Forwarded {
                client: NodeId(0),
                orig_id: 1,
                backend: 1,
                start: SimTime::ZERO,
                bytes: 300,
            },
        );
        lb.views[1].active = 1;
        lb.views[1].outstanding_bytes = 300;
        assert!(lb.take(7).is_some());
        assert_eq!((lb.views[1].active, lb.views[1].outstanding_bytes), (0, 0));
        assert!(
            lb.take(7).is_none(),
            "a second answer for the same id is ignored"
        );
        assert_eq!(lb.views[1].active, 0);
    }
}
