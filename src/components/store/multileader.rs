//! Multi-leader replication: every replica accepts reads and writes locally and
//! replicates asynchronously to all others; conflicts are resolved by
//! last-writer-wins on (skewed) node clocks or kept as version-vector siblings.
//!
//! This module owns the [`MultiSpec`] policy (`MultiLeader(...)` in a scenario), its
//! wire messages [`MultiMsg`] and the per-replica state machine. It must not touch
//! the engine, the network or wall-clock time: node clocks come only from
//! [`Io::local_clock_ns`] (true time plus the replica's configured skew).
//!
//! # Model
//! * **Writes** are applied locally and acknowledged `Ok` at once; reads answer from
//!   local state. Cas is refused with `Fail` (no replica can decide it consistently).
//! * **Stamps.** Every local write gets a [`Stamp`] `(local clock ns, replica, local
//!   write counter)`; the counter makes stamps unique and keeps a replica's own
//!   successive writes ordered.
//! * **`Lww`.** A key holds one value; an update (local or remote) with a lower stamp
//!   than the stored one is discarded, so a replica whose clock is behind loses its
//!   acknowledged writes to earlier writes from a replica whose clock is ahead
//!   (visible as lost writes). A remote update discarded in favour of another
//!   replica's value, and a local write discarded outright, emit
//!   `StoreEvent::Conflict { kept_siblings: false }` (LWW cannot tell concurrent
//!   from sequential writes, so this counts writes LWW threw away).
//! * **`VersionVectors`.** Each value (sibling) carries the version vector of its
//!   write. A local write's vector is the merge of the key's local siblings with this
//!   replica's entry incremented, so it replaces all of them (the replica has seen
//!   them). A remote sibling is dropped if a local one dominates or equals it, and
//!   replaces the local ones it dominates; concurrent ones are kept side by side
//!   (`StoreEvent::Conflict { kept_siblings: true }`). No acknowledged write is lost:
//!   it stays until a write that saw it supersedes it. [`ReplicaPolicy::values`]
//!   returns all siblings; a read returns the sibling with the highest stamp (a real
//!   client would be handed all siblings and merge them).
//! * **Replication** ships *state*, not operations: each local write gives the key a
//!   new change sequence number; a batch to a peer carries the current state
//!   (all siblings) of every key changed in `(after, upto]`, and merging state is
//!   idempotent and commutative, so duplicates and reordering are harmless. Batches
//!   go out per write (`replicate_ms: 0`) or every `replicate_ms`.
//! * **Convergence after partitions.** Messages to unreachable peers are simply lost,
//!   so each peer acknowledges the highest sequence up to which it has received
//!   every batch; when a peer's acknowledgement lags for `retransmit_ms`, everything
//!   since it is re-sent (go-back-N, in batches of at most 256 keys). After a heal,
//!   replicas therefore converge within about `retransmit_ms` plus transfer time.
//! * **Crashes.** Data, change sequence numbers and acknowledgement positions are
//!   durable; what was sent but not acknowledged is re-sent after a restart.

use super::{ClientOp, Io, PeerMsg, ReplicaPolicy, Reply, Role, SpecProblem, StoreEvent, Value};
use crate::engine::SimTime;
use crate::scenario::spec::OpSpec;
use serde::Deserialize;
use std::collections::BTreeMap;

fn default_retransmit_ms() -> f64 {
    500.0
}

/// How concurrent writes are reconciled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Resolve {
    /// Last writer wins on node clocks (ties by replica id); older writes are discarded (default).
    #[default]
    Lww,
    /// Version vectors; concurrent writes are kept as siblings.
    VersionVectors,
}

/// Multi-leader replication (`policy: MultiLeader((resolve: Lww))`).
///
/// ```ron
/// MultiLeader((resolve: Lww, replicate_ms: 10))
/// MultiLeader((resolve: VersionVectors, replicate_ms: 0, retransmit_ms: 200))
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiSpec {
    /// Batch interval for asynchronous replication, ms; 0 = send each write at once (default 0).
    #[serde(default)]
    pub replicate_ms: f64,
    /// Conflict resolution (default `Lww`).
    #[serde(default)]
    pub resolve: Resolve,
    /// Re-send unacknowledged changes to a peer after this long without progress, ms (default 500).
    #[serde(default = "default_retransmit_ms")]
    pub retransmit_ms: f64,
}

