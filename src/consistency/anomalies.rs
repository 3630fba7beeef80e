//! Anomaly detectors over operation histories: stale reads, phantom reads,
//! lost acknowledged writes, session-guarantee violations, replica divergence
//! and convergence time.
//!
//! This module owns the precise definitions (below, and in the crate docs) and
//! their efficient evaluation (`O(n log n)` per history). It must never
//! over-count: each detector is designed for histories whose write values are
//! unique (capsim's simulated clients guarantee it); when a value is written
//! more than once, a read is only charged if the anomaly holds for *every*
//! write that could have produced its value, and the write-order detectors
//! skip values that are not written exactly once. It does not judge
//! linearizability (see `linearizability`) and never panics.
//!
//! # Definitions
//! * A write `Wa` **precedes** `Wb` iff `Wa` is `Ok` and `Wa.complete_ns <
//!   Wb.invoke_ns` ("write" = write or compare-and-set; only `Ok` ones have a
//!   known completion).
//! * The **possible sources** of an `Ok` read `R` returning `v` are the writes
//!   of `v` on the same key that are not `Fail` and were invoked no later than
//!   `R` completed, plus the initial nil state when `v` is nil. If any possible
//!   source is `Info`, its completion is unknown and nothing is assumed to
//!   precede or follow the read's source.
//! * **Stale read**: `R` is stale iff some `Ok` write `W'` on the key has
//!   `W'.complete < R.invoke` and every possible source of `v` precedes `W'`.
//!   `staleness_ns = R.invoke - min(W'.complete)` and `versions_behind =
//!   |{W'}|` over such `W'` (for the latest-completing possible source, so the
//!   smallest values over sources).
//! * **Phantom read**: an `Ok` read of a non-nil value that no write on the key
//!   (whatever its outcome) ever wrote. Not counted as stale.
//! * **Lost acknowledged write**: an `Ok` write of `v` such that no replica
//!   holds `v` in the final state and no write (`Ok` or `Info`; `Fail` did not
//!   take effect) on the key was invoked after it completed.
//! * Session guarantees are checked per session and key; "after" means the
//!   earlier op completed before the later one was invoked.
//!   * **Read-your-writes**: an `Ok` read after the session's own `Ok` write
//!     `W` returns a value all of whose possible sources precede `W` (or nil
//!     from the initial state).
//!   * **Monotonic reads**: a read returns a value all of whose possible
//!     sources precede every possible source of an earlier read's value (nil
//!     after non-nil included).
//!   * **Monotonic writes**: the session wrote `W1` (`Ok`) then `W2`, yet some
//!     read returned `v1` after another read had returned `v2`, or the final
//!     state holds `v1` but not `v2` (only if `W2` was `Ok` or observed).
//!   * **Writes-follow-reads**: the session read `v` then wrote `W`, yet some
//!     read returned `v` after another read had returned `W`'s value, or the
//!     final state holds `v` but not `W`'s value (same condition on `W`).
//!
//!   The final-state clauses apply only to keys whose replicas agree at the end
//!   ([`analyze_detailed_with`]): a lagging replica still holding `v1` is
//!   replication in flight, not evidence that `W2` was ordered first.
//!
//!   Each violating read (RYW, MR) or write (MW, WFR) counts once.
//! * **Divergence**: keys whose replicas hold different value sets;
//!   [`ConvergenceTracker`] reports, after each partition heal, how long until
//!   no key diverged.

use super::history::{History, Op, OpKind, Outcome, Value};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// Final converged state: per key, the values held by any replica (siblings
/// allowed).
pub type FinalState = BTreeMap<u64, Vec<Value>>;

/// The kinds of anomaly detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum AnomalyKind {
    /// A read returned a superseded value.
    StaleRead,
    /// A read returned a value nobody wrote.
    PhantomRead,
    /// An acknowledged write vanished.
    LostWrite,
    /// Read-your-writes violated.
    ReadYourWrites,
    /// Monotonic reads violated.
    MonotonicReads,
    /// Monotonic writes violated.
    MonotonicWrites,
    /// Writes-follow-reads violated.
    WritesFollowReads,
}

/// One detected anomaly, charged to one op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnomalyEvent {
    /// What was detected.
    pub kind: AnomalyKind,
    /// The op it is charged to (the read, or the write).
    pub op_id: u64,
    /// Its key.
    pub key: u64,
    /// Its session.
    pub session: u64,
    /// When: the op's invocation (lost writes: the write's completion).
    pub t_ns: u64,
}

/// A stale read with its severity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaleRead {
    /// The read.
    pub op_id: u64,
    /// Its key.
    pub key: u64,
    /// Its session.
    pub session: u64,
    /// Its invocation time.
    pub t_ns: u64,
    /// Read invocation minus the earliest completion of a superseding write.
    pub staleness_ns: u64,
    /// Number of superseding writes completed before the read began.
    pub versions_behind: u64,
}

/// An acknowledged write that vanished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostWrite {
    /// The write.
    pub op_id: u64,
    /// Its key.
    pub key: u64,
    /// The value written.
    pub value: Value,
    /// Its completion time.
    pub t_ns: u64,
}

/// Aggregate counts and rates, ready for `summary.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AnomalyReport {
    /// `Ok` reads (denominator of read rates).
    pub ok_reads: u64,
    /// `Ok` writes and successful compare-and-sets (denominator of write rates).
    pub acknowledged_writes: u64,
    /// Stale reads.
    pub stale_reads: u64,
    /// Stale reads per `Ok` read.
    pub stale_read_rate: f64,
    /// Median staleness of stale reads (nearest rank), `None` if there are none.
    pub staleness_ns_p50: Option<u64>,
    /// 99th percentile staleness (nearest rank).
    pub staleness_ns_p99: Option<u64>,
    /// Maximum staleness.
    pub staleness_ns_max: Option<u64>,
    /// Largest number of versions a read was behind (0 if none stale).
    pub versions_behind_max: u64,
    /// Phantom reads.
    pub phantom_reads: u64,
    /// Phantom reads per `Ok` read.
    pub phantom_read_rate: f64,
    /// Lost acknowledged writes (`None` when no final state was given).
    pub lost_writes: Option<u64>,
    /// Lost writes per acknowledged write.
    pub lost_write_rate: Option<f64>,
    /// Read-your-writes violations (reads).
    pub read_your_writes_violations: u64,
    /// Per `Ok` read.
    pub read_your_writes_rate: f64,
    /// Monotonic-reads violations (reads).
    pub monotonic_reads_violations: u64,
    /// Per `Ok` read.
    pub monotonic_reads_rate: f64,
    /// Monotonic-writes violations (writes).
    pub monotonic_writes_violations: u64,
    /// Per acknowledged write.
    pub monotonic_writes_rate: f64,
    /// Writes-follow-reads violations (writes).
    pub writes_follow_reads_violations: u64,
    /// Per acknowledged write.
    pub writes_follow_reads_rate: f64,
}

