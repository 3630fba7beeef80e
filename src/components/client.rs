//! Clients: open-loop (Poisson, constant, rate schedules) and closed-loop (users
//! with think time) workloads, a request mix, uniform or Zipf keys, timeouts and
//! retries with exponential backoff and jitter. Records end-to-end outcomes.

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
}

impl Client {
    pub fn new(cfg: ClientV, index: u32) -> Self {
        let zipf = match cfg.keys {
            KeysV::Zipf { count, s } => Zipf::new(count as f64, s).ok(),
            KeysV::Uniform { .. } => None,
        };
        let target = NodeId(cfg.target as u32);
        Client {
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
            session: u64::from(ctx.me.0),
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
        };
        ctx.world.rec.request_started(ctx.now);
        self.sent += 1;
        self.transmit(ctx, slot);
    }

    fn transmit(&mut self, ctx: &mut Ctx<'_>, slot: u32) {
        let dest = self.destination(ctx);
        self.transmit_to(ctx, slot, dest);
    }

    fn transmit_to(&mut self, ctx: &mut Ctx<'_>, slot: u32, dest: NodeId) {
        let p = &mut self.slots[slot as usize];
        p.invoked = ctx.now;
        let mut req = p.req;
        req.id = p.id;
        let id = p.id;
        ctx.send(dest, Msg::Request(req));
        if let Some(t) = self.cfg.timeout {
            ctx.set_timer(t, (T_TIMEOUT << KIND_SHIFT) | id);
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
        let outcome = match r.status {
            Status::Ok => 0,
            Status::Fail | Status::Rejected => 1,
            Status::Error => 2,
        };
        self.record(ctx, slot, outcome, r.value);
        if r.redirect != crate::sim::msg::NO_REDIRECT {
            let mut to = None;
            if let Some(st) = &self.cfg.store {
                self.leader_guess = if r.redirect == crate::sim::msg::REDIRECT_UNKNOWN {
                    (self.leader_guess + 1) % st.replicas.len()
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

    fn on_message(&mut self, ctx: &mut Ctx<'_>, _from: NodeId, msg: Msg) {
        if let Msg::Response(r) = msg {
            self.on_response(ctx, r);
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
                    self.record(ctx, slot, 2, None);
                    if let Some(st) = &self.cfg.store {
                        // The guessed leader did not answer: try the next replica next time.
                        self.leader_guess = (self.leader_guess + 1) % st.replicas.len();
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
            _ => {}
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
