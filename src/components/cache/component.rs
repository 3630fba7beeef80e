//! The cache engine component: a node between clients/application servers and a
//! backing `origin` node, holding a [`CacheStore`]. It owns the read/write patterns
//! (cache-aside, read-through, write-through, write-around, write-back,
//! refresh-ahead), write-back flushing, refresh-ahead refreshes, forwarding to the
//! owning shard of a distributed cache, and the cache metrics (hits, misses,
//! evictions, lost writes, stale reads). It must not touch the origin's state: it
//! only exchanges `Msg::Request`/`Msg::Response` with it.
//!
//! Distributed cache: every shard lists the others as `peers`; a request for a
//! key another shard owns (by consistent hashing or modulo over the shards this
//! shard believes are up) is forwarded to it once (a shard serves what a peer
//! forwards, so views that disagree never loop). With `peer_health`, each shard
//! sends health checks to every peer over the network and drops a peer from its
//! own ring after `unhealthy_threshold` failed checks (timing as the load
//! balancer's active checks: `load_balancer/health.rs`), and adds it back after
//! `healthy_threshold` successes — so a crashed shard leaves the ring and a
//! restarted one rejoins, cold. Each change records the fraction of the clients'
//! key space whose owner changed ([`RemapEvent`]). Without `peer_health`
//! membership is static: keys of a dead shard are still forwarded to it. With
//! `forward_timeout`, a forwarded read unanswered in time is fetched from the
//! origin by the forwarding shard (counted as a miss there) and a forwarded
//! write fails; otherwise the requester waits (its own timeout). A restarted
//! shard starts believing every peer is up.
//!
//! Push mode (CDN): a cache with `push_to` sends every write it acknowledges
//! (`Msg::CachePush`) to those caches over the network — fire and forget, so a
//! partition or a crash loses pushes and the edge keeps its old value until the
//! key is written again or its TTL expires. An edge stores a push at once; it
//! still fetches on a miss (content never pushed, evicted, or lost in a crash).
//! Each push carries the pusher's ack order (`version`); an edge drops a push
//! older than the newest it applied for that pusher and key (`pushes_outdated`),
//! so pushes that overtake each other on a jittery link cannot regress it.
//!
//! Loading: with `CacheAside` the *application* loads: every miss is its own
//! origin read, and the value is stored when that read returns, whatever
//! happened meanwhile — so a write whose invalidation lands between the read and
//! the store leaves the old value cached (the classic cache-aside race; stale
//! until evicted, expired or written again). Every other pattern loads *through*
//! the cache, which (as a read-through cache with request coalescing and leases
//! does) sends one origin read per key at a time — concurrent misses wait for it
//! (`coalesced`) — and does not store a fetched value if the key was written or
//! invalidated while the read was out (a later miss fetches afresh).
//!
//! Writes: `CacheAside` and `ReadThrough` write to the origin, then invalidate;
//! `WriteAround` writes to the origin and updates the entry only if it is cached
//! (no-write-allocate: written keys that are not cached stay out, so a read of
//! freshly written data misses); `WriteThrough` writes to the origin, then caches
//! the value (write-allocate); `WriteBack` caches it dirty and acknowledges at once.
//!
//! Caches answer `Msg::HealthCheck` at once (a crashed cache receives nothing),
//! so a load balancer can health-check them.
//!
//! Stale reads: the cache cannot see the origin, so the world keeps, per
//! (origin, key), the last write value *acknowledged to a client by a cache*
//! (`SimWorld::cache_latest`). A read answered with a different value is stale.
//! Writes that reach the origin without passing through a cache are not seen, and
//! a read that overlaps a write is compared with the state at its answer.

#![allow(clippy::collapsible_if)]

use super::eviction::{CacheStore, Entry, Lookup, PutOutcome};
use crate::components::hashring::{HashRing, ModuloPlacement, Placement, moved_fraction};
use crate::components::load_balancer::{ActiveHealth, HealthStatus};
use crate::detrand::FastMap;
use crate::engine::{Component, NodeId, SimTime};
use crate::metrics::recorder::RemapEvent;
use crate::scenario::spec::{CachePattern, CachePlacement, OpSpec};
use crate::scenario::validated::CacheV;
use crate::sim::msg::{Msg, NO_REDIRECT, Request, Response, Status};
use crate::sim::world::{Ctx, SimWorld};
use std::any::Any;
use std::collections::BTreeSet;

