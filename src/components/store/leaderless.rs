//! Leaderless (Dynamo-style) quorum replication: the AP side of the CAP comparison.
//!
//! This module owns the [`QuorumSpec`] policy (`Leaderless(...)` in a scenario), its
//! wire messages [`QuorumMsg`] and the per-replica state machine. It must not touch
//! the engine, the network or wall-clock time: it only reacts to client operations,
//! peer messages and its own timers through [`Io`], and draws randomness only from
//! `io.rng`.
//!
//! # Model
//! * **Placement.** Each key lives on `n` replicas, its *preference list*: the `n`
//!   replicas starting at `mix64(key) mod size` in ring order ([`preference_list`]).
//!   With `n` = group size (the default) every replica holds every key.
//! * **Coordination.** The replica that receives a client operation coordinates it,
//!   whether or not it is in the key's preference list (it then acts only as a proxy).
//! * **Versions.** Every write gets a [`Version`] `(ts, coordinator)` from its
//!   coordinator and the highest version wins everywhere (storage, reads, repair,
//!   anti-entropy, handoff). By default (`versions: Clock`) `ts` is a hybrid logical
//!   clock on the coordinator's possibly skewed node clock: `max(local clock ns,
//!   highest ts seen + 1)`, so writes ordered in real time get increasing versions
//!   when clocks agree, and causally later writes always do. `versions: Lamport`
//!   uses `highest ts seen + 1` only: versions then follow what the coordinator has
//!   *seen*, not real time, so a later write at a coordinator that missed an earlier
//!   one can lose to it even with R + W > N (a teaching mode). Versions are unique
//!   (the coordinator id breaks ties and a coordinator never reuses a ts).
//! * **Writes** go to the `n` replicas; acknowledged `Ok` after `w` acks (the
//!   coordinator's own local write counts when it is in the preference list). No
//!   `w` acks within `timeout_ms`: `Unknown` (it may have landed on some).
//! * **Reads** ask the `n` replicas and answer with the newest version among the
//!   first `r` responses; none within `timeout_ms`: `Fail` (a read has no effect).
//!   With `read_repair`, responders that returned an older version (also late
//!   responders, until the operation's timeout) are sent the newest one. Repair is
//!   asynchronous (Dynamo/Cassandra style), so reads are not linearizable.
//! * **Cas** is refused with `Fail`: a leaderless store cannot decide a
//!   compare-and-set consistently without consensus.
//! * **Anti-entropy** (`anti_entropy_ms`): every interval a replica sends a random
//!   peer a digest of `(key, version)` for the keys both are responsible for (a flat
//!   list, no Merkle tree: its size grows with the key count); the peer pushes back
//!   what it has newer and asks for what it lacks, so both pull newer versions.
//! * **Failure suspicion.** A replica that does not answer an operation within
//!   `timeout_ms` is *suspected* for `hint_interval_ms` or until any message from it
//!   arrives.
//! * **Sloppy quorum** (`sloppy_quorum`): a suspected preference-list replica, or one
//!   that did not answer within `timeout_ms` (the operation then waits one more
//!   `timeout_ms`), is replaced by the next unsuspected replica *outside* the
//!   preference list (ring order). The stand-in stores the write as a *hint* for the
//!   intended replica (not in its own data) and its ack counts toward `w`; it
//!   answers reads from its data and hints. With `n` = group size there is no replica
//!   outside the preference list and sloppy quorums change nothing.
//! * **Hinted handoff** (`hinted_handoff`): hints are re-sent to their intended
//!   replica every `hint_interval_ms` until it acknowledges them. Besides stand-ins,
//!   the coordinator itself keeps a hint for every preference-list replica that
//!   neither acknowledged a write nor had an acknowledging stand-in by the
//!   operation's timeout (Cassandra-style hints, which do not count toward `w`).
//!   Without handoff, stand-ins keep their hints but never deliver them.
//! * **Crashes.** Data, hints and the version clock are durable (on disk, as in
//!   Dynamo); in-flight operations and suspicions are volatile and lost.

use super::{ClientOp, Io, PeerMsg, ReplicaPolicy, Reply, Role, SpecProblem, StoreEvent, Value};
use crate::detrand::mix64;
use crate::engine::SimTime;
use crate::scenario::spec::OpSpec;
use rand::Rng;
use serde::Deserialize;
use std::collections::BTreeMap;

fn default_timeout_ms() -> f64 {
    1000.0
}
fn default_hint_interval_ms() -> f64 {
    1000.0
}
fn yes() -> bool {
    true
}

/// How a coordinator makes the version of a write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Versions {
    /// Hybrid logical clock on the coordinator's (skewed) node clock:
    /// `max(local clock ns, highest ts seen + 1)` (default).
    #[default]
    Clock,
    /// Lamport counter: `highest ts seen + 1` (ignores real time).
    Lamport,
}

/// Dynamo-style N/R/W quorums (`policy: Leaderless((n: 3, r: 2, w: 2))`).
///
/// ```ron
/// Leaderless((r: 2, w: 2, timeout_ms: 200, read_repair: true, anti_entropy_ms: Some(1000)))
/// Leaderless((n: 3, r: 1, w: 1, sloppy_quorum: true, hinted_handoff: true, hint_interval_ms: 500))
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumSpec {
    /// Replicas per key, 1 ≤ n ≤ group size (default: the group size, every replica
    /// holds every key).
    #[serde(default)]
    pub n: Option<u32>,
    /// Read quorum, 1 ≤ r ≤ n (default: a majority of n, ⌊n/2⌋ + 1).
    #[serde(default)]
    pub r: Option<u32>,
    /// Write quorum, 1 ≤ w ≤ n (default: a majority of n, ⌊n/2⌋ + 1).
    #[serde(default)]
    pub w: Option<u32>,
    /// How long the coordinator waits for acks/responses, ms (default 1000). With
    /// `sloppy_quorum` an operation may wait twice this. Client timeouts should be longer.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: f64,
    /// Push the newest version to responders that returned an older one (default true).
    #[serde(default = "yes")]
    pub read_repair: bool,
    /// Anti-entropy interval, ms (default: none). Each interval a replica exchanges a
    /// (key, version) digest with one random peer; both pull newer versions.
    #[serde(default)]
    pub anti_entropy_ms: Option<f64>,
    /// Replace unreachable preference-list replicas by the next healthy replicas
    /// outside the list, which hold the write as a hint (default false).
    #[serde(default)]
    pub sloppy_quorum: bool,
    /// Deliver hints to their intended replica when it is reachable again (default false).
    #[serde(default)]
    pub hinted_handoff: bool,
    /// Interval between hint delivery attempts, and how long a replica that missed a
    /// timeout stays suspected, ms (default 1000).
    #[serde(default = "default_hint_interval_ms")]
    pub hint_interval_ms: f64,
    /// Version source (default `Clock`, a hybrid logical clock; `Lamport` ignores real time).
    #[serde(default)]
    pub versions: Versions,
}

impl Default for QuorumSpec {
    fn default() -> Self {
        QuorumSpec {
            n: None,
            r: None,
            w: None,
            timeout_ms: default_timeout_ms(),
            read_repair: true,
            anti_entropy_ms: None,
            sloppy_quorum: false,
            hinted_handoff: false,
            hint_interval_ms: default_hint_interval_ms(),
            versions: Versions::Clock,
        }
    }
}

/// A write's version: higher wins. Ordered by `ts`, then coordinator id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version {
    /// Hybrid-logical or Lamport timestamp (see [`Versions`]).
    pub ts: u64,
    /// Coordinator replica index (tie-break).
    pub node: u16,
}

