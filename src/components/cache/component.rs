//! The cache engine component: a node between clients/application servers and a
//! backing `origin` node, holding a [`CacheStore`]. It owns the read/write patterns
//! (cache-aside, read-through, write-through, write-around, write-back,
//! refresh-ahead), write-back flushing, refresh-ahead refreshes, forwarding to the
//! owning shard of a distributed cache, and the cache metrics (hits, misses,
//! evictions, lost writes, stale reads). It must not touch the origin's state: it
//! only exchanges `Msg::Request`/`Msg::Response` with it.
//!
//! Stale reads: the cache cannot see the origin, so the world keeps, per
//! (origin, key), the last write value *acknowledged to a client by a cache*
//! (`SimWorld::cache_latest`). A read answered with a different value is stale.
//! Writes that reach the origin without passing through a cache are not seen, and
//! a read that overlaps a write is compared with the state at its answer.

#![allow(clippy::collapsible_if)]

use super::eviction::{CacheStore, Entry, Lookup, PutOutcome};
use crate::components::hashring::{HashRing, ModuloPlacement, Placement};
use crate::detrand::FastMap;
use crate::engine::{Component, NodeId, SimTime};
use crate::scenario::spec::{CachePattern, CachePlacement, OpSpec};
use crate::scenario::validated::CacheV;
use crate::sim::msg::{Msg, NO_REDIRECT, Request, Response, Status};
use crate::sim::world::{Ctx, SimWorld};
use std::any::Any;
use std::collections::BTreeSet;

const KIND_SHIFT: u32 = 60;
const T_LOOKUP: u64 = 0;
const T_FLUSH: u64 = 1;
const ID_MASK: u64 = (1 << KIND_SHIFT) - 1;
/// Cached "not found" (negative caching): the origin had no value for the key.
const NIL: i64 = i64::MIN;

fn from_entry(v: i64) -> Option<i64> {
    (v != NIL).then_some(v)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the lookup time.
    Lookup,
    /// A read miss being fetched from the origin.
    Fetch,
    /// A client write sent to the origin (write-through, write-around, cache-aside).
    WriteOrigin,
    /// A write-back flush of a dirty entry.
    Flush,
    /// A refresh-ahead fetch.
    Refresh,
    /// A request relayed to the owning shard, or passed through to the origin.
    Relay,
}

#[derive(Clone, Copy)]
struct Pending {
    stage: Stage,
    from: NodeId,
    req: Request,
    arrived: SimTime,
}

enum Shards {
    Ring(HashRing),
    Modulo(ModuloPlacement),
}

/// A cache node (see the module docs).
pub struct Cache {
    cfg: CacheV,
    /// Node-level metrics index (arrivals, sojourn).
    metric: usize,
    /// Cache counters index in the recorder.
    idx: usize,
    store: CacheStore,
    origin: NodeId,
    pending: FastMap<u64, Pending>,
    next_id: u64,
    refreshing: BTreeSet<u64>,
    scratch: Vec<(u64, Entry)>,
    shards: Option<Shards>,
    /// Node indices of every shard (this one included).
    shard_nodes: Vec<usize>,
}

impl Cache {
    /// A cache node at node index `me` (needed to place keys among its peers).
    pub fn new(cfg: CacheV, me: usize, metric: usize, idx: usize) -> Self {
        let mut shard_nodes: Vec<usize> = Vec::new();
        let shards = if cfg.peers.is_empty() {
            None
        } else {
            shard_nodes.push(me);
            shard_nodes.extend(cfg.peers.iter().copied());
            shard_nodes.sort_unstable();
            match cfg.placement {
                CachePlacement::ConsistentHash { vnodes } => {
                    let mut ring = HashRing::new(vnodes.max(1)).ok();
                    if let Some(r) = &mut ring {
                        for &n in &shard_nodes {
                            let _ = r.add_node(n, 1);
                        }
                    }
                    ring.map(Shards::Ring)
                }
                CachePlacement::Modulo => Some(Shards::Modulo(ModuloPlacement::from_nodes(
                    shard_nodes.clone(),
                ))),
            }
        };
        Cache {
            origin: NodeId(cfg.origin as u32),
            store: CacheStore::new(cfg.store),
            cfg,
            metric,
            idx,
            pending: FastMap::default(),
            next_id: 0,
            refreshing: BTreeSet::new(),
            scratch: Vec::new(),
            shards,
            shard_nodes,
        }
    }