const KIND_SHIFT: u32 = 60;
const T_LOOKUP: u64 = 0;
const T_FLUSH: u64 = 1;
const T_CHECK_TICK: u64 = 2;
const T_CHECK_TIMEOUT: u64 = 3;
const T_FORWARD_TIMEOUT: u64 = 4;
const ID_MASK: u64 = (1 << KIND_SHIFT) - 1;
/// Low bits of a health-check id: the peer's slot in the shard list.
const SLOT_BITS: u32 = 20;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
/// Most keys a remap measurement looks at (an even stride over larger key spaces).
pub const REMAP_SAMPLE_KEYS: u64 = 100_000;
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
    /// A request passed through to the origin.
    Relay,
    /// A request forwarded to the owning peer shard.
    Forward,
}

/// Reads waiting for one in-flight origin read of their key (read-through loading).
struct FetchGroup {
    key: u64,
    /// The key was written or invalidated while the read was out: do not store it.
    poisoned: bool,
    waiters: Vec<Pending>,
}

#[derive(Clone, Copy)]
struct Pending {
    stage: Stage,
    from: NodeId,
    req: Request,
    arrived: SimTime,
}

#[derive(Clone)]
enum Shards {
    Ring(HashRing),
    Modulo(ModuloPlacement),
}

impl Placement for Shards {
    fn place(&self, key: u64) -> Option<usize> {
        match self {
            Shards::Ring(r) => r.place(key),
            Shards::Modulo(m) => m.place(key),
        }
    }
}

/// Placement over `live` node indices (sorted), `None` if the ring cannot be built.
fn build_shards(placement: CachePlacement, live: &[usize]) -> Option<Shards> {
    match placement {
        CachePlacement::ConsistentHash { vnodes } => {
            let mut r = HashRing::new(vnodes.max(1)).ok()?;
            for &n in live {
                let _ = r.add_node(n, 1);
            }
            Some(Shards::Ring(r))
        }
        CachePlacement::Modulo => Some(Shards::Modulo(ModuloPlacement::from_nodes(live.to_vec()))),
    }
}

