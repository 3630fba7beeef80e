//! Servers: a pool of `workers` in front of a bounded FIFO queue (a full queue
//! rejects at once: back pressure). Handling a request is a service time, then
//! the configured downstream calls in order (sequential calls, scatter–gather,
//! enqueue on a message queue), then the reply. A blocking server holds its
//! worker while it waits on calls; a non-blocking one releases it.

use crate::engine::{Component, NodeId, SimTime};
use crate::scenario::spec::{Gather, OpSpec};
use crate::scenario::validated::{CallV, ServerV};
use crate::sim::msg::{Msg, Request, Response, Status};
use crate::sim::world::{Ctx, SimWorld};
use std::any::Any;
use std::collections::{BTreeMap, VecDeque};

const T_SERVICE: u64 = 0;
const T_CALL_TIMEOUT: u64 = 1;
const KIND_SHIFT: u32 = 60;
const SLOT_BITS: u32 = 20;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const GEN_MASK: u64 = (1 << (KIND_SHIFT - SLOT_BITS)) - 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Free,
    Queued,
    Service,
    Calling,
}

#[derive(Clone, Copy)]
struct Job {
    req: Request,
    from: NodeId,
    arrived: SimTime,
    phase: Phase,
    /// Unique per job occupancy of this slot; stale answers and timers carry an old one.
    generation: u64,
    step: u16,
    holds_worker: bool,
    needed: u32,
    got: u32,
    failed: u32,
    asked: u32,
}

pub struct Server {
    cfg: ServerV,
    metric: usize,
    busy: u32,
    queue: VecDeque<u32>,
    jobs: Vec<Job>,
    free: Vec<u32>,
    generation: u64,
    /// Key → value (only with `data: true`); survives crashes (a durable database).
    data: BTreeMap<u64, i64>,
}

impl Server {
    pub fn new(cfg: ServerV, metric: usize) -> Self {
        Server {
            cfg,
            metric,
            busy: 0,
            queue: VecDeque::new(),
            jobs: Vec::new(),
            free: Vec::new(),
            generation: 0,
            data: BTreeMap::new(),
        }
    }

    fn levels(&self, ctx: &mut Ctx<'_>) {
        ctx.world
            .rec
            .node_levels(self.metric, ctx.now, self.busy, self.queue.len() as u32);
    }

    fn start(&mut self, ctx: &mut Ctx<'_>, slot: u32) {
        self.busy += 1;
        let job = &mut self.jobs[slot as usize];
        job.phase = Phase::Service;
        job.holds_worker = true;
        let dist = self
            .cfg
            .service_by_class
            .get(job.req.class as usize)
            .and_then(Option::as_ref)
            .unwrap_or(&self.cfg.service);
        let mut ns = dist.sample_ns(ctx.rng);
        let slow = ctx.world.slow[ctx.me.index()];
        if slow != 1.0 {
            ns *= slow;
        }
        let tag = (T_SERVICE << KIND_SHIFT)
            | ((job.generation & GEN_MASK) << SLOT_BITS)
            | u64::from(slot);
        ctx.set_timer(SimTime::from_ns_f64(ns), tag);
    }

    fn release_worker(&mut self, ctx: &mut Ctx<'_>) {
        self.busy -= 1;
        if let Some(next) = self.queue.pop_front() {
            self.start(ctx, next);
        }
        self.levels(ctx);
    }

    fn job_at(&self, tag_low: u64) -> Option<u32> {
        let slot = (tag_low & SLOT_MASK) as u32;
        let generation = tag_low >> SLOT_BITS;
        let job = self.jobs.get(slot as usize)?;
        (job.phase != Phase::Free && (job.generation & GEN_MASK) == generation).then_some(slot)
    }

