//! Operation histories: what clients invoked against keyed registers, when, and
//! what came back.
//!
//! This module owns the plain data types ([`Op`], [`History`]) shared by the
//! anomaly detectors, the linearizability checker and the Jepsen reader/writer,
//! plus a few helpers (grouping by key, sorting, validation). It must not
//! interpret histories (no consistency judgements live here) and must not panic
//! on malformed input: [`History::validate`] reports problems as typed errors.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A register value. Every key starts out as nil (`None` wherever an
/// `Option<Value>` appears).
pub type Value = i64;

/// What an operation asked the register to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OpKind {
    /// Read the current value.
    Read,
    /// Overwrite the value.
    Write,
    /// Compare-and-set: if the value equals `cas_expected`, set it to `write_value`.
    Cas,
}

/// How the client learned the operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Outcome {
    /// Acknowledged: the operation took effect (a `Cas` with `Ok` succeeded).
    Ok,
    /// Known not to have taken effect (a `Cas` with `Fail` did not apply).
    Fail,
    /// Indeterminate (e.g. timed out): it may take effect at any time after its
    /// invocation, even after the client gave up, or never.
    Info,
}

/// One client operation: an invocation and its completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Unique within a history.
    pub id: u64,
    /// Client process; at most one outstanding op per process.
    pub process: u64,
    /// Session for session guarantees (simulated clients: equal to `process`).
    pub session: u64,
    /// Read, write or compare-and-set.
    pub kind: OpKind,
    /// The register (key) operated on.
    pub key: u64,
    /// Write: the value written; Cas: the new value. `None` means "writes nil"
    /// (accepted by the checkers, flagged by [`History::validate`]).
    pub write_value: Option<Value>,
    /// Cas: the expected value (`None` = nil, never written).
    pub cas_expected: Option<Value>,
    /// Read with `Ok`: the value returned (`None` = nil). Ignored otherwise.
    pub read_value: Option<Value>,
    /// When the client invoked the operation.
    pub invoke_ns: u64,
    /// `Ok`/`Fail`: when it completed. `Info`: when the client gave up (the op
    /// may still take effect at any later time).
    pub complete_ns: u64,
    /// How it ended.
    pub outcome: Outcome,
}

impl Op {
    /// An acknowledged read of `key` that returned `read_value`.
    pub fn read(
        id: u64,
        process: u64,
        key: u64,
        read_value: Option<Value>,
        invoke_ns: u64,
        complete_ns: u64,
    ) -> Op {
        Op {
            id,
            process,
            session: process,
            kind: OpKind::Read,
            key,
            write_value: None,
            cas_expected: None,
            read_value,
            invoke_ns,
            complete_ns,
            outcome: Outcome::Ok,
        }
    }

    /// An acknowledged write of `value` to `key`.
    pub fn write(
        id: u64,
        process: u64,
        key: u64,
        value: Value,
        invoke_ns: u64,
        complete_ns: u64,
    ) -> Op {
        Op {
            id,
            process,
            session: process,
            kind: OpKind::Write,
            key,
            write_value: Some(value),
            cas_expected: None,
            read_value: None,
            invoke_ns,
            complete_ns,
            outcome: Outcome::Ok,
        }
    }

    /// A successful compare-and-set of `key` from `expected` to `new`.
    pub fn cas(
        id: u64,
        process: u64,
        key: u64,
        expected: Option<Value>,
        new: Value,
        invoke_ns: u64,
        complete_ns: u64,
    ) -> Op {
        Op {
            id,
            process,
            session: process,
            kind: OpKind::Cas,
            key,
            write_value: Some(new),
            cas_expected: expected,
            read_value: None,
            invoke_ns,
            complete_ns,
            outcome: Outcome::Ok,
        }
    }

    /// The same op with another outcome.
    pub fn with_outcome(mut self, outcome: Outcome) -> Op {
        self.outcome = outcome;
        self
    }

    /// The same op in another session.
    pub fn with_session(mut self, session: u64) -> Op {
        self.session = session;
        self
    }

    /// True for writes and compare-and-sets (operations that may change the value).
    pub fn is_mutation(&self) -> bool {
        matches!(self.kind, OpKind::Write | OpKind::Cas)
    }

    /// True for an acknowledged write or successful compare-and-set: the
    /// operation definitely installed `write_value`.
    pub fn is_ok_mutation(&self) -> bool {
        self.is_mutation() && self.outcome == Outcome::Ok
    }

    /// Real-time precedence: `self` completed (with a known completion, i.e.
    /// not `Info`) strictly before `other` was invoked.
    pub fn precedes(&self, other: &Op) -> bool {
        self.outcome != Outcome::Info && self.complete_ns < other.invoke_ns
    }
}

/// A problem found by [`History::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// Two ops share an id.
    #[error("op id {id} is used by more than one operation")]
    DuplicateId {
        /// The repeated id.
        id: u64,
    },
    /// An op completed before it was invoked.
    #[error("op {id} completes at {complete_ns} ns, before its invocation at {invoke_ns} ns")]
    CompleteBeforeInvoke {
        /// The op.
        id: u64,
        /// Its invocation time.
        invoke_ns: u64,
        /// Its completion time.
        complete_ns: u64,
    },
    /// A write or compare-and-set without a value to write.
    #[error("op {id} is a write/cas without a write_value (it would write nil)")]
    MissingWriteValue {
        /// The op.
        id: u64,
    },
    /// A process invoked an op while its previous op was still outstanding.
    #[error(
        "process {process} invoked op {second} at {second_invoke_ns} ns while op {first} was outstanding until {first_complete_ns} ns"
    )]
    ProcessOverlap {
        /// The process.
        process: u64,
        /// The earlier op.
        first: u64,
        /// When the earlier op completed (or the client gave up on it).
        first_complete_ns: u64,
        /// The later op.
        second: u64,
        /// When the later op was invoked.
        second_invoke_ns: u64,
    },
}