/// The keys a remap measurement looks at: `0..key_space`, or
/// [`REMAP_SAMPLE_KEYS`] evenly spaced ones when the key space is larger.
pub fn remap_sample_keys(key_space: u64) -> impl Iterator<Item = u64> {
    let n = key_space.min(REMAP_SAMPLE_KEYS);
    (0..n).map(move |i| {
        if key_space <= REMAP_SAMPLE_KEYS {
            i
        } else {
            ((u128::from(i) * u128::from(key_space)) / u128::from(n)) as u64
        }
    })
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
    /// Read-through loading: key → id of its in-flight origin read.
    inflight: FastMap<u64, u64>,
    /// In-flight origin reads by id (lookups only; never iterated for results).
    groups: FastMap<u64, FetchGroup>,
    scratch: Vec<(u64, Entry)>,
    shards: Option<Shards>,
    /// Node indices of every shard (this one included), sorted.
    shard_nodes: Vec<usize>,
    /// This node's index.
    me: usize,
    /// Per slot of `shard_nodes`: whether this shard believes it is up.
    up: Vec<bool>,
    /// Health of each slot (`peer_health`).
    health: Option<ActiveHealth>,
    /// Per slot: the outstanding health check's id.
    pending_check: Vec<Option<u64>>,
    check_seq: u64,
    /// Keys `0..key_space` are what clients request (for remap measurements).
    key_space: u64,
    /// Push mode: version of the last write this cache pushed (its ack order).
    push_seq: u64,
    /// Edge: per (pushing node, key), the newest version applied (lookups only).
    push_seen: FastMap<(u32, u64), u64>,
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
            shard_nodes.dedup();
            build_shards(cfg.placement, &shard_nodes)
        };
        let n = shard_nodes.len();
        let health = cfg
            .peer_health
            .filter(|_| n > 0)
            .and_then(|h| ActiveHealth::new(h, n).ok());
        Cache {
            me,
            up: vec![true; n],
            health,
            pending_check: vec![None; n],
            check_seq: 0,
            key_space: 1000,
            push_seq: 0,
            push_seen: FastMap::default(),
            origin: NodeId(cfg.origin as u32),
            store: CacheStore::new(cfg.store),
            cfg,
            metric,
            idx,
            pending: FastMap::default(),
            next_id: 0,
            refreshing: BTreeSet::new(),
            inflight: FastMap::default(),
            groups: FastMap::default(),
            scratch: Vec::new(),
            shards,
            shard_nodes,
        }
    }

    /// Sets the number of keys clients request (keys `0..key_space`), over which
    /// remapped fractions are measured (default 1000).
    pub fn with_key_space(mut self, key_space: u64) -> Self {
        self.key_space = key_space.max(1);
        self
    }

    /// The cache store (for inspection in tests).
    pub fn store(&self) -> &CacheStore {
        &self.store
    }

    /// Node indices of the shards this shard currently believes are up (itself
    /// included); empty for a standalone cache.
    pub fn live_shards(&self) -> Vec<usize> {
        self.shard_nodes
            .iter()
            .zip(&self.up)
            .filter(|(_, u)| **u)
            .map(|(n, _)| *n)
            .collect()
    }

    /// A peer's status changed in this shard's view: rebuild the placement and
    /// record how much of the key space moved.
    fn set_peer_up(&mut self, ctx: &mut Ctx<'_>, slot: usize, up: bool) {
        if self.up.get(slot) == Some(&up) || slot >= self.up.len() {
            return;
        }
        let before = self.live_shards();
        self.up[slot] = up;
        let after = self.live_shards();
        let Some(new) = build_shards(self.cfg.placement, &after) else {
            return;
        };
        let peer = self.shard_nodes[slot];
        let old = self.shards.replace(new);
        if let (Some(old), Some(new)) = (&old, &self.shards) {
            let moved = moved_fraction(old, new, remap_sample_keys(self.key_space));
            let theory = match (old, new) {
                (Shards::Ring(o), Shards::Ring(n)) => {
                    let owner = if up { n } else { o };
                    owner.ownership().get(&peer).copied().unwrap_or(0.0)
                }
                _ => {
                    let big = before.len().max(after.len()) as f64;
                    (big - 1.0) / big
                }
            };
            if let Some(c) = ctx.world.rec.caches.get_mut(self.idx) {
                c.remaps.push(RemapEvent {
                    t: ctx.now,
                    peer,
                    joined: up,
                    members_before: before.len() as u32,
                    members_after: after.len() as u32,
                    moved_fraction: moved,
                    theory,
                });
            }
        }
    }

    /// Send one round of health checks to every peer (fixed rate).
    fn check_tick(&mut self, ctx: &mut Ctx<'_>) {
        let Some(cfg) = self.health.as_ref().map(|h| *h.config()) else {
            return;
        };
        for slot in 0..self.shard_nodes.len() {
            if self.shard_nodes[slot] == self.me {
                continue;
            }
            // With timeout == interval a timeout can coincide with the next round: settle it first.
            if self.pending_check[slot].take().is_some() {
                self.check_result(ctx, slot, false);
            }
            self.check_seq += 1;
            let id = ((self.check_seq << SLOT_BITS) | slot as u64) & ID_MASK;
            self.pending_check[slot] = Some(id);
            ctx.send(
                NodeId(self.shard_nodes[slot] as u32),
                Msg::HealthCheck { id },
            );
            ctx.set_timer(
                SimTime(cfg.timeout_ns),
                (T_CHECK_TIMEOUT << KIND_SHIFT) | id,
            );
        }
        ctx.set_timer(SimTime(cfg.interval_ns), T_CHECK_TICK << KIND_SHIFT);
    }

    fn check_result(&mut self, ctx: &mut Ctx<'_>, slot: usize, ok: bool) {
        let now = ctx.now.as_ns();
        if let Some(t) = self
            .health
            .as_mut()
            .and_then(|h| h.on_result(slot, ok, now))
        {
            self.set_peer_up(ctx, t.backend, t.to == HealthStatus::Healthy);
        }
    }

    fn on_check_answer(&mut self, ctx: &mut Ctx<'_>, from: Option<NodeId>, id: u64, ok: bool) {
        let slot = (id & SLOT_MASK) as usize;
        if slot >= self.pending_check.len() || self.pending_check[slot] != Some(id) {
            return;
        }
        if from.is_some_and(|f| f.index() != self.shard_nodes[slot]) {
            return;
        }
        self.pending_check[slot] = None;
        self.check_result(ctx, slot, ok);
    }

    /// A forwarded request got no answer in time.
    fn on_forward_timeout(&mut self, ctx: &mut Ctx<'_>, id: u64) {
        let Some(p) = self.pending.get(&id).copied() else {
            return;
        };
        if p.stage != Stage::Forward {
            return;
        }
        self.pending.remove(&id);
        if let Some(c) = ctx.world.rec.cache_counters(self.idx, ctx.now) {
            c.forward_timeouts += 1;
        }
        if p.req.op == OpSpec::Read {
            // Served from the origin by this shard: a miss of the cache tier.
            ctx.world.rec.cache_lookup(self.idx, ctx.now, false);
            self.send_tracked(ctx, self.origin, Stage::Relay, p.from, p.req, p.arrived);
        } else {
            // The owner may or may not have applied it: report an error.
            self.reply(ctx, &p, Status::Error, None);
        }
    }

    /// A write this cache acknowledged: remember it for stale-read detection and
    /// push it to the edge caches.
    fn acked_write(&mut self, ctx: &mut Ctx<'_>, key: u64, value: i64, size_bytes: u32) {
        self.note_acked_write(ctx, key, value);
        if self.cfg.push_to.is_empty() {
            return;
        }
        self.push_seq += 1;
        let version = self.push_seq;
        for &t in &self.cfg.push_to {
            ctx.send(
                NodeId(t as u32),
                Msg::CachePush {
                    key,
                    value,
                    size_bytes: size_bytes.max(1),
                    version,
                },
            );
        }
        let n = self.cfg.push_to.len() as u64;
        if let Some(c) = ctx.world.rec.cache_counters(self.idx, ctx.now) {
            c.pushes_sent += n;
        }
    }

    /// An edge receives a pushed value.
    fn on_push(
        &mut self,
        ctx: &mut Ctx<'_>,
        from: NodeId,
        key: u64,
        value: i64,
        size_bytes: u32,
        version: u64,
    ) {
        if let Some(c) = ctx.world.rec.cache_counters(self.idx, ctx.now) {
            c.pushes_received += 1;
        }
        // Pushes of one key can overtake each other on a jittery link; the
        // version (the pusher's ack order) keeps an older value from
        // replacing a newer one, as an ETag or sequence check does.
        let seen = self.push_seen.entry((from.0, key)).or_insert(0);
        if version <= *seen {
            if let Some(c) = ctx.world.rec.cache_counters(self.idx, ctx.now) {
                c.pushes_outdated += 1;
            }
            return;
        }
        *seen = version;
        self.poison_fetch(key);
        self.put(ctx, key, value, size_bytes, false);
    }

    fn new_id(&mut self) -> u64 {
        self.next_id = (self.next_id + 1) & ID_MASK;
        self.next_id
    }

    fn owner(&self, key: u64) -> Option<usize> {
        self.shards.as_ref().and_then(|s| s.place(key))
    }

    /// Whether the cache loads misses itself (everything but cache-aside).
    fn loads_through(&self) -> bool {
        self.cfg.pattern != CachePattern::CacheAside
    }

    /// `key` was written or invalidated: an origin read already out for it may
    /// return the old value, so it must not be stored, and later misses must not
    /// wait for it.
    fn poison_fetch(&mut self, key: u64) {
        if let Some(id) = self.inflight.remove(&key) {
            if let Some(g) = self.groups.get_mut(&id) {
                g.poisoned = true;
            }
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

    /// Send `req` (with a fresh id) to `to`, remembering it under `stage`; returns the id.
    fn send_tracked(
        &mut self,
        ctx: &mut Ctx<'_>,
        to: NodeId,
        stage: Stage,
        from: NodeId,
        req: Request,
        arrived: SimTime,
    ) -> u64 {
        let id = self.new_id();
        if to == self.origin {
            ctx.world.rec.cache_origin_request(self.idx, ctx.now);
        }
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
        id
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
        let _ = self.send_tracked(ctx, self.origin, Stage::Flush, me, req, now);
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
                ctx.world.rec.cache_stale_read(self.idx, ctx.now);
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
                let id =
                    self.send_tracked(ctx, NodeId(owner as u32), Stage::Forward, from, req, now);
                if let Some(t) = self.cfg.forward_timeout {
                    ctx.set_timer(t, (T_FORWARD_TIMEOUT << KIND_SHIFT) | id);
                }
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
                    ctx.world
                        .rec
                        .cache_read_latency(self.idx, now, true, now - p.arrived);
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
                    if !self.loads_through() {
                        self.send_tracked(ctx, self.origin, Stage::Fetch, p.from, p.req, p.arrived);
                    } else if let Some(g) = self
                        .inflight
                        .get(&key)
                        .and_then(|id| self.groups.get_mut(id))
                    {
                        g.waiters.push(p);
                        if let Some(c) = ctx.world.rec.cache_counters(self.idx, now) {
                            c.coalesced += 1;
                        }
                    } else {
                        let id = self.send_tracked(
                            ctx,
                            self.origin,
                            Stage::Fetch,
                            p.from,
                            p.req,
                            p.arrived,
                        );
                        self.inflight.insert(key, id);
                        self.groups.insert(
                            id,
                            FetchGroup {
                                key,
                                poisoned: false,
                                waiters: Vec::new(),
                            },
                        );
                    }
                }
            },
            OpSpec::Write if self.cfg.pattern == CachePattern::WriteBack => {
                self.poison_fetch(key);
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
                        self.acked_write(ctx, key, p.req.value, p.req.size_bytes);
                        self.reply(ctx, &p, Status::Ok, None);
                    }
                }
            }
            OpSpec::Write => {
                self.send_tracked(
                    ctx,
                    self.origin,
                    Stage::WriteOrigin,
                    p.from,
                    p.req,
                    p.arrived,
                );
            }
            OpSpec::Cas => {
                // Compare-and-set is the origin's business: invalidate and pass through.
                self.poison_fetch(key);
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
        let group = self.groups.remove(&r.id);
        if let Some(g) = &group {
            if self.inflight.get(&g.key) == Some(&r.id) {
                self.inflight.remove(&g.key);
            }
        }
        let key = p.req.key;
        let ok = r.status == Status::Ok;
        match p.stage {
            Stage::Lookup => {}
            Stage::Fetch => {
                let (poisoned, waiters) =
                    group.map_or((false, Vec::new()), |g| (g.poisoned, g.waiters));
                if !ok {
                    self.reply(ctx, &p, r.status, None);
                    for w in &waiters {
                        self.reply(ctx, w, r.status, None);
                    }
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
                        if !poisoned {
                            self.put(
                                ctx,
                                key,
                                r.value.unwrap_or(NIL),
                                p.req.response_bytes,
                                false,
                            );
                        }
                        r.value
                    }
                };
                for w in std::iter::once(&p).chain(&waiters) {
                    self.check_stale(ctx, key, value);
                    ctx.world
                        .rec
                        .cache_read_latency(self.idx, ctx.now, false, ctx.now - w.arrived);
                    self.reply(ctx, w, Status::Ok, value);
                }
            }
            Stage::WriteOrigin => {
                self.poison_fetch(key);
                if ok {
                    match self.cfg.pattern {
                        CachePattern::WriteThrough | CachePattern::WriteBack => {
                            self.put(ctx, key, p.req.value, p.req.size_bytes, false);
                        }
                        CachePattern::WriteAround => {
                            let now = ctx.now.as_ns();
                            if self.store.peek(key).is_some_and(|e| !e.is_expired(now)) {
                                self.put(ctx, key, p.req.value, p.req.size_bytes, false);
                            }
                        }
                        _ => {
                            self.store.remove(key);
                        }
                    }
                    self.acked_write(ctx, key, p.req.value, p.req.size_bytes);
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
            Stage::Relay | Stage::Forward => {
                if p.req.op != OpSpec::Read && ok {
                    if p.stage == Stage::Relay {
                        self.acked_write(ctx, key, p.req.value, p.req.size_bytes);
                    } else {
                        // The owner shard applied it and pushed it already.
                        self.note_acked_write(ctx, key, p.req.value);
                    }
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
        self.check_tick(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Request(r) => self.on_request(ctx, from, r),
            Msg::Response(r) => self.on_response(ctx, r),
            // Answered at once, like a server (a crashed cache receives nothing).
            Msg::HealthCheck { id } => ctx.send(from, Msg::HealthReply { id }),
            Msg::HealthReply { id } => self.on_check_answer(ctx, Some(from), id, true),
            Msg::CachePush {
                key,
                value,
                size_bytes,
                version,
            } => self.on_push(ctx, from, key, value, size_bytes, version),
            Msg::Job { .. }
            | Msg::JobAck { .. }
            | Msg::Peer(_)
            | Msg::Heartbeat
            | Msg::DnsQuery { .. }
            | Msg::DnsAnswer { .. }
            | Msg::SessionPins(_)
            | Msg::SessionResync => {}
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
            T_CHECK_TICK => self.check_tick(ctx),
            T_CHECK_TIMEOUT => self.on_check_answer(ctx, None, tag & ID_MASK, false),
            T_FORWARD_TIMEOUT => self.on_forward_timeout(ctx, tag & ID_MASK),
            _ => {}
        }
    }

    fn on_crash(&mut self, ctx: &mut Ctx<'_>) {
        // A crash loses everything; dirty entries were acknowledged writes.
        let lost = self.store.clear() as u64;
        self.push_seen.clear();
        if let Some(c) = ctx.world.rec.cache_counters(self.idx, ctx.now) {
            c.lost_writes += lost;
        }
        let in_flight = self
            .pending
            .values()
            .filter(|p| !matches!(p.stage, Stage::Flush | Stage::Refresh))
            .count() as u64
            + self
                .groups
                .values()
                .map(|g| g.waiters.len() as u64)
                .sum::<u64>();
        ctx.world.rec.node_lost(self.metric, ctx.now, in_flight);
        self.pending.clear();
        self.inflight.clear();
        self.groups.clear();
        self.refreshing.clear();
        self.pending_check.iter_mut().for_each(|p| *p = None);
    }

    fn on_restart(&mut self, ctx: &mut Ctx<'_>) {
        // A restarted shard knows nothing: it starts believing every peer is up.
        if !self.shard_nodes.is_empty() {
            self.up.iter_mut().for_each(|u| *u = true);
            self.shards = build_shards(self.cfg.placement, &self.shard_nodes);
            if let Some(h) = &mut self.health {
                for slot in 0..self.shard_nodes.len() {
                    h.set_status(slot, HealthStatus::Healthy);
                }
            }
        }
        self.schedule_flush(ctx);
        self.check_tick(ctx);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulo_losing_any_shard_remaps_n_minus_one_over_n_of_keys() {
        // owner = live[h mod n]. For uniform h, (h mod n, h mod (n−1)) is uniform on
        // the n(n−1) pairs (CRT); a key stays only when old and new positions name
        // the same node: n − 1 pairs, so P(move) = 1 − 1/n for every leaving
        // position j. K = 50 000 keys: sd = sqrt(p(1−p)/K) ≤ 0.0022; tolerance 5 sd.
        let k = 50_000u64;
        for n in 3..=8usize {
            let nodes: Vec<usize> = (10..10 + n).collect();
            let before = build_shards(CachePlacement::Modulo, &nodes).expect("modulo");
            for j in 0..n {
                let mut live = nodes.clone();
                live.remove(j);
                let after = build_shards(CachePlacement::Modulo, &live).expect("modulo");
                let f = moved_fraction(&before, &after, remap_sample_keys(k));
                let p = 1.0 - 1.0 / n as f64;
                let tol = 5.0 * (p * (1.0 - p) / k as f64).sqrt();
                assert!(
                    (f - p).abs() < tol,
                    "n = {n}, j = {j}: moved {f}, expected {p}"
                );
            }
        }
    }

    #[test]
    fn ring_leave_moves_only_the_leaving_shards_keys() {
        let nodes = [3usize, 5, 8, 9];
        let p = CachePlacement::ConsistentHash { vnodes: 100 };
        let before = build_shards(p, &nodes).expect("ring");
        let after = build_shards(p, &[3, 5, 9]).expect("ring");
        let mut owned = 0u64;
        for key in remap_sample_keys(20_000) {
            let (a, b) = (before.place(key), after.place(key));
            if a == Some(8) {
                owned += 1;
                assert_ne!(b, Some(8));
            } else {
                assert_eq!(a, b, "key {key} moved off a surviving shard");
            }
        }
        let f = moved_fraction(&before, &after, remap_sample_keys(20_000));
        assert_eq!(f, owned as f64 / 20_000.0);
    }

    #[test]
    fn remap_sample_spans_large_key_spaces_evenly() {
        let small: Vec<u64> = remap_sample_keys(7).collect();
        assert_eq!(small, (0..7).collect::<Vec<_>>());
        let big = 10 * REMAP_SAMPLE_KEYS + 3;
        let keys: Vec<u64> = remap_sample_keys(big).collect();
        assert_eq!(keys.len() as u64, REMAP_SAMPLE_KEYS);
        assert!(keys.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 11));
        assert!(*keys.last().expect("keys") < big);
    }
}
