//! A DNS server with one round-robin record. A client that targets it sends a
//! query (a network round trip), caches the answer for the TTL and rotates
//! through the addresses (see `client.rs`). With health checks (the same
//! [`ActiveHealth`] state machine as a balancer's, checks every interval to each
//! address), addresses that fail them leave the answer until they pass again;
//! if none is healthy, all are returned (fail open). The DNS node never learns
//! what clients cached: a removed address keeps receiving traffic from every
//! client whose cached answer still holds it, until that answer's TTL runs out.

use super::load_balancer::{ActiveHealth, HealthStatus};
use crate::engine::{Component, NodeId, SimTime};
use crate::scenario::validated::DnsV;
use crate::sim::msg::Msg;
use crate::sim::world::{Ctx, SimWorld};
use std::any::Any;

const KIND_SHIFT: u32 = 60;
const LOW_MASK: u64 = (1 << KIND_SHIFT) - 1;
const T_TICK: u64 = 0;
const T_CHECK_TIMEOUT: u64 = 1;
const ADDR_BITS: u32 = 16;
const ADDR_MASK: u64 = (1 << ADDR_BITS) - 1;

pub struct Dns {
    cfg: DnsV,
    metric: usize,
    health: Option<ActiveHealth>,
    pending: Vec<Option<u64>>,
    seq: u64,
    /// For metrics: crash time of each address while it is down, from the world's timeline.
    dead_since: Vec<Option<SimTime>>,
    events_seen: usize,
}

impl Dns {
    pub fn new(cfg: DnsV, metric: usize) -> Self {
        let n = cfg.addresses.len();
        let health = cfg.health.and_then(|h| ActiveHealth::new(h, n).ok());
        Dns {
            cfg,
            metric,
            health,
            pending: vec![None; n],
            seq: 0,
            dead_since: vec![None; n],
            events_seen: 0,
        }
    }

    /// The answer: healthy addresses, or all of them when none is.
    fn answer(&self) -> Vec<u32> {
        let all: Vec<u32> = self.cfg.addresses.iter().map(|&a| a as u32).collect();
        let Some(h) = &self.health else { return all };
        let ok: Vec<u32> = (0..all.len())
            .filter(|&k| h.is_healthy(k))
            .map(|k| all[k])
            .collect();
        if ok.is_empty() { all } else { ok }
    }

    fn sync_timeline(&mut self, ctx: &mut Ctx<'_>) {
        let ev = &ctx.world.node_events;
        while self.events_seen < ev.len() {
            let (t, node, alive) = ev[self.events_seen];
            self.events_seen += 1;
            if let Some(k) = self.cfg.addresses.iter().position(|&a| a as u32 == node) {
                self.dead_since[k] = if alive { None } else { Some(t) };
            }
        }
    }

    fn result(&mut self, ctx: &mut Ctx<'_>, k: usize, ok: bool) {
        let now = ctx.now;
        let Some(t) = self
            .health
            .as_mut()
            .and_then(|h| h.on_result(k, ok, now.as_ns()))
        else {
            return;
        };
        if t.to == HealthStatus::Unhealthy {
            self.sync_timeline(ctx);
            if let Some(c) = self.dead_since[k]
                && let Some(d) = ctx.world.rec.dns.get_mut(self.metric)
            {
                d.detect_ns.push(now.saturating_sub(c).as_ns());
            }
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_>) {
        let Some(cfg) = self.health.as_ref().map(|h| *h.config()) else {
            return;
        };
        for k in 0..self.cfg.addresses.len() {
            if self.pending[k].take().is_some() {
                self.result(ctx, k, false);
            }
            self.seq += 1;
            let id = ((self.seq << ADDR_BITS) | k as u64) & LOW_MASK;
            self.pending[k] = Some(id);
            ctx.send(
                NodeId(self.cfg.addresses[k] as u32),
                Msg::HealthCheck { id },
            );
            ctx.set_timer(
                SimTime(cfg.timeout_ns),
                (T_CHECK_TIMEOUT << KIND_SHIFT) | id,
            );
        }
        ctx.set_timer(SimTime(cfg.interval_ns), T_TICK << KIND_SHIFT);
    }

    fn settle(&mut self, ctx: &mut Ctx<'_>, id: u64, ok: bool) {
        let k = (id & ADDR_MASK) as usize;
        if k < self.pending.len() && self.pending[k] == Some(id) {
            self.pending[k] = None;
            self.result(ctx, k, ok);
        }
    }
}

impl Component<Msg, SimWorld> for Dns {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.tick(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::DnsQuery { id } => {
                if ctx.world.rec.measure_from.is_some_and(|m| ctx.now >= m)
                    && let Some(d) = ctx.world.rec.dns.get_mut(self.metric)
                {
                    d.queries += 1;
                }
                let addresses = self.answer();
                ctx.send(
                    from,
                    Msg::DnsAnswer {
                        id,
                        addresses,
                        ttl_ns: self.cfg.ttl.as_ns(),
                    },
                );
            }
            Msg::HealthReply { id } => {
                let k = (id & ADDR_MASK) as usize;
                if self.cfg.addresses.get(k).map(|&a| a as u32) == Some(from.0) {
                    self.settle(ctx, id, true);
                }
            }
            Msg::HealthCheck { id } => ctx.send(from, Msg::HealthReply { id }),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tag: u64) {
        match tag >> KIND_SHIFT {
            T_TICK => self.tick(ctx),
            T_CHECK_TIMEOUT => self.settle(ctx, tag & LOW_MASK, false),
            _ => {}
        }
    }

    fn on_crash(&mut self, _ctx: &mut Ctx<'_>) {
        self.pending.iter_mut().for_each(|p| *p = None);
    }

    fn on_restart(&mut self, ctx: &mut Ctx<'_>) {
        self.tick(ctx);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