impl Default for MultiSpec {
    fn default() -> Self {
        MultiSpec {
            replicate_ms: 0.0,
            resolve: Resolve::Lww,
            retransmit_ms: default_retransmit_ms(),
        }
    }
}

/// A write's identity and recency: (node clock ns, replica, per-replica write counter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// The writing replica's local (skewed) clock, ns.
    pub ts: i64,
    /// Writing replica.
    pub origin: u16,
    /// The writing replica's local write counter.
    pub seq: u64,
}

/// One value of a key with its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sibling {
    pub value: Value,
    pub stamp: Stamp,
    /// Version vector (one counter per replica); empty under LWW.
    pub vv: Vec<u64>,
}

/// Multi-leader replication traffic.
#[derive(Clone, Debug, PartialEq)]
pub enum MultiMsg {
    /// The current state of every key the sender changed in `(after, upto]`.
    Batch {
        after: u64,
        upto: u64,
        entries: Vec<(u64, Vec<Sibling>)>,
    },
    /// The receiver has every batch of the sender up to `upto`.
    Ack { upto: u64 },
}

impl MultiMsg {
    /// Size on the wire: a 64-byte header plus 8 bytes per key, value, stamp field
    /// and version-vector entry.
    pub fn size_bytes(&self) -> u32 {
        let words: u64 = match self {
            MultiMsg::Batch { entries, .. } => {
                2 + entries
                    .iter()
                    .map(|(_, s)| 1 + s.iter().map(|x| 4 + x.vv.len() as u64).sum::<u64>())
                    .sum::<u64>()
            }
            MultiMsg::Ack { .. } => 1,
        };
        (64 + 8 * words).min(u64::from(u32::MAX)) as u32
    }
}

impl MultiSpec {
    /// Every problem with these parameters, as (field, message, hint).
    pub fn validate(&self, _size: usize) -> Vec<SpecProblem> {
        let mut p = Vec::new();
        if !self.replicate_ms.is_finite() || self.replicate_ms < 0.0 {
            p.push((
                "replicate_ms".to_string(),
                format!(
                    "replicate_ms must be 0 or a positive number of ms (got {})",
                    self.replicate_ms
                ),
                "0 sends every write at once; e.g. `replicate_ms: 10` batches".to_string(),
            ));
        }
        if !self.retransmit_ms.is_finite() || self.retransmit_ms <= 0.0 {
            p.push((
                "retransmit_ms".to_string(),
                format!(
                    "retransmit_ms must be a positive number of ms (got {})",
                    self.retransmit_ms
                ),
                "e.g. `retransmit_ms: 500`".to_string(),
            ));
        }
        p
    }
}

const KIND_SHIFT: u32 = 56;
const PAYLOAD_MASK: u64 = (1 << KIND_SHIFT) - 1;
const T_BATCH: u64 = 1;
const T_RETRANSMIT: u64 = 2;
/// Keys per batch message, at most.
const MAX_BATCH_KEYS: usize = 256;
/// Out-of-order batch ranges remembered per peer, at most.
const MAX_AHEAD: usize = 1024;

struct Entry {
    sibs: Vec<Sibling>,
    /// Sequence number of this replica's last local change of the key (0 = none).
    change: u64,
}

/// One replica of a multi-leader store.
pub struct Multi {
    me: usize,
    size: usize,
    resolve: Resolve,
    replicate: SimTime,
    retransmit: SimTime,
    // Durable.
    data: BTreeMap<u64, Entry>,
    /// Local change sequence → key (one entry per key: its latest change).
    changes: BTreeMap<u64, u64>,
    seq: u64,
    /// Per peer: highest sequence it acknowledged.
    acked: Vec<u64>,
    /// Per peer: highest of its sequences up to which every batch arrived.
    received: Vec<u64>,
    /// Per peer: batches that arrived ahead of a gap, `after → upto`.
    ahead: Vec<BTreeMap<u64, u64>>,
    // Volatile.
    /// Per peer: highest sequence sent.
    sent: Vec<u64>,
    /// Per peer: last time its acknowledgement advanced (or we re-sent).
    progress: Vec<SimTime>,
    batch_armed: bool,
    epoch: u64,
}

