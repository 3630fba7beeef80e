//! The cache store: a key → [`Entry`] table with a replacement policy, optional
//! entry and byte capacities, optional time-to-live, and a queue of dirty entries
//! for write-back.
//!
//! This module owns the data structure only. It does no IO, reads no clock (time is
//! always passed in as `now_ns`), sends no messages and knows nothing about the
//! backing store: when it evicts or expires a dirty entry it hands the entry back to
//! the caller, which decides what to flush. All randomness (the `Random` policy)
//! comes from the caller's [`SimRng`], so the same operation sequence with the same
//! RNG state yields the same victims.
//!
//! # Structures and costs
//! * Key → slot lookup: [`FastMap`] (lookup only, never iterated).
//! * Entries live in a slab (`Vec` of nodes addressed by `u32`), with a free list.
//! * LRU / MRU / FIFO / LIFO: one intrusive doubly-linked list over the slab,
//!   front = most recently inserted (FIFO/LIFO) or used (LRU/MRU). O(1).
//! * LFU: O(1) frequency buckets (a linked list of buckets in ascending frequency,
//!   each an intrusive list of its nodes, front = most recent). The victim is the
//!   least recently used entry *among those with the least frequency*.
//! * Random: a dense `Vec` of slots with swap-remove; victim index drawn with
//!   `rng.random_range`. O(1).
//! * PerfectLfu: a `BTreeMap` ordered by (count, recency) plus a lookup-only
//!   key → count history that outlives eviction. O(log n).
//! * TTL: the TTL is one constant per store, so expiry order is write order
//!   (`FromInsert`) or last-access order (`SlidingOnHit`). Entries with an expiry sit
//!   on an intrusive list sorted by expiry: a (re)armed entry is appended at the back
//!   in O(1) — or, if the caller's time ever went backwards, walked back to its
//!   sorted place. No stale records, no heap. [`CacheStore::expire_until`] is
//!   O(expired).
//! * Dirty entries: an intrusive FIFO list in the order entries *became* dirty.
//!
//! # Semantics
//! * An entry is expired at `now_ns` when `now_ns >= expires_ns`.
//! * `get` of an expired entry removes it, counts it as a miss *and* as expired, and
//!   returns [`Lookup::Expired`] with the entry (a dirty one still needs flushing).
//! * `get` hit: counts as an access — LRU/MRU move the entry to the front, LFU and
//!   PerfectLfu increment its count; FIFO, LIFO and Random do nothing. (PerfectLfu
//!   also counts a `get` that misses.) With
//!   [`TtlMode::SlidingOnHit`] the expiry becomes `now + ttl`.
//! * `put` on a live existing key is an *update*: value, size and dirty flag are
//!   replaced, `inserted_ns` (the time the current value was written) and the expiry
//!   restart from `now` in both TTL modes, and it counts as an access for LRU/MRU
//!   (recency) and LFU/PerfectLfu (count + 1). FIFO and LIFO do **not** move an updated
//!   entry: its position stays that of its first insertion.
//! * `put` on an expired key first drops the expired entry (counted as expired, not
//!   reported: its value is superseded) and then inserts afresh.
//! * Dirty flag on `put`: the entry's flag becomes the argument. Dirty → dirty keeps
//!   the entry's place in the dirty queue (it has been dirty since the first write);
//!   clean → dirty appends it; dirty → clean removes it (the newer value is durable).
//! * Capacity: `capacity_entries` and `capacity_bytes` may both be set; a `put` evicts
//!   until the new state fits both. When it does not fit, expired entries are purged
//!   first (they are appended to `evicted` and counted as expired), then the policy
//!   picks victims. An update never evicts its own key. LIFO evicts the most recently
//!   inserted *other* entry; MRU the most recently used one.
//! * An item larger than `capacity_bytes` (or any item when `capacity_entries` is 0)
//!   is not cached: `put` returns [`PutOutcome::Rejected`]; if the key was cached, the
//!   old entry is removed (it would be stale) and returned in the outcome.
//! * `clear` models a crash: everything is dropped, statistics are kept, and the
//!   number of dirty entries lost is returned.

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::detrand::{FastMap, SimRng};

/// Null slab index.
const NIL: u32 = u32::MAX;
/// Most entries a store can hold (slab indices are `u32`, `u32::MAX` is the null index).
pub const MAX_ENTRIES: u64 = (u32::MAX - 1) as u64;

/// Which entry a full cache evicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum EvictionPolicy {
    /// Least recently used (hits and updates refresh recency).
    #[default]
    Lru,
    /// Least frequently used, in-cache counts (reset when an entry leaves); ties are
    /// broken by recency: the least recently used among the least frequent goes.
    Lfu,
    /// First in, first out: the oldest insertion goes; hits and updates do not move it.
    Fifo,
    /// Last in, first out: the most recent insertion goes; updates do not move it.
    Lifo,
    /// Most recently used (hits and updates refresh recency).
    Mru,
    /// A uniformly random entry, drawn from the caller's RNG.
    Random,
    /// "Perfect" LFU (Breslau et al. 1999): reference counts survive eviction, so a
    /// returning key competes with its whole history. Counts every `get` of a key
    /// (hit, miss or expired) and every update `put`; a key inserted without ever
    /// being read starts at 0. Ties: least recently used among the least frequent.
    /// O(log n) per operation, and memory for one counter per distinct key ever seen
    /// (until [`CacheStore::clear`]). Under IRM it converges to the `C` most popular
    /// items, which in-cache [`EvictionPolicy::Lfu`] does not (early admissions
    /// accumulate counts no newcomer can catch up with).
    PerfectLfu,
}

/// How an entry's time-to-live is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TtlMode {
    /// Expires `ttl` after the put that wrote the current value; hits do not extend it.
    #[default]
    FromInsert,
    /// Expires `ttl` after the last hit or put (each hit resets the clock).
    SlidingOnHit,
}

/// Configuration of a [`CacheStore`]. All capacities are optional (`None` = unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Replacement policy.
    pub policy: EvictionPolicy,
    /// Most entries held at once.
    pub capacity_entries: Option<u64>,
    /// Most bytes (sum of `size_bytes`) held at once.
    pub capacity_bytes: Option<u64>,
    /// Time-to-live of an entry; `None` = never expires.
    pub ttl_ns: Option<u64>,
    /// How the time-to-live is measured.
    pub ttl_mode: TtlMode,
}

/// A configuration the store would accept but that cannot be what the user meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheConfigError {
    /// `capacity_entries = 0`.
    #[error(
        "cache capacity_entries is 0, so it could never hold anything; omit it for an unbounded cache or remove the cache"
    )]
    ZeroEntries,
    /// `capacity_bytes = 0`.
    #[error(
        "cache capacity_bytes is 0, so only zero-sized items could be cached; omit it for an unbounded cache"
    )]
    ZeroBytes,
    /// `capacity_entries` beyond [`MAX_ENTRIES`].
    #[error("cache capacity_entries is {0}, more than the store's limit of {MAX_ENTRIES} entries")]
    TooManyEntries(u64),
    /// `ttl_ns = 0`.
    #[error(
        "cache ttl_ns is 0, so every entry would expire the instant it is written; omit ttl_ns for entries that never expire"
    )]
    ZeroTtl,
}

impl CacheConfig {
    /// Rejects degenerate settings. [`CacheStore::new`] accepts any configuration (a
    /// zero capacity simply rejects every put); call this when loading user input.
    pub fn validate(&self) -> Result<(), CacheConfigError> {
        match self.capacity_entries {
            Some(0) => return Err(CacheConfigError::ZeroEntries),
            Some(c) if c > MAX_ENTRIES => return Err(CacheConfigError::TooManyEntries(c)),
            _ => {}
        }
        if self.capacity_bytes == Some(0) {
            return Err(CacheConfigError::ZeroBytes);
        }
        if self.ttl_ns == Some(0) {
            return Err(CacheConfigError::ZeroTtl);
        }
        Ok(())
    }
}

/// One cached value and its bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The cached value (a version number or payload token; opaque to the store).
    pub value: i64,
    /// Size counted against `capacity_bytes`.
    pub size_bytes: u32,
    /// When the current value was written (insert or update).
    pub inserted_ns: u64,
    /// When the entry expires (`None` without TTL). Expired iff `now_ns >= expires_ns`.
    pub expires_ns: Option<u64>,
    /// Whether the value has not yet been written to the backing store.
    pub dirty: bool,
    /// Last hit or put.
    pub last_access_ns: u64,
}

impl Entry {
    /// Whether the entry has expired at `now_ns`.
    #[inline]
    pub fn is_expired(&self, now_ns: u64) -> bool {
        matches!(self.expires_ns, Some(e) if now_ns >= e)
    }
}

/// Result of [`CacheStore::get`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Live entry (a copy, after the access was recorded).
    Hit(Entry),
    /// Key not cached.
    Miss,
    /// The entry had expired; it has been removed (counted as a miss and as expired).
    /// Returned so that a dirty value can still be flushed.
    Expired(Entry),
}