    /// Issue the current step's calls, or reply when there are none left.
    fn next_step(&mut self, ctx: &mut Ctx<'_>, slot: u32) {
        let step = self.jobs[slot as usize].step as usize;
        let Some(call) = self.cfg.calls.get(step) else {
            self.finish(ctx, slot, Status::Ok);
            return;
        };
        let job = self.jobs[slot as usize];
        // Sub-request ids: generation, slot and step, so stale answers are recognised.
        let generation = job.generation & GEN_MASK;
        let sub_id = (generation << SLOT_BITS) | u64::from(slot);
        let mut sub = job.req;
        sub.id = sub_id;
        let (targets, needed, timeout): (&[usize], u32, Option<SimTime>) = match call {
            CallV::Call { target, timeout } => (std::slice::from_ref(target), 1, *timeout),
            CallV::Parallel {
                targets,
                wait_for,
                timeout,
            } => {
                let n = match wait_for {
                    Gather::All => targets.len() as u32,
                    Gather::First(k) => *k,
                };
                (targets.as_slice(), n, *timeout)
            }
            CallV::Enqueue { queue, timeout } => {
                let j = &mut self.jobs[slot as usize];
                j.phase = Phase::Calling;
                j.needed = 1;
                j.got = 0;
                j.failed = 0;
                j.asked = 1;
                ctx.send(
                    NodeId(*queue as u32),
                    Msg::Job {
                        id: sub_id,
                        class: job.req.class,
                        size_bytes: job.req.size_bytes,
                    },
                );
                if let Some(t) = timeout {
                    ctx.set_timer(*t, (T_CALL_TIMEOUT << KIND_SHIFT) | sub_id);
                }
                self.after_calls_sent(ctx, slot);
                return;
            }
        };
        let j = &mut self.jobs[slot as usize];
        j.phase = Phase::Calling;
        j.needed = needed;
        j.got = 0;
        j.failed = 0;
        j.asked = targets.len() as u32;
        for &t in targets {
            ctx.send(NodeId(t as u32), Msg::Request(sub));
        }
        if let Some(t) = timeout {
            ctx.set_timer(t, (T_CALL_TIMEOUT << KIND_SHIFT) | sub_id);
        }
        self.after_calls_sent(ctx, slot);
    }

    fn after_calls_sent(&mut self, ctx: &mut Ctx<'_>, slot: u32) {
        let j = &mut self.jobs[slot as usize];
        if !self.cfg.blocking && j.holds_worker && j.phase == Phase::Calling {
            j.holds_worker = false;
            self.release_worker(ctx);
        }
    }