fn dominates_or_eq(a: &[u64], b: &[u64]) -> bool {
    (0..a.len().max(b.len()))
        .all(|i| a.get(i).copied().unwrap_or(0) >= b.get(i).copied().unwrap_or(0))
}

impl Multi {
    /// Replica `me` of a group of `size`.
    pub fn new(s: &MultiSpec, me: usize, size: usize) -> Multi {
        let size = size.clamp(1, 64);
        let replicate = if s.replicate_ms.is_finite() && s.replicate_ms > 0.0 {
            SimTime::from_ms_f64(s.replicate_ms).max(SimTime(1))
        } else {
            SimTime::ZERO
        };
        let rt = if s.retransmit_ms.is_finite() && s.retransmit_ms > 0.0 {
            s.retransmit_ms
        } else {
            default_retransmit_ms()
        };
        Multi {
            me: me.min(size - 1),
            size,
            resolve: s.resolve,
            replicate,
            retransmit: SimTime::from_ms_f64(rt).max(SimTime(1)),
            data: BTreeMap::new(),
            changes: BTreeMap::new(),
            seq: 0,
            acked: vec![0; size],
            received: vec![0; size],
            ahead: vec![BTreeMap::new(); size],
            sent: vec![0; size],
            progress: vec![SimTime::ZERO; size],
            batch_armed: false,
            epoch: 0,
        }
    }

    /// All siblings held for `key` (with metadata), in storage order.
    pub fn siblings(&self, key: u64) -> &[Sibling] {
        self.data
            .get(&key)
            .map(|e| e.sibs.as_slice())
            .unwrap_or(&[])
    }

    fn tag(&self, kind: u64) -> u64 {
        (kind << KIND_SHIFT) | (self.epoch & PAYLOAD_MASK)
    }

    fn local_write(&mut self, io: &mut Io<'_>, key: u64, value: Value) {
        self.seq += 1;
        let stamp = Stamp {
            ts: io.local_clock_ns(),
            origin: self.me as u16,
            seq: self.seq,
        };
        let (me, size, resolve, seq) = (self.me, self.size, self.resolve, self.seq);
        let e = self.data.entry(key).or_insert_with(|| Entry {
            sibs: Vec::new(),
            change: 0,
        });
        match resolve {
            Resolve::Lww => {
                if e.sibs.first().is_some_and(|s| s.stamp > stamp) {
                    // Our clock is behind the stored write's: LWW throws this write away.
                    io.event(StoreEvent::Conflict {
                        key,
                        kept_siblings: false,
                    });
                    return;
                }
                e.sibs.clear();
                e.sibs.push(Sibling {
                    value,
                    stamp,
                    vv: Vec::new(),
                });
            }
            Resolve::VersionVectors => {
                let mut vv = vec![0u64; size];
                for s in &e.sibs {
                    for (i, c) in s.vv.iter().enumerate().take(size) {
                        vv[i] = vv[i].max(*c);
                    }
                }
                vv[me] += 1;
                e.sibs.clear();
                e.sibs.push(Sibling { value, stamp, vv });
            }
        }
        let old = std::mem::replace(&mut e.change, seq);
        if old != 0 {
            self.changes.remove(&old);
        }
        self.changes.insert(seq, key);
    }

    /// Merge a peer's state of `key` into ours.
    fn merge(&mut self, io: &mut Io<'_>, key: u64, incoming: Vec<Sibling>) {
        let e = self.data.entry(key).or_insert_with(|| Entry {
            sibs: Vec::new(),
            change: 0,
        });
        match self.resolve {
            Resolve::Lww => {
                let Some(s) = incoming.into_iter().max_by_key(|s| s.stamp) else {
                    return;
                };
                match e.sibs.first() {
                    Some(cur) if cur.stamp >= s.stamp => {
                        if cur.stamp > s.stamp && cur.stamp.origin != s.stamp.origin {
                            io.event(StoreEvent::Conflict {
                                key,
                                kept_siblings: false,
                            });
                        }
                    }
                    _ => {
                        e.sibs.clear();
                        e.sibs.push(Sibling {
                            vv: Vec::new(),
                            ..s
                        });
                    }
                }
            }
            Resolve::VersionVectors => {
                for s in incoming {
                    if e.sibs.iter().any(|t| dominates_or_eq(&t.vv, &s.vv)) {
                        continue;
                    }
                    e.sibs.retain(|t| !dominates_or_eq(&s.vv, &t.vv));
                    e.sibs.push(s);
                    if e.sibs.len() > 1 {
                        io.event(StoreEvent::Conflict {
                            key,
                            kept_siblings: true,
                        });
                    }
                }
            }
        }
    }