/// Result of [`CacheStore::put`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// A new entry was inserted.
    Inserted,
    /// An existing live entry was overwritten.
    Updated,
    /// The item cannot be cached (larger than `capacity_bytes`, a zero entry capacity,
    /// or the store is at [`MAX_ENTRIES`]). A previous entry under the key, if any, was
    /// removed (it would be stale) and is returned here.
    Rejected {
        /// The entry that was cached under the key before this put, if any.
        replaced: Option<Entry>,
    },
}

/// Cumulative counters (kept across [`CacheStore::clear`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CacheStats {
    /// `get` calls that found a live entry.
    pub hits: u64,
    /// `get` calls that found nothing or an expired entry.
    pub misses: u64,
    /// Entries removed because their TTL had passed (on access, by purge or by
    /// [`CacheStore::expire_until`]).
    pub expired: u64,
    /// Entries removed by the replacement policy to make room.
    pub evictions: u64,
    /// Of `evictions`, those that were dirty.
    pub dirty_evictions: u64,
    /// `put` calls that inserted a new entry.
    pub inserts: u64,
    /// `put` calls that overwrote a live entry.
    pub updates: u64,
    /// `put` calls that could not be cached.
    pub rejected: u64,
    /// Entries removed by [`CacheStore::remove`].
    pub invalidations: u64,
    /// Dirty entries dropped by [`CacheStore::clear`].
    pub dirty_lost: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or 0 before any lookup.
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// What every lookup and every recency update touches, in one 64-byte cache
/// line (a million-entry store is memory-bound: each extra line a lookup
/// touches is a DRAM miss). The rest of a slot lives in [`Cold`].
#[derive(Debug, Clone)]
#[repr(align(64))]
struct Node {
    key: u64,
    entry: Entry,
    /// Order list (or LFU bucket list) links; `next` doubles as the free-list link.
    prev: u32,
    next: u32,
}

/// The parts of a slot only TTL, write-back, LFU, random and perfect-LFU
/// bookkeeping need, beside [`Node`] at the same index. Each field is written
/// when its structure links the slot, so a reused slot's stale values are never
/// read.
#[derive(Debug, Clone, Default)]
struct Cold {
    /// Dirty-queue links.
    dprev: u32,
    dnext: u32,
    /// Expiry-list links (only entries with an expiry are linked).
    tprev: u32,
    tnext: u32,
    /// LFU: bucket index; Random: index in `dense`.
    aux: u32,
    /// When the entry last went from clean to dirty.
    dirty_since_ns: u64,
    /// PerfectLfu: this node's key in `porder` (count, recency sequence).
    pfreq: u64,
    seq: u64,
}

#[derive(Debug, Clone)]
struct Bucket {
    freq: u64,
    head: u32,
    tail: u32,
    prev: u32,
    next: u32,
}

/// The cache data structure. See the module documentation for the exact semantics.
#[derive(Debug, Clone)]
pub struct CacheStore {
    cfg: CacheConfig,
    nodes: Vec<Node>,
    cold: Vec<Cold>,
    free_head: u32,
    map: FastMap<u64, u32>,
    len: usize,
    bytes: u64,
    /// Order list for LRU/MRU/FIFO/LIFO: head = newest / most recent.
    head: u32,
    tail: u32,
    /// LFU buckets, ascending frequency from `bucket_head`.
    buckets: Vec<Bucket>,
    bucket_free: u32,
    bucket_head: u32,
    /// Random: live slots, dense.
    dense: Vec<u32>,
    /// Dirty queue: head = oldest dirty.
    dirty_head: u32,
    dirty_tail: u32,
    dirty_count: usize,
    /// Expiry list: head = earliest expiry.
    ttl_head: u32,
    ttl_tail: u32,
    /// PerfectLfu: cached slots by (count, recency), and the count of every key seen.
    porder: BTreeMap<(u64, u64), u32>,
    history: FastMap<u64, u64>,
    seq: u64,
    stats: CacheStats,
}

#[inline]
fn ix(i: u32) -> usize {
    i as usize
}

fn list_push_front(nodes: &mut [Node], head: &mut u32, tail: &mut u32, i: u32) {
    nodes[ix(i)].prev = NIL;
    nodes[ix(i)].next = *head;
    if *head != NIL {
        nodes[ix(*head)].prev = i;
    } else {
        *tail = i;
    }
    *head = i;
}

fn list_unlink(nodes: &mut [Node], head: &mut u32, tail: &mut u32, i: u32) {
    let (p, n) = (nodes[ix(i)].prev, nodes[ix(i)].next);
    if p != NIL {
        nodes[ix(p)].next = n;
    } else {
        *head = n;
    }
    if n != NIL {
        nodes[ix(n)].prev = p;
    } else {
        *tail = p;
    }
    nodes[ix(i)].prev = NIL;
    nodes[ix(i)].next = NIL;
}

impl CacheStore {
    /// An empty store. Any configuration is accepted (see [`CacheConfig::validate`]).
    pub fn new(cfg: CacheConfig) -> Self {
        CacheStore {
            cfg,
            nodes: Vec::new(),
            cold: Vec::new(),
            free_head: NIL,
            map: FastMap::default(),
            len: 0,
            bytes: 0,
            head: NIL,
            tail: NIL,
            buckets: Vec::new(),
            bucket_free: NIL,
            bucket_head: NIL,
            dense: Vec::new(),
            dirty_head: NIL,
            dirty_tail: NIL,
            dirty_count: 0,
            ttl_head: NIL,
            ttl_tail: NIL,
            porder: BTreeMap::new(),
            history: FastMap::default(),
            seq: 0,
            stats: CacheStats::default(),
        }
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &CacheConfig {
        &self.cfg
    }

    /// Number of entries held (including expired ones not yet removed).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sum of `size_bytes` over held entries.
    pub fn bytes_used(&self) -> u64 {
        self.bytes
    }

    /// Number of dirty entries held.
    pub fn dirty_count(&self) -> usize {
        self.dirty_count
    }

    /// Cumulative statistics.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// The entry under `key`, without any policy, TTL or statistics side effect.
    /// Does not check expiry (see [`Entry::is_expired`]).
    pub fn peek(&self, key: u64) -> Option<&Entry> {
        self.map.get(&key).map(|&i| &self.nodes[ix(i)].entry)
    }

    /// Looks `key` up at `now_ns`, recording the access (see module docs).
    pub fn get(&mut self, key: u64, now_ns: u64) -> Lookup {
        let Some(&i) = self.map.get(&key) else {
            self.stats.misses += 1;
            self.count_reference(key);
            return Lookup::Miss;
        };
        if self.nodes[ix(i)].entry.is_expired(now_ns) {
            let e = self.remove_slot(i);
            self.stats.misses += 1;
            self.stats.expired += 1;
            self.count_reference(key);
            return Lookup::Expired(e);
        }
        self.stats.hits += 1;
        self.nodes[ix(i)].entry.last_access_ns = now_ns;
        if self.cfg.ttl_mode == TtlMode::SlidingOnHit
            && let Some(t) = self.cfg.ttl_ns
        {
            self.set_expiry(i, now_ns.saturating_add(t));
        }
        self.policy_touch(i);
        Lookup::Hit(self.nodes[ix(i)].entry)
    }

    /// Inserts or updates `key` at `now_ns`, evicting as needed. Victims (evicted, or
    /// expired entries purged to make room) are appended to `evicted` in the order
    /// they were removed; the caller flushes the dirty ones. `rng` is used only by
    /// [`EvictionPolicy::Random`].
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &mut self,
        key: u64,
        value: i64,
        size_bytes: u32,
        dirty: bool,
        now_ns: u64,
        rng: &mut SimRng,
        evicted: &mut Vec<(u64, Entry)>,
    ) -> PutOutcome {
        let size = u64::from(size_bytes);
        let mut existing = self.map.get(&key).copied();
        if let Some(i) = existing
            && self.nodes[ix(i)].entry.is_expired(now_ns)
        {
            self.remove_slot(i);
            self.stats.expired += 1;
            existing = None;
        }
        let fits_alone = self.cfg.capacity_entries.is_none_or(|c| c >= 1)
            && self.cfg.capacity_bytes.is_none_or(|c| size <= c)
            && (existing.is_some() || (self.len as u64) < MAX_ENTRIES);
        if !fits_alone {
            let replaced = existing.map(|i| self.remove_slot(i));
            self.stats.rejected += 1;
            return PutOutcome::Rejected { replaced };
        }
        let expires_ns = self.cfg.ttl_ns.map(|t| now_ns.saturating_add(t));
        match existing {
            Some(i) => {
                let old = u64::from(self.nodes[ix(i)].entry.size_bytes);
                let over = |s: &Self| {
                    s.cfg
                        .capacity_bytes
                        .is_some_and(|c| s.bytes - old + size > c)
                };
                if over(self) {
                    self.purge_expired(now_ns, evicted);
                }
                self.bytes = self.bytes - old + size;
                {
                    let e = &mut self.nodes[ix(i)].entry;
                    e.value = value;
                    e.size_bytes = size_bytes;
                    e.inserted_ns = now_ns;
                    e.last_access_ns = now_ns;
                }
                if let Some(x) = expires_ns {
                    self.set_expiry(i, x);
                }
                self.set_dirty_flag(i, dirty, now_ns);
                self.policy_touch(i);
                while self.cfg.capacity_bytes.is_some_and(|c| self.bytes > c) {
                    match self.victim(i, rng) {
                        Some(v) => self.evict(v, evicted),
                        None => break,
                    }
                }
                self.stats.updates += 1;
                PutOutcome::Updated
            }
            None => {
                if !self.fits_new(size) {
                    self.purge_expired(now_ns, evicted);
                    while !self.fits_new(size) {
                        match self.victim(NIL, rng) {
                            Some(v) => self.evict(v, evicted),
                            None => break,
                        }
                    }
                }
                let entry = Entry {
                    value,
                    size_bytes,
                    inserted_ns: now_ns,
                    expires_ns,
                    dirty: false,
                    last_access_ns: now_ns,
                };
                let i = self.alloc(key, entry);
                self.map.insert(key, i);
                self.len += 1;
                self.bytes += size;
                self.policy_insert(i);
                self.set_dirty_flag(i, dirty, now_ns);
                if expires_ns.is_some() {
                    self.ttl_link(i);
                }
                self.stats.inserts += 1;
                PutOutcome::Inserted
            }
        }
    }