/// Leaderless replication traffic.
#[derive(Clone, Debug, PartialEq)]
pub enum QuorumMsg {
    /// Coordinator → replica: store this version. `hint`: the intended replica when
    /// the receiver is a sloppy-quorum stand-in.
    Write {
        op: u64,
        key: u64,
        version: Version,
        value: Value,
        hint: Option<u8>,
    },
    /// Replica → coordinator: `Write` applied (or already superseded).
    WriteAck { op: u64 },
    /// Coordinator → replica: what do you hold for `key`?
    Read { op: u64, key: u64 },
    /// Replica → coordinator: the newest version held (data or hints), if any.
    ReadResp {
        op: u64,
        entry: Option<(Version, Value)>,
    },
    /// Read repair: the newest version a read saw.
    Repair {
        key: u64,
        version: Version,
        value: Value,
    },
    /// Anti-entropy digest of (key, version), ascending keys.
    Digest { entries: Vec<(u64, Version)> },
    /// Anti-entropy: send me these keys (you have newer).
    Want { keys: Vec<u64> },
    /// Anti-entropy: newer versions.
    Push { entries: Vec<(u64, Version, Value)> },
    /// Hinted handoff: versions held for the receiver.
    Handoff { entries: Vec<(u64, Version, Value)> },
    /// Hinted handoff acknowledgement (the hints that can be dropped).
    HandoffAck { entries: Vec<(u64, Version)> },
}

const HEADER_BYTES: u64 = 64;
const WORD_BYTES: u64 = 8;

impl QuorumMsg {
    /// Size on the wire: a 64-byte header plus 8 bytes per key, value, version
    /// field and operation id.
    pub fn size_bytes(&self) -> u32 {
        let words: u64 = match self {
            QuorumMsg::Write { .. } => 5,
            QuorumMsg::WriteAck { .. } => 1,
            QuorumMsg::Read { .. } => 2,
            QuorumMsg::ReadResp { entry, .. } => 1 + if entry.is_some() { 3 } else { 0 },
            QuorumMsg::Repair { .. } => 4,
            QuorumMsg::Digest { entries } => 3 * entries.len() as u64,
            QuorumMsg::Want { keys } => keys.len() as u64,
            QuorumMsg::Push { entries } | QuorumMsg::Handoff { entries } => {
                4 * entries.len() as u64
            }
            QuorumMsg::HandoffAck { entries } => 3 * entries.len() as u64,
        };
        (HEADER_BYTES + WORD_BYTES * words).min(u64::from(u32::MAX)) as u32
    }
}

fn bad_ms(x: f64) -> bool {
    !x.is_finite() || x <= 0.0
}

impl QuorumSpec {
    /// Every problem with these parameters for a group of `size` replicas, as
    /// (field, message, hint).
    pub fn validate(&self, size: usize) -> Vec<SpecProblem> {
        let mut p: Vec<SpecProblem> = Vec::new();
        let mut push = |f: &str, m: String, h: &str| p.push((f.to_string(), m, h.to_string()));
        let n = self.n.map(|x| x as usize).unwrap_or(size);
        if let Some(nn) = self.n {
            if nn == 0 {
                push(
                    "n",
                    "n (replicas per key) must be at least 1".into(),
                    "e.g. `n: 3`, or leave `n` out to use the group size",
                );
            } else if nn as usize > size {
                push(
                    "n",
                    format!("n = {nn} replicas per key, but the store has only {size} replicas"),
                    "use n ≤ `replicas`, or add replicas",
                );
            }
        }
        for (name, v) in [("r", self.r), ("w", self.w)] {
            if let Some(v) = v {
                if v == 0 {
                    push(
                        name,
                        format!("{name} must be at least 1"),
                        "a quorum of 0 replicas acknowledges nothing; use 1 for the fastest setting",
                    );
                } else if n >= 1 && v as usize > n {
                    push(
                        name,
                        format!(
                            "{name} = {v} is larger than n = {n}: the quorum can never be reached"
                        ),
                        "use 1 ≤ r, w ≤ n (r + w > n for overlapping quorums)",
                    );
                }
            }
        }
        if bad_ms(self.timeout_ms) {
            push(
                "timeout_ms",
                format!(
                    "timeout_ms must be a positive number of ms (got {})",
                    self.timeout_ms
                ),
                "e.g. `timeout_ms: 500`",
            );
        }
        if let Some(ae) = self.anti_entropy_ms
            && bad_ms(ae)
        {
            push(
                "anti_entropy_ms",
                format!("anti_entropy_ms must be a positive number of ms (got {ae})"),
                "e.g. `anti_entropy_ms: 1000`, or leave it out to disable",
            );
        }
        if bad_ms(self.hint_interval_ms) {
            push(
                "hint_interval_ms",
                format!(
                    "hint_interval_ms must be a positive number of ms (got {})",
                    self.hint_interval_ms
                ),
                "e.g. `hint_interval_ms: 1000`",
            );
        }
        p
    }
}

/// The `n` replicas holding `key` in a group of `size`, in preference order.
pub fn preference_list(key: u64, n: usize, size: usize) -> impl Iterator<Item = usize> {
    let size = size.max(1);
    let start = (mix64(key) % size as u64) as usize;
    (0..n.min(size)).map(move |i| (start + i) % size)
}

/// Resolved, clamped parameters.
#[derive(Clone, Copy, Debug)]
struct Cfg {
    n: usize,
    r: u32,
    w: u32,
    timeout: SimTime,
    read_repair: bool,
    anti_entropy: Option<SimTime>,
    sloppy: bool,
    handoff: bool,
    hint_interval: SimTime,
    versions: Versions,
}

fn ms_time(ms: f64, fallback_ms: f64) -> SimTime {
    let t = SimTime::from_ms_f64(if ms.is_finite() && ms > 0.0 {
        ms
    } else {
        fallback_ms
    });
    if t.as_ns() == 0 { SimTime(1) } else { t }
}

impl Cfg {
    fn new(s: &QuorumSpec, size: usize) -> Cfg {
        let size = size.clamp(1, 64);
        let n = s.n.map(|x| x as usize).unwrap_or(size).clamp(1, size);
        let maj = (n / 2 + 1) as u32;
        Cfg {
            n,
            r: s.r.unwrap_or(maj).clamp(1, n as u32),
            w: s.w.unwrap_or(maj).clamp(1, n as u32),
            timeout: ms_time(s.timeout_ms, default_timeout_ms()),
            read_repair: s.read_repair,
            anti_entropy: s.anti_entropy_ms.map(|x| ms_time(x, 1000.0)),
            sloppy: s.sloppy_quorum,
            handoff: s.hinted_handoff,
            hint_interval: ms_time(s.hint_interval_ms, default_hint_interval_ms()),
            versions: s.versions,
        }
    }
}

// Timer tags: kind in the top byte, payload (op id or epoch) below.
const KIND_SHIFT: u32 = 56;
const PAYLOAD_MASK: u64 = (1 << KIND_SHIFT) - 1;
const T_OP: u64 = 1;
const T_ANTI_ENTROPY: u64 = 2;
const T_HINTS: u64 = 3;
/// No stand-in (in `Op::stand_in`).
const NONE: u8 = u8::MAX;
/// Hints handed off per target per interval, at most.
const HANDOFF_BATCH: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq)]
enum OpKind {
    Write { version: Version, value: Value },
    Read,
}

/// An operation this replica coordinates. Replica sets are bitmasks (group ≤ 64).
#[derive(Clone, Debug)]
struct Op {
    /// Client handle until replied.
    handle: Option<u64>,
    kind: OpKind,
    key: u64,
    /// 1 = first wait, 2 = waiting on sloppy-quorum stand-ins.
    phase: u8,
    /// Replicas the op was sent to (including this one when local).
    targets: u64,
    /// Targets that answered.
    responded: u64,
    /// Preference-list replicas whose copy is acknowledged (by them or a stand-in).
    covered: u64,
    /// For each target outside the preference list: the replica it stands in for.
    stand_in: [u8; 64],
    /// Acks (writes) or responses (reads) counted.
    count: u32,
    /// Reads: the newest entry seen and who reported exactly it.
    best: Option<(Version, Value)>,
    has_best: u64,
}

#[inline]
fn bit(i: usize) -> u64 {
    1u64 << (i & 63)
}

