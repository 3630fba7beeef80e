//! Consistency bookkeeping for runs with replicated stores: the per-bucket
//! divergence samples, conversion of client records into checker histories,
//! anomaly detection, linearizability verdicts, split-brain and leader changes.

use super::world::HistRecord;
use crate::components::store::replica::Replica;
use crate::components::store::{StoreEvent, leadership_spans, overlapping_leaders};
use crate::consistency::anomalies::{
    AnomalyKind, ReplicaStateView, analyze_detailed_with, divergent_key_set, divergent_keys,
    final_values,
};
use crate::consistency::linearizability::{Budget, CheckOptions, Verdict, check_with};
use crate::consistency::{History, Op, OpKind, Outcome};
use crate::engine::{NodeId, Sim, SimTime};
use crate::scenario::spec::OpSpec;
use crate::scenario::validated::StoreV;
use crate::sim::msg::Msg;
use crate::sim::world::SimWorld;
use crate::sim::{LeaderSpan, SplitBrainSpan};

/// A store's replicas, read through the engine.
pub struct StoreView<'a> {
    pub sim: &'a Sim<Msg, SimWorld>,
    pub replicas: &'a [usize],
}

impl StoreView<'_> {
    fn replica(&self, r: usize) -> Option<&Replica> {
        self.sim
            .component(NodeId(self.replicas[r] as u32))
            .downcast_ref::<Replica>()
    }
}

impl ReplicaStateView for StoreView<'_> {
    fn replica_count(&self) -> usize {
        self.replicas.len()
    }
    fn keys(&self) -> Vec<u64> {
        let mut k: Vec<u64> = (0..self.replicas.len())
            .filter_map(|r| self.replica(r))
            .flat_map(|p| p.policy().keys())
            .collect();
        k.sort_unstable();
        k.dedup();
        k
    }
    fn values(&self, replica: usize, key: u64) -> Vec<i64> {
        self.replica(replica)
            .map(|p| p.policy().values(key))
            .unwrap_or_default()
    }
    fn responsible(&self, replica: usize, key: u64) -> bool {
        self.replica(replica)
            .is_some_and(|p| p.policy().responsible(key))
    }
}

/// Divergent keys summed over stores.
pub fn divergence(sim: &Sim<Msg, SimWorld>, stores: &[StoreV]) -> usize {
    stores
        .iter()
        .map(|s| {
            divergent_keys(&StoreView {
                sim,
                replicas: &s.replicas,
            })
        })
        .sum()
}

/// Convert one store's records into a checker history.
pub fn history_of(records: &[HistRecord], store: u32) -> History {
    let ops = records
        .iter()
        .filter(|r| r.store == store)
        .map(|r| Op {
            id: r.id,
            process: r.process,
            session: r.session,
            kind: match r.op {
                OpSpec::Read => OpKind::Read,
                OpSpec::Write => OpKind::Write,
                OpSpec::Cas => OpKind::Cas,
            },
            key: r.key,
            write_value: (r.op != OpSpec::Read).then_some(r.value),
            cas_expected: if r.op == OpSpec::Cas {
                r.expected
            } else {
                None
            },
            read_value: r.read,
            invoke_ns: r.invoke.as_ns(),
            complete_ns: r.complete.as_ns().max(r.invoke.as_ns()),
            outcome: match r.outcome {
                0 => Outcome::Ok,
                1 => Outcome::Fail,
                _ => Outcome::Info,
            },
        })
        .collect();
    let mut h = History::new(ops);
    h.sort_by_invoke();
    h
}

/// What the consistency analysis of a run yields.
pub struct ConsistencyOut {
    pub metrics: Vec<(String, f64)>,
    /// Leadership spans of every store with leaders.
    pub leaders: Vec<LeaderSpan>,
    /// Periods with two or more leaders accepting writes.
    pub split_brain: Vec<SplitBrainSpan>,
    /// Stale reads per bucket (by read invocation time).
    pub stale_per_bucket: Vec<u64>,
    /// Linearizability verdict text per store (for the report).
    pub verdicts: Vec<String>,
}