    /// Removes `key` (invalidation), returning its entry. No effect if absent.
    pub fn remove(&mut self, key: u64) -> Option<Entry> {
        let i = *self.map.get(&key)?;
        self.stats.invalidations += 1;
        Some(self.remove_slot(i))
    }

    /// Marks `key` clean (its value has reached the backing store). Returns whether
    /// the key was cached.
    pub fn mark_clean(&mut self, key: u64) -> bool {
        match self.map.get(&key) {
            Some(&i) => {
                self.set_dirty_flag(i, false, 0);
                true
            }
            None => false,
        }
    }

    /// Marks `key` dirty at `now_ns` (e.g. to re-queue a failed flush); an entry that
    /// is already dirty keeps its place. Returns whether the key was cached.
    pub fn mark_dirty(&mut self, key: u64, now_ns: u64) -> bool {
        match self.map.get(&key) {
            Some(&i) => {
                self.set_dirty_flag(i, true, now_ns);
                true
            }
            None => false,
        }
    }

    /// The oldest dirty entry: `(key, time it became dirty)`.
    pub fn oldest_dirty(&self) -> Option<(u64, u64)> {
        (self.dirty_head != NIL).then(|| {
            let i = ix(self.dirty_head);
            (self.nodes[i].key, self.cold[i].dirty_since_ns)
        })
    }

    /// Takes up to `max` dirty entries, oldest-dirty first, marking them clean in the
    /// store and appending copies (still showing `dirty: true`) to `out`. O(taken).
    /// Returns how many were taken.
    pub fn take_dirty(&mut self, max: usize, out: &mut Vec<(u64, Entry)>) -> usize {
        let mut taken = 0;
        while taken < max && self.dirty_head != NIL {
            let i = self.dirty_head;
            out.push((self.nodes[ix(i)].key, self.nodes[ix(i)].entry));
            self.set_dirty_flag(i, false, 0);
            taken += 1;
        }
        taken
    }

    /// Crash: drops every entry (a cold restart). Statistics are kept. Returns the
    /// number of dirty entries lost.
    pub fn clear(&mut self) -> usize {
        let lost = self.dirty_count;
        self.nodes.clear();
        self.cold.clear();
        self.free_head = NIL;
        self.map.clear();
        self.len = 0;
        self.bytes = 0;
        self.head = NIL;
        self.tail = NIL;
        self.buckets.clear();
        self.bucket_free = NIL;
        self.bucket_head = NIL;
        self.dense.clear();
        self.dirty_head = NIL;
        self.dirty_tail = NIL;
        self.dirty_count = 0;
        self.ttl_head = NIL;
        self.ttl_tail = NIL;
        self.porder.clear();
        self.history.clear();
        self.stats.dirty_lost += lost as u64;
        lost
    }

    /// Removes every entry expired at `now_ns`, appending them to `out` in order of
    /// expiry (ties: the order in which their expiries were set). O(expired).
    pub fn expire_until(&mut self, now_ns: u64, out: &mut Vec<(u64, Entry)>) {
        while self.ttl_head != NIL {
            let i = self.ttl_head;
            if !self.nodes[ix(i)].entry.is_expired(now_ns) {
                break;
            }
            let key = self.nodes[ix(i)].key;
            let ent = self.remove_slot(i);
            self.stats.expired += 1;
            out.push((key, ent));
        }
    }

    // ----- internals -------------------------------------------------------

    fn fits_new(&self, size: u64) -> bool {
        self.cfg
            .capacity_entries
            .is_none_or(|c| (self.len as u64) < c)
            && self
                .cfg
                .capacity_bytes
                .is_none_or(|c| self.bytes + size <= c)
    }

    fn purge_expired(&mut self, now_ns: u64, out: &mut Vec<(u64, Entry)>) {
        if self.cfg.ttl_ns.is_some() {
            self.expire_until(now_ns, out);
        }
    }

    fn evict(&mut self, v: u32, evicted: &mut Vec<(u64, Entry)>) {
        let key = self.nodes[ix(v)].key;
        let e = self.remove_slot(v);
        self.stats.evictions += 1;
        if e.dirty {
            self.stats.dirty_evictions += 1;
        }
        evicted.push((key, e));
    }

    /// Re-arms a linked entry's expiry and moves it to its sorted place.
    fn set_expiry(&mut self, i: u32, x: u64) {
        if self.nodes[ix(i)].entry.expires_ns.is_some() {
            self.ttl_unlink(i);
        }
        self.nodes[ix(i)].entry.expires_ns = Some(x);
        self.ttl_link(i);
    }

    /// Links an unlinked entry (with `expires_ns = Some`) into the expiry list after
    /// the last entry expiring no later than it: O(1) at the back when time never
    /// goes backwards.
    fn ttl_link(&mut self, i: u32) {
        let x = self.nodes[ix(i)].entry.expires_ns;
        let mut after = self.ttl_tail;
        while after != NIL && self.nodes[ix(after)].entry.expires_ns > x {
            after = self.cold[ix(after)].tprev;
        }
        let before = if after == NIL {
            self.ttl_head
        } else {
            self.cold[ix(after)].tnext
        };
        self.cold[ix(i)].tprev = after;
        self.cold[ix(i)].tnext = before;
        if after == NIL {
            self.ttl_head = i;
        } else {
            self.cold[ix(after)].tnext = i;
        }
        if before == NIL {
            self.ttl_tail = i;
        } else {
            self.cold[ix(before)].tprev = i;
        }
    }

    fn ttl_unlink(&mut self, i: u32) {
        let (p, n) = (self.cold[ix(i)].tprev, self.cold[ix(i)].tnext);
        if p != NIL {
            self.cold[ix(p)].tnext = n;
        } else {
            self.ttl_head = n;
        }
        if n != NIL {
            self.cold[ix(n)].tprev = p;
        } else {
            self.ttl_tail = p;
        }
        self.cold[ix(i)].tprev = NIL;
        self.cold[ix(i)].tnext = NIL;
    }

    fn set_dirty_flag(&mut self, i: u32, dirty: bool, now_ns: u64) {
        let was = self.nodes[ix(i)].entry.dirty;
        if dirty == was {
            return;
        }
        self.nodes[ix(i)].entry.dirty = dirty;
        if dirty {
            self.cold[ix(i)].dirty_since_ns = now_ns;
            self.cold[ix(i)].dnext = NIL;
            self.cold[ix(i)].dprev = self.dirty_tail;
            if self.dirty_tail != NIL {
                self.cold[ix(self.dirty_tail)].dnext = i;
            } else {
                self.dirty_head = i;
            }
            self.dirty_tail = i;
            self.dirty_count += 1;
        } else {
            let (p, n) = (self.cold[ix(i)].dprev, self.cold[ix(i)].dnext);
            if p != NIL {
                self.cold[ix(p)].dnext = n;
            } else {
                self.dirty_head = n;
            }
            if n != NIL {
                self.cold[ix(n)].dprev = p;
            } else {
                self.dirty_tail = p;
            }
            self.cold[ix(i)].dprev = NIL;
            self.cold[ix(i)].dnext = NIL;
            self.dirty_count -= 1;
        }
    }

