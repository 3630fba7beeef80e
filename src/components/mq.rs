//! A message-queue node: a bounded buffer of jobs drained by a pool of consumers.
//! A producer's job is acknowledged on acceptance (so the producer can reply before
//! the job is done) and refused when the queue is full (back pressure). Queue depth
//! and job latency (enqueue to done) are recorded.

use crate::dist::Dist;
use crate::engine::{Component, NodeId, SimTime};
use crate::scenario::validated::QueueV;
use crate::sim::msg::Msg;
use crate::sim::world::{Ctx, SimWorld};
use std::any::Any;
use std::collections::VecDeque;

pub struct MessageQueue {
    capacity: u32,
    consumers: u32,
    service: Dist,
    metric: usize,
    busy: u32,
    waiting: VecDeque<SimTime>,
    /// Enqueue times of jobs in service, by consumer slot.
    in_service: Vec<Option<SimTime>>,
    epoch: u64,
}

impl MessageQueue {
    pub fn new(cfg: QueueV, metric: usize) -> Self {
        MessageQueue {
            capacity: cfg.capacity,
            consumers: cfg.consumers,
            service: cfg.service,
            metric,
            busy: 0,
            waiting: VecDeque::new(),
            in_service: vec![None; cfg.consumers as usize],
            epoch: 0,
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_>, enqueued: SimTime) {
        let slot = self
            .in_service
            .iter()
            .position(Option::is_none)
            .expect("a free consumer");
        self.in_service[slot] = Some(enqueued);
        self.busy += 1;
        let mut ns = self.service.sample_ns(ctx.rng);
        ns *= ctx.world.slow[ctx.me.index()];
        ctx.set_timer(SimTime::from_ns_f64(ns), slot as u64);
    }

    fn levels(&self, ctx: &mut Ctx<'_>) {
        ctx.world
            .rec
            .node_levels(self.metric, ctx.now, self.busy, self.waiting.len() as u32);
    }
}

impl Component<Msg, SimWorld> for MessageQueue {
    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        if let Msg::Job { id, .. } = msg {
            ctx.world.rec.node_arrival(self.metric, ctx.now);
            let held = self.busy + self.waiting.len() as u32;
            if held >= self.capacity {
                ctx.world.rec.node_rejected(self.metric, ctx.now);
                ctx.send(
                    from,
                    Msg::JobAck {
                        id,
                        accepted: false,
                    },
                );
                return;
            }
            ctx.send(from, Msg::JobAck { id, accepted: true });
            if self.busy < self.consumers {
                self.start(ctx, ctx.now);
            } else {
                ctx.world.rec.node_waited(self.metric, ctx.now);
                self.waiting.push_back(ctx.now);
            }
            self.levels(ctx);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tag: u64) {
        let slot = tag as usize;
        if let Some(Some(enq)) = self.in_service.get(slot).copied() {
            self.in_service[slot] = None;
            self.busy -= 1;
            ctx.world
                .rec
                .node_completed(self.metric, ctx.now, Some(ctx.now - enq));
            if let Some(next) = self.waiting.pop_front() {
                self.start(ctx, next);
            }
            self.levels(ctx);
        }
    }

    fn on_crash(&mut self, ctx: &mut Ctx<'_>) {
        let lost = self.busy as u64 + self.waiting.len() as u64;
        ctx.world.rec.node_lost(self.metric, ctx.now, lost);
        self.waiting.clear();
        self.in_service.iter_mut().for_each(|s| *s = None);
        self.busy = 0;
        self.epoch += 1;
        self.levels(ctx);
    }

    fn on_finish(&mut self, ctx: &mut Ctx<'_>) {
        self.levels(ctx);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