/// Everything the detectors found: the report plus the per-event lists.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Anomalies {
    /// Aggregates.
    pub report: AnomalyReport,
    /// Stale reads, by key then read invocation.
    pub stale_reads: Vec<StaleRead>,
    /// Phantom reads.
    pub phantom_reads: Vec<AnomalyEvent>,
    /// Lost writes (empty without a final state).
    pub lost_writes: Vec<LostWrite>,
    /// Session-guarantee violations of all four kinds.
    pub session_violations: Vec<AnomalyEvent>,
}

impl Anomalies {
    /// All anomalies as events, sorted by time (then kind, then op id).
    pub fn events(&self) -> Vec<AnomalyEvent> {
        let mut all: Vec<AnomalyEvent> = self
            .stale_reads
            .iter()
            .map(|s| AnomalyEvent {
                kind: AnomalyKind::StaleRead,
                op_id: s.op_id,
                key: s.key,
                session: s.session,
                t_ns: s.t_ns,
            })
            .collect();
        all.extend(self.phantom_reads.iter().cloned());
        all.extend(self.lost_writes.iter().map(|l| AnomalyEvent {
            kind: AnomalyKind::LostWrite,
            op_id: l.op_id,
            key: l.key,
            session: 0,
            t_ns: l.t_ns,
        }));
        all.extend(self.session_violations.iter().cloned());
        all.sort_by_key(|e| (e.t_ns, e.kind, e.op_id));
        all
    }

    /// Times of the anomalies of one kind (for [`bucket_counts`]).
    pub fn times_ns(&self, kind: AnomalyKind) -> Vec<u64> {
        self.events()
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.t_ns)
            .collect()
    }
}

/// Counts events per time bucket: bucket `i` covers `[i*w, (i+1)*w)`. The
/// result is as long as the last non-empty bucket; empty for `w == 0`.
pub fn bucket_counts(times_ns: impl IntoIterator<Item = u64>, bucket_width_ns: u64) -> Vec<u64> {
    let mut counts: Vec<u64> = Vec::new();
    if bucket_width_ns == 0 {
        return counts;
    }
    for t in times_ns {
        let b = (t / bucket_width_ns) as usize;
        if b >= counts.len() {
            counts.resize(b + 1, 0);
        }
        counts[b] += 1;
    }
    counts
}

/// Runs every detector and returns the aggregate report.
pub fn analyze(history: &History, final_state: Option<&FinalState>) -> AnomalyReport {
    analyze_detailed(history, final_state).report
}

/// Time with a "minus infinity" for the initial state.
type Time = i128;
const NEG_INF: Time = i128::MIN;

/// What is known about the sources of a read's value.
#[derive(Clone, Copy, Debug)]
struct Attribution {
    /// Latest completion among the possible sources; `None` if unknown (an
    /// `Info` source) or if there is no possible source.
    max_complete: Option<Time>,
    /// Earliest invocation among the possible sources; `None` if none.
    min_invoke: Option<Time>,
}

/// Per-key indexes.
struct KeyData<'a> {
    /// Non-`Fail` writes by written value (`None` = writes nil).
    writers: BTreeMap<Option<Value>, Vec<&'a Op>>,
    /// Values written by any write, whatever its outcome.
    ever_written: BTreeSet<Option<Value>>,
    /// Per value read by `Ok` reads: (latest invocation, earliest completion).
    read_span: BTreeMap<Option<Value>, (u64, u64)>,
    /// Latest invocation of a non-`Fail` write.
    last_write_invoke: Option<u64>,
}

fn is_ok_read(op: &Op) -> bool {
    op.kind == OpKind::Read && op.outcome == Outcome::Ok
}