    fn alloc(&mut self, key: u64, entry: Entry) -> u32 {
        let node = Node {
            key,
            entry,
            prev: NIL,
            next: NIL,
        };
        if self.free_head != NIL {
            let i = self.free_head;
            self.free_head = self.nodes[ix(i)].next;
            self.nodes[ix(i)] = node;
            i
        } else {
            // `len < MAX_ENTRIES` was checked by `put`, so this index fits below NIL.
            let i = self.nodes.len() as u32;
            self.nodes.push(node);
            self.cold.push(Cold::default());
            i
        }
    }

    /// Unlinks slot `i` from every structure and frees it. Does not touch statistics.
    fn remove_slot(&mut self, i: u32) -> Entry {
        // Copy first: the returned entry keeps its dirty flag.
        let (key, entry) = (self.nodes[ix(i)].key, self.nodes[ix(i)].entry);
        self.set_dirty_flag(i, false, 0);
        self.policy_remove(i);
        if entry.expires_ns.is_some() {
            self.ttl_unlink(i);
        }
        let n = &mut self.nodes[ix(i)];
        n.next = self.free_head;
        self.free_head = i;
        self.map.remove(&key);
        self.len -= 1;
        self.bytes -= u64::from(entry.size_bytes);
        entry
    }

    fn policy_insert(&mut self, i: u32) {
        match self.cfg.policy {
            EvictionPolicy::Lru
            | EvictionPolicy::Mru
            | EvictionPolicy::Fifo
            | EvictionPolicy::Lifo => {
                list_push_front(&mut self.nodes, &mut self.head, &mut self.tail, i);
            }
            EvictionPolicy::Lfu => self.lfu_insert(i),
            EvictionPolicy::Random => {
                self.cold[ix(i)].aux = self.dense.len() as u32;
                self.dense.push(i);
            }
            EvictionPolicy::PerfectLfu => {
                let h = self
                    .history
                    .get(&self.nodes[ix(i)].key)
                    .copied()
                    .unwrap_or(0);
                self.plfu_place(i, h);
            }
        }
    }

    /// PerfectLfu: files slot `i` under count `h` as the most recent of its class.
    fn plfu_place(&mut self, i: u32, h: u64) {
        self.seq += 1;
        let n = &mut self.cold[ix(i)];
        n.pfreq = h;
        n.seq = self.seq;
        self.porder.insert((h, self.seq), i);
    }

    /// PerfectLfu: counts a reference to a key that is not cached.
    fn count_reference(&mut self, key: u64) {
        if self.cfg.policy == EvictionPolicy::PerfectLfu {
            let h = self.history.entry(key).or_insert(0);
            *h = h.saturating_add(1);
        }
    }

    fn policy_touch(&mut self, i: u32) {
        match self.cfg.policy {
            EvictionPolicy::Lru | EvictionPolicy::Mru => {
                if self.head != i {
                    list_unlink(&mut self.nodes, &mut self.head, &mut self.tail, i);
                    list_push_front(&mut self.nodes, &mut self.head, &mut self.tail, i);
                }
            }
            EvictionPolicy::Lfu => self.lfu_increment(i),
            EvictionPolicy::PerfectLfu => {
                let n = &self.cold[ix(i)];
                self.porder.remove(&(n.pfreq, n.seq));
                let h = self.history.entry(self.nodes[ix(i)].key).or_insert(0);
                *h = h.saturating_add(1);
                let h = *h;
                self.plfu_place(i, h);
            }
            EvictionPolicy::Fifo | EvictionPolicy::Lifo | EvictionPolicy::Random => {}
        }
    }

    fn policy_remove(&mut self, i: u32) {
        match self.cfg.policy {
            EvictionPolicy::Lru
            | EvictionPolicy::Mru
            | EvictionPolicy::Fifo
            | EvictionPolicy::Lifo => {
                list_unlink(&mut self.nodes, &mut self.head, &mut self.tail, i);
            }
            EvictionPolicy::Lfu => {
                let b = self.cold[ix(i)].aux;
                self.bucket_unlink(b, i);
            }
            EvictionPolicy::Random => {
                let pos = self.cold[ix(i)].aux as usize;
                self.dense.swap_remove(pos);
                if let Some(&moved) = self.dense.get(pos) {
                    self.cold[ix(moved)].aux = pos as u32;
                }
            }
            EvictionPolicy::PerfectLfu => {
                let n = &self.cold[ix(i)];
                self.porder.remove(&(n.pfreq, n.seq));
            }
        }
    }

    /// The next victim, never `protected` (use `NIL` for none).
    fn victim(&self, protected: u32, rng: &mut SimRng) -> Option<u32> {
        let pick = |first: u32, step: fn(&Node) -> u32| -> Option<u32> {
            if first == NIL {
                None
            } else if first != protected {
                Some(first)
            } else {
                let s = step(&self.nodes[ix(first)]);
                (s != NIL).then_some(s)
            }
        };
        match self.cfg.policy {
            // Oldest end of the list (tail), stepping towards the front.
            EvictionPolicy::Lru | EvictionPolicy::Fifo => pick(self.tail, |n| n.prev),
            // Newest end of the list (head), stepping towards the back.
            EvictionPolicy::Mru | EvictionPolicy::Lifo => pick(self.head, |n| n.next),
            EvictionPolicy::Lfu => {
                let b = self.bucket_head;
                if b == NIL {
                    return None;
                }
                pick(self.buckets[ix(b)].tail, |n| n.prev).or_else(|| {
                    // `protected` was alone in the least-frequent bucket.
                    let nb = self.buckets[ix(b)].next;
                    (nb != NIL).then(|| self.buckets[ix(nb)].tail)
                })
            }
            EvictionPolicy::Random => {
                let n = self.dense.len();
                if protected == NIL {
                    (n > 0).then(|| self.dense[rng.random_range(0..n)])
                } else if n <= 1 {
                    None
                } else {
                    let mut r = rng.random_range(0..n - 1);
                    if r >= self.cold[ix(protected)].aux as usize {
                        r += 1;
                    }
                    Some(self.dense[r])
                }
            }
            EvictionPolicy::PerfectLfu => {
                let mut it = self.porder.values().copied();
                it.find(|&v| v != protected)
            }
        }
    }

    // ----- LFU buckets -----

    fn new_bucket_after(&mut self, freq: u64, after: u32) -> u32 {
        let next = if after == NIL {
            self.bucket_head
        } else {
            self.buckets[ix(after)].next
        };
        let b = Bucket {
            freq,
            head: NIL,
            tail: NIL,
            prev: after,
            next,
        };
        let bi = if self.bucket_free != NIL {
            let bi = self.bucket_free;
            self.bucket_free = self.buckets[ix(bi)].next;
            self.buckets[ix(bi)] = b;
            bi
        } else {
            self.buckets.push(b);
            (self.buckets.len() - 1) as u32
        };
        if after == NIL {
            self.bucket_head = bi;
        } else {
            self.buckets[ix(after)].next = bi;
        }
        if next != NIL {
            self.buckets[ix(next)].prev = bi;
        }
        bi
    }

    fn bucket_push_front(&mut self, b: u32, i: u32) {
        let bk = &mut self.buckets[ix(b)];
        list_push_front(&mut self.nodes, &mut bk.head, &mut bk.tail, i);
        self.cold[ix(i)].aux = b;
    }

    /// Unlinks node `i` from bucket `b`, freeing the bucket if it becomes empty.
    fn bucket_unlink(&mut self, b: u32, i: u32) {
        let bk = &mut self.buckets[ix(b)];
        list_unlink(&mut self.nodes, &mut bk.head, &mut bk.tail, i);
        if bk.head == NIL {
            let (p, n) = (bk.prev, bk.next);
            if p != NIL {
                self.buckets[ix(p)].next = n;
            } else {
                self.bucket_head = n;
            }
            if n != NIL {
                self.buckets[ix(n)].prev = p;
            }
            self.buckets[ix(b)].next = self.bucket_free;
            self.bucket_free = b;
        }
    }

    fn lfu_insert(&mut self, i: u32) {
        let b = if self.bucket_head != NIL && self.buckets[ix(self.bucket_head)].freq == 1 {
            self.bucket_head
        } else {
            self.new_bucket_after(1, NIL)
        };
        self.bucket_push_front(b, i);
    }

    fn lfu_increment(&mut self, i: u32) {
        let b = self.cold[ix(i)].aux;
        let f = self.buckets[ix(b)].freq;
        let Some(nf) = f.checked_add(1) else {
            // Saturated counter: refresh recency within the bucket only.
            let bk = &mut self.buckets[ix(b)];
            list_unlink(&mut self.nodes, &mut bk.head, &mut bk.tail, i);
            list_push_front(&mut self.nodes, &mut bk.head, &mut bk.tail, i);
            return;
        };
        let nb = self.buckets[ix(b)].next;
        let target = if nb != NIL && self.buckets[ix(nb)].freq == nf {
            nb
        } else {
            self.new_bucket_after(nf, b)
        };
        self.bucket_unlink(b, i);
        self.bucket_push_front(target, i);
    }