/// One replica of a leaderless store.
pub struct Quorum {
    cfg: Cfg,
    me: usize,
    size: usize,
    // Durable.
    data: BTreeMap<u64, (Version, Value)>,
    /// Hints held for other replicas: (key, intended replica) → newest version.
    hints: BTreeMap<(u64, u8), (Version, Value)>,
    /// Highest version ts issued or seen.
    clock: u64,
    /// Next operation id (kept across crashes so late acks never match new ops).
    next_op: u64,
    // Volatile.
    ops: BTreeMap<u64, Op>,
    suspect_until: Vec<SimTime>,
    epoch: u64,
}

impl Quorum {
    /// Replica `me` of a group of `size`.
    pub fn new(spec: &QuorumSpec, me: usize, size: usize) -> Quorum {
        let size = size.clamp(1, 64);
        Quorum {
            cfg: Cfg::new(spec, size),
            me: me.min(size - 1),
            size,
            data: BTreeMap::new(),
            hints: BTreeMap::new(),
            clock: 0,
            next_op: 1,
            ops: BTreeMap::new(),
            suspect_until: vec![SimTime::ZERO; size],
            epoch: 0,
        }
    }

    /// Hints currently held, as (key, intended replica).
    pub fn hint_keys(&self) -> Vec<(u64, usize)> {
        self.hints
            .keys()
            .map(|&(k, t)| (k, usize::from(t)))
            .collect()
    }

    fn start_of(&self, key: u64) -> usize {
        (mix64(key) % self.size as u64) as usize
    }

    fn in_pref(&self, key: u64, replica: usize) -> bool {
        (replica + self.size - self.start_of(key)) % self.size < self.cfg.n
    }

    fn suspected(&self, now: SimTime, r: usize) -> bool {
        r != self.me && self.suspect_until.get(r).is_some_and(|&t| t > now)
    }

    fn observe(&mut self, v: Version) {
        self.clock = self.clock.max(v.ts);
    }

    fn next_version(&mut self, io: &Io<'_>) -> Version {
        let ts = match self.cfg.versions {
            Versions::Clock => {
                (io.local_clock_ns().max(0) as u64).max(self.clock.saturating_add(1))
            }
            Versions::Lamport => self.clock.saturating_add(1),
        };
        self.clock = ts;
        Version {
            ts,
            node: self.me as u16,
        }
    }

    /// Store `(v, val)` in the data if newer; true if it changed.
    fn apply(&mut self, key: u64, v: Version, val: Value) -> bool {
        self.observe(v);
        match self.data.get(&key) {
            Some(&(cur, _)) if cur >= v => false,
            _ => {
                self.data.insert(key, (v, val));
                true
            }
        }
    }

    fn store_hint(&mut self, io: &mut Io<'_>, key: u64, target: usize, v: Version, val: Value) {
        self.observe(v);
        let k = (key, target as u8);
        if self.hints.get(&k).is_none_or(|&(cur, _)| cur < v) {
            self.hints.insert(k, (v, val));
            io.event(StoreEvent::HintStored);
        }
    }

    /// Newest version held for `key`, in the data or in hints (stand-ins answer reads too).
    fn newest(&self, key: u64) -> Option<(Version, Value)> {
        let mut best = self.data.get(&key).copied();
        for (_, &e) in self.hints.range((key, 0)..=(key, u8::MAX)) {
            if best.is_none_or(|b| e.0 > b.0) {
                best = Some(e);
            }
        }
        best
    }

    /// The next unsuspected replica outside `key`'s preference list not yet in `used`.
    fn fallback(&self, now: SimTime, key: u64, used: u64) -> Option<usize> {
        let start = self.start_of(key);
        (self.cfg.n..self.size)
            .map(|i| (start + i) % self.size)
            .find(|&c| used & bit(c) == 0 && !self.suspected(now, c))
    }

    fn arm(&self, io: &mut Io<'_>, first: bool) {
        if let Some(ae) = self.cfg.anti_entropy
            && self.size > 1
        {
            // Desynchronise replicas: first round at a random point of the interval.
            let d = if first {
                SimTime(io.rng.random_range(1..=ae.as_ns().max(1)))
            } else {
                ae
            };
            io.timer(
                d,
                (T_ANTI_ENTROPY << KIND_SHIFT) | (self.epoch & PAYLOAD_MASK),
            );
        }
        if self.cfg.handoff {
            io.timer(
                self.cfg.hint_interval,
                (T_HINTS << KIND_SHIFT) | (self.epoch & PAYLOAD_MASK),
            );
        }
    }

    fn new_op(&mut self, handle: u64, kind: OpKind, key: u64) -> u64 {
        let id = self.next_op & PAYLOAD_MASK;
        self.next_op = self.next_op.wrapping_add(1);
        let op = Op {
            handle: Some(handle),
            kind,
            key,
            phase: 1,
            targets: 0,
            responded: 0,
            covered: 0,
            stand_in: [NONE; 64],
            count: 0,
            best: None,
            has_best: 0,
        };
        self.ops.insert(id, op);
        id
    }

    /// Send op `id` to `target` (standing in for `for_replica` if different); local
    /// targets are handled at once.
    fn dispatch(&mut self, io: &mut Io<'_>, id: u64, target: usize, for_replica: usize) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        op.targets |= bit(target);
        if target != for_replica {
            op.stand_in[target] = for_replica as u8;
        }
        let (kind, key) = (op.kind, op.key);
        let hint = (target != for_replica).then_some(for_replica as u8);
        if target == self.me {
            match kind {
                OpKind::Write { version, value } => {
                    match hint {
                        Some(h) => self.store_hint(io, key, usize::from(h), version, value),
                        None => {
                            self.apply(key, version, value);
                        }
                    }
                    self.on_write_ack(io, id, self.me);
                }
                OpKind::Read => {
                    let e = self.newest(key);
                    self.on_read_resp(io, id, self.me, e);
                }
            }
        } else {
            let m = match kind {
                OpKind::Write { version, value } => QuorumMsg::Write {
                    op: id,
                    key,
                    version,
                    value,
                    hint,
                },
                OpKind::Read => QuorumMsg::Read { op: id, key },
            };
            io.send(target, PeerMsg::Quorum(m));
        }
    }

    /// Start op `id`: preference-list replicas, with stand-ins for suspected ones.
    fn start(&mut self, io: &mut Io<'_>, id: u64, key: u64) {
        io.timer(self.cfg.timeout, (T_OP << KIND_SHIFT) | id);
        let start = self.start_of(key);
        let mut used = 0u64;
        for i in 0..self.cfg.n {
            used |= bit((start + i) % self.size);
        }
        // Choose every target before contacting any, so that a local ack that
        // completes the op cannot finish it while targets are still being added.
        let mut plan = [(0u8, 0u8); 64];
        let mut all = 0u64;
        for (i, slot) in plan.iter_mut().enumerate().take(self.cfg.n) {
            let p = (start + i) % self.size;
            let mut target = p;
            if self.cfg.sloppy
                && self.suspected(io.now, p)
                && let Some(c) = self.fallback(io.now, key, used)
            {
                used |= bit(c);
                target = c;
            }
            *slot = (target as u8, p as u8);
            all |= bit(target);
        }
        if let Some(op) = self.ops.get_mut(&id) {
            op.targets = all;
        }
        for &(target, p) in &plan[..self.cfg.n] {
            self.dispatch(io, id, usize::from(target), usize::from(p));
        }
    }

    fn on_write_ack(&mut self, io: &mut Io<'_>, id: u64, from: usize) {
        let w = self.cfg.w;
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        if !matches!(op.kind, OpKind::Write { .. })
            || op.targets & bit(from) == 0
            || op.responded & bit(from) != 0
        {
            return;
        }
        op.responded |= bit(from);
        op.count += 1;
        let s = op.stand_in[from & 63];
        op.covered |= bit(if s == NONE { from } else { usize::from(s) });
        if op.count >= w
            && let Some(h) = op.handle.take()
        {
            io.reply(h, Reply::Ok(None));
        }
        if op.responded == op.targets && op.handle.is_none() {
            self.finish_write(io, id);
        }
    }