/// Analyse every store of a finished run.
pub fn analyze(
    sim: &Sim<Msg, SimWorld>,
    stores: &[StoreV],
    node_names: &[&str],
    bucket_ns: u64,
    n_buckets: usize,
    measure_from: SimTime,
    end: SimTime,
) -> ConsistencyOut {
    let w = &sim.world;
    let mut m: Vec<(String, f64)> = Vec::new();
    let mut stale_per_bucket = vec![0u64; n_buckets];
    let mut verdicts = Vec::new();
    let (
        mut ok_reads,
        mut acked,
        mut stale,
        mut lost,
        mut ryw,
        mut mr,
        mut mw,
        mut wfr,
        mut phantom,
    ) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut ops_ok, mut ops_fail, mut ops_info) = (0u64, 0u64, 0u64);
    let mut lost_concurrent = 0u64;
    let mut lin_all = 1.0;
    let mut nonlin_keys = 0u64;
    let mut staleness: Vec<u64> = Vec::new();
    let mut rolled_back = 0u64;
    let mut lost_and_rolled = 0u64;
    for (si, st) in stores.iter().enumerate() {
        let h = history_of(&w.history, si as u32);
        let rolled = rolled_back_writes(&w.store_events, si as u32, &h);
        rolled_back += rolled.len() as u64;
        for op in &h.ops {
            match op.outcome {
                Outcome::Ok => ops_ok += 1,
                Outcome::Fail => ops_fail += 1,
                Outcome::Info => ops_info += 1,
            }
        }
        let view = StoreView {
            sim,
            replicas: &st.replicas,
        };
        let fin = final_values(&view);
        // Keys still replicating at the end: their union final state is no
        // evidence for the session checks (a lagging replica's old value).
        let unsettled = divergent_key_set(&view);
        let an = analyze_detailed_with(&h, Some(&fin), &unsettled);
        let r = &an.report;
        ok_reads += r.ok_reads;
        acked += r.acknowledged_writes;
        stale += r.stale_reads;
        // A write that lost to a *concurrent* write may legitimately have been
        // ordered before it (a linearizable store does exactly that), so only writes
        // that vanished or lost to writes that finished before they began count as
        // lost; the others are reported separately.
        for lw in &an.lost_writes {
            let Some(w) = h.ops.iter().find(|o| o.id == lw.op_id) else {
                continue;
            };
            let concurrent = h.ops.iter().any(|o| {
                o.id != w.id
                    && o.key == w.key
                    && o.kind != OpKind::Read
                    && o.outcome != Outcome::Fail
                    && o.invoke_ns <= w.complete_ns
                    && (o.outcome == Outcome::Info || o.complete_ns >= w.invoke_ns)
            });
            if concurrent {
                lost_concurrent += 1;
            } else {
                lost += 1;
                lost_and_rolled += u64::from(rolled.contains(&w.id));
            }
        }
        ryw += r.read_your_writes_violations;
        mr += r.monotonic_reads_violations;
        mw += r.monotonic_writes_violations;
        wfr += r.writes_follow_reads_violations;
        phantom += r.phantom_reads;
        for s in &an.stale_reads {
            staleness.push(s.staleness_ns);
        }
        for t in an.times_ns(AnomalyKind::StaleRead) {
            let b = ((t / bucket_ns.max(1)) as usize).min(n_buckets - 1);
            stale_per_bucket[b] += 1;
        }
        let opts = CheckOptions {
            budget: Budget {
                max_steps: 5_000_000,
                max_memo_bytes: 256 << 20,
            },
            minimize_window: true,
            parallel: false,
            ..CheckOptions::default()
        };
        let res = check_with(&h, &opts);
        nonlin_keys += res
            .keys
            .iter()
            .filter(|k| {
                matches!(
                    k.verdict,
                    crate::consistency::linearizability::KeyVerdict::NotLinearizable(_)
                )
            })
            .count() as u64;
        match &res.verdict {
            Verdict::Linearizable => verdicts.push(format!(
                "{}: linearizable ({} keys)",
                st.name,
                res.keys.len()
            )),
            Verdict::NotLinearizable { key, .. } => {
                lin_all = 0.0;
                verdicts.push(format!("{}: NOT linearizable (first key {key})", st.name));
            }
            Verdict::Unknown { key, .. } => {
                if lin_all != 0.0 {
                    lin_all = f64::NAN;
                }
                verdicts.push(format!(
                    "{}: unknown (check budget exhausted on key {key})",
                    st.name
                ));
            }
        }
    }
    let rate = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { f64::NAN };
    staleness.sort_unstable();
    let pct = |p: f64| {
        if staleness.is_empty() {
            f64::NAN
        } else {
            staleness[((staleness.len() as f64 * p).ceil() as usize).clamp(1, staleness.len()) - 1]
                as f64
                / 1e6
        }
    };
    m.push(("store_ops_ok".into(), ops_ok as f64));
    m.push(("store_ops_fail".into(), ops_fail as f64));
    m.push(("store_ops_indeterminate".into(), ops_info as f64));
    m.push(("stale_reads".into(), stale as f64));
    m.push(("stale_read_rate".into(), rate(stale, ok_reads)));
    m.push(("staleness_ms_p50".into(), pct(0.5)));
    m.push(("staleness_ms_p99".into(), pct(0.99)));
    m.push(("lost_writes".into(), lost as f64));
    m.push(("lost_write_rate".into(), rate(lost, acked)));
    m.push(("lost_to_concurrent_writes".into(), lost_concurrent as f64));
    m.push(("rolled_back_writes".into(), rolled_back as f64));
    m.push(("phantom_reads".into(), phantom as f64));
    m.push(("session_violations".into(), (ryw + mr + mw + wfr) as f64));
    m.push(("read_your_writes_violations".into(), ryw as f64));
    m.push(("monotonic_reads_violations".into(), mr as f64));
    m.push(("monotonic_writes_violations".into(), mw as f64));
    m.push(("writes_follow_reads_violations".into(), wfr as f64));
    // Anomalous operations: stale reads, and acknowledged writes that were lost
    // or rolled back (a write both lost and rolled back counts once).
    let bad_writes = lost + rolled_back - lost_and_rolled;
    m.push((
        "anomaly_rate".into(),
        rate(stale + bad_writes, ok_reads + acked),
    ));
    m.push(("linearizable".into(), lin_all));
    m.push(("nonlinearizable_keys".into(), nonlin_keys as f64));
    // Leadership: spans, changes and time with two or more leaders accepting
    // writes (split brain).
    let (leaders, split_brain) = leadership(&w.store_events, stores, node_names, end);
    let from_ns = measure_from.as_ns();
    let changes = leaders.iter().filter(|l| l.from_ns >= from_ns).count();
    let split_ns: u64 = split_brain
        .iter()
        .map(|s| s.to_ns.saturating_sub(s.from_ns.max(from_ns)))
        .sum();
    m.push(("leader_changes".into(), changes as f64));
    m.push(("split_brain_s".into(), split_ns as f64 / 1e9));
    ConsistencyOut {
        metrics: m,
        leaders,
        split_brain,
        stale_per_bucket,
        verdicts,
    }
}