    /// Reference count of `key` for the LFU policies: the in-cache count under
    /// [`EvictionPolicy::Lfu`] (`None` if not cached), the lifetime count under
    /// [`EvictionPolicy::PerfectLfu`] (`None` if never referenced); `None` otherwise.
    pub fn lfu_frequency(&self, key: u64) -> Option<u64> {
        match self.cfg.policy {
            EvictionPolicy::Lfu => {
                let &i = self.map.get(&key)?;
                Some(self.buckets[ix(self.cold[ix(i)].aux)].freq)
            }
            EvictionPolicy::PerfectLfu => self.history.get(&key).copied(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detrand::stream;

    fn cfg(policy: EvictionPolicy, entries: Option<u64>, bytes: Option<u64>) -> CacheConfig {
        CacheConfig {
            policy,
            capacity_entries: entries,
            capacity_bytes: bytes,
            ..CacheConfig::default()
        }
    }

    /// Test harness: a store plus its RNG and a victims buffer.
    struct H {
        s: CacheStore,
        rng: SimRng,
        ev: Vec<(u64, Entry)>,
    }

    impl H {
        fn new(c: CacheConfig) -> Self {
            H {
                s: CacheStore::new(c),
                rng: stream(1, "cache-test"),
                ev: Vec::new(),
            }
        }
        /// Puts `key` (size 1 unless given) and returns the evicted keys.
        fn put_sized(&mut self, key: u64, size: u32, dirty: bool, now: u64) -> Vec<u64> {
            self.ev.clear();
            self.s.put(
                key,
                key as i64,
                size,
                dirty,
                now,
                &mut self.rng,
                &mut self.ev,
            );
            self.s.check_invariants();
            self.ev.iter().map(|&(k, _)| k).collect()
        }
        fn put(&mut self, key: u64) -> Vec<u64> {
            self.put_sized(key, 1, false, 0)
        }
        fn hit(&mut self, key: u64) -> bool {
            let r = matches!(self.s.get(key, 0), Lookup::Hit(_));
            self.s.check_invariants();
            r
        }
    }

    impl CacheStore {
        /// Walks every structure and checks it agrees with the counters.
        fn check_invariants(&self) {
            assert_eq!(self.cold.len(), self.nodes.len());
            let is_live = |i: u32| self.map.get(&self.nodes[ix(i)].key) == Some(&i);
            let live: Vec<u32> = (0..self.nodes.len() as u32)
                .filter(|&i| is_live(i))
                .collect();
            assert_eq!(live.len(), self.len);
            assert_eq!(self.map.len(), self.len);
            let bytes: u64 = live
                .iter()
                .map(|&i| u64::from(self.nodes[ix(i)].entry.size_bytes))
                .sum();
            assert_eq!(bytes, self.bytes);
            for &i in &live {
                assert_eq!(self.map.get(&self.nodes[ix(i)].key), Some(&i));
            }
            // Dirty queue.
            let (mut n, mut c, mut prev) = (self.dirty_head, 0, NIL);
            while n != NIL {
                assert!(self.nodes[ix(n)].entry.dirty && is_live(n));
                assert_eq!(self.cold[ix(n)].dprev, prev);
                prev = n;
                n = self.cold[ix(n)].dnext;
                c += 1;
            }
            assert_eq!(prev, self.dirty_tail);
            assert_eq!(c, self.dirty_count);
            let dirty_live = live.iter().filter(|&&i| self.nodes[ix(i)].entry.dirty);
            assert_eq!(dirty_live.count(), c);
            // Policy structure covers exactly the live nodes.
            let count_list = |mut n: u32, tail: u32| {
                let (mut c, mut prev) = (0, NIL);
                while n != NIL {
                    assert!(is_live(n));
                    assert_eq!(self.nodes[ix(n)].prev, prev);
                    prev = n;
                    n = self.nodes[ix(n)].next;
                    c += 1;
                }
                assert_eq!(prev, tail);
                c
            };
            match self.cfg.policy {
                EvictionPolicy::Lfu => {
                    let (mut b, mut total, mut last_f, mut prev) = (self.bucket_head, 0, 0, NIL);
                    while b != NIL {
                        let bk = &self.buckets[ix(b)];
                        assert!(bk.freq > last_f && bk.prev == prev);
                        let c = count_list(bk.head, bk.tail);
                        assert!(c > 0, "empty bucket kept");
                        let mut n = bk.head;
                        while n != NIL {
                            assert_eq!(self.cold[ix(n)].aux, b);
                            n = self.nodes[ix(n)].next;
                        }
                        total += c;
                        last_f = bk.freq;
                        prev = b;
                        b = bk.next;
                    }
                    assert_eq!(total, self.len);
                }
                EvictionPolicy::Random => {
                    assert_eq!(self.dense.len(), self.len);
                    for (pos, &i) in self.dense.iter().enumerate() {
                        assert!(is_live(i));
                        assert_eq!(self.cold[ix(i)].aux as usize, pos);
                    }
                }
                EvictionPolicy::PerfectLfu => {
                    assert_eq!(self.porder.len(), self.len);
                    for &i in &live {
                        let n = &self.cold[ix(i)];
                        assert_eq!(self.porder.get(&(n.pfreq, n.seq)), Some(&i));
                        let key = self.nodes[ix(i)].key;
                        assert_eq!(n.pfreq, self.history.get(&key).copied().unwrap_or(0));
                    }
                }
                _ => assert_eq!(count_list(self.head, self.tail), self.len),
            }
            // The expiry list holds exactly the entries with an expiry, sorted.
            let (mut n, mut c, mut prev, mut last) = (self.ttl_head, 0, NIL, 0);
            while n != NIL {
                let nd = &self.nodes[ix(n)];
                assert!(is_live(n) && self.cold[ix(n)].tprev == prev);
                let x = nd
                    .entry
                    .expires_ns
                    .expect("only entries with an expiry are linked");
                assert!(x >= last, "expiry list out of order");
                (last, prev, n) = (x, n, self.cold[ix(n)].tnext);
                c += 1;
            }
            assert_eq!(prev, self.ttl_tail);
            let with_expiry = live
                .iter()
                .filter(|&&i| self.nodes[ix(i)].entry.expires_ns.is_some());
            assert_eq!(with_expiry.count(), c);
        }
    }

    #[test]
    fn a_slot_s_hot_part_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Node>(), 64);
        assert_eq!(std::mem::align_of::<Node>(), 64);
    }

    #[test]
    fn lru_evicts_least_recently_used_and_update_refreshes() {
        let mut h = H::new(cfg(EvictionPolicy::Lru, Some(3), None));
        for k in 1..=3 {
            assert!(h.put(k).is_empty());
        }
        assert!(h.hit(1));
        assert_eq!(h.put(4), vec![2]);
        assert!(h.put(1).is_empty()); // update: 1 becomes most recent
        assert_eq!(h.put(5), vec![3]);
        assert_eq!(h.put(6), vec![4]);
        assert_eq!(h.put(7), vec![1]);
    }

    #[test]
    fn mru_evicts_most_recently_used() {
        let mut h = H::new(cfg(EvictionPolicy::Mru, Some(3), None));
        for k in 1..=3 {
            h.put(k);
        }
        assert!(h.hit(1));
        assert_eq!(h.put(4), vec![1]);
        assert_eq!(h.put(5), vec![4]);
        assert!(h.hit(2));
        assert_eq!(h.put(6), vec![2]);
    }

    #[test]
    fn fifo_ignores_hits_and_updates() {
        let mut h = H::new(cfg(EvictionPolicy::Fifo, Some(3), None));
        for k in 1..=3 {
            h.put(k);
        }
        assert!(h.hit(1));
        assert!(h.put(1).is_empty()); // update keeps first-insertion position
        assert_eq!(h.put(4), vec![1]);
        assert_eq!(h.put(5), vec![2]);
        assert_eq!(h.put(6), vec![3]);
    }

    #[test]
    fn lifo_evicts_most_recently_inserted_and_ignores_updates() {
        let mut h = H::new(cfg(EvictionPolicy::Lifo, Some(3), None));
        for k in 1..=3 {
            h.put(k);
        }
        assert!(h.put(1).is_empty()); // update: does not make 1 the newest
        assert!(h.hit(2));
        assert_eq!(h.put(4), vec![3]);
        assert_eq!(h.put(5), vec![4]);
        assert_eq!(h.s.peek(1).map(|e| e.value), Some(1));
        assert_eq!(h.s.peek(2).map(|e| e.value), Some(2));
    }

    #[test]
    fn lfu_evicts_least_frequent_breaking_ties_by_recency() {
        let mut h = H::new(cfg(EvictionPolicy::Lfu, Some(3), None));
        for k in 1..=3 {
            h.put(k);
        }
        assert!(h.hit(2));
        assert!(h.hit(3)); // freqs: 1→1, 2→2, 3→2
        assert_eq!(h.put(4), vec![1]);
        assert_eq!(h.put(5), vec![4]); // the only frequency-1 entry
        assert!(h.hit(5)); // 2, 3, 5 all at frequency 2; 2 least recent
        assert_eq!(h.put(6), vec![2]);
        assert!(h.put(3).is_empty()); // update counts as an access
        assert_eq!(h.s.lfu_frequency(3), Some(3));
        assert_eq!(h.s.lfu_frequency(6), Some(1));
        assert_eq!(h.put(7), vec![6]);
        assert_eq!(h.put(8), vec![7]);
        assert!(h.hit(8));
        assert!(h.hit(8)); // 8 → 3, 5 → 2, 3 → 3
        assert_eq!(h.put(9), vec![5]);
    }

    #[test]
    fn perfect_lfu_remembers_counts_across_evictions() {
        let mut h = H::new(cfg(EvictionPolicy::PerfectLfu, Some(2), None));
        for _ in 0..3 {
            assert!(!h.hit(1)); // three misses: count 3 before it is ever cached
        }
        h.put(1);
        h.put(2); // never read: count 0
        assert!(h.hit(2)); // count 1
        assert_eq!(h.put(3), vec![2]); // 3 enters at 0 but 2 (1) < 1 (3)
        assert_eq!(h.put(4), vec![3]); // both 0: least recent (3) goes
        assert!(!h.hit(3));
        assert!(!h.hit(3)); // 3 evicted but its count keeps rising: 2
        assert_eq!(h.put(3), vec![4]);
        assert_eq!(h.s.lfu_frequency(3), Some(2));
        assert_eq!(h.s.lfu_frequency(4), None); // never read
        assert!(h.hit(1)); // 4
        assert_eq!(h.put(5), vec![3]);
        h.s.clear(); // a crash forgets the history
        assert_eq!(h.s.lfu_frequency(1), None);
    }

    #[test]
    fn random_victims_are_reproducible_with_the_same_seed() {
        let run = |seed: u64| {
            let mut s = CacheStore::new(cfg(EvictionPolicy::Random, Some(50), None));
            let mut rng = stream(seed, "cache-random");
            let mut ev = Vec::new();
            for k in 0..2000u64 {
                s.put(k * 7919 % 1000, 0, 1, false, k, &mut rng, &mut ev);
            }
            s.check_invariants();
            ev.iter().map(|&(k, _)| k).collect::<Vec<u64>>()
        };
        let a = run(3);
        assert!(a.len() > 1000);
        assert_eq!(a, run(3));
        assert_ne!(a, run(4));
    }

    #[test]
    fn random_policy_picks_each_entry_about_equally() {
        // 4 entries, evict one 40,000 times, re-insert it: each slot is chosen
        // ~10,000 times, binomial σ = √(40000·¼·¾) ≈ 87; a 5σ band (±435) cannot be
        // missed by a fair draw, and a biased index mapping (e.g. never the last
        // dense slot) would miss it by thousands.
        let mut h = H::new(cfg(EvictionPolicy::Random, Some(4), None));
        for k in 0..4 {
            h.put(k);
        }
        let mut counts = [0i64; 4];
        for _ in 0..40_000 {
            let v = h.put(4);
            assert_eq!(v.len(), 1);
            counts[v[0] as usize] += 1;
            h.s.remove(4);
            h.put(v[0]);
        }
        for (k, &c) in counts.iter().enumerate() {
            assert!((c - 10_000).abs() < 435, "key {k}: {c}");
        }
    }

    #[test]
    fn byte_capacity_evicts_until_the_item_fits() {
        let mut h = H::new(cfg(EvictionPolicy::Lru, None, Some(100)));
        assert!(h.put_sized(1, 40, false, 0).is_empty());
        assert!(h.put_sized(2, 40, false, 0).is_empty());
        assert_eq!(h.put_sized(3, 40, false, 0), vec![1]);
        assert_eq!(h.put_sized(4, 100, false, 0), vec![2, 3]);
        assert_eq!(h.s.bytes_used(), 100);
        assert!(h.put_sized(5, 0, false, 0).is_empty()); // zero-sized items always fit
        assert_eq!(h.s.len(), 2);
    }

    #[test]
    fn entry_and_byte_capacities_both_bind() {
        let mut h = H::new(cfg(EvictionPolicy::Lru, Some(2), Some(100)));
        h.put_sized(1, 10, false, 0);
        h.put_sized(2, 10, false, 0);
        assert_eq!(h.put_sized(3, 10, false, 0), vec![1]); // entry bound
        assert_eq!(h.put_sized(4, 90, false, 0), vec![2]); // 10 + 90 = 100 fits
        assert_eq!(h.s.len(), 2);
        assert_eq!(h.s.bytes_used(), 100);
    }

    #[test]
    fn oversize_items_are_rejected_and_replace_stale_entries() {
        let mut h = H::new(cfg(EvictionPolicy::Lru, None, Some(100)));
        let (mut rng, mut ev) = (stream(1, "x"), Vec::new());
        h.put_sized(1, 50, true, 0);
        let out = h.s.put(2, 2, 101, false, 1, &mut rng, &mut ev);
        assert_eq!(out, PutOutcome::Rejected { replaced: None });
        assert_eq!((h.s.len(), h.s.bytes_used()), (1, 50));
        let out = h.s.put(1, 9, 101, false, 2, &mut rng, &mut ev);
        let PutOutcome::Rejected {
            replaced: Some(old),
        } = out
        else {
            panic!("{out:?}")
        };
        assert!(old.dirty && old.value == 1);
        assert!(h.s.is_empty() && ev.is_empty());
        assert_eq!(h.s.dirty_count(), 0);
        assert_eq!(h.s.stats().rejected, 2);
        h.s.check_invariants();
        let mut z = H::new(cfg(EvictionPolicy::Fifo, Some(0), None));
        let out = z.s.put(1, 1, 0, false, 0, &mut rng, &mut ev);
        assert_eq!(out, PutOutcome::Rejected { replaced: None });
    }

    #[test]
    fn growing_update_evicts_others_never_itself() {
        let mut h = H::new(cfg(EvictionPolicy::Fifo, None, Some(100)));
        for k in 1..=3 {
            h.put_sized(k, 30, false, 0);
        }
        // Key 1 is the FIFO victim but is the one being updated: 2 goes instead.
        assert_eq!(h.put_sized(1, 60, false, 1), vec![2]);
        assert_eq!(h.s.peek(1).map(|e| e.size_bytes), Some(60));
        assert_eq!(h.put_sized(4, 20, false, 2), vec![1]); // 60 + 30 + 20 > 100
        let mut l = H::new(cfg(EvictionPolicy::Lfu, None, Some(100)));
        l.put_sized(1, 50, false, 0);
        l.put_sized(2, 50, false, 0);
        // Key 1 moves to frequency 2 alone; 2 is the only other entry.
        assert_eq!(l.put_sized(1, 60, false, 1), vec![2]);
        let mut r = H::new(cfg(EvictionPolicy::Random, None, Some(100)));
        r.put_sized(1, 50, false, 0);
        r.put_sized(2, 50, false, 0);
        assert_eq!(r.put_sized(2, 100, false, 1), vec![1]);
    }

    #[test]
    fn ttl_from_insert_expires_on_access_and_counts_a_miss() {
        let mut c = cfg(EvictionPolicy::Lru, None, None);
        c.ttl_ns = Some(100);
        let mut h = H::new(c);
        h.put_sized(1, 1, true, 0);
        assert!(matches!(h.s.get(1, 50), Lookup::Hit(_)));
        assert!(matches!(h.s.get(1, 99), Lookup::Hit(_)));
        let Lookup::Expired(e) = h.s.get(1, 100) else {
            panic!()
        };
        assert!(e.dirty && e.expires_ns == Some(100));
        assert_eq!(h.s.get(1, 101), Lookup::Miss);
        let st = *h.s.stats();
        assert_eq!((st.hits, st.misses, st.expired), (2, 2, 1));
        assert!(h.s.is_empty() && h.s.dirty_count() == 0);
        // An update restarts the clock.
        h.put_sized(2, 1, false, 0);
        h.put_sized(2, 1, false, 80);
        assert!(matches!(h.s.get(2, 179), Lookup::Hit(_)));
        assert!(matches!(h.s.get(2, 180), Lookup::Expired(_)));
    }

    #[test]
    fn ttl_sliding_resets_on_every_hit() {
        let mut c = cfg(EvictionPolicy::Lru, None, None);
        c.ttl_ns = Some(100);
        c.ttl_mode = TtlMode::SlidingOnHit;
        let mut h = H::new(c);
        h.put_sized(1, 1, false, 0);
        assert!(matches!(h.s.get(1, 90), Lookup::Hit(_)));
        assert!(matches!(h.s.get(1, 180), Lookup::Hit(_)));
        let mut out = Vec::new();
        h.s.expire_until(279, &mut out);
        assert!(
            out.is_empty(),
            "a refreshed entry must not expire at its old time"
        );
        h.s.check_invariants();
        h.s.expire_until(280, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(h.s.stats().expired, 1);
    }

    #[test]
    fn expire_until_returns_entries_in_expiry_order() {
        let mut c = cfg(EvictionPolicy::Fifo, None, None);
        c.ttl_ns = Some(100);
        c.ttl_mode = TtlMode::SlidingOnHit;
        let mut h = H::new(c);
        h.put_sized(10, 1, false, 0); // expires 100
        h.put_sized(20, 1, false, 5); // expires 105
        h.put_sized(30, 1, false, 5); // expires 105
        assert!(matches!(h.s.get(10, 50), Lookup::Hit(_))); // now expires 150
        h.put_sized(40, 1, false, 60); // expires 160
        let mut out = Vec::new();
        h.s.expire_until(104, &mut out);
        assert!(out.is_empty());
        h.s.expire_until(155, &mut out);
        let keys: Vec<u64> = out.iter().map(|&(k, _)| k).collect();
        assert_eq!(keys, vec![20, 30, 10]);
        assert_eq!(h.s.len(), 1);
        h.s.check_invariants();
    }

    #[test]
    fn full_cache_purges_expired_entries_before_evicting_live_ones() {
        let mut c = cfg(EvictionPolicy::Lru, Some(2), None);
        c.ttl_ns = Some(100);
        let mut h = H::new(c);
        h.put_sized(1, 1, false, 0);
        h.put_sized(2, 1, false, 50);
        assert!(matches!(h.s.get(1, 60), Lookup::Hit(_))); // LRU victim would be 2
        assert_eq!(h.put_sized(3, 1, false, 120), vec![1]);
        assert_eq!(h.s.stats().expired, 1);
        assert_eq!(h.s.stats().evictions, 0);
        assert!(h.s.peek(2).is_some());
    }

    #[test]
    fn expiry_order_survives_time_going_backwards() {
        // The engine never moves time backwards, but the store must stay correct if a
        // caller does: entries are filed in expiry order, not call order.
        let mut c = cfg(EvictionPolicy::Lru, None, None);
        c.ttl_ns = Some(100);
        c.ttl_mode = TtlMode::SlidingOnHit;
        let mut h = H::new(c);
        h.put_sized(1, 1, false, 50); // 150
        h.put_sized(2, 1, false, 10); // 110
        h.put_sized(3, 1, false, 30); // 130
        h.put_sized(4, 1, false, 0); // 100
        assert!(matches!(h.s.get(4, 40), Lookup::Hit(_))); // 140
        h.s.check_invariants();
        let mut out = Vec::new();
        h.s.expire_until(145, &mut out);
        let keys: Vec<u64> = out.iter().map(|&(k, _)| k).collect();
        assert_eq!(keys, vec![2, 3, 4]);
        assert_eq!(h.s.peek(1).and_then(|e| e.expires_ns), Some(150));
    }

    #[test]
    fn take_dirty_returns_oldest_dirty_first_and_cleans() {
        let mut h = H::new(cfg(EvictionPolicy::Lru, None, None));
        h.put_sized(5, 1, true, 1);
        h.put_sized(3, 1, true, 2);
        h.put_sized(9, 1, true, 3);
        h.put_sized(4, 1, false, 4);
        h.put_sized(5, 1, true, 5); // already dirty: keeps its place (dirty since 1)
        h.put_sized(3, 1, false, 6); // clean write: leaves the queue
        h.put_sized(3, 1, true, 7); // dirty again: now the newest
        assert!(h.s.mark_dirty(4, 8));
        assert_eq!(h.s.oldest_dirty(), Some((5, 1)));
        assert!(h.s.mark_clean(9));
        let mut out = Vec::new();
        assert_eq!(h.s.take_dirty(2, &mut out), 2);
        let keys: Vec<u64> = out.iter().map(|&(k, _)| k).collect();
        assert_eq!(keys, vec![5, 3]);
        assert!(out.iter().all(|(_, e)| e.dirty));
        assert!(!h.s.peek(5).unwrap().dirty);
        assert_eq!(h.s.dirty_count(), 1);
        out.clear();
        assert_eq!(h.s.take_dirty(10, &mut out), 1);
        assert_eq!(out[0].0, 4);
        assert_eq!(h.s.take_dirty(10, &mut out), 0);
        h.s.check_invariants();
    }

    #[test]
    fn dirty_victims_are_handed_back_dirty() {
        let mut h = H::new(cfg(EvictionPolicy::Lru, Some(1), None));
        h.put_sized(1, 1, true, 0);
        assert_eq!(h.put_sized(2, 1, false, 1), vec![1]);
        assert!(h.ev[0].1.dirty);
        assert_eq!(h.s.stats().dirty_evictions, 1);
        assert_eq!(h.s.dirty_count(), 0);
    }

    #[test]
    fn clear_reports_dirty_entries_lost() {
        let mut h = H::new(cfg(EvictionPolicy::Lfu, Some(10), None));
        for k in 0..5 {
            h.put_sized(k, 1, k < 3, k);
        }
        let mut out = Vec::new();
        h.s.take_dirty(1, &mut out);
        assert_eq!(h.s.clear(), 2);
        assert!(h.s.is_empty() && h.s.bytes_used() == 0 && h.s.dirty_count() == 0);
        assert_eq!(h.s.stats().dirty_lost, 2);
        assert_eq!(h.s.get(0, 10), Lookup::Miss);
        h.put(7); // usable after the crash
        assert!(h.hit(7));
        assert_eq!(h.s.remove(7).map(|e| e.value), Some(7));
        assert_eq!(h.s.remove(7), None);
    }

    #[test]
    fn config_validates_and_reads_from_ron() {
        let c: CacheConfig =
            ron::from_str("(policy: Lfu, capacity_entries: Some(100), ttl_ns: Some(5000))")
                .unwrap();
        assert_eq!(c.policy, EvictionPolicy::Lfu);
        assert_eq!(c.capacity_bytes, None);
        assert_eq!(c.ttl_mode, TtlMode::FromInsert);
        assert_eq!(c.validate(), Ok(()));
        let bad = CacheConfig {
            capacity_entries: Some(0),
            ..c
        };
        assert_eq!(bad.validate(), Err(CacheConfigError::ZeroEntries));
        let bad = CacheConfig {
            ttl_ns: Some(0),
            ..c
        };
        assert_eq!(bad.validate(), Err(CacheConfigError::ZeroTtl));
        assert!(ron::from_str::<CacheConfig>("(polcy: Lru)").is_err());
    }

    // ----- model-based check against a naive O(n) reference ------------------

    #[derive(Clone, Copy)]
    struct RefEntry {
        key: u64,
        value: i64,
        size: u64,
        dirty: bool,
        expires: Option<u64>,
        ins_seq: u64,
        use_seq: u64,
        dirty_seq: u64,
        /// When the expiry was last set (ties in expiry order).
        exp_seq: u64,
        freq: u64,
    }

    /// Direct transcription of the documented semantics, with linear scans.
    struct RefCache {
        c: CacheConfig,
        v: Vec<RefEntry>,
        seq: u64,
        /// PerfectLfu lifetime counts.
        hist: BTreeMap<u64, u64>,
    }

    impl RefCache {
        fn tick(&mut self) -> u64 {
            self.seq += 1;
            self.seq
        }
        fn pos(&self, key: u64) -> Option<usize> {
            self.v.iter().position(|e| e.key == key)
        }
        fn bytes(&self) -> u64 {
            self.v.iter().map(|e| e.size).sum()
        }
        fn expired(e: &RefEntry, now: u64) -> bool {
            matches!(e.expires, Some(x) if now >= x)
        }
        fn expire_until(&mut self, now: u64, out: &mut Vec<u64>) {
            let mut ex: Vec<(u64, u64, u64)> = self
                .v
                .iter()
                .filter(|e| Self::expired(e, now))
                .map(|e| (e.expires.unwrap(), e.exp_seq, e.key))
                .collect();
            ex.sort();
            self.v.retain(|e| !Self::expired(e, now));
            out.extend(ex.iter().map(|&(_, _, k)| k));
        }
        fn victim(&self, protected: Option<u64>) -> Option<usize> {
            let it = self
                .v
                .iter()
                .enumerate()
                .filter(|(_, e)| Some(e.key) != protected);
            let r = match self.c.policy {
                EvictionPolicy::Lru => it.min_by_key(|(_, e)| e.use_seq),
                EvictionPolicy::Mru => it.max_by_key(|(_, e)| e.use_seq),
                EvictionPolicy::Fifo => it.min_by_key(|(_, e)| e.ins_seq),
                EvictionPolicy::Lifo => it.max_by_key(|(_, e)| e.ins_seq),
                EvictionPolicy::Lfu => it.min_by_key(|(_, e)| (e.freq, e.use_seq)),
                EvictionPolicy::PerfectLfu => {
                    it.min_by_key(|(_, e)| (self.hist.get(&e.key).copied().unwrap_or(0), e.use_seq))
                }
                EvictionPolicy::Random => unreachable!(),
            };
            r.map(|(i, _)| i)
        }
        fn get(&mut self, key: u64, now: u64) -> Option<Option<i64>> {
            *self.hist.entry(key).or_insert(0) += 1;
            let i = self.pos(key)?;
            if Self::expired(&self.v[i], now) {
                self.v.remove(i);
                return Some(None);
            }
            let s = self.tick();
            let ttl = self.c.ttl_ns;
            let sliding = self.c.ttl_mode == TtlMode::SlidingOnHit;
            let e = &mut self.v[i];
            e.use_seq = s;
            e.freq += 1;
            if sliding && ttl.is_some() {
                e.expires = ttl.map(|t| now + t);
                e.exp_seq = s;
            }
            Some(Some(e.value))
        }
        fn fits_new(&self, size: u64) -> bool {
            self.c
                .capacity_entries
                .is_none_or(|c| (self.v.len() as u64) < c)
                && self
                    .c
                    .capacity_bytes
                    .is_none_or(|c| self.bytes() + size <= c)
        }
        fn put(
            &mut self,
            key: u64,
            value: i64,
            size: u64,
            dirty: bool,
            now: u64,
        ) -> (u8, Vec<u64>) {
            let mut ev = Vec::new();
            if let Some(i) = self.pos(key)
                && Self::expired(&self.v[i], now)
            {
                self.v.remove(i);
            }
            let fits_alone = self.c.capacity_entries.is_none_or(|c| c >= 1)
                && self.c.capacity_bytes.is_none_or(|c| size <= c);
            if !fits_alone {
                if let Some(i) = self.pos(key) {
                    self.v.remove(i);
                }
                return (2, ev);
            }
            let expires = self.c.ttl_ns.map(|t| now + t);
            if let Some(i) = self.pos(key) {
                let old = self.v[i].size;
                if self
                    .c
                    .capacity_bytes
                    .is_some_and(|c| self.bytes() - old + size > c)
                {
                    self.expire_until(now, &mut ev);
                }
                let (s1, s2) = (self.tick(), self.tick());
                let i = self.pos(key).unwrap();
                let e = &mut self.v[i];
                e.value = value;
                e.size = size;
                e.expires = expires;
                e.exp_seq = s2;
                if dirty && !e.dirty {
                    e.dirty_seq = s1;
                }
                e.dirty = dirty;
                e.use_seq = s2;
                e.freq += 1;
                *self.hist.entry(key).or_insert(0) += 1;
                while self.c.capacity_bytes.is_some_and(|c| self.bytes() > c) {
                    let Some(v) = self.victim(Some(key)) else {
                        break;
                    };
                    ev.push(self.v.remove(v).key);
                }
                (1, ev)
            } else {
                if !self.fits_new(size) {
                    self.expire_until(now, &mut ev);
                    while !self.fits_new(size) {
                        let Some(v) = self.victim(None) else { break };
                        ev.push(self.v.remove(v).key);
                    }
                }
                let s = self.tick();
                self.v.push(RefEntry {
                    key,
                    value,
                    size,
                    dirty,
                    expires,
                    ins_seq: s,
                    use_seq: s,
                    dirty_seq: s,
                    exp_seq: s,
                    freq: 1,
                });
                (0, ev)
            }
        }
        fn take_dirty(&mut self, max: usize) -> Vec<u64> {
            let mut d: Vec<(u64, u64)> = self
                .v
                .iter()
                .filter(|e| e.dirty)
                .map(|e| (e.dirty_seq, e.key))
                .collect();
            d.sort();
            d.truncate(max);
            for &(_, k) in &d {
                let i = self.pos(k).unwrap();
                self.v[i].dirty = false;
            }
            d.into_iter().map(|(_, k)| k).collect()
        }
    }

    fn run_model_check(policy: EvictionPolicy, seed: u64) {
        let mut g = stream(seed, "model-ops");
        let c = CacheConfig {
            policy,
            capacity_entries: if g.random_bool(0.7) {
                Some(g.random_range(1..8))
            } else {
                None
            },
            capacity_bytes: if g.random_bool(0.6) {
                Some(g.random_range(20..200))
            } else {
                None
            },
            ttl_ns: if g.random_bool(0.5) {
                Some(g.random_range(20..300))
            } else {
                None
            },
            ttl_mode: if g.random_bool(0.5) {
                TtlMode::FromInsert
            } else {
                TtlMode::SlidingOnHit
            },
        };
        let mut s = CacheStore::new(c);
        let mut r = RefCache {
            c,
            v: Vec::new(),
            seq: 0,
            hist: BTreeMap::new(),
        };
        let mut rng = stream(seed, "unused");
        let (mut ev, mut out) = (Vec::new(), Vec::new());
        let mut now = 0u64;
        for step in 0..400 {
            now += g.random_range(0..25);
            if g.random_bool(0.03) {
                // Rare backwards step: exercises the expiry list's walk-back filing.
                now = now.saturating_sub(g.random_range(0..120));
            }
            let key = g.random_range(0..16u64);
            let ctx = format!("{c:?} seed {seed} step {step}");
            match g.random_range(0..100) {
                0..45 => {
                    let want = r.get(key, now);
                    let got = match s.get(key, now) {
                        Lookup::Hit(e) => Some(Some(e.value)),
                        Lookup::Expired(_) => Some(None),
                        Lookup::Miss => None,
                    };
                    assert_eq!(got, want, "get {ctx}");
                }
                45..85 => {
                    let (size, dirty, value) =
                        (g.random_range(0..60u32), g.random_bool(0.3), step as i64);
                    let (kind, want_ev) = r.put(key, value, u64::from(size), dirty, now);
                    ev.clear();
                    let got = s.put(key, value, size, dirty, now, &mut rng, &mut ev);
                    let got_kind = match got {
                        PutOutcome::Inserted => 0,
                        PutOutcome::Updated => 1,
                        PutOutcome::Rejected { .. } => 2,
                    };
                    assert_eq!(got_kind, kind, "put kind {ctx}");
                    let got_ev: Vec<u64> = ev.iter().map(|&(k, _)| k).collect();
                    assert_eq!(got_ev, want_ev, "victims {ctx}");
                }
                85..90 => {
                    let want = r.pos(key).map(|i| r.v.remove(i).value);
                    assert_eq!(s.remove(key).map(|e| e.value), want, "remove {ctx}");
                }
                90..95 => {
                    let max = g.random_range(0..4);
                    out.clear();
                    s.take_dirty(max, &mut out);
                    let got: Vec<u64> = out.iter().map(|&(k, _)| k).collect();
                    assert_eq!(got, r.take_dirty(max), "take_dirty {ctx}");
                }
                _ => {
                    out.clear();
                    s.expire_until(now, &mut out);
                    let mut want = Vec::new();
                    r.expire_until(now, &mut want);
                    let got: Vec<u64> = out.iter().map(|&(k, _)| k).collect();
                    assert_eq!(got, want, "expire_until {ctx}");
                }
            }
            s.check_invariants();
            assert_eq!(s.len(), r.v.len(), "len {ctx}");
            assert_eq!(s.bytes_used(), r.bytes(), "bytes {ctx}");
            assert_eq!(s.dirty_count(), r.v.iter().filter(|e| e.dirty).count());
        }
    }

    #[test]
    fn every_deterministic_policy_matches_the_naive_reference_model() {
        // 150 random configurations × 400 operations per policy.
        for policy in [
            EvictionPolicy::Lru,
            EvictionPolicy::Mru,
            EvictionPolicy::Fifo,
            EvictionPolicy::Lifo,
            EvictionPolicy::Lfu,
            EvictionPolicy::PerfectLfu,
        ] {
            for seed in 0..150 {
                run_model_check(policy, seed);
            }
        }
    }

    #[test]
    fn random_policy_keeps_its_structures_consistent_under_mixed_operations() {
        let mut g = stream(9, "random-mixed");
        let mut c = cfg(EvictionPolicy::Random, Some(6), Some(120));
        c.ttl_ns = Some(150);
        let mut s = CacheStore::new(c);
        let (mut rng, mut ev, mut out) = (stream(9, "victims"), Vec::new(), Vec::new());
        for t in 0..20_000u64 {
            let key = g.random_range(0..20u64);
            match g.random_range(0..10) {
                0..4 => {
                    s.get(key, t);
                }
                4..8 => {
                    let size = g.random_range(0..50);
                    s.put(key, 0, size, g.random_bool(0.3), t, &mut rng, &mut ev);
                }
                8 => {
                    s.remove(key);
                }
                _ => {
                    s.take_dirty(2, &mut out);
                    s.expire_until(t, &mut out);
                }
            }
            s.check_invariants();
            assert!(s.len() <= 6 && s.bytes_used() <= 120);
        }
    }
}
