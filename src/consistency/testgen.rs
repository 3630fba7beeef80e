//! Generator of known-linearizable register histories, for tests and benches.
//!
//! This module owns a tiny discrete-event simulation: concurrent clients issue
//! reads, writes and compare-and-sets against a real sequential register per
//! key; each op takes effect at one instant inside its real-time window, so the
//! recorded history is linearizable by construction. Some ops time out (`Info`:
//! they take effect later, possibly after the client gave up, or never) and
//! some fail (`Fail`: spurious failures that did not take effect, and cas
//! operations whose comparison failed). Write values are globally unique.
//! It must only use the RNG it is given (deterministic) and is not part of the
//! simulator proper.

use super::history::{History, Op, OpKind, Outcome, Value};
use crate::detrand::SimRng;
use rand::Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// Shape of a generated history.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    /// Concurrent client processes (each issues one op at a time).
    pub clients: u64,
    /// Number of keys (ops pick one uniformly).
    pub keys: u64,
    /// Total number of ops.
    pub ops: usize,
    /// Fraction of reads.
    pub read_fraction: f64,
    /// Fraction of compare-and-sets (the rest are writes).
    pub cas_fraction: f64,
    /// Probability an op times out (`Info`).
    pub info_probability: f64,
    /// Probability that a timed-out mutation takes effect anyway.
    pub info_applies_probability: f64,
    /// Probability of a spurious failure (`Fail`, did not take effect).
    pub fail_probability: f64,
    /// Op latency is uniform in `1..=max_latency_ns`.
    pub max_latency_ns: u64,
    /// Think time between a client's ops is uniform in `0..=max_think_ns`.
    pub max_think_ns: u64,
}

impl Default for GenConfig {
    /// 10 clients, 100 keys, 10,000 ops, 50% reads, 20% cas, 2% timeouts,
    /// 1% spurious failures, latencies up to 1 ms.
    fn default() -> Self {
        GenConfig {
            clients: 10,
            keys: 100,
            ops: 10_000,
            read_fraction: 0.5,
            cas_fraction: 0.2,
            info_probability: 0.02,
            info_applies_probability: 0.5,
            fail_probability: 0.01,
            max_latency_ns: 1_000_000,
            max_think_ns: 200_000,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    // Applications sort before invocations at the same instant.
    Apply(usize),
    Invoke(u64),
}

/// Generates a linearizable history (see the module docs). Op ids are
/// assigned in invocation order; the session of each op is its process.
pub fn generate_register_history(rng: &mut SimRng, cfg: &GenConfig) -> History {
    let mut ops: Vec<Op> = Vec::with_capacity(cfg.ops);
    let mut register: BTreeMap<u64, Option<Value>> = BTreeMap::new();
    let mut queue: BinaryHeap<Reverse<(u64, Event, u64)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut next_value: Value = 1;
    let keys = cfg.keys.max(1);
    let latency = cfg.max_latency_ns.max(1);
    for c in 0..cfg.clients {
        let t = rng.random_range(0..=cfg.max_think_ns);
        queue.push(Reverse((t, Event::Invoke(c), seq)));
        seq += 1;
    }
    while let Some(Reverse((t, ev, _))) = queue.pop() {
        match ev {
            Event::Invoke(client) => {
                if ops.len() >= cfg.ops {
                    continue;
                }
                let key = rng.random_range(0..keys);
                let x: f64 = rng.random();
                let kind = if x < cfg.read_fraction {
                    OpKind::Read
                } else if x < cfg.read_fraction + cfg.cas_fraction {
                    OpKind::Cas
                } else {
                    OpKind::Write
                };
                let current = register.get(&key).copied().flatten();
                let (write_value, cas_expected) = match kind {
                    OpKind::Read => (None, None),
                    OpKind::Write => {
                        next_value += 1;
                        (Some(next_value), None)
                    }
                    OpKind::Cas => {
                        next_value += 1;
                        // Usually expect the current value (succeeds unless a
                        // concurrent write intervenes), sometimes a stale one.
                        let expected = if rng.random::<f64>() < 0.7 {
                            current
                        } else {
                            Some(next_value - 1 - rng.random_range(0..5))
                        };
                        (Some(next_value), expected)
                    }
                };
                let dur = rng.random_range(1..=latency);
                let complete = t + dur;
                let y: f64 = rng.random();
                let (outcome, apply_at) = if y < cfg.info_probability {
                    let applies =
                        kind != OpKind::Read && rng.random::<f64>() < cfg.info_applies_probability;
                    // May take effect well after the client gave up.
                    let at = t + rng.random_range(0..=3 * latency);
                    (Outcome::Info, applies.then_some(at))
                } else if y < cfg.info_probability + cfg.fail_probability {
                    (Outcome::Fail, None)
                } else {
                    (Outcome::Ok, Some(t + rng.random_range(0..=dur)))
                };
                let idx = ops.len();
                ops.push(Op {
                    id: idx as u64,
                    process: client,
                    session: client,
                    kind,
                    key,
                    write_value,
                    cas_expected,
                    read_value: None,
                    invoke_ns: t,
                    complete_ns: complete,
                    outcome,
                });
                if let Some(at) = apply_at {
                    queue.push(Reverse((at, Event::Apply(idx), seq)));
                    seq += 1;
                }
                let next = complete + rng.random_range(0..=cfg.max_think_ns);
                queue.push(Reverse((next, Event::Invoke(client), seq)));
                seq += 1;
            }
            Event::Apply(idx) => {
                let op = &mut ops[idx];
                let slot = register.entry(op.key).or_insert(None);
                match op.kind {
                    OpKind::Read => op.read_value = *slot,
                    OpKind::Write => *slot = op.write_value,
                    OpKind::Cas => {
                        if *slot == op.cas_expected {
                            *slot = op.write_value;
                        } else if op.outcome == Outcome::Ok {
                            // The comparison failed: reported as a failure.
                            op.outcome = Outcome::Fail;
                        }
                    }
                }
            }
        }
    }
    History::new(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detrand::stream;

    #[test]
    fn generator_is_deterministic_and_mixes_outcomes() {
        let cfg = GenConfig {
            ops: 2_000,
            ..GenConfig::default()
        };
        let a = generate_register_history(&mut stream(1, "gen"), &cfg);
        let b = generate_register_history(&mut stream(1, "gen"), &cfg);
        assert_eq!(a, b);
        assert_eq!(a.len(), 2_000);
        assert_eq!(a.validate(), Ok(()));
        let count = |o: Outcome| a.ops.iter().filter(|op| op.outcome == o).count();
        assert!(count(Outcome::Info) > 0 && count(Outcome::Fail) > 0 && count(Outcome::Ok) > 0);
        // Some reads observe values, some cas operations succeed.
        assert!(
            a.ops
                .iter()
                .any(|o| o.kind == OpKind::Read && o.read_value.is_some())
        );
        assert!(
            a.ops
                .iter()
                .any(|o| o.kind == OpKind::Cas && o.outcome == Outcome::Ok)
        );
    }
}
