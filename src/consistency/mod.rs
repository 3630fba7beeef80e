//! Operation histories, anomaly detectors, an exact linearizability checker
//! and Jepsen-format interop.
//!
//! This module owns everything capsim says about consistency: the history of
//! client operations ([`history`]), the anomaly detectors that count stale
//! reads, lost writes and session-guarantee violations ([`anomalies`]), the
//! linearizability checker ([`linearizability`]), reading and writing Jepsen
//! histories ([`jepsen`]) and a generator of known-linearizable histories for
//! tests and benches ([`testgen`]). It must not depend on the simulator
//! engine: it only sees [`history::History`] values and a
//! [`anomalies::ReplicaStateView`] of replica contents. Every analysis is
//! deterministic and never panics on malformed input.
//!
//! # Histories
//! An [`history::Op`] is one client operation on one key (a register that
//! starts as nil): `read`, `write v` or `cas(expected, new)`, with its
//! invocation and completion times (ns) and an outcome: `Ok` (took effect; an
//! `Ok` cas succeeded), `Fail` (known not to have taken effect) or `Info`
//! (indeterminate, e.g. timed out: it may take effect at any time after its
//! invocation, even after the client gave up at `complete_ns`, or never).
//! Write `Wa` **precedes** `Wb` iff `Wa` is `Ok` and `Wa.complete_ns <
//! Wb.invoke_ns`; ops whose intervals touch or overlap are concurrent.
//!
//! # Anomalies
//! Simulated writes carry globally unique values, so a read can be attributed
//! to the one write that wrote its value (or to the initial nil). The
//! detectors are exact under that assumption. When a value is written more
//! than once they never over-count: a read's *possible sources* are all
//! non-`Fail` writes of its value invoked no later than the read completed
//! (plus the initial state for nil), a read is charged only if the anomaly
//! holds for every possible source, an `Info` source (unknown completion)
//! exempts the read, and the write-order checks (monotonic writes,
//! writes-follow-reads) skip values not written exactly once. Each detector
//! yields a count, a rate and a list of events with times
//! ([`anomalies::bucket_counts`] turns them into a time series).
//!
//! The examples list `session: op [invoke, complete]` on one key.
//!
//! **Stale read** (rate per `Ok` read). An `Ok` read `R` returning `v` is
//! stale iff some `Ok` write or successful cas `W'` on the key completed
//! before `R` was invoked and `v`'s write precedes `W'` (or `v` is nil).
//! `staleness_ns = R.invoke - earliest completion of such W'`,
//! `versions_behind = number of such W'`; the report gives p50/p99/max
//! staleness (nearest rank).
//! ```text
//! s1: write 1 [0, 10]
//! s1: write 2 [20, 30]
//! s2: read -> 1 [40, 50]    stale: staleness 10 ns, 1 version behind
//! s3: read -> 1 [25, 35]    not stale: write 2 completed after the read began
//! ```
//!
//! **Phantom read** (per `Ok` read). An `Ok` read of a non-nil value that no
//! write on the key ever wrote, whatever its outcome. Not counted as stale.
//! ```text
//! s1: write 1 [0, 10]
//! s2: read -> 7 [20, 30]    phantom
//! ```
//!
//! **Lost acknowledged write** (per `Ok` write/cas; needs the final converged
//! state: per key the values any replica holds, siblings allowed). An `Ok`
//! write of `v` is lost iff no replica holds `v` at the end and no write (`Ok`
//! or `Info`; `Fail` did not happen) on the key was invoked after it completed,
//! i.e. it vanished, or lost only to concurrent or older writes.
//! ```text
//! s1: write 4 [0, 10]
//! s2: write 5 [5, 15]       final state {4}: write 5 is lost (only a concurrent write won)
//! ```
//!
//! **Session guarantees**, per session and key, "after" meaning the earlier op
//! completed before the later one was invoked. Each violating read (RYW, MR)
//! or write (MW, WFR) counts once; RYW and MR rates are per `Ok` read, MW and
//! WFR per `Ok` write.
//! * *Read-your-writes*: a read after the session's own `Ok` write `W`
//!   returns nil or a value whose write precedes `W`.
//!   ```text
//!   s2: write 5 [0, 5]
//!   s1: write 1 [10, 20]
//!   s1: read -> 5 [30, 40]   violation: s1 does not see its own write
//!   ```
//! * *Monotonic reads*: a later read returns a value whose write precedes the
//!   write of an earlier read's value (or nil after non-nil).
//!   ```text
//!   s9: write 1 [0, 10];  s9: write 2 [20, 30]
//!   s1: read -> 2 [40, 50]
//!   s1: read -> 1 [60, 70]   violation: went back in time
//!   ```
//! * *Monotonic writes*: the session wrote `W1` then `W2` (`W1` completed
//!   before `W2` was invoked), but the order is observed reversed: some read
//!   returns `v1` after another read returned `v2`, or the final state holds
//!   `v1` and not `v2` (counted only if `W2` was `Ok` or observed).
//!   ```text
//!   s1: write 1 [0, 10];  s1: write 2 [20, 30]
//!   s3: read -> 2 [40, 50]
//!   s4: read -> 1 [60, 70]   violation (charged to write 2)
//!   ```
//! * *Writes-follow-reads*: the session read `v` then wrote `W`, but some read
//!   returns `v` after another read returned `W`'s value, or the final state
//!   holds `v` and not `W`'s value.
//!   ```text
//!   s9: write 1 [0, 10]
//!   s1: read -> 1 [20, 30];  s1: write 2 [40, 50]
//!   s3: read -> 2 [60, 70]
//!   s4: read -> 1 [80, 90]   violation (charged to write 2)
//!   ```
//!
//! **Divergence**: [`anomalies::divergent_keys`] counts keys whose replicas
//! hold different value sets (a missing key holds nothing);
//! [`anomalies::ConvergenceTracker`], fed `(t, divergent keys)` samples and
//! heal times, reports per heal the time until the first sample with no
//! divergent key (`None` if the run ended first).
//!
//! # Linearizability
//! [`linearizability::check`] decides, exactly, whether a history is
//! linearizable as a set of compare-and-set registers (nil initial value),
//! key by key (linearizability is local). It never assumes unique values.
//! `Fail` ops are dropped (a failed cas too, as in Knossos; Porcupine's
//! stricter reading, "a failed cas saw a different value", is available as
//! [`linearizability::FailedCas::ObservedMismatch`]); `Info` ops may take
//! effect at any point after their invocation or never; `Info` reads are
//! dropped. The verdict is `Linearizable`, `NotLinearizable { key, window }`
//! (lowest such key) or `Unknown { key, reason }`.
//!
//! *Witness.* For a non-linearizable key the checker reports a small window of
//! operations that by itself admits no linearization, from nil if it starts
//! at the beginning of the history, otherwise from *any* initial value. Ops
//! that completed after the window's end or were still pending at its start
//! are kept as indeterminate (they may or may not have happened inside it),
//! which makes the window a proof about the whole history; its `Display`
//! prints it as a table:
//! ```text
//! key 0: these 2 operations (window [74, 86]) have no linearization, whatever the value was when the window began:
//!    process  op                       outcome         invoke       complete  note
//!          0  write 1                  ok                  74             75
//!         11  read -> 2                ok                  85             86
//! ```
//!
//! *Budget.* Each key's search (and each window-shrinking search) is limited
//! by [`linearizability::Budget`]: a number of search steps and an estimated
//! memo size. When either runs out the key's verdict is `Unknown` with the
//! reason; it is never guessed. A history with an unknown key and no proven
//! violation is `Unknown` overall (suggested exit code 3); a proven violation
//! on any key wins (exit 1); linearizable is exit 0; unreadable input exit 2.
//! While shrinking a window, a check that runs out of budget is treated as
//! "not proven", so the reported window may be larger but is always a proof.
//!
//! # Jepsen interop
//! [`jepsen::check_file`] reads a Jepsen register history, either the
//! `jepsen.util` text log (`INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]`,
//! with any prefix such as timestamps and thread names) or EDN op maps (one
//! per line, or inside a top-level vector/list as in Knossos' data), as one
//! register, or as one register per key when its values are the `[key value]`
//! tuples of a multi-key `jepsen.independent` test (each key is then checked on
//! its own: linearizability is local). Other loggers, blank lines and `:nemesis` events are skipped;
//! event lines that cannot be understood are all reported with line numbers
//! and hints. Completions pair with invocations by process; invocations never
//! completed are indeterminate. Times are line numbers (EDN: event ordinals).
//! [`jepsen::write_jepsen`] writes one key of a capsim history in the text
//! format, for cross-checking with Knossos or Porcupine.
//!
//! # Performance
//! Measured on this 2-core machine (test profile, optimised): 100,000 ops over
//! 100 keys from 10 clients check in 0.04-0.2 s depending on machine load
//! (the target is 5 s; the anomaly detectors take about 0.1 s on it);
//! 100,000 ops on one key from 10 clients in about 2.3 s. The detectors are
//! `O(n log n)`.

pub mod anomalies;
mod edn;
pub mod history;
pub mod jepsen;
pub mod kv;
pub mod linearizability;
pub mod testgen;

pub use anomalies::{
    Anomalies, AnomalyEvent, AnomalyKind, AnomalyReport, ConvergenceRecord, ConvergenceTracker,
    FinalState, ReplicaStateView, analyze, analyze_detailed, analyze_detailed_with, bucket_counts,
    divergent_key_set, divergent_keys, final_values,
};
pub use history::{History, HistoryError, Op, OpKind, Outcome, Value};
pub use jepsen::{CheckReport, HistoryFileError, check_file, parse_jepsen, write_jepsen};
pub use linearizability::{
    Budget, CheckOptions, CheckResult, FailedCas, Verdict, Window, check, check_with,
};