impl<'a> KeyData<'a> {
    fn new(ops: &[&'a Op]) -> KeyData<'a> {
        let mut kd = KeyData {
            writers: BTreeMap::new(),
            ever_written: BTreeSet::new(),
            read_span: BTreeMap::new(),
            last_write_invoke: None,
        };
        for &op in ops {
            if op.is_mutation() {
                kd.ever_written.insert(op.write_value);
                if op.outcome != Outcome::Fail {
                    kd.writers.entry(op.write_value).or_default().push(op);
                    kd.last_write_invoke = kd.last_write_invoke.max(Some(op.invoke_ns));
                }
            } else if is_ok_read(op) {
                let e = kd
                    .read_span
                    .entry(op.read_value)
                    .or_insert((op.invoke_ns, op.complete_ns));
                e.0 = e.0.max(op.invoke_ns);
                e.1 = e.1.min(op.complete_ns);
            }
        }
        kd
    }

    fn attribute(&self, read: &Op) -> Attribution {
        let initial = read.read_value.is_none();
        let mut max_complete: Option<Time> = initial.then_some(NEG_INF);
        let mut min_invoke: Option<Time> = initial.then_some(NEG_INF);
        let mut unknown = false;
        if let Some(ws) = self.writers.get(&read.read_value) {
            for w in ws.iter().filter(|w| w.invoke_ns <= read.complete_ns) {
                if w.outcome == Outcome::Info {
                    unknown = true;
                } else {
                    let c = Time::from(w.complete_ns);
                    max_complete = Some(max_complete.map_or(c, |m| m.max(c)));
                }
                let i = Time::from(w.invoke_ns);
                min_invoke = Some(min_invoke.map_or(i, |m| m.min(i)));
            }
        }
        Attribution {
            max_complete: if unknown { None } else { max_complete },
            min_invoke,
        }
    }

    /// True if `v` is written by exactly one non-`Fail` write (non-nil), or is
    /// nil and nobody writes nil (the initial state is its only source).
    fn unique(&self, v: Option<Value>) -> bool {
        match v {
            Some(_) => self.writers.get(&v).is_some_and(|w| w.len() == 1),
            None => !self.writers.contains_key(&None),
        }
    }
}

/// Fenwick tree over positions with sums and minima of prefixes.
struct Fenwick {
    count: Vec<u64>,
    min: Vec<u64>,
}

impl Fenwick {
    fn new(n: usize) -> Fenwick {
        Fenwick {
            count: vec![0; n + 1],
            min: vec![u64::MAX; n + 1],
        }
    }

    fn add(&mut self, pos: usize, value: u64) {
        let mut i = pos + 1;
        while i < self.count.len() {
            self.count[i] += 1;
            self.min[i] = self.min[i].min(value);
            i += i & i.wrapping_neg();
        }
    }

    /// (count, min value) over positions `< end`.
    fn prefix(&self, end: usize) -> (u64, u64) {
        let (mut c, mut m) = (0, u64::MAX);
        let mut i = end.min(self.count.len() - 1);
        while i > 0 {
            c += self.count[i];
            m = m.min(self.min[i]);
            i -= i & i.wrapping_neg();
        }
        (c, m)
    }
}

/// Stale and phantom reads of one key.
fn detect_stale(
    ops: &[&Op],
    kd: &KeyData<'_>,
    stale: &mut Vec<StaleRead>,
    phantom: &mut Vec<AnomalyEvent>,
) {
    // Acknowledged writes: rank by invocation, descending, so that "invoked
    // after t" is a prefix.
    let mut writes: Vec<(u64, u64)> = ops
        .iter()
        .filter(|o| o.is_ok_mutation())
        .map(|o| (o.invoke_ns, o.complete_ns))
        .collect();
    let m = writes.len();
    let mut invokes: Vec<u64> = writes.iter().map(|w| w.0).collect();
    invokes.sort_unstable();
    writes.sort_by_key(|w| w.1);
    let mut queries: Vec<(&Op, Time)> = Vec::new();
    for &op in ops.iter().filter(|o| is_ok_read(o)) {
        if op.read_value.is_some() && !kd.ever_written.contains(&op.read_value) {
            phantom.push(AnomalyEvent {
                kind: AnomalyKind::PhantomRead,
                op_id: op.id,
                key: op.key,
                session: op.session,
                t_ns: op.invoke_ns,
            });
            continue;
        }
        if let Some(t) = kd.attribute(op).max_complete {
            queries.push((op, t));
        }
    }
    queries.sort_by_key(|(op, _)| (op.invoke_ns, op.id));
    let mut tree = Fenwick::new(m);
    // Position in descending invocation order; duplicates get distinct slots.
    let mut used_slots: BTreeMap<u64, usize> = BTreeMap::new();
    let mut next_write = 0;
    for (op, t) in queries {
        while next_write < m && writes[next_write].1 < op.invoke_ns {
            let (inv, comp) = writes[next_write];
            let first = invokes.partition_point(|&x| x < inv);
            let k = used_slots.entry(inv).or_insert(0);
            let rank = first + *k;
            *k += 1;
            tree.add(m - 1 - rank, comp);
            next_write += 1;
        }
        // Writes invoked strictly after t occupy descending positions < m - p.
        let p = if t == NEG_INF {
            0
        } else {
            invokes.partition_point(|&x| Time::from(x) <= t)
        };
        let (count, min_complete) = tree.prefix(m - p);
        if count > 0 {
            stale.push(StaleRead {
                op_id: op.id,
                key: op.key,
                session: op.session,
                t_ns: op.invoke_ns,
                staleness_ns: op.invoke_ns - min_complete,
                versions_behind: count,
            });
        }
    }
}

fn detect_lost(ops: &[&Op], kd: &KeyData<'_>, finals: &[Value], lost: &mut Vec<LostWrite>) {
    for op in ops.iter().filter(|o| o.is_ok_mutation()) {
        let Some(v) = op.write_value else { continue };
        let overwritten_later = kd.last_write_invoke.is_some_and(|i| i > op.complete_ns);
        if !finals.contains(&v) && !overwritten_later {
            lost.push(LostWrite {
                op_id: op.id,
                key: op.key,
                value: v,
                t_ns: op.complete_ns,
            });
        }
    }
}

fn event(kind: AnomalyKind, op: &Op) -> AnomalyEvent {
    AnomalyEvent {
        kind,
        op_id: op.id,
        key: op.key,
        session: op.session,
        t_ns: op.invoke_ns,
    }
}

/// Pops entries completed before `t` from a heap of `(complete, payload)`.
fn drain_before<T: Ord>(heap: &mut BinaryHeap<Reverse<(u64, T)>>, t: u64, mut f: impl FnMut(T)) {
    while heap.peek().is_some_and(|Reverse((c, _))| *c < t) {
        if let Some(Reverse((_, x))) = heap.pop() {
            f(x);
        }
    }
}

/// Session guarantees for the ops of one (session, key), in invocation order.
fn detect_session(
    ops: &[&Op],
    kd: &KeyData<'_>,
    finals: Option<&[Value]>,
    out: &mut Vec<AnomalyEvent>,
) {
    let in_final = |v: Option<Value>| match (finals, v) {
        (Some(f), Some(v)) => Some(f.contains(&v)),
        _ => None,
    };
    // Was the write's value observed by some read (so it surely took effect)?
    let took_effect =
        |w: &Op| w.outcome == Outcome::Ok || kd.read_span.contains_key(&w.write_value);
    // Later-read-of-v1 after earlier-read-of-v2 test material.
    let last_read_invoke = |v: Option<Value>| kd.read_span.get(&v).map(|s| s.0);
    let first_read_complete = |v: Option<Value>| kd.read_span.get(&v).map(|s| s.1);

    // Read-your-writes and monotonic reads.
    let mut own_writes: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut max_own_write_invoke: Option<Time> = None;
    let mut earlier_reads: BinaryHeap<Reverse<(u64, Time)>> = BinaryHeap::new();
    let mut max_source_invoke: Option<Time> = None;
    // Monotonic writes and writes-follow-reads.
    let mut prior_writes: BinaryHeap<Reverse<(u64, (u64, bool))>> = BinaryHeap::new();
    let mut mw_last_read: Option<u64> = None;
    let mut mw_in_final = false;
    let mut prior_reads: BinaryHeap<Reverse<(u64, (u64, bool))>> = BinaryHeap::new();
    let mut wfr_last_read: Option<u64> = None;
    let mut wfr_in_final = false;

    for &op in ops {
        drain_before(&mut own_writes, op.invoke_ns, |inv| {
            max_own_write_invoke = max_own_write_invoke.max(Some(Time::from(inv)));
        });
        drain_before(&mut earlier_reads, op.invoke_ns, |mi| {
            max_source_invoke = max_source_invoke.max(Some(mi));
        });
        drain_before(&mut prior_writes, op.invoke_ns, |(last, fin)| {
            mw_last_read = mw_last_read.max(Some(last));
            mw_in_final |= fin;
        });
        drain_before(&mut prior_reads, op.invoke_ns, |(last, fin)| {
            wfr_last_read = wfr_last_read.max(Some(last));
            wfr_in_final |= fin;
        });
        if is_ok_read(op) {
            let attr = kd.attribute(op);
            if let Some(t) = attr.max_complete {
                if max_own_write_invoke.is_some_and(|w| t < w) {
                    out.push(event(AnomalyKind::ReadYourWrites, op));
                }
                if max_source_invoke.is_some_and(|m| t < m) {
                    out.push(event(AnomalyKind::MonotonicReads, op));
                }
            }
            if let Some(mi) = attr.min_invoke {
                earlier_reads.push(Reverse((op.complete_ns, mi)));
            }
            if kd.unique(op.read_value) {
                let last = last_read_invoke(op.read_value).unwrap_or(0);
                let fin = in_final(op.read_value).unwrap_or(false);
                prior_reads.push(Reverse((op.complete_ns, (last, fin))));
            }
        } else if op.is_mutation() && op.outcome != Outcome::Fail {
            if op.write_value.is_some() && kd.unique(op.write_value) {
                let first_read = first_read_complete(op.write_value);
                let missing_finally = in_final(op.write_value) == Some(false) && took_effect(op);
                let reversed = |last: Option<u64>, in_final: bool| {
                    first_read.is_some_and(|f| last.is_some_and(|l| l > f))
                        || (in_final && missing_finally)
                };
                if reversed(mw_last_read, mw_in_final) {
                    out.push(event(AnomalyKind::MonotonicWrites, op));
                }
                if reversed(wfr_last_read, wfr_in_final) {
                    out.push(event(AnomalyKind::WritesFollowReads, op));
                }
                if op.outcome == Outcome::Ok {
                    let last = last_read_invoke(op.write_value).unwrap_or(0);
                    let fin = in_final(op.write_value).unwrap_or(false);
                    prior_writes.push(Reverse((op.complete_ns, (last, fin))));
                }
            }
            if op.outcome == Outcome::Ok {
                own_writes.push(Reverse((op.complete_ns, op.invoke_ns)));
            }
        }
    }
}

fn rate(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

fn nearest_rank(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Runs every detector; returns the report and the per-event lists. The final
/// state is taken as settled for every key (see [`analyze_detailed_with`]).
pub fn analyze_detailed(history: &History, final_state: Option<&FinalState>) -> Anomalies {
    analyze_detailed_with(history, final_state, &BTreeSet::new())
}

/// Runs every detector, with `unsettled` the keys whose replicas still disagreed
/// when the final state was taken (see [`divergent_key_set`]). For those keys the
/// final state is the union of what replicas hold, and a lagging replica's old
/// value in it says nothing about the order writes took effect in, so the
/// session checks use it only for settled keys (the lost-write check, which only
/// asks whether a value survived anywhere, uses it for every key).
pub fn analyze_detailed_with(
    history: &History,
    final_state: Option<&FinalState>,
    unsettled: &BTreeSet<u64>,
) -> Anomalies {
    let mut res = Anomalies::default();
    let by_key = history.by_key();
    let empty: Vec<Value> = Vec::new();
    for (key, ops) in &by_key {
        let kd = KeyData::new(ops);
        detect_stale(ops, &kd, &mut res.stale_reads, &mut res.phantom_reads);
        let finals = final_state.map(|f| f.get(key).unwrap_or(&empty).as_slice());
        if let Some(f) = finals {
            detect_lost(ops, &kd, f, &mut res.lost_writes);
        }
        let mut by_session: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
        for &op in ops {
            by_session.entry(op.session).or_default().push(op);
        }
        let settled = finals.filter(|_| !unsettled.contains(key));
        for session_ops in by_session.values() {
            detect_session(session_ops, &kd, settled, &mut res.session_violations);
        }
    }
    res.session_violations
        .sort_by_key(|e| (e.key, e.session, e.t_ns, e.kind, e.op_id));

    let ok_reads = history.ops.iter().filter(|o| is_ok_read(o)).count() as u64;
    let acked = history.ops.iter().filter(|o| o.is_ok_mutation()).count() as u64;
    let mut staleness: Vec<u64> = res.stale_reads.iter().map(|s| s.staleness_ns).collect();
    staleness.sort_unstable();
    let count = |k: AnomalyKind| {
        res.session_violations
            .iter()
            .filter(|e| e.kind == k)
            .count() as u64
    };
    let stale = res.stale_reads.len() as u64;
    let phantom = res.phantom_reads.len() as u64;
    let lost = final_state.map(|_| res.lost_writes.len() as u64);
    let (ryw, mr, mw, wfr) = (
        count(AnomalyKind::ReadYourWrites),
        count(AnomalyKind::MonotonicReads),
        count(AnomalyKind::MonotonicWrites),
        count(AnomalyKind::WritesFollowReads),
    );
    res.report = AnomalyReport {
        ok_reads,
        acknowledged_writes: acked,
        stale_reads: stale,
        stale_read_rate: rate(stale, ok_reads),
        staleness_ns_p50: nearest_rank(&staleness, 0.50),
        staleness_ns_p99: nearest_rank(&staleness, 0.99),
        staleness_ns_max: staleness.last().copied(),
        versions_behind_max: res
            .stale_reads
            .iter()
            .map(|s| s.versions_behind)
            .max()
            .unwrap_or(0),
        phantom_reads: phantom,
        phantom_read_rate: rate(phantom, ok_reads),
        lost_writes: lost,
        lost_write_rate: lost.map(|l| rate(l, acked)),
        read_your_writes_violations: ryw,
        read_your_writes_rate: rate(ryw, ok_reads),
        monotonic_reads_violations: mr,
        monotonic_reads_rate: rate(mr, ok_reads),
        monotonic_writes_violations: mw,
        monotonic_writes_rate: rate(mw, acked),
        writes_follow_reads_violations: wfr,
        writes_follow_reads_rate: rate(wfr, acked),
    };
    res
}

// ---------------------------------------------------------------------------
// Divergence

/// Read-only view of replica contents, implemented by replicated stores.
pub trait ReplicaStateView {
    /// Number of replicas.
    fn replica_count(&self) -> usize;
    /// Keys any replica holds, ascending.
    fn keys(&self) -> Vec<u64>;
    /// Values (siblings allowed, sorted) that replica `r` holds for `key`;
    /// empty if absent.
    fn values(&self, replica: usize, key: u64) -> Vec<Value>;
    /// Is replica `r` meant to hold `key`? (With partial replication — more
    /// replicas than copies per key — the others hold nothing by design and do
    /// not count as diverging.) Default: every replica holds every key.
    fn responsible(&self, _replica: usize, _key: u64) -> bool {
        true
    }
}

fn sorted_values(view: &dyn ReplicaStateView, replica: usize, key: u64) -> Vec<Value> {
    let mut v = view.values(replica, key);
    v.sort_unstable();
    v.dedup();
    v
}

/// Number of keys whose replicas do not all hold the same set of values (a
/// responsible replica missing the key counts as holding nothing; replicas not
/// [responsible](ReplicaStateView::responsible) for the key are ignored).
pub fn divergent_keys(view: &dyn ReplicaStateView) -> usize {
    divergent_key_set(view).len()
}

/// The keys [`divergent_keys`] counts, ascending.
pub fn divergent_key_set(view: &dyn ReplicaStateView) -> BTreeSet<u64> {
    let n = view.replica_count();
    if n < 2 {
        return BTreeSet::new();
    }
    view.keys()
        .into_iter()
        .filter(|&key| {
            let mut owners = (0..n).filter(|&r| view.responsible(r, key));
            let Some(first) = owners.next() else {
                return false;
            };
            let first = sorted_values(view, first, key);
            owners.any(|r| sorted_values(view, r, key) != first)
        })
        .collect()
}

/// Union over replicas of the values held per key (the final state for the
/// lost-write detector). Keys no replica holds a value for are omitted.
pub fn final_values(view: &dyn ReplicaStateView) -> FinalState {
    let mut out = FinalState::new();
    for key in view.keys() {
        let mut all: Vec<Value> = (0..view.replica_count())
            .flat_map(|r| view.values(r, key))
            .collect();
        all.sort_unstable();
        all.dedup();
        if !all.is_empty() {
            out.insert(key, all);
        }
    }
    out
}

/// Time to converge after one heal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ConvergenceRecord {
    /// When the partition healed.
    pub heal_ns: u64,
    /// First sample at or after the heal with no divergent key (`None`: never
    /// before the run ended).
    pub converged_ns: Option<u64>,
    /// `converged_ns - heal_ns`.
    pub time_to_converge_ns: Option<u64>,
}

/// Tracks divergence samples and heal times (both fed in time order) and
/// reports the time to converge after each heal.
#[derive(Clone, Debug, Default)]
pub struct ConvergenceTracker {
    pending: Vec<u64>,
    records: Vec<ConvergenceRecord>,
    samples: Vec<(u64, usize)>,
    max_divergent_keys: usize,
}

impl ConvergenceTracker {
    /// An empty tracker.
    pub fn new() -> ConvergenceTracker {
        ConvergenceTracker::default()
    }

    /// Records that a partition healed (or a fault ended) at `t_ns`.
    pub fn record_heal(&mut self, t_ns: u64) {
        self.pending.push(t_ns);
    }

    /// Records a sample: `divergent_keys` keys diverged at `t_ns`.
    pub fn record_sample(&mut self, t_ns: u64, divergent_keys: usize) {
        self.samples.push((t_ns, divergent_keys));
        self.max_divergent_keys = self.max_divergent_keys.max(divergent_keys);
        if divergent_keys == 0 {
            let mut still = Vec::new();
            for &heal in &self.pending {
                if heal <= t_ns {
                    self.records.push(ConvergenceRecord {
                        heal_ns: heal,
                        converged_ns: Some(t_ns),
                        time_to_converge_ns: Some(t_ns - heal),
                    });
                } else {
                    still.push(heal);
                }
            }
            self.pending = still;
        }
    }

    /// All samples so far, in the order fed.
    pub fn samples(&self) -> &[(u64, usize)] {
        &self.samples
    }

    /// Largest divergent-key count seen.
    pub fn max_divergent_keys(&self) -> usize {
        self.max_divergent_keys
    }

    /// One record per heal, by heal time; heals never followed by a converged
    /// sample have `None`.
    pub fn finish(&self) -> Vec<ConvergenceRecord> {
        let mut out = self.records.clone();
        out.extend(self.pending.iter().map(|&heal| ConvergenceRecord {
            heal_ns: heal,
            converged_ns: None,
            time_to_converge_ns: None,
        }));
        out.sort_by_key(|r| r.heal_ns);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consistency::testgen::{GenConfig, generate_register_history};
    use crate::detrand::stream;
    use proptest::prelude::*;

    fn w(id: u64, session: u64, key: u64, v: Value, inv: u64, comp: u64) -> Op {
        Op::write(id, session, key, v, inv, comp)
    }
    fn r(id: u64, session: u64, key: u64, v: Option<Value>, inv: u64, comp: u64) -> Op {
        Op::read(id, session, key, v, inv, comp)
    }

    #[test]
    fn stale_reads_are_counted_with_staleness_and_versions_behind() {
        let h = History::new(vec![
            w(1, 9, 0, 1, 0, 10),
            w(2, 9, 0, 2, 20, 30),
            r(3, 1, 0, Some(1), 40, 50), // stale: 1 superseded by 2 (done at 30)
            r(4, 1, 0, Some(2), 40, 50), // fresh
            r(5, 2, 0, None, 5, 6),      // nothing completed yet
            r(6, 2, 0, None, 35, 36),    // stale by 2 versions, since 10
            r(7, 3, 0, Some(1), 25, 35), // 2 completes after the read began
            r(8, 3, 0, Some(99), 60, 61), // phantom, not stale
            // Concurrent writes: 5 does not precede 6, so reading 5 is not stale.
            w(10, 9, 1, 5, 100, 200),
            w(11, 9, 1, 6, 110, 120),
            r(12, 1, 1, Some(5), 130, 140),
            // An indeterminate source has no known completion: never stale.
            w(13, 9, 2, 3, 0, 5).with_outcome(Outcome::Info),
            w(14, 9, 2, 4, 20, 30),
            r(15, 1, 2, Some(3), 40, 50),
        ]);
        let a = analyze_detailed(&h, None);
        let stale: Vec<(u64, u64, u64)> = a
            .stale_reads
            .iter()
            .map(|s| (s.op_id, s.staleness_ns, s.versions_behind))
            .collect();
        assert_eq!(stale, vec![(6, 25, 2), (3, 10, 1)]);
        let rep = &a.report;
        assert_eq!(
            (rep.ok_reads, rep.stale_reads, rep.phantom_reads),
            (8, 2, 1)
        );
        assert!((rep.stale_read_rate - 2.0 / 8.0).abs() < 1e-12);
        assert_eq!(rep.staleness_ns_p50, Some(10));
        assert_eq!(rep.staleness_ns_p99, Some(25));
        assert_eq!(rep.staleness_ns_max, Some(25));
        assert_eq!(rep.versions_behind_max, 2);
        assert_eq!(a.phantom_reads[0].op_id, 8);
        assert_eq!(rep.lost_writes, None);
    }

    #[test]
    fn reused_values_are_attributed_conservatively() {
        let h = History::new(vec![
            w(1, 9, 0, 7, 300, 310),
            w(2, 9, 0, 8, 320, 330),
            w(3, 9, 0, 7, 340, 350),
            // Could come from the second write of 7: not counted.
            r(4, 1, 0, Some(7), 360, 370),
            // The second write of 7 began after this read ended: only the
            // first is a possible source, and 8 superseded it.
            r(5, 1, 0, Some(7), 335, 336),
        ]);
        let a = analyze_detailed(&h, None);
        let stale: Vec<(u64, u64, u64)> = a
            .stale_reads
            .iter()
            .map(|s| (s.op_id, s.staleness_ns, s.versions_behind))
            .collect();
        assert_eq!(stale, vec![(5, 5, 1)]);
    }

    #[test]
    fn lost_writes_need_absence_and_no_later_write() {
        let h = History::new(vec![
            w(1, 1, 0, 1, 0, 10),
            w(2, 1, 0, 2, 20, 30), // key 0: 1 overwritten later, 2 survives
            w(3, 1, 1, 3, 0, 10),  // key 1: vanished
            w(4, 1, 2, 4, 0, 10),
            w(5, 2, 2, 5, 5, 15), // key 2: lost to a concurrent write
            w(6, 1, 3, 6, 0, 10),
            w(7, 1, 3, 7, 20, 30).with_outcome(Outcome::Info), // may have overwritten 6
            w(8, 1, 4, 8, 0, 10),
            w(9, 1, 4, 9, 20, 30).with_outcome(Outcome::Fail), // did not happen
            w(10, 1, 5, 10, 0, 10),
            w(11, 2, 5, 11, 5, 15), // siblings survive
        ]);
        let finals: FinalState = [(0, vec![2]), (1, vec![]), (2, vec![4]), (5, vec![10, 11])]
            .into_iter()
            .collect();
        let a = analyze_detailed(&h, Some(&finals));
        let lost: Vec<u64> = a.lost_writes.iter().map(|l| l.op_id).collect();
        assert_eq!(lost, vec![3, 5, 8]);
        assert_eq!(a.report.acknowledged_writes, 9);
        assert_eq!(a.report.lost_writes, Some(3));
        assert_eq!(a.report.lost_write_rate, Some(3.0 / 9.0));
        assert_eq!(a.lost_writes[0].t_ns, 10);
    }

    fn session_counts(h: &History, finals: Option<&FinalState>) -> (u64, u64, u64, u64) {
        let rep = analyze(h, finals);
        (
            rep.read_your_writes_violations,
            rep.monotonic_reads_violations,
            rep.monotonic_writes_violations,
            rep.writes_follow_reads_violations,
        )
    }

    #[test]
    fn read_your_writes_violations() {
        let h = History::new(vec![
            w(1, 2, 0, 5, 0, 5),
            w(2, 1, 0, 1, 10, 20),
            r(3, 1, 0, Some(5), 30, 40), // own write 1 is newer than 5
            r(4, 1, 0, None, 50, 60),    // nil after own write
            r(5, 1, 0, Some(1), 70, 80), // fine
            r(6, 3, 0, Some(5), 30, 40), // other session, no own write
        ]);
        assert_eq!(session_counts(&h, None), (2, 1, 0, 0));
        let a = analyze_detailed(&h, None);
        let ryw: Vec<u64> = a
            .session_violations
            .iter()
            .filter(|e| e.kind == AnomalyKind::ReadYourWrites)
            .map(|e| e.op_id)
            .collect();
        assert_eq!(ryw, vec![3, 4]);
    }

    #[test]
    fn monotonic_reads_violations() {
        let h = History::new(vec![
            w(1, 9, 0, 1, 0, 10),
            w(2, 9, 0, 2, 20, 30),
            r(3, 1, 0, Some(2), 40, 50),
            r(4, 1, 0, Some(1), 60, 70), // older than what it saw before
            r(5, 1, 0, None, 80, 90),    // nil after non-nil
            r(6, 2, 0, Some(1), 40, 50),
            r(7, 2, 0, Some(2), 60, 70), // moving forward is fine
        ]);
        // Read 6 is also stale (2 was done at 30), which is not a session
        // anomaly; and session 9's writes are seen in reverse order (read 4
        // returns 1 after read 3 returned 2): one monotonic-writes violation.
        assert_eq!(session_counts(&h, None), (0, 2, 1, 0));
    }

    #[test]
    fn monotonic_writes_violations() {
        let h = History::new(vec![
            w(1, 1, 0, 1, 0, 10),
            w(2, 1, 0, 2, 20, 30),
            r(3, 3, 0, Some(2), 40, 50),
            r(4, 4, 0, Some(1), 60, 70), // 1 observed after 2: order reversed
            w(5, 1, 1, 3, 0, 10),
            w(6, 1, 1, 4, 20, 30), // the final state kept 3 and not 4
        ]);
        let finals: FinalState = [(0, vec![2]), (1, vec![3])].into_iter().collect();
        assert_eq!(session_counts(&h, Some(&finals)), (0, 0, 2, 0));
        assert_eq!(session_counts(&h, None), (0, 0, 1, 0));
    }

    #[test]
    fn writes_follow_reads_violations() {
        let h = History::new(vec![
            w(1, 9, 0, 1, 0, 10),
            r(2, 1, 0, Some(1), 20, 30),
            w(3, 1, 0, 2, 40, 50),
            r(4, 3, 0, Some(2), 60, 70),
            r(5, 4, 0, Some(1), 80, 90), // 1 observed after the write that followed it
            w(6, 9, 1, 5, 0, 10),
            r(7, 1, 1, Some(5), 20, 30),
            w(8, 1, 1, 6, 40, 50), // final state kept 5 and not 6
        ]);
        let finals: FinalState = [(0, vec![2]), (1, vec![5])].into_iter().collect();
        assert_eq!(session_counts(&h, Some(&finals)), (0, 0, 0, 2));
        let a = analyze_detailed(&h, Some(&finals));
        assert_eq!(a.report.stale_reads, 1); // read 5
        assert_eq!(a.report.lost_writes, Some(1)); // write 8
    }

    #[test]
    fn events_bucket_into_a_time_series() {
        assert_eq!(bucket_counts([0, 5, 10, 35], 10), vec![2, 1, 0, 1]);
        assert!(bucket_counts([1, 2], 0).is_empty());
        assert!(bucket_counts(std::iter::empty(), 10).is_empty());
        let h = History::new(vec![
            w(1, 9, 0, 1, 0, 10),
            w(2, 9, 0, 2, 20, 30),
            r(3, 1, 0, Some(1), 40, 50),
            r(4, 1, 0, Some(42), 70, 80),
        ]);
        let a = analyze_detailed(&h, None);
        let times = a.times_ns(AnomalyKind::StaleRead);
        assert_eq!(times, vec![40]);
        let all: Vec<(AnomalyKind, u64)> = a.events().iter().map(|e| (e.kind, e.t_ns)).collect();
        assert_eq!(
            all,
            vec![(AnomalyKind::StaleRead, 40), (AnomalyKind::PhantomRead, 70)]
        );
        let json = serde_json::to_string(&a.report).unwrap();
        assert!(
            json.contains("\"stale_reads\":1") && json.contains("\"lost_writes\":null"),
            "{json}"
        );
    }

    struct Replicas(Vec<BTreeMap<u64, Vec<Value>>>);
    impl ReplicaStateView for Replicas {
        fn replica_count(&self) -> usize {
            self.0.len()
        }
        fn keys(&self) -> Vec<u64> {
            let mut k: Vec<u64> = self.0.iter().flat_map(|m| m.keys().copied()).collect();
            k.sort_unstable();
            k.dedup();
            k
        }
        fn values(&self, replica: usize, key: u64) -> Vec<Value> {
            self.0[replica].get(&key).cloned().unwrap_or_default()
        }
    }

    #[test]
    fn divergence_and_final_values() {
        let view = Replicas(vec![
            [(1, vec![1]), (2, vec![5, 6]), (3, vec![7])]
                .into_iter()
                .collect(),
            [(1, vec![1]), (2, vec![6, 5]), (3, vec![8])]
                .into_iter()
                .collect(),
            [(1, vec![1]), (2, vec![5, 6])].into_iter().collect(),
        ]);
        // Key 3 differs (7 / 8 / absent); key 2 holds the same siblings.
        assert_eq!(divergent_keys(&view), 1);
        let finals = final_values(&view);
        assert_eq!(finals[&2], vec![5, 6]);
        assert_eq!(finals[&3], vec![7, 8]);
        let single = Replicas(vec![[(1, vec![1])].into_iter().collect()]);
        assert_eq!(divergent_keys(&single), 0);
    }

    /// Replicas that each hold only some keys (partial replication).
    struct Partial {
        data: Vec<BTreeMap<u64, Vec<Value>>>,
        owners: BTreeMap<u64, Vec<usize>>,
    }
    impl ReplicaStateView for Partial {
        fn replica_count(&self) -> usize {
            self.data.len()
        }
        fn keys(&self) -> Vec<u64> {
            self.owners.keys().copied().collect()
        }
        fn values(&self, replica: usize, key: u64) -> Vec<Value> {
            self.data[replica].get(&key).cloned().unwrap_or_default()
        }
        fn responsible(&self, replica: usize, key: u64) -> bool {
            self.owners[&key].contains(&replica)
        }
    }

    #[test]
    fn replicas_not_responsible_for_a_key_do_not_diverge() {
        // 4 replicas, 2 copies per key. Key 1 on {0, 1} (agree), key 2 on {2, 3}
        // (agree), key 3 on {1, 2} (disagree: 9 vs nothing).
        let m = |kv: &[(u64, Value)]| -> BTreeMap<u64, Vec<Value>> {
            kv.iter().map(|&(k, v)| (k, vec![v])).collect()
        };
        let view = Partial {
            data: vec![
                m(&[(1, 5)]),
                m(&[(1, 5), (3, 9)]),
                m(&[(2, 6)]),
                m(&[(2, 6)]),
            ],
            owners: [(1, vec![0, 1]), (2, vec![2, 3]), (3, vec![1, 2])]
                .into_iter()
                .collect(),
        };
        assert_eq!(divergent_key_set(&view), [3].into_iter().collect());
        assert_eq!(divergent_keys(&view), 1);
    }

    #[test]
    fn a_lagging_replica_in_the_final_state_is_not_a_session_violation() {
        // Session 1 reads 1, then writes 2; session 2 overwrites with 3 while 2 is
        // in flight. Linearizable (1, 2, 3). At the end replicas A and B hold 3, the
        // lagging replica C still holds 1: the union final state {1, 3} "holds v
        // but not W's value", which must not count when the key has not settled.
        let h = History::new(vec![
            w(1, 9, 0, 1, 0, 10),
            r(2, 1, 0, Some(1), 20, 30),
            w(3, 1, 0, 2, 40, 60),
            w(4, 2, 0, 3, 45, 70),
        ]);
        assert!(matches!(
            crate::consistency::linearizability::check(&h, Default::default()).verdict,
            crate::consistency::linearizability::Verdict::Linearizable
        ));
        let finals: FinalState = [(0, vec![1, 3])].into_iter().collect();
        let unsettled: BTreeSet<u64> = [0].into_iter().collect();
        let settled = analyze_detailed_with(&h, Some(&finals), &unsettled);
        assert!(
            settled.session_violations.is_empty(),
            "{:?}",
            settled.session_violations
        );
        // The same final state taken as settled would (wrongly, here) charge the
        // session's writes after its read of 1: the clause is sound only for
        // converged keys.
        let naive = analyze_detailed(&h, Some(&finals));
        assert!(
            naive
                .session_violations
                .iter()
                .any(|e| e.kind == AnomalyKind::WritesFollowReads),
            "{:?}",
            naive.session_violations
        );
        // A settled final state holding only the old value is still a violation.
        let converged: FinalState = [(0, vec![1])].into_iter().collect();
        let real = analyze_detailed_with(&h, Some(&converged), &BTreeSet::new());
        assert!(!real.session_violations.is_empty());
    }

    #[test]
    fn convergence_time_after_each_heal() {
        let mut t = ConvergenceTracker::new();
        t.record_sample(0, 0);
        t.record_sample(100, 4);
        t.record_heal(150);
        t.record_sample(200, 2);
        t.record_sample(300, 0); // converged 150 after the first heal
        t.record_sample(400, 3);
        t.record_heal(450);
        t.record_sample(500, 1); // run ends before converging again
        let recs = t.finish();
        assert_eq!(
            recs,
            vec![
                ConvergenceRecord {
                    heal_ns: 150,
                    converged_ns: Some(300),
                    time_to_converge_ns: Some(150)
                },
                ConvergenceRecord {
                    heal_ns: 450,
                    converged_ns: None,
                    time_to_converge_ns: None
                },
            ]
        );
        assert_eq!(t.max_divergent_keys(), 4);
        assert_eq!(t.samples().len(), 6);
    }

    /// Quadratic reference straight from the definition.
    fn reference_stale(h: &History) -> Vec<(u64, u64, u64)> {
        let mut out = Vec::new();
        for rd in h.ops.iter().filter(|o| is_ok_read(o)) {
            let same_key: Vec<&Op> = h.ops.iter().filter(|o| o.key == rd.key).collect();
            if rd.read_value.is_some()
                && !same_key
                    .iter()
                    .any(|o| o.is_mutation() && o.write_value == rd.read_value)
            {
                continue; // phantom
            }
            let sources: Vec<&Op> = same_key
                .iter()
                .filter(|o| {
                    o.is_mutation()
                        && o.outcome != Outcome::Fail
                        && o.write_value == rd.read_value
                        && o.invoke_ns <= rd.complete_ns
                })
                .copied()
                .collect();
            if rd.read_value.is_some() && sources.is_empty() {
                continue;
            }
            let superseding: Vec<&Op> = same_key
                .iter()
                .filter(|o| o.is_ok_mutation() && o.complete_ns < rd.invoke_ns)
                .filter(|o2| sources.iter().all(|s| s.precedes(o2)))
                .copied()
                .collect();
            if let Some(first) = superseding.iter().map(|o| o.complete_ns).min() {
                out.push((rd.id, rd.invoke_ns - first, superseding.len() as u64));
            }
        }
        out.sort_unstable();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 300,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// The Fenwick sweep matches the definition on random histories with
        /// reused values, nil writes and all outcomes.
        #[test]
        fn stale_detector_matches_the_definition(
            specs in prop::collection::vec((0u8..3, 0u8..5, 0u64..40, 0u64..15, 0u8..10, 0u64..2), 1..40)
        ) {
            let ops: Vec<Op> = specs.iter().enumerate().map(|(i, &(kind, v, start, dur, outcome, key))| {
                let val = if v == 0 { None } else { Some(i64::from(v)) };
                let mut op = match kind {
                    0 => r(i as u64, i as u64, key, val, start, start + dur),
                    1 => w(i as u64, i as u64, key, 0, start, start + dur),
                    _ => Op::cas(i as u64, i as u64, key, Some(1), 0, start, start + dur),
                };
                if kind != 0 {
                    op.write_value = val;
                }
                op.outcome = match outcome { 0 => Outcome::Info, 1 => Outcome::Fail, _ => Outcome::Ok };
                op
            }).collect();
            let h = History::new(ops);
            let mut got: Vec<(u64, u64, u64)> = analyze_detailed(&h, None)
                .stale_reads
                .iter()
                .map(|s| (s.op_id, s.staleness_ns, s.versions_behind))
                .collect();
            got.sort_unstable();
            prop_assert_eq!(got, reference_stale(&h));
        }

        /// No detector fires on a linearizable history with unique values
        /// (each anomaly would contradict the linearization), and a planted
        /// stale read is found.
        #[test]
        fn linearizable_histories_have_no_anomalies(seed in any::<u64>()) {
            let cfg = GenConfig { clients: 5, keys: 3, ops: 300, max_latency_ns: 100, max_think_ns: 20, ..GenConfig::default() };
            let h = generate_register_history(&mut stream(seed, "anomalies"), &cfg);
            let rep = analyze(&h, None);
            prop_assert_eq!(
                (rep.stale_reads, rep.phantom_reads, rep.read_your_writes_violations,
                 rep.monotonic_reads_violations, rep.monotonic_writes_violations,
                 rep.writes_follow_reads_violations),
                (0, 0, 0, 0, 0, 0)
            );
            // Plant: a read returns the value of an Ok write that another Ok
            // write on the key superseded before the read began.
            let ops = &h.ops;
            let plant = ops.iter().filter(|o| is_ok_read(o)).find_map(|rd| {
                ops.iter().filter(|w2| w2.is_ok_mutation() && w2.key == rd.key && w2.complete_ns < rd.invoke_ns)
                    .find_map(|w2| ops.iter().find(|w1| w1.kind == OpKind::Write && w1.is_ok_mutation()
                        && w1.key == rd.key && w1.complete_ns < w2.invoke_ns).map(|w1| (rd.id, w1.write_value)))
            });
            if let Some((rid, v)) = plant {
                let mut bad = h.clone();
                for o in bad.ops.iter_mut().filter(|o| o.id == rid) {
                    o.read_value = v;
                }
                let a = analyze_detailed(&bad, None);
                prop_assert!(a.stale_reads.iter().any(|s| s.op_id == rid));
            }
        }
    }
}