    fn on_call_answer(&mut self, ctx: &mut Ctx<'_>, id: u64, ok: bool) {
        let Some(slot) = self.job_at(id) else { return };
        let j = &mut self.jobs[slot as usize];
        if j.phase != Phase::Calling {
            return;
        }
        if ok {
            j.got += 1;
        } else {
            j.failed += 1;
        }
        if j.got >= j.needed {
            j.step += 1;
            // Bump the generation so remaining answers of this step are ignored.
            self.generation += 1;
            let j = &mut self.jobs[slot as usize];
            j.generation = self.generation;
            self.next_step(ctx, slot);
        } else if j.failed > j.asked - j.needed {
            self.finish(ctx, slot, Status::Error);
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>, slot: u32, mut status: Status) {
        let j = self.jobs[slot as usize];
        let mut value = None;
        if self.cfg.data && status == Status::Ok {
            // The tiny database (`data: true`): writes store, reads return, cas compares.
            let key = j.req.key;
            match j.req.op {
                OpSpec::Write => {
                    self.data.insert(key, j.req.value);
                }
                OpSpec::Read => value = self.data.get(&key).copied(),
                OpSpec::Cas => {
                    let cur = self.data.get(&key).copied().unwrap_or(i64::MIN);
                    if cur == j.req.expected {
                        self.data.insert(key, j.req.value);
                    } else {
                        status = Status::Fail;
                        value = (cur != i64::MIN).then_some(cur);
                    }
                }
            }
        }
        ctx.send(
            j.from,
            Msg::Response(Response {
                id: j.req.id,
                status,
                value,
                size_bytes: j.req.response_bytes,
                redirect: crate::sim::msg::NO_REDIRECT,
            }),
        );
        ctx.world
            .rec
            .node_completed(self.metric, ctx.now, Some(ctx.now - j.arrived));
        self.jobs[slot as usize].phase = Phase::Free;
        self.free.push(slot);
        if j.holds_worker {
            self.release_worker(ctx);
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: Request) {
        ctx.world.rec.node_arrival(self.metric, ctx.now);
        if self.busy >= self.cfg.workers && self.queue.len() >= self.cfg.queue_capacity as usize {
            ctx.world.rec.node_rejected(self.metric, ctx.now);
            ctx.send(
                from,
                Msg::Response(Response {
                    id: req.id,
                    status: Status::Rejected,
                    value: None,
                    size_bytes: 64,
                    redirect: crate::sim::msg::NO_REDIRECT,
                }),
            );
            return;
        }
        if self.jobs.len() >= SLOT_MASK as usize && self.free.is_empty() {
            ctx.world.rec.node_rejected(self.metric, ctx.now);
            ctx.send(
                from,
                Msg::Response(Response {
                    id: req.id,
                    status: Status::Rejected,
                    value: None,
                    size_bytes: 64,
                    redirect: crate::sim::msg::NO_REDIRECT,
                }),
            );
            return;
        }
        self.generation += 1;
        let job = Job {
            req,
            from,
            arrived: ctx.now,
            phase: Phase::Queued,
            generation: self.generation,
            step: 0,
            holds_worker: false,
            needed: 0,
            got: 0,
            failed: 0,
            asked: 0,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.jobs[s as usize] = job;
                s
            }
            None => {
                self.jobs.push(job);
                (self.jobs.len() - 1) as u32
            }
        };
        if self.busy < self.cfg.workers {
            self.start(ctx, slot);
        } else {
            ctx.world.rec.node_waited(self.metric, ctx.now);
            self.queue.push_back(slot);
        }
        self.levels(ctx);
    }
}

impl Component<Msg, SimWorld> for Server {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request(r) => self.on_request(ctx, from, r),
            Msg::Response(r) => self.on_call_answer(ctx, r.id, r.status == Status::Ok),
            Msg::JobAck { id, accepted } => self.on_call_answer(ctx, id, accepted),
            // Health checks are answered at once, without a worker (a crashed
            // server receives nothing, so it does not answer).
            Msg::HealthCheck { id } => ctx.send(from, Msg::HealthReply { id }),
            Msg::Job { .. }
            | Msg::Peer(_)
            | Msg::HealthReply { .. }
            | Msg::CachePush { .. }
            | Msg::Heartbeat
            | Msg::DnsQuery { .. }
            | Msg::DnsAnswer { .. }
            | Msg::SessionPins(_)
            | Msg::SessionResync => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tag: u64) {
        let low = tag & ((1 << KIND_SHIFT) - 1);
        match tag >> KIND_SHIFT {
            T_SERVICE => {
                if let Some(slot) = self.job_at(low)
                    && self.jobs[slot as usize].phase == Phase::Service
                {
                    self.next_step(ctx, slot);
                }
            }
            T_CALL_TIMEOUT => {
                if let Some(slot) = self.job_at(low)
                    && self.jobs[slot as usize].phase == Phase::Calling
                {
                    self.finish(ctx, slot, Status::Error);
                }
            }
            _ => {}
        }
    }

    fn on_crash(&mut self, ctx: &mut Ctx<'_>) {
        let lost = self.jobs.iter().filter(|j| j.phase != Phase::Free).count() as u64;
        ctx.world.rec.node_lost(self.metric, ctx.now, lost);
        self.jobs.clear();
        self.free.clear();
        self.queue.clear();
        self.busy = 0;
        self.levels(ctx);
    }

    fn on_finish(&mut self, ctx: &mut Ctx<'_>) {
        self.levels(ctx);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