    /// Send peer `p` everything changed since what it was last sent.
    fn flush(&mut self, io: &mut Io<'_>, p: usize) {
        if self.sent[p] == self.acked[p] && self.sent[p] < self.seq {
            // A new outstanding window: time its acknowledgement from now.
            self.progress[p] = io.now;
        }
        while self.sent[p] < self.seq {
            let after = self.sent[p];
            let mut upto = after;
            let mut entries = Vec::new();
            for (&s, &k) in self.changes.range(after + 1..) {
                if entries.len() == MAX_BATCH_KEYS {
                    break;
                }
                upto = s;
                if let Some(e) = self.data.get(&k) {
                    entries.push((k, e.sibs.clone()));
                }
            }
            if entries.is_empty() {
                // Nothing left in the range (all superseded by later changes).
                upto = self.seq;
            }
            self.sent[p] = upto;
            io.send(
                p,
                PeerMsg::Multi(MultiMsg::Batch {
                    after,
                    upto,
                    entries,
                }),
            );
        }
    }

    fn flush_all(&mut self, io: &mut Io<'_>) {
        for p in 0..self.size {
            if p != self.me {
                self.flush(io, p);
            }
        }
    }

    fn on_batch(
        &mut self,
        io: &mut Io<'_>,
        from: usize,
        after: u64,
        upto: u64,
        entries: Vec<(u64, Vec<Sibling>)>,
    ) {
        for (k, sibs) in entries {
            self.merge(io, k, sibs);
        }
        if after <= self.received[from] {
            self.received[from] = self.received[from].max(upto);
            // Batches that arrived ahead of this one now connect.
            let ahead = &mut self.ahead[from];
            while let Some((&a, &b)) = ahead.first_key_value() {
                if a > self.received[from] {
                    break;
                }
                self.received[from] = self.received[from].max(b);
                ahead.remove(&a);
            }
        } else if self.ahead[from].len() < MAX_AHEAD {
            let slot = self.ahead[from].entry(after).or_insert(upto);
            *slot = (*slot).max(upto);
        }
        io.send(
            from,
            PeerMsg::Multi(MultiMsg::Ack {
                upto: self.received[from],
            }),
        );
    }

    fn arm(&mut self, io: &mut Io<'_>) {
        self.batch_armed = false;
        io.timer(self.retransmit, self.tag(T_RETRANSMIT));
        if self.seq > 0 && self.replicate > SimTime::ZERO {
            self.batch_armed = true;
            io.timer(self.replicate, self.tag(T_BATCH));
        }
    }
}

impl ReplicaPolicy for Multi {
    fn on_start(&mut self, io: &mut Io<'_>) {
        self.arm(io);
    }

    fn on_client(&mut self, io: &mut Io<'_>, op: ClientOp) {
        match op.op {
            OpSpec::Cas => io.reply(op.handle, Reply::Fail),
            OpSpec::Read => {
                let v = self
                    .data
                    .get(&op.key)
                    .and_then(|e| e.sibs.iter().max_by_key(|s| s.stamp))
                    .map(|s| s.value);
                io.reply(op.handle, Reply::Ok(v));
            }
            OpSpec::Write => {
                self.local_write(io, op.key, op.value);
                io.reply(op.handle, Reply::Ok(None));
                if self.replicate == SimTime::ZERO {
                    self.flush_all(io);
                } else if !self.batch_armed {
                    self.batch_armed = true;
                    io.timer(self.replicate, self.tag(T_BATCH));
                }
            }
        }
    }