    /// The cache store (for inspection in tests).
    pub fn store(&self) -> &CacheStore {
        &self.store
    }

    fn new_id(&mut self) -> u64 {
        self.next_id = (self.next_id + 1) & ID_MASK;
        self.next_id
    }

    fn owner(&self, key: u64) -> Option<usize> {
        match &self.shards {
            None => None,
            Some(Shards::Ring(r)) => r.place(key),
            Some(Shards::Modulo(m)) => m.place(key),
        }
    }

    fn reply(&mut self, ctx: &mut Ctx<'_>, p: &Pending, status: Status, value: Option<i64>) {
        ctx.send(
            p.from,
            Msg::Response(Response {
                id: p.req.id,
                status,
                value,
                size_bytes: p.req.response_bytes,
                redirect: NO_REDIRECT,
            }),
        );
        ctx.world
            .rec
            .node_completed(self.metric, ctx.now, Some(ctx.now - p.arrived));
    }

    /// Send `req` (with a fresh id) to `to`, remembering it under `stage`.
    fn send_tracked(
        &mut self,
        ctx: &mut Ctx<'_>,
        to: NodeId,
        stage: Stage,
        from: NodeId,
        req: Request,
        arrived: SimTime,
    ) {
        let id = self.new_id();
        self.pending.insert(
            id,
            Pending {
                stage,
                from,
                req,
                arrived,
            },
        );
        ctx.send(to, Msg::Request(Request { id, ..req }));
    }

    fn flush_entry(&mut self, ctx: &mut Ctx<'_>, key: u64, e: &Entry) {
        let req = Request {
            id: 0,
            class: 0,
            op: OpSpec::Write,
            key,
            value: e.value,
            expected: i64::MIN,
            size_bytes: e.size_bytes.max(1),
            response_bytes: 64,
            client: ctx.me.0,
            session: u64::from(ctx.me.0),
        };
        if let Some(c) = ctx.world.rec.cache_counters(self.idx, ctx.now) {
            c.flushed += 1;
        }
        let me = ctx.me;
        let now = ctx.now;
        self.send_tracked(ctx, self.origin, Stage::Flush, me, req, now);
    }

    /// Insert or update, flushing dirty victims and counting evictions.
    fn put(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: u64,
        value: i64,
        size: u32,
        dirty: bool,
    ) -> PutOutcome {
        let before = self.store.stats().evictions;
        let mut victims = std::mem::take(&mut self.scratch);
        victims.clear();
        let out = self.store.put(
            key,
            value,
            size.max(1),
            dirty,
            ctx.now.as_ns(),
            ctx.rng,
            &mut victims,
        );
        for (k, e) in &victims {
            if e.dirty {
                self.flush_entry(ctx, *k, e);
            }
        }
        victims.clear();
        self.scratch = victims;
        let ev = self.store.stats().evictions - before;
        if ev > 0 {
            if let Some(c) = ctx.world.rec.cache_counters(self.idx, ctx.now) {
                c.evictions += ev;
            }
        }
        out
    }

    fn note_acked_write(&self, ctx: &mut Ctx<'_>, key: u64, value: i64) {
        ctx.world.cache_latest.insert((self.origin.0, key), value);
    }