/// An ordered collection of operations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The operations, in no particular order unless sorted.
    pub ops: Vec<Op>,
}

impl History {
    /// A history of the given ops.
    pub fn new(ops: Vec<Op>) -> History {
        History { ops }
    }

    /// Appends an op.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when there are no ops.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sorts ops by invocation time (ties by id), the order checkers use.
    pub fn sort_by_invoke(&mut self) {
        self.ops.sort_by_key(|o| (o.invoke_ns, o.id));
    }

    /// The ops of each key, each list sorted by invocation time (ties by id).
    pub fn by_key(&self) -> BTreeMap<u64, Vec<&Op>> {
        let mut map: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
        for op in &self.ops {
            map.entry(op.key).or_default().push(op);
        }
        for ops in map.values_mut() {
            ops.sort_by_key(|o| (o.invoke_ns, o.id));
        }
        map
    }

    /// The distinct keys, ascending.
    pub fn keys(&self) -> Vec<u64> {
        let mut keys: Vec<u64> = self.ops.iter().map(|o| o.key).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// A copy holding only the ops on `key`, sorted by invocation.
    pub fn for_key(&self, key: u64) -> History {
        let mut h = History::new(self.ops.iter().filter(|o| o.key == key).cloned().collect());
        h.sort_by_invoke();
        h
    }

    /// Checks structural invariants: unique ids, completion not before
    /// invocation, writes carry a value, and no process has two outstanding ops
    /// (an `Info` op stops being outstanding when the client gives up on it).
    /// Returns every problem found, in a deterministic order.
    pub fn validate(&self) -> Result<(), Vec<HistoryError>> {
        let mut errors = Vec::new();
        let mut ids: Vec<u64> = self.ops.iter().map(|o| o.id).collect();
        ids.sort_unstable();
        for w in ids.windows(2) {
            if w[0] == w[1] && errors.last() != Some(&HistoryError::DuplicateId { id: w[0] }) {
                errors.push(HistoryError::DuplicateId { id: w[0] });
            }
        }
        let mut sorted: Vec<&Op> = self.ops.iter().collect();
        sorted.sort_by_key(|o| (o.id, o.invoke_ns));
        for op in &sorted {
            if op.complete_ns < op.invoke_ns {
                errors.push(HistoryError::CompleteBeforeInvoke {
                    id: op.id,
                    invoke_ns: op.invoke_ns,
                    complete_ns: op.complete_ns,
                });
            }
            if op.is_mutation() && op.write_value.is_none() {
                errors.push(HistoryError::MissingWriteValue { id: op.id });
            }
        }
        let mut by_process: BTreeMap<u64, Vec<&Op>> = BTreeMap::new();
        for op in &self.ops {
            by_process.entry(op.process).or_default().push(op);
        }
        for (process, mut ops) in by_process {
            ops.sort_by_key(|o| (o.invoke_ns, o.id));
            for w in ops.windows(2) {
                if w[1].invoke_ns < w[0].complete_ns {
                    errors.push(HistoryError::ProcessOverlap {
                        process,
                        first: w[0].id,
                        first_complete_ns: w[0].complete_ns,
                        second: w[1].id,
                        second_invoke_ns: w[1].invoke_ns,
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_key_groups_and_sorts_by_invocation() {
        let h = History::new(vec![
            Op::write(2, 0, 7, 1, 50, 60),
            Op::read(1, 1, 3, None, 10, 20),
            Op::write(0, 2, 7, 2, 5, 8),
        ]);
        let by_key = h.by_key();
        assert_eq!(by_key.keys().copied().collect::<Vec<_>>(), vec![3, 7]);
        let ids: Vec<u64> = by_key[&7].iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![0, 2]);
        assert_eq!(h.keys(), vec![3, 7]);
        assert_eq!(h.for_key(7).len(), 2);
    }

    #[test]
    fn validate_reports_every_structural_problem() {
        let mut bad_write = Op::write(3, 2, 0, 1, 0, 1);
        bad_write.write_value = None;
        let h = History::new(vec![
            Op::write(1, 0, 0, 1, 10, 5),
            Op::read(1, 1, 0, None, 0, 100),
            Op::read(2, 1, 0, None, 50, 60),
            bad_write,
        ]);
        let errs = h.validate().unwrap_err();
        assert!(errs.contains(&HistoryError::DuplicateId { id: 1 }));
        assert!(
            errs.iter()
                .any(|e| matches!(e, HistoryError::CompleteBeforeInvoke { id: 1, .. }))
        );
        assert!(errs.contains(&HistoryError::MissingWriteValue { id: 3 }));
        assert!(
            errs.iter()
                .any(|e| matches!(e, HistoryError::ProcessOverlap { process: 1, .. }))
        );
        // Every message is printable.
        for e in &errs {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn validate_accepts_sequential_processes_and_info_give_up() {
        let h = History::new(vec![
            Op::write(0, 0, 0, 1, 0, 10).with_outcome(Outcome::Info),
            Op::read(1, 0, 0, Some(1), 10, 20),
        ]);
        assert_eq!(h.validate(), Ok(()));
    }

    #[test]
    fn precedence_is_strict_and_info_never_precedes() {
        let a = Op::write(0, 0, 0, 1, 0, 10);
        let b = Op::read(1, 1, 0, None, 10, 20);
        let c = Op::read(2, 1, 0, None, 11, 20);
        assert!(!a.precedes(&b), "touching intervals are concurrent");
        assert!(a.precedes(&c));
        let info = a.clone().with_outcome(Outcome::Info);
        assert!(!info.precedes(&c));
    }
}