    fn on_peer(&mut self, io: &mut Io<'_>, from: usize, msg: PeerMsg) {
        let PeerMsg::Multi(m) = msg else { return };
        if from >= self.size || from == self.me {
            return;
        }
        match m {
            MultiMsg::Batch {
                after,
                upto,
                entries,
            } => self.on_batch(io, from, after, upto, entries),
            MultiMsg::Ack { upto } => {
                let upto = upto.min(self.seq);
                if upto > self.acked[from] {
                    self.acked[from] = upto;
                    self.progress[from] = io.now;
                }
                self.sent[from] = self.sent[from].max(self.acked[from]);
            }
        }
    }

    fn on_timer(&mut self, io: &mut Io<'_>, tag: u64) {
        if tag & PAYLOAD_MASK != self.epoch & PAYLOAD_MASK {
            return;
        }
        match tag >> KIND_SHIFT {
            T_BATCH => {
                self.batch_armed = false;
                self.flush_all(io);
            }
            T_RETRANSMIT => {
                for p in 0..self.size {
                    if p != self.me
                        && self.acked[p] < self.seq
                        && io.now.saturating_sub(self.progress[p]) >= self.retransmit
                    {
                        // Go back to the last acknowledged position and re-send.
                        self.sent[p] = self.acked[p];
                        self.progress[p] = io.now;
                        self.flush(io, p);
                    }
                }
                io.timer(self.retransmit, tag);
            }
            _ => {}
        }
    }

    fn on_crash(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.sent.clone_from(&self.acked);
        self.progress.iter_mut().for_each(|t| *t = SimTime::ZERO);
        self.batch_armed = false;
    }

    fn on_restart(&mut self, io: &mut Io<'_>) {
        self.arm(io);
    }

    fn values(&self, key: u64) -> Vec<Value> {
        let mut v: Vec<Value> = self.siblings(key).iter().map(|s| s.value).collect();
        v.sort_unstable();
        v
    }

    fn keys(&self) -> Vec<u64> {
        self.data
            .iter()
            .filter(|(_, e)| !e.sibs.is_empty())
            .map(|(k, _)| *k)
            .collect()
    }

    fn role(&self) -> Role {
        Role::Peer
    }
}

/// The multi-leader policy for replica `me` of a group of `size`.
pub fn build(s: &MultiSpec, me: usize, size: usize) -> Box<dyn ReplicaPolicy> {
    Box::new(Multi::new(s, me, size))
}

#[cfg(test)]
mod tests {
    use super::super::leaderless::pump::Pump;
    use super::super::{Action, PolicySpec};
    use super::*;
    use crate::detrand::stream;
    use crate::scenario::spec::OpSpec::{Cas, Read, Write};
    use rand::Rng;
    use std::cell::Cell;
    use std::rc::Rc;

    const MS: u64 = 1_000_000;

    fn spec(resolve: Resolve, replicate_ms: f64) -> MultiSpec {
        MultiSpec {
            replicate_ms,
            resolve,
            retransmit_ms: 100.0,
        }
    }

    fn pump(n: usize, s: &MultiSpec) -> Pump {
        let s = s.clone();
        Pump::new(n, 1, move |me, n| build(&s, me, n))
    }

    fn all_equal(p: &Pump, keys: impl Iterator<Item = u64> + Clone) -> bool {
        (1..p.nodes.len()).all(|r| keys.clone().all(|k| p.values(r, k) == p.values(0, k)))
    }

    #[test]
    fn spec_parses_from_ron_with_documented_defaults() {
        let opts = ron::Options::default().with_default_extension(
            ron::extensions::Extensions::IMPLICIT_SOME
                | ron::extensions::Extensions::UNWRAP_VARIANT_NEWTYPES,
        );
        let p: PolicySpec = opts
            .from_str("MultiLeader(resolve: VersionVectors)")
            .expect("parses");
        let PolicySpec::MultiLeader(s) = p else {
            panic!("wrong variant")
        };
        assert_eq!(
            (s.resolve, s.replicate_ms, s.retransmit_ms),
            (Resolve::VersionVectors, 0.0, 500.0)
        );
        let d: MultiSpec = opts.from_str("()").expect("all fields default");
        assert_eq!(d.resolve, Resolve::Lww);
        assert!(
            opts.from_str::<MultiSpec>("(resolve: Lww, batch_ms: 1)")
                .is_err()
        );
    }