/// Acknowledged writes of `store` that a replica later discarded from its log
/// because the current leader's log had something else there: the ids of the
/// `Ok` writes whose value some replica rolled back.
fn rolled_back_writes(
    events: &[(SimTime, u32, u32, StoreEvent, u64)],
    store: u32,
    h: &History,
) -> std::collections::BTreeSet<u64> {
    let rolled: std::collections::BTreeSet<(u64, i64)> = events
        .iter()
        .filter(|e| e.1 == store)
        .filter_map(|e| match e.3 {
            StoreEvent::RolledBack { key, value } => Some((key, value)),
            _ => None,
        })
        .collect();
    if rolled.is_empty() {
        return Default::default();
    }
    h.ops
        .iter()
        .filter(|o| o.is_ok_mutation())
        .filter(|o| o.write_value.is_some_and(|v| rolled.contains(&(o.key, v))))
        .map(|o| o.id)
        .collect()
}

/// Leadership spans of every store and the split-brain periods among them.
fn leadership(
    events: &[(SimTime, u32, u32, StoreEvent, u64)],
    stores: &[StoreV],
    node_names: &[&str],
    end: SimTime,
) -> (Vec<LeaderSpan>, Vec<SplitBrainSpan>) {
    let mut spans = Vec::new();
    let mut split = Vec::new();
    for (si, st) in stores.iter().enumerate() {
        let name = |r: usize| {
            st.replicas
                .get(r)
                .and_then(|&n| node_names.get(n))
                .map_or_else(|| format!("{}#{r}", st.name), |s| s.to_string())
        };
        let own = leadership_spans(
            events
                .iter()
                .filter(|e| e.1 == si as u32)
                .map(|e| (e.0.as_ns(), e.2 as usize, &e.3)),
            end.as_ns(),
        );
        if st.policy.overlap_is_split_brain(st.replicas.len()) {
            for (a, b, who) in overlapping_leaders(&own) {
                split.push(SplitBrainSpan {
                    store: st.name.clone(),
                    from_ns: a,
                    to_ns: b,
                    leaders: who.into_iter().map(name).collect(),
                });
            }
        }
        spans.extend(own.into_iter().map(|l| LeaderSpan {
            store: st.name.clone(),
            node: name(l.replica),
            term: l.term,
            from_ns: l.from_ns,
            to_ns: l.to_ns,
        }));
    }
    (spans, split)
}

/// Jepsen-format text per key of one store (for `--export-history`).
pub fn export(records: &[HistRecord], store: u32) -> Vec<(u64, String)> {
    let h = history_of(records, store);
    h.keys()
        .into_iter()
        .map(|k| (k, crate::consistency::write_jepsen(&h, k)))
        .collect()
}