    /// The write is over: keep coordinator hints for uncovered preference-list replicas.
    fn finish_write(&mut self, io: &mut Io<'_>, id: u64) {
        let Some(op) = self.ops.remove(&id) else {
            return;
        };
        let OpKind::Write { version, value } = op.kind else {
            return;
        };
        if let Some(h) = op.handle {
            io.reply(
                h,
                if op.count >= self.cfg.w {
                    Reply::Ok(None)
                } else {
                    Reply::Unknown
                },
            );
        }
        if self.cfg.handoff {
            let start = self.start_of(op.key);
            for i in 0..self.cfg.n {
                let p = (start + i) % self.size;
                if p != self.me && op.covered & bit(p) == 0 {
                    self.store_hint(io, op.key, p, version, value);
                }
            }
        }
    }

    fn on_read_resp(
        &mut self,
        io: &mut Io<'_>,
        id: u64,
        from: usize,
        entry: Option<(Version, Value)>,
    ) {
        if let Some((v, _)) = entry {
            self.observe(v);
        }
        let (r, repair) = (self.cfg.r, self.cfg.read_repair);
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        if op.kind != OpKind::Read || op.targets & bit(from) == 0 || op.responded & bit(from) != 0 {
            return;
        }
        op.responded |= bit(from);
        op.count += 1;
        let key = op.key;
        let ver = entry.map(|e| e.0);
        let best = op.best.map(|e| e.0);
        let mut late_repair = None;
        if ver > best {
            op.best = entry;
            op.has_best = bit(from);
        } else if ver == best {
            op.has_best |= bit(from);
        } else if op.handle.is_none() && repair {
            late_repair = op.best;
        }
        let mut repair_mask = 0;
        let mut best_now = op.best;
        if op.count >= r
            && let Some(h) = op.handle.take()
        {
            io.reply(h, Reply::Ok(op.best.map(|e| e.1)));
            if repair {
                repair_mask = op.responded & !op.has_best;
            }
        }
        if let Some(b) = late_repair {
            repair_mask |= bit(from);
            best_now = Some(b);
        }
        let done = op.responded == op.targets && op.handle.is_none();
        if let (Some((v, val)), true) = (best_now, repair_mask != 0) {
            for t in 0..self.size {
                if repair_mask & bit(t) != 0 && self.in_pref(key, t) {
                    io.event(StoreEvent::ReadRepair);
                    if t == self.me {
                        self.apply(key, v, val);
                    } else {
                        io.send(
                            t,
                            PeerMsg::Quorum(QuorumMsg::Repair {
                                key,
                                version: v,
                                value: val,
                            }),
                        );
                    }
                }
            }
        }
        if done {
            self.ops.remove(&id);
        }
    }

    fn on_op_timeout(&mut self, io: &mut Io<'_>, id: u64) {
        let now = io.now;
        let Some(op) = self.ops.get(&id) else { return };
        let (targets, responded, key, phase, count, kind) = (
            op.targets,
            op.responded,
            op.key,
            op.phase,
            op.count,
            op.kind,
        );
        let susp = now + self.cfg.hint_interval;
        for t in 0..self.size {
            if targets & !responded & bit(t) != 0 && t != self.me {
                self.suspect_until[t] = susp;
            }
        }
        let need = match kind {
            OpKind::Write { .. } => self.cfg.w,
            OpKind::Read => self.cfg.r,
        };
        if count < need && phase == 1 && self.cfg.sloppy {
            // Replace the silent ones by stand-ins and wait once more.
            let mut used = targets;
            let start = self.start_of(key);
            for i in 0..self.cfg.n {
                used |= bit((start + i) % self.size);
            }
            let mut plan: Vec<(usize, usize)> = Vec::new();
            for t in 0..self.size {
                if targets & !responded & bit(t) == 0 {
                    continue;
                }
                let s = self.ops.get(&id).map_or(NONE, |o| o.stand_in[t]);
                let for_replica = if s == NONE { t } else { usize::from(s) };
                if let Some(c) = self.fallback(now, key, used) {
                    used |= bit(c);
                    plan.push((c, for_replica));
                }
            }
            let sent = !plan.is_empty();
            if let Some(op) = self.ops.get_mut(&id) {
                plan.iter().for_each(|&(c, _)| op.targets |= bit(c));
            }
            for (c, for_replica) in plan {
                self.dispatch(io, id, c, for_replica);
            }
            if let Some(op) = self.ops.get_mut(&id)
                && sent
                && op.handle.is_some()
            {
                op.phase = 2;
                io.timer(self.cfg.timeout, (T_OP << KIND_SHIFT) | id);
                return;
            }
        }
        match kind {
            OpKind::Write { .. } => self.finish_write(io, id),
            OpKind::Read => {
                if let Some(h) = self.ops.remove(&id).and_then(|op| op.handle) {
                    io.reply(h, Reply::Fail);
                }
            }
        }
    }

    fn anti_entropy(&mut self, io: &mut Io<'_>) {
        if self.size < 2 {
            return;
        }
        let mut peer = io.rng.random_range(0..self.size - 1);
        if peer >= self.me {
            peer += 1;
        }
        let entries: Vec<(u64, Version)> = self
            .data
            .iter()
            .filter(|(k, _)| self.in_pref(**k, peer))
            .map(|(k, e)| (*k, e.0))
            .collect();
        io.send(peer, PeerMsg::Quorum(QuorumMsg::Digest { entries }));
    }

    /// Compare a peer's digest with our data (keys both hold): push what we have
    /// newer, ask for what they have newer.
    fn on_digest(&mut self, io: &mut Io<'_>, from: usize, entries: &[(u64, Version)]) {
        let mut push = Vec::new();
        let mut want = Vec::new();
        let mut theirs = entries.iter().peekable();
        let mine = self.data.iter().filter(|(k, _)| self.in_pref(**k, from));
        for (&k, &(v, val)) in mine {
            while let Some(&&(tk, _)) = theirs.peek() {
                if tk >= k {
                    break;
                }
                if self.in_pref(tk, self.me) {
                    want.push(tk);
                }
                theirs.next();
            }
            match theirs.peek() {
                Some(&&(tk, tv)) if tk == k => {
                    if tv > v {
                        want.push(k);
                    } else if v > tv {
                        push.push((k, v, val));
                    }
                    theirs.next();
                }
                _ => push.push((k, v, val)),
            }
        }
        for &(tk, _) in theirs {
            if self.in_pref(tk, self.me) {
                want.push(tk);
            }
        }
        if !push.is_empty() {
            io.send(from, PeerMsg::Quorum(QuorumMsg::Push { entries: push }));
        }
        if !want.is_empty() {
            io.send(from, PeerMsg::Quorum(QuorumMsg::Want { keys: want }));
        }
    }

    fn deliver_hints(&mut self, io: &mut Io<'_>) {
        let mut per: Vec<Vec<(u64, Version, Value)>> = vec![Vec::new(); self.size];
        for (&(k, t), &(v, val)) in &self.hints {
            let t = usize::from(t);
            if t < self.size && t != self.me && per[t].len() < HANDOFF_BATCH {
                per[t].push((k, v, val));
            }
        }
        for (t, entries) in per.into_iter().enumerate() {
            if !entries.is_empty() {
                io.send(t, PeerMsg::Quorum(QuorumMsg::Handoff { entries }));
            }
        }
    }
}

impl ReplicaPolicy for Quorum {
    fn on_start(&mut self, io: &mut Io<'_>) {
        self.arm(io, true);
    }