    #[test]
    fn validate_reports_negative_and_nonfinite_intervals() {
        assert!(MultiSpec::default().validate(3).is_empty());
        let bad = MultiSpec {
            replicate_ms: -1.0,
            resolve: Resolve::Lww,
            retransmit_ms: f64::INFINITY,
        };
        let fields: Vec<String> = bad.validate(3).into_iter().map(|p| p.0).collect();
        assert_eq!(fields, ["replicate_ms", "retransmit_ms"]);
        let _ = build(&bad, 9, 0);
    }

    #[test]
    fn writes_are_acknowledged_at_once_and_replicated_to_every_replica() {
        for resolve in [Resolve::Lww, Resolve::VersionVectors] {
            let mut p = pump(3, &spec(resolve, 0.0));
            let w = p.client(1, Write, 5, 50);
            assert_eq!(p.reply_of(w), Some((0, Reply::Ok(None))));
            let r = p.client(1, Read, 5, 0);
            assert_eq!(p.reply_of(r), Some((0, Reply::Ok(Some(50)))));
            let c = p.client(1, Cas, 5, 51);
            assert_eq!(p.reply_of(c), Some((0, Reply::Fail)));
            assert!(p.values(0, 5).is_empty());
            p.run_until(2 * MS);
            for i in 0..3 {
                assert_eq!(p.values(i, 5), vec![50], "{resolve:?} replica {i}");
            }
        }
    }

    #[test]
    fn batching_sends_one_batch_per_peer_per_interval() {
        for (replicate_ms, expect) in [(10.0, 2u32), (0.0, 10)] {
            let mut p = pump(3, &spec(Resolve::Lww, replicate_ms));
            let batches = Rc::new(Cell::new(0u32));
            let b2 = batches.clone();
            p.latency = Box::new(move |_, _, _, m| {
                if matches!(m, PeerMsg::Multi(MultiMsg::Batch { .. })) {
                    b2.set(b2.get() + 1);
                }
                MS
            });
            for k in 0..5 {
                p.run_until(k * MS);
                p.client(0, Write, k, k as i64);
            }
            p.run_until(50 * MS);
            assert_eq!(batches.get(), expect, "replicate_ms = {replicate_ms}");
            assert!(all_equal(&p, 0..5));
            assert_eq!(p.values(2, 4), vec![4]);
        }
    }

    #[test]
    fn lww_discards_the_later_write_from_a_slow_clock_but_version_vectors_keep_it() {
        for resolve in [Resolve::Lww, Resolve::VersionVectors] {
            let mut p = pump(3, &spec(resolve, 0.0));
            p.skew_ns[1] = 100 * MS as i64; // replica 1's clock runs 100 ms ahead
            p.client(1, Write, 7, 1);
            p.run_until(10 * MS);
            // Later in real time, and after replica 0 has seen write 1.
            assert_eq!(p.values(0, 7), vec![1]);
            let w = p.client(0, Write, 7, 2);
            assert_eq!(
                p.reply_of(w).map(|x| x.1),
                Some(Reply::Ok(None)),
                "acknowledged either way"
            );
            p.run_until(20 * MS);
            match resolve {
                // LWW: write 2 carries a smaller timestamp than write 1 and vanishes.
                Resolve::Lww => {
                    for i in 0..3 {
                        assert_eq!(p.values(i, 7), vec![1]);
                    }
                    assert!(p.events.iter().any(|e| e.2
                        == StoreEvent::Conflict {
                            key: 7,
                            kept_siblings: false
                        }));
                }
                // Version vectors: write 2 saw write 1, so it supersedes it.
                Resolve::VersionVectors => {
                    for i in 0..3 {
                        assert_eq!(p.values(i, 7), vec![2]);
                    }
                }
            }
        }
    }