    fn check_stale(&self, ctx: &mut Ctx<'_>, key: u64, value: Option<i64>) {
        if let Some(&latest) = ctx.world.cache_latest.get(&(self.origin.0, key)) {
            if value != Some(latest) {
                if let Some(c) = ctx.world.rec.cache_counters(self.idx, ctx.now) {
                    c.stale_reads += 1;
                }
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_>, from: NodeId, req: Request) {
        ctx.world.rec.node_arrival(self.metric, ctx.now);
        let now = ctx.now;
        // Distributed: forward to the owning shard, unless a shard sent it (no loops).
        if let Some(owner) = self.owner(req.key) {
            if owner != ctx.me.index() && !self.shard_nodes.contains(&from.index()) {
                if let Some(c) = ctx.world.rec.cache_counters(self.idx, now) {
                    c.forwarded += 1;
                }
                self.send_tracked(ctx, NodeId(owner as u32), Stage::Relay, from, req, now);
                return;
            }
        }
        let id = self.new_id();
        self.pending.insert(
            id,
            Pending {
                stage: Stage::Lookup,
                from,
                req,
                arrived: now,
            },
        );
        let ns = self.cfg.service.sample_ns(ctx.rng);
        ctx.set_timer(SimTime::from_ns_f64(ns), (T_LOOKUP << KIND_SHIFT) | id);
    }

    fn on_lookup(&mut self, ctx: &mut Ctx<'_>, p: Pending) {
        let now = ctx.now;
        let key = p.req.key;
        match p.req.op {
            OpSpec::Read => match self.store.get(key, now.as_ns()) {
                Lookup::Hit(e) => {
                    ctx.world.rec.cache_lookup(self.idx, now, true);
                    self.check_stale(ctx, key, from_entry(e.value));
                    self.reply(ctx, &p, Status::Ok, from_entry(e.value));
                    if self.cfg.pattern == CachePattern::RefreshAhead {
                        if let (Some(exp), Some(ttl)) = (e.expires_ns, self.cfg.store.ttl_ns) {
                            let remaining = exp.saturating_sub(now.as_ns()) as f64;
                            if remaining <= self.cfg.refresh_fraction * ttl as f64
                                && self.refreshing.insert(key)
                            {
                                if let Some(c) = ctx.world.rec.cache_counters(self.idx, now) {
                                    c.refreshes += 1;
                                }
                                let me = ctx.me;
                                self.send_tracked(ctx, self.origin, Stage::Refresh, me, p.req, now);
                            }
                        }
                    }
                }
                other => {
                    if let Lookup::Expired(e) = other {
                        if e.dirty {
                            self.flush_entry(ctx, key, &e);
                        }
                    }
                    ctx.world.rec.cache_lookup(self.idx, now, false);
                    self.send_tracked(ctx, self.origin, Stage::Fetch, p.from, p.req, p.arrived);
                }
            },
            OpSpec::Write if self.cfg.pattern == CachePattern::WriteBack => {
                match self.put(ctx, key, p.req.value, p.req.size_bytes, true) {
                    PutOutcome::Rejected { .. } => {
                        // Cannot be cached: write it through instead.
                        self.send_tracked(
                            ctx,
                            self.origin,
                            Stage::WriteOrigin,
                            p.from,
                            p.req,
                            p.arrived,
                        );
                    }
                    _ => {
                        self.note_acked_write(ctx, key, p.req.value);
                        self.reply(ctx, &p, Status::Ok, None);
                    }
                }
            }
            OpSpec::Write => self.send_tracked(
                ctx,
                self.origin,
                Stage::WriteOrigin,
                p.from,
                p.req,
                p.arrived,
            ),
            OpSpec::Cas => {
                // Compare-and-set is the origin's business: invalidate and pass through.
                if let Some(e) = self.store.remove(key) {
                    if e.dirty {
                        self.flush_entry(ctx, key, &e);
                    }
                }
                self.send_tracked(ctx, self.origin, Stage::Relay, p.from, p.req, p.arrived);
            }
        }
    }

    fn on_response(&mut self, ctx: &mut Ctx<'_>, r: Response) {
        let Some(p) = self.pending.remove(&r.id) else {
            return;
        };
        let key = p.req.key;
        let ok = r.status == Status::Ok;
        match p.stage {
            Stage::Lookup => {}
            Stage::Fetch => {
                if !ok {
                    self.reply(ctx, &p, r.status, None);
                    return;
                }
                // A value cached meanwhile (a write-back write, another fetch) is newer.
                let now = ctx.now.as_ns();
                let cached = self
                    .store
                    .peek(key)
                    .filter(|e| !e.is_expired(now))
                    .map(|e| e.value);
                let value = match cached {
                    Some(v) => from_entry(v),
                    None => {
                        self.put(
                            ctx,
                            key,
                            r.value.unwrap_or(NIL),
                            p.req.response_bytes,
                            false,
                        );
                        r.value
                    }
                };
                self.check_stale(ctx, key, value);
                self.reply(ctx, &p, Status::Ok, value);
            }
            Stage::WriteOrigin => {
                if ok {
                    if matches!(
                        self.cfg.pattern,
                        CachePattern::WriteThrough | CachePattern::WriteBack
                    ) {
                        self.put(ctx, key, p.req.value, p.req.size_bytes, false);
                    } else {
                        self.store.remove(key);
                    }
                    self.note_acked_write(ctx, key, p.req.value);
                } else {
                    // Unknown outcome at the origin: do not keep a possibly wrong value.
                    self.store.remove(key);
                }
                self.reply(ctx, &p, r.status, None);
            }
            Stage::Flush => {
                if !ok {
                    // Re-queue the flush if the entry still holds this value.
                    if self
                        .store
                        .peek(key)
                        .is_some_and(|e| e.value == p.req.value && !e.dirty)
                    {
                        self.store.mark_dirty(key, ctx.now.as_ns());
                    }
                }
            }
            Stage::Refresh => {
                self.refreshing.remove(&key);
                // Only refresh a clean entry still cached.
                if ok && self.store.peek(key).is_some_and(|e| !e.dirty) {
                    self.put(
                        ctx,
                        key,
                        r.value.unwrap_or(NIL),
                        p.req.response_bytes,
                        false,
                    );
                }
            }
            Stage::Relay => {
                if p.req.op != OpSpec::Read && ok {
                    self.note_acked_write(ctx, key, p.req.value);
                }
                ctx.send(p.from, Msg::Response(Response { id: p.req.id, ..r }));
                ctx.world
                    .rec
                    .node_completed(self.metric, ctx.now, Some(ctx.now - p.arrived));
            }
        }
    }

    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        let mut batch = std::mem::take(&mut self.scratch);
        batch.clear();
        self.store
            .take_dirty(self.cfg.batch_size as usize, &mut batch);
        for (k, e) in &batch {
            self.flush_entry(ctx, *k, e);
        }
        batch.clear();
        self.scratch = batch;
        ctx.set_timer(self.cfg.flush_interval, T_FLUSH << KIND_SHIFT);
    }

    fn schedule_flush(&self, ctx: &mut Ctx<'_>) {
        if self.cfg.pattern == CachePattern::WriteBack {
            ctx.set_timer(self.cfg.flush_interval, T_FLUSH << KIND_SHIFT);
        }
    }
}

impl Component<Msg, SimWorld> for Cache {
    fn on_start(&mut self, ctx: &mut Ctx<'_>) {
        self.schedule_flush(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request(r) => self.on_request(ctx, from, r),
            Msg::Response(r) => self.on_response(ctx, r),
            Msg::Job { .. } | Msg::JobAck { .. } | Msg::Peer(_) | Msg::HealthCheck { .. } => {}
            Msg::HealthReply { .. } => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, tag: u64) {
        match tag >> KIND_SHIFT {
            T_LOOKUP => {
                if let Some(p) = self.pending.remove(&(tag & ID_MASK)) {
                    if p.stage == Stage::Lookup {
                        self.on_lookup(ctx, p);
                    }
                }
            }
            T_FLUSH => self.flush(ctx),
            _ => {}
        }
    }

    fn on_crash(&mut self, ctx: &mut Ctx<'_>) {
        // A crash loses everything; dirty entries were acknowledged writes.
        let lost = self.store.clear() as u64;
        if let Some(c) = ctx.world.rec.cache_counters(self.idx, ctx.now) {
            c.lost_writes += lost;
        }
        let in_flight = self
            .pending
            .values()
            .filter(|p| !matches!(p.stage, Stage::Flush | Stage::Refresh))
            .count() as u64;
        ctx.world.rec.node_lost(self.metric, ctx.now, in_flight);
        self.pending.clear();
        self.refreshing.clear();
    }

    fn on_restart(&mut self, ctx: &mut Ctx<'_>) {
        self.schedule_flush(ctx);
    }

    fn on_finish(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(c) = ctx.world.rec.caches.get_mut(self.idx) {
            c.memory_bytes = self.store.bytes_used();
            c.entries = self.store.len() as u64;
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