    fn on_client(&mut self, io: &mut Io<'_>, op: ClientOp) {
        match op.op {
            OpSpec::Cas => io.reply(op.handle, Reply::Fail),
            OpSpec::Write => {
                let version = self.next_version(io);
                let id = self.new_op(
                    op.handle,
                    OpKind::Write {
                        version,
                        value: op.value,
                    },
                    op.key,
                );
                self.start(io, id, op.key);
            }
            OpSpec::Read => {
                let id = self.new_op(op.handle, OpKind::Read, op.key);
                self.start(io, id, op.key);
            }
        }
    }

    fn on_peer(&mut self, io: &mut Io<'_>, from: usize, msg: PeerMsg) {
        let PeerMsg::Quorum(m) = msg else { return };
        if from >= self.size {
            return;
        }
        // Any message proves the sender is reachable.
        self.suspect_until[from] = SimTime::ZERO;
        match m {
            QuorumMsg::Write {
                op,
                key,
                version,
                value,
                hint,
            } => {
                match hint {
                    Some(h) if usize::from(h) != self.me && usize::from(h) < self.size => {
                        self.store_hint(io, key, usize::from(h), version, value)
                    }
                    _ => {
                        self.apply(key, version, value);
                    }
                }
                io.send(from, PeerMsg::Quorum(QuorumMsg::WriteAck { op }));
            }
            QuorumMsg::WriteAck { op } => self.on_write_ack(io, op, from),
            QuorumMsg::Read { op, key } => {
                let entry = self.newest(key);
                io.send(from, PeerMsg::Quorum(QuorumMsg::ReadResp { op, entry }));
            }
            QuorumMsg::ReadResp { op, entry } => self.on_read_resp(io, op, from, entry),
            QuorumMsg::Repair {
                key,
                version,
                value,
            } => {
                if self.in_pref(key, self.me) {
                    self.apply(key, version, value);
                }
            }
            QuorumMsg::Digest { entries } => self.on_digest(io, from, &entries),
            QuorumMsg::Want { keys } => {
                let entries: Vec<(u64, Version, Value)> = keys
                    .iter()
                    .filter_map(|k| self.data.get(k).map(|&(v, val)| (*k, v, val)))
                    .collect();
                if !entries.is_empty() {
                    io.send(from, PeerMsg::Quorum(QuorumMsg::Push { entries }));
                }
            }
            QuorumMsg::Push { entries } => {
                for (k, v, val) in entries {
                    if self.in_pref(k, self.me) {
                        self.apply(k, v, val);
                    }
                }
            }
            QuorumMsg::Handoff { entries } => {
                let mut acks = Vec::with_capacity(entries.len());
                for (k, v, val) in entries {
                    self.apply(k, v, val);
                    acks.push((k, v));
                }
                io.send(
                    from,
                    PeerMsg::Quorum(QuorumMsg::HandoffAck { entries: acks }),
                );
            }
            QuorumMsg::HandoffAck { entries } => {
                for (k, v) in entries {
                    let hk = (k, from as u8);
                    if self.hints.get(&hk).is_some_and(|&(cur, _)| cur <= v) {
                        self.hints.remove(&hk);
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, io: &mut Io<'_>, tag: u64) {
        let payload = tag & PAYLOAD_MASK;
        match tag >> KIND_SHIFT {
            T_OP => self.on_op_timeout(io, payload),
            T_ANTI_ENTROPY if payload == self.epoch & PAYLOAD_MASK => {
                self.anti_entropy(io);
                if let Some(ae) = self.cfg.anti_entropy {
                    io.timer(ae, tag);
                }
            }
            T_HINTS if payload == self.epoch & PAYLOAD_MASK => {
                self.deliver_hints(io);
                io.timer(self.cfg.hint_interval, tag);
            }
            _ => {}
        }
    }

    fn on_crash(&mut self) {
        self.ops.clear();
        self.suspect_until
            .iter_mut()
            .for_each(|t| *t = SimTime::ZERO);
        self.epoch = self.epoch.wrapping_add(1);
    }

    fn on_restart(&mut self, io: &mut Io<'_>) {
        self.arm(io, true);
    }

    fn values(&self, key: u64) -> Vec<Value> {
        self.data.get(&key).map(|e| vec![e.1]).unwrap_or_default()
    }

    fn keys(&self) -> Vec<u64> {
        self.data.keys().copied().collect()
    }

    fn responsible(&self, key: u64) -> bool {
        self.in_pref(key, self.me)
    }

    fn role(&self) -> Role {
        Role::Peer
    }
}

/// The leaderless policy for replica `me` of a group of `size`.
pub fn build(s: &QuorumSpec, me: usize, size: usize) -> Box<dyn ReplicaPolicy> {
    Box::new(Quorum::new(s, me, size))
}

/// A tiny deterministic message pump for policy-level tests: replicas exchange
/// [`PeerMsg`]s through a time-ordered queue with a per-message latency function,
/// partitions (a blocked-pair matrix checked at send and at delivery) and crashes
/// (queued messages and timers of a crashed replica are dropped).
#[cfg(test)]
pub(crate) mod pump {
    use super::super::{Action, ClientOp, Io, PeerMsg, ReplicaPolicy, Reply, StoreEvent};
    use crate::detrand::{SimRng, stream};
    use crate::engine::SimTime;
    use crate::scenario::spec::OpSpec;
    use std::collections::BTreeMap;

    pub enum Ev {
        Msg {
            from: usize,
            to: usize,
            msg: PeerMsg,
        },
        Timer {
            node: usize,
            tag: u64,
            life: u64,
        },
        Client {
            node: usize,
            op: ClientOp,
        },
    }

    /// Latency of one message in ns: (rng, from, to, message).
    pub type LatencyFn = Box<dyn FnMut(&mut SimRng, usize, usize, &PeerMsg) -> u64>;

    pub struct Pump {
        pub now: u64,
        pub nodes: Vec<Box<dyn ReplicaPolicy>>,
        rngs: Vec<SimRng>,
        pub skew_ns: Vec<i64>,
        pub alive: Vec<bool>,
        /// Incremented on crash: timers from an earlier life never fire.
        life: Vec<u64>,
        /// `blocked[a][b]`: messages from a to b are lost.
        pub blocked: Vec<Vec<bool>>,
        queue: BTreeMap<(u64, u64), Ev>,
        seq: u64,
        pub latency: LatencyFn,
        lat_rng: SimRng,
        /// handle → (time, reply). A second reply to one handle panics.
        pub replies: BTreeMap<u64, (u64, Reply)>,
        pub events: Vec<(u64, usize, StoreEvent)>,
        pub sent: u64,
        next_handle: u64,
        actions: Vec<Action>,
    }

    impl Pump {
        /// `nodes` replicas built by `build(me, n)`, constant 1 ms latency, started.
        pub fn new(
            n: usize,
            seed: u64,
            build: impl Fn(usize, usize) -> Box<dyn ReplicaPolicy>,
        ) -> Pump {
            let mut p = Pump {
                now: 0,
                nodes: (0..n).map(|i| build(i, n)).collect(),
                rngs: (0..n)
                    .map(|i| stream(seed, &format!("replica-{i}")))
                    .collect(),
                skew_ns: vec![0; n],
                alive: vec![true; n],
                life: vec![0; n],
                blocked: vec![vec![false; n]; n],
                queue: BTreeMap::new(),
                seq: 0,
                latency: Box::new(|_, _, _, _| 1_000_000),
                lat_rng: stream(seed, "pump-latency"),
                replies: BTreeMap::new(),
                events: Vec::new(),
                sent: 0,
                next_handle: 0,
                actions: Vec::new(),
            };
            for i in 0..n {
                p.call(i, |pol, io| pol.on_start(io));
            }
            p
        }

        fn push(&mut self, at: u64, ev: Ev) {
            self.seq += 1;
            self.queue.insert((at, self.seq), ev);
        }

        fn call(&mut self, node: usize, f: impl FnOnce(&mut dyn ReplicaPolicy, &mut Io<'_>)) {
            let mut actions = std::mem::take(&mut self.actions);
            {
                let n = self.nodes.len();
                let mut io = Io {
                    now: SimTime(self.now),
                    me: node,
                    n,
                    rng: &mut self.rngs[node],
                    clock_skew_ns: self.skew_ns[node],
                    actions: &mut actions,
                };
                f(self.nodes[node].as_mut(), &mut io);
            }
            for a in actions.drain(..) {
                match a {
                    Action::Reply { handle, reply } => {
                        let again = self.replies.insert(handle, (self.now, reply));
                        assert!(again.is_none(), "handle {handle} answered twice");
                    }
                    Action::Send { to, msg } => {
                        self.sent += 1;
                        if !self.blocked[node][to] {
                            let d = (self.latency)(&mut self.lat_rng, node, to, &msg);
                            self.push(
                                self.now + d,
                                Ev::Msg {
                                    from: node,
                                    to,
                                    msg,
                                },
                            );
                        }
                    }
                    Action::Timer { delay, tag } => {
                        let life = self.life[node];
                        self.push(self.now + delay.as_ns(), Ev::Timer { node, tag, life });
                    }
                    Action::Event(e) => self.events.push((self.now, node, e)),
                }
            }
            self.actions = actions;
        }

        /// Submit a client operation to `node` at the current time; returns its handle.
        pub fn client(&mut self, node: usize, op: OpSpec, key: u64, value: i64) -> u64 {
            self.next_handle += 1;
            let handle = self.next_handle;
            let op = ClientOp {
                handle,
                op,
                key,
                value,
                expected: None,
            };
            if self.alive[node] {
                self.call(node, |p, io| p.on_client(io, op));
            }
            handle
        }

        /// Schedule a client operation at time `at`; returns its handle.
        pub fn client_at(&mut self, at: u64, node: usize, op: OpSpec, key: u64, value: i64) -> u64 {
            self.next_handle += 1;
            let handle = self.next_handle;
            self.push(
                at,
                Ev::Client {
                    node,
                    op: ClientOp {
                        handle,
                        op,
                        key,
                        value,
                        expected: None,
                    },
                },
            );
            handle
        }

        pub fn reply_of(&self, handle: u64) -> Option<(u64, Reply)> {
            self.replies.get(&handle).copied()
        }

        /// Process events up to and including time `t` (the clock ends at `t`).
        pub fn run_until(&mut self, t: u64) {
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 > t {
                    break;
                }
                let ((at, _), ev) = entry.remove_entry();
                self.now = at;
                match ev {
                    Ev::Msg { from, to, msg } => {
                        if self.alive[to] && !self.blocked[from][to] {
                            self.call(to, |p, io| p.on_peer(io, from, msg));
                        }
                    }
                    Ev::Timer { node, tag, life } => {
                        if self.alive[node] && self.life[node] == life {
                            self.call(node, |p, io| p.on_timer(io, tag));
                        }
                    }
                    Ev::Client { node, op } => {
                        if self.alive[node] {
                            self.call(node, |p, io| p.on_client(io, op));
                        }
                    }
                }
            }
            self.now = self.now.max(t);
        }

        /// Run until `handle` is answered or time `limit`; the reply, if any.
        pub fn run_for_reply(&mut self, handle: u64, limit: u64) -> Option<(u64, Reply)> {
            while self.reply_of(handle).is_none() {
                let Some((&(at, _), _)) = self.queue.first_key_value() else {
                    break;
                };
                if at > limit {
                    break;
                }
                self.run_until(at);
            }
            self.reply_of(handle)
        }

        /// Cut every link between `a` and the rest (both ways), or restore them.
        pub fn isolate(&mut self, group: &[usize], cut: bool) {
            let n = self.nodes.len();
            for &a in group {
                for b in 0..n {
                    if !group.contains(&b) {
                        self.blocked[a][b] = cut;
                        self.blocked[b][a] = cut;
                    }
                }
            }
        }

        pub fn crash(&mut self, node: usize) {
            self.alive[node] = false;
            self.life[node] += 1;
            self.nodes[node].on_crash();
        }

        pub fn restart(&mut self, node: usize) {
            self.alive[node] = true;
            self.call(node, |p, io| p.on_restart(io));
        }

        pub fn values(&self, node: usize, key: u64) -> Vec<i64> {
            self.nodes[node].values(key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pump::Pump;
    use super::*;
    use crate::consistency::{History, Op as HOp, Outcome, analyze};
    use crate::detrand::stream;
    use crate::scenario::spec::OpSpec::{Cas, Read, Write};

    const MS: u64 = 1_000_000;

    fn spec(f: impl FnOnce(&mut QuorumSpec)) -> QuorumSpec {
        let mut s = QuorumSpec::default();
        f(&mut s);
        s
    }

    fn pump(size: usize, s: &QuorumSpec) -> Pump {
        let s = s.clone();
        Pump::new(size, 1, move |me, n| build(&s, me, n))
    }

    /// A key whose preference list (in a group of `size`, `n` per key) satisfies `f`.
    fn key_where(n: usize, size: usize, f: impl Fn(&[usize]) -> bool) -> (u64, Vec<usize>) {
        (0..10_000u64)
            .map(|k| (k, preference_list(k, n, size).collect::<Vec<_>>()))
            .find(|(_, pl)| f(pl))
            .expect("some key fits")
    }

    #[test]
    fn spec_parses_from_ron_with_documented_defaults() {
        // The scenario loader's RON options: implicit `Some`, unwrapped newtype variants.
        let opts = ron::Options::default().with_default_extension(
            ron::extensions::Extensions::IMPLICIT_SOME
                | ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES,
        );
        let p: super::super::PolicySpec = opts.from_str("Leaderless(r: 2, w: 2)").expect("parses");
        let super::super::PolicySpec::Leaderless(s) = p else {
            panic!("wrong variant")
        };
        assert_eq!((s.n, s.r, s.w), (None, Some(2), Some(2)));
        assert_eq!(s.timeout_ms, 1000.0);
        assert!(s.read_repair && !s.sloppy_quorum && !s.hinted_handoff);
        assert_eq!(s.anti_entropy_ms, None);
        assert_eq!(s.versions, Versions::Clock);
        let all: QuorumSpec = opts.from_str(
            "(n: 3, r: 1, w: 3, timeout_ms: 50, read_repair: false, anti_entropy_ms: 200, sloppy_quorum: true, hinted_handoff: true, hint_interval_ms: 100, versions: Lamport)",
        )
        .expect("parses");
        assert_eq!(all.n, Some(3));
        assert!(
            opts.from_str::<QuorumSpec>("(q: 1)").is_err(),
            "unknown fields are rejected"
        );
        // Defaults resolve to majorities of the group.
        let c = Cfg::new(&QuorumSpec::default(), 5);
        assert_eq!((c.n, c.r, c.w), (5, 3, 3));
    }

    #[test]
    fn validate_reports_every_impossible_setting() {
        assert!(QuorumSpec::default().validate(3).is_empty());
        let bad = spec(|s| {
            s.n = Some(4);
            s.r = Some(0);
            s.w = Some(5);
            s.timeout_ms = 0.0;
            s.anti_entropy_ms = Some(f64::NAN);
            s.hint_interval_ms = -1.0;
        });
        let fields: Vec<String> = bad.validate(3).into_iter().map(|p| p.0).collect();
        assert_eq!(
            fields,
            [
                "n",
                "r",
                "w",
                "timeout_ms",
                "anti_entropy_ms",
                "hint_interval_ms"
            ]
        );
        assert_eq!(spec(|s| s.n = Some(0)).validate(3)[0].0, "n");
        // w ≤ n is checked against n, not the group size.
        assert_eq!(
            spec(|s| {
                s.n = Some(2);
                s.w = Some(3)
            })
            .validate(5)[0]
                .0,
            "w"
        );
        // build never panics on an invalid spec.
        let _ = build(&bad, 7, 0);
    }

    #[test]
    fn write_is_acknowledged_at_the_wth_ack_and_not_before() {
        for (w, expect_ms) in [(1u32, 0u64), (2, 2), (3, 10)] {
            let mut p = pump(3, &spec(|s| s.w = Some(w)));
            // 0 → 1: 1 ms each way; 0 → 2: 5 ms each way.
            p.latency = Box::new(|_, a, b, _| if a.max(b) == 2 { 5 * MS } else { MS });
            let h = p.client(0, Write, 7, 42);
            let (t, r) = p.run_for_reply(h, 100 * MS).expect("replied");
            assert_eq!((t, r), (expect_ms * MS, Reply::Ok(None)), "w = {w}");
            p.run_until(100 * MS);
            for i in 0..3 {
                assert_eq!(p.values(i, 7), vec![42], "w = {w}, replica {i}");
            }
            assert_eq!(p.replies.len(), 1, "exactly one reply per handle");
        }
    }

    #[test]
    fn without_a_quorum_writes_are_unknown_reads_fail_and_cas_is_refused() {
        let mut p = pump(3, &spec(|s| s.timeout_ms = 50.0));
        p.isolate(&[0], true);
        let w = p.client(0, Write, 1, 5);
        assert_eq!(
            p.run_for_reply(w, 200 * MS),
            Some((50 * MS, Reply::Unknown))
        );
        // The write did land locally: Unknown, not Fail, was the right answer.
        assert_eq!(p.values(0, 1), vec![5]);
        let r = p.client(0, Read, 1, 0);
        assert_eq!(p.run_for_reply(r, 500 * MS), Some((100 * MS, Reply::Fail)));
        let c = p.client(1, Cas, 1, 9);
        assert_eq!(p.reply_of(c), Some((100 * MS, Reply::Fail)));
        assert_eq!(p.values(1, 1), Vec::<i64>::new());
    }

    #[test]
    fn read_returns_the_newest_of_r_responses_and_repairs_stale_replicas() {
        for repair in [true, false] {
            let mut p = pump(3, &spec(|s| s.read_repair = repair));
            p.isolate(&[2], true);
            let w = p.client(0, Write, 3, 11);
            assert_eq!(
                p.run_for_reply(w, 10 * MS).map(|x| x.1),
                Some(Reply::Ok(None))
            );
            p.run_until(2000 * MS);
            p.isolate(&[2], false);
            assert!(p.values(2, 3).is_empty());
            // Replica 2 coordinates: its own (empty) copy and one fresh response.
            let r = p.client(2, Read, 3, 0);
            assert_eq!(
                p.run_for_reply(r, 3000 * MS).map(|x| x.1),
                Some(Reply::Ok(Some(11)))
            );
            p.run_until(3000 * MS);
            let repaired = p.events.iter().any(|e| e.2 == StoreEvent::ReadRepair);
            assert_eq!(p.values(2, 3) == vec![11], repair, "read_repair = {repair}");
            assert_eq!(repaired, repair);
        }
    }

    #[test]
    fn anti_entropy_converges_replicas_that_missed_writes() {
        for ae in [Some(50.0), None] {
            let mut p = pump(
                3,
                &spec(|s| {
                    s.w = Some(1);
                    s.read_repair = false;
                    s.anti_entropy_ms = ae;
                }),
            );
            p.isolate(&[2], true);
            for k in 0..20 {
                p.client(k as usize % 2, Write, k, 100 + k as i64);
            }
            p.run_until(100 * MS);
            p.isolate(&[2], false);
            p.run_until(1000 * MS);
            let converged = (0..20).all(|k| p.values(2, k) == vec![100 + k as i64]);
            assert_eq!(converged, ae.is_some(), "anti_entropy_ms = {ae:?}");
            assert_eq!(p.nodes[2].keys().len(), if ae.is_some() { 20 } else { 0 });
        }
    }

    #[test]
    fn sloppy_quorum_writes_through_stand_ins_and_hands_hints_back_after_heal() {
        // 5 replicas, 3 per key; the coordinator is first in the key's preference list.
        let (key, pl) = key_where(3, 5, |_| true);
        let (coord, lost) = (pl[0], pl[2]);
        for sloppy in [true, false] {
            let s = spec(|s| {
                s.n = Some(3);
                s.w = Some(3);
                s.r = Some(1);
                s.timeout_ms = 20.0;
                s.sloppy_quorum = sloppy;
                s.hinted_handoff = true;
                s.hint_interval_ms = 100.0;
                s.read_repair = false;
            });
            let mut p = pump(5, &s);
            p.isolate(&[lost], true);
            let w1 = p.client(coord, Write, key, 1);
            let (t1, r1) = p.run_for_reply(w1, 500 * MS).expect("replied");
            if !sloppy {
                assert_eq!(
                    r1,
                    Reply::Unknown,
                    "a strict quorum of 3 cannot be met with one replica cut off"
                );
                continue;
            }
            // First write: one timeout, then a stand-in acknowledges (2 ms round trip).
            assert_eq!((t1, r1), (22 * MS, Reply::Ok(None)));
            // The unreachable replica is now suspected: the next write goes straight to a stand-in.
            p.run_until(30 * MS);
            let w2 = p.client(coord, Write, key, 2);
            assert_eq!(
                p.run_for_reply(w2, 500 * MS),
                Some((32 * MS, Reply::Ok(None)))
            );
            assert!(p.events.iter().any(|e| e.2 == StoreEvent::HintStored));
            p.run_until(90 * MS);
            assert!(p.values(lost, key).is_empty());
            // Stand-ins hold the value as a hint, not as their own data.
            for r in (0..5).filter(|r| !pl.contains(r)) {
                assert!(p.values(r, key).is_empty());
            }
            p.isolate(&[lost], false);
            p.run_until(400 * MS);
            assert_eq!(
                p.values(lost, key),
                vec![2],
                "hint handed off after the heal"
            );
            for &r in &pl {
                assert_eq!(p.values(r, key), vec![2]);
            }
        }
    }

    #[test]
    fn hinted_handoff_without_sloppy_quorum_keeps_hints_at_the_coordinator() {
        for handoff in [true, false] {
            let mut p = pump(
                3,
                &spec(|s| {
                    s.w = Some(2);
                    s.timeout_ms = 20.0;
                    s.hinted_handoff = handoff;
                    s.hint_interval_ms = 100.0;
                    s.read_repair = false;
                }),
            );
            p.isolate(&[2], true);
            let w = p.client(0, Write, 4, 9);
            assert_eq!(
                p.run_for_reply(w, 100 * MS).map(|x| x.1),
                Some(Reply::Ok(None))
            );
            p.run_until(50 * MS);
            p.isolate(&[2], false);
            p.run_until(500 * MS);
            assert_eq!(
                p.values(2, 4) == vec![9],
                handoff,
                "hinted_handoff = {handoff}"
            );
        }
    }

    #[test]
    fn lamport_versions_let_a_later_write_lose_but_clock_versions_do_not() {
        for versions in [Versions::Lamport, Versions::Clock] {
            let mut p = pump(
                3,
                &spec(|s| {
                    s.w = Some(1);
                    s.r = Some(3);
                    s.read_repair = false;
                    s.versions = versions;
                }),
            );
            p.isolate(&[0], true);
            // Replica 0 issues several versions (its counter runs ahead), key 1 last.
            for k in 10..15 {
                p.client(0, Write, k, k as i64);
            }
            let a = p.client(0, Write, 1, 100);
            assert_eq!(p.reply_of(a).map(|x| x.1), Some(Reply::Ok(None)));
            p.run_until(10 * MS);
            p.isolate(&[0], false);
            // Later in real time, replica 1 (which never saw A) writes key 1.
            let b = p.client(1, Write, 1, 200);
            assert_eq!(p.reply_of(b).map(|x| x.1), Some(Reply::Ok(None)));
            p.run_until(20 * MS);
            let r = p.client(2, Read, 1, 0);
            let got = p.run_for_reply(r, 100 * MS).map(|x| x.1);
            let expect = if versions == Versions::Lamport {
                100
            } else {
                200
            };
            assert_eq!(got, Some(Reply::Ok(Some(expect))), "{versions:?}");
        }
    }

    #[test]
    fn crash_keeps_stored_data_and_drops_inflight_operations() {
        let mut p = pump(3, &spec(|s| s.w = Some(3)));
        let w = p.client(0, Write, 1, 1);
        p.run_for_reply(w, 100 * MS);
        p.isolate(&[2], true);
        let lost = p.client(0, Write, 1, 2);
        p.run_until(p.now + MS / 2);
        p.crash(0);
        p.run_until(p.now + 2000 * MS);
        p.restart(0);
        p.run_until(p.now + 2000 * MS);
        assert_eq!(
            p.reply_of(lost),
            None,
            "a crashed coordinator never answers"
        );
        assert_eq!(p.values(0, 1), vec![2], "data is durable");
        // The restarted replica coordinates again.
        p.isolate(&[2], false);
        let r = p.client(0, Read, 1, 0);
        assert_eq!(
            p.run_for_reply(r, p.now + 100 * MS).map(|x| x.1),
            Some(Reply::Ok(Some(2)))
        );
    }

    /// Random concurrent workload through the pump; returns (stale reads, ok reads).
    fn random_workload(r: u32, w: u32, seed: u64) -> (u64, u64) {
        let s = spec(|s| {
            s.r = Some(r);
            s.w = Some(w);
            s.read_repair = true;
        });
        let mut p = Pump::new(3, seed, move |me, n| build(&s, me, n));
        p.latency =
            Box::new(|rng, _, _, _| (rng.random::<f64>().max(1e-12).ln() * -2e6) as u64 + 1);
        let mut rng = stream(seed, "workload");
        let mut ops = Vec::new();
        let mut val = 0;
        for i in 0..600u64 {
            let at = i * MS / 2 + rng.random_range(0..MS);
            let node = rng.random_range(0..3);
            let key = rng.random_range(0..3);
            let is_write = rng.random::<f64>() < 0.5;
            val += 1;
            let h = p.client_at(at, node, if is_write { Write } else { Read }, key, val);
            ops.push((h, at, key, is_write, val));
        }
        p.run_until(10_000 * MS);
        let mut hist = Vec::new();
        for (i, &(h, at, key, is_write, v)) in ops.iter().enumerate() {
            let (done, reply) = p.reply_of(h).expect("every op answered");
            let op = match (is_write, reply) {
                (true, Reply::Ok(_)) => HOp::write(i as u64, i as u64, key, v, at, done),
                (false, Reply::Ok(got)) => HOp::read(i as u64, i as u64, key, got, at, done),
                (true, _) => {
                    HOp::write(i as u64, i as u64, key, v, at, done).with_outcome(Outcome::Info)
                }
                (false, _) => continue,
            };
            hist.push(op);
        }
        let rep = analyze(&History::new(hist), None);
        (rep.stale_reads, rep.ok_reads)
    }

    #[test]
    fn overlapping_quorums_never_read_stale_values_but_r1_w1_do() {
        let (mut stale, mut reads) = (0, 0);
        for seed in 0..10 {
            let (s, r) = random_workload(2, 2, seed);
            stale += s;
            reads += r;
        }
        assert!(reads > 2000);
        assert_eq!(stale, 0, "R + W > N must give no stale read");
        // The detector and workload can see staleness: R = W = 1 shows some.
        let sloppy: u64 = (0..10).map(|seed| random_workload(1, 1, seed).0).sum();
        assert!(
            sloppy > 0,
            "R = W = 1 should produce stale reads in this workload"
        );
    }

    /// Independent Monte-Carlo of the WARS model (Bailis et al., PBS, VLDB 2012) for a
    /// coordinator outside the preference list, N = 3 replicas, W = R = 1: the
    /// probability that a read sent `t_ms` after the write was acknowledged returns it.
    fn wars_mc(means_ms: [f64; 4], t_ms: f64, samples: u32, seed: u64) -> f64 {
        let mut rng = stream(seed, "wars-mc");
        let mut exp = |mean: f64| -mean * (1.0 - rng.random::<f64>()).ln();
        let mut fresh = 0u32;
        for _ in 0..samples {
            // Per replica: write leg W, ack leg A; commit at the first ack (w = 1).
            let w: [f64; 3] = std::array::from_fn(|_| exp(means_ms[0]));
            let commit = w
                .iter()
                .map(|wi| wi + exp(means_ms[1]))
                .fold(f64::INFINITY, f64::min);
            // Read leg R, response leg S; the first response answers (r = 1).
            let r: [f64; 3] = std::array::from_fn(|_| exp(means_ms[2]));
            let back: [f64; 3] = std::array::from_fn(|i| r[i] + exp(means_ms[3]));
            let i = (0..3)
                .min_by(|&a, &b| back[a].total_cmp(&back[b]))
                .unwrap_or(0);
            // That replica has the write iff it arrived before the read did.
            if w[i] <= commit + t_ms + r[i] {
                fresh += 1;
            }
        }
        f64::from(fresh) / f64::from(samples)
    }

    #[test]
    fn wars_staleness_matches_independent_monte_carlo() {
        // Legs: write W, ack A, read R, response S, exponential with these means (ms).
        let means = [2.0, 1.0, 1.0, 0.5];
        let s = spec(|s| {
            s.n = Some(3);
            s.r = Some(1);
            s.w = Some(1);
            s.read_repair = false;
            s.timeout_ms = 10_000.0;
        });
        let mut p = Pump::new(4, 3, move |me, n| build(&s, me, n));
        p.latency = Box::new(move |rng, _, _, m| {
            let mean = match m {
                PeerMsg::Quorum(QuorumMsg::Write { .. }) => means[0],
                PeerMsg::Quorum(QuorumMsg::WriteAck { .. }) => means[1],
                PeerMsg::Quorum(QuorumMsg::Read { .. }) => means[2],
                _ => means[3],
            };
            (-mean * 1e6 * (1.0 - rng.random::<f64>()).ln()).round() as u64
        });
        let mut key = 0u64;
        let mut base = 0u64;
        for t_ms in [0.0, 1.0, 2.0, 5.0, 10.0] {
            // MC: 400k samples, SE ≤ 0.08 pp. Simulator: enough trials for a binomial
            // SE ≤ 0.25 pp at the MC's p (at least 2000). The difference then has
            // SE ≤ 0.27 pp, so the 1 pp tolerance is ≥ 3.7 SE.
            let p_mc = wars_mc(means, t_ms, 400_000, 7);
            let trials = ((p_mc * (1.0 - p_mc) / 0.0025f64.powi(2)).ceil() as u64).max(2000);
            let mut fresh = 0u64;
            for _ in 0..trials {
                key += 1;
                // The coordinator is the one replica outside the key's preference list.
                let coord = (0..4)
                    .find(|r| !preference_list(key, 3, 4).any(|x| x == *r))
                    .expect("one outside");
                base += 1000 * MS;
                p.run_until(base);
                let w = p.client(coord, Write, key, key as i64);
                let (tc, rw) = p
                    .run_for_reply(w, base + 500 * MS)
                    .expect("write acknowledged");
                assert_eq!(rw, Reply::Ok(None));
                p.run_until(tc + (t_ms * 1e6) as u64);
                let r = p.client(coord, Read, key, 0);
                let (_, rr) = p.run_for_reply(r, base + 900 * MS).expect("read answered");
                if rr == Reply::Ok(Some(key as i64)) {
                    fresh += 1;
                }
            }
            let p_sim = fresh as f64 / trials as f64;
            eprintln!(
                "WARS t = {t_ms} ms: simulator {p_sim:.4} ({trials} trials), Monte-Carlo {p_mc:.4}"
            );
            assert!(
                (p_sim - p_mc).abs() <= 0.01,
                "t = {t_ms} ms: simulator {p_sim:.4} vs Monte-Carlo {p_mc:.4} ({trials} trials)"
            );
        }
    }
}