    #[test]
    fn version_vectors_keep_concurrent_writes_as_siblings_until_a_write_sees_them() {
        let mut p = pump(3, &spec(Resolve::VersionVectors, 0.0));
        p.isolate(&[2], true);
        p.client(0, Write, 1, 10);
        p.client(2, Write, 1, 20);
        p.run_until(10 * MS);
        p.isolate(&[2], false);
        p.run_until(500 * MS);
        for i in 0..3 {
            assert_eq!(
                p.values(i, 1),
                vec![10, 20],
                "replica {i} keeps both siblings"
            );
        }
        assert!(p.events.iter().any(|e| e.2
            == StoreEvent::Conflict {
                key: 1,
                kept_siblings: true
            }));
        // A read returns one deterministic sibling: the highest stamp (same clock: replica 2).
        let r = p.client(1, Read, 1, 0);
        assert_eq!(p.reply_of(r).map(|x| x.1), Some(Reply::Ok(Some(20))));
        // A local write at a replica that holds both siblings replaces them everywhere.
        p.client(1, Write, 1, 30);
        p.run_until(510 * MS);
        for i in 0..3 {
            assert_eq!(p.values(i, 1), vec![30]);
        }
    }

    #[test]
    fn replicas_converge_after_a_partition_heals_by_retransmission() {
        for resolve in [Resolve::Lww, Resolve::VersionVectors] {
            let mut p = pump(3, &spec(resolve, 5.0));
            let mut rng = stream(4, "ml-writes");
            p.isolate(&[2], true);
            for i in 0..400u64 {
                p.run_until(i * MS);
                p.client(
                    rng.random_range(0..3),
                    Write,
                    rng.random_range(0..50),
                    i as i64,
                );
            }
            p.run_until(450 * MS);
            assert!(!all_equal(&p, 0..50), "the partition made replicas diverge");
            p.isolate(&[2], false);
            // Retransmission after ≤ 100 ms without progress, plus a round trip.
            p.run_until(700 * MS);
            assert!(
                all_equal(&p, 0..50),
                "{resolve:?}: replicas converged after the heal"
            );
        }
    }

    #[test]
    fn crashed_replica_keeps_its_writes_and_replicates_them_after_restart() {
        let mut p = pump(3, &spec(Resolve::Lww, 0.0));
        p.isolate(&[0], true);
        p.client(0, Write, 3, 33);
        p.run_until(5 * MS);
        p.crash(0);
        p.isolate(&[0], false);
        p.run_until(300 * MS);
        assert!(p.values(1, 3).is_empty());
        p.restart(0);
        p.run_until(600 * MS);
        assert!(all_equal(&p, 3..4));
        assert_eq!(p.values(1, 3), vec![33]);
    }

    #[test]
    fn out_of_order_batches_are_acknowledged_only_when_contiguous() {
        let mut m = Multi::new(&MultiSpec::default(), 0, 2);
        let mut rng = stream(1, "x");
        let mut actions = Vec::new();
        let sib = |v: i64, seq: u64| {
            vec![Sibling {
                value: v,
                stamp: Stamp {
                    ts: 0,
                    origin: 1,
                    seq,
                },
                vv: Vec::new(),
            }]
        };
        let mut feed = |m: &mut Multi, after: u64, upto: u64, v: i64| {
            actions.clear();
            let mut io = Io {
                now: SimTime::ZERO,
                me: 0,
                n: 2,
                rng: &mut rng,
                clock_skew_ns: 0,
                actions: &mut actions,
            };
            m.on_peer(
                &mut io,
                1,
                PeerMsg::Multi(MultiMsg::Batch {
                    after,
                    upto,
                    entries: vec![(v as u64, sib(v, upto))],
                }),
            );
            match actions.last() {
                Some(Action::Send {
                    to: 1,
                    msg: PeerMsg::Multi(MultiMsg::Ack { upto }),
                }) => *upto,
                other => panic!("expected an ack, got {other:?}"),
            }
        };
        assert_eq!(feed(&mut m, 2, 3, 3), 0, "gap: nothing contiguous yet");
        assert_eq!(feed(&mut m, 1, 2, 2), 0);
        assert_eq!(
            feed(&mut m, 0, 1, 1),
            3,
            "the gap is filled: everything up to 3"
        );
        assert_eq!(feed(&mut m, 0, 1, 1), 3, "duplicates are harmless");
        assert_eq!(
            m.keys(),
            vec![1, 2, 3],
            "out-of-order state was applied on arrival"
        );
    }
}
