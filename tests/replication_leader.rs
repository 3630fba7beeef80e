//! Single-leader replication and Raft end to end, through scenario text: the
//! consistency each design promises (or gives up) shows up in the checker's
//! verdicts, and the replication-lag anomalies match their derivations.

use capsim::consistency::anomalies::{FinalState, analyze_detailed, final_values};
use capsim::consistency::{History, Outcome};
use capsim::engine::Sim;
use capsim::scenario::load_str;
use capsim::scenario::validated::Scenario;
use capsim::sim::consistency::{StoreView, history_of};
use capsim::sim::msg::Msg;
use capsim::sim::world::SimWorld;
use capsim::sim::{self, RunResult};
use std::path::Path;

fn scenario(text: &str) -> Scenario {
    match load_str(Path::new("replication_leader.ron"), text) {
        Ok(l) => l.base,
        Err(e) => panic!("scenario does not load:\n{e}"),
    }
}

fn metric(r: &RunResult, name: &str) -> f64 {
    r.metric(name).unwrap_or_else(|| panic!("no metric {name}"))
}

/// Run one seed and keep the engine (history, replica states, events).
fn run_sim(sc: &Scenario, seed: u64) -> Sim<Msg, SimWorld> {
    let mut s = sim::build(sc, seed);
    s.run(sc.duration, sc.max_events);
    s.finish();
    s
}

fn history_and_final(s: &Sim<Msg, SimWorld>, sc: &Scenario) -> (History, FinalState) {
    let fin = final_values(&StoreView {
        sim: s,
        replicas: &sc.stores[0].replicas,
    });
    (history_of(&s.world.history, 0), fin)
}

/// Acknowledged writes that vanished. The checker also flags a key's last write
/// when a concurrent write on the key was linearized after it; those are excused
/// here: some other write on the key completed after this one was invoked.
fn lost_acknowledged(h: &History, fin: &FinalState) -> usize {
    let lost = analyze_detailed(h, Some(fin)).lost_writes;
    lost.iter()
        .filter(|l| {
            let Some(w) = h.ops.iter().find(|o| o.id == l.op_id) else {
                return true;
            };
            !h.ops.iter().any(|o| {
                o.id != w.id
                    && o.key == w.key
                    && o.write_value.is_some()
                    && o.outcome != Outcome::Fail
                    && o.complete_ns > w.invoke_ns
            })
        })
        .count()
}

fn node_index(sc: &Scenario, name: &str) -> u64 {
    sc.nodes.iter().position(|n| n.name == name).expect("node") as u64
}

#[test]
fn sync_leader_with_leader_reads_is_linearizable_without_faults() {
    // Random link latency (uniform 0.2–3 ms) reorders messages; reads, writes
    // and compare-and-set on 10 hot keys from two clients; the load stops at 3.5 s
    // so nothing is in flight when the final state is taken.
    let sc = scenario(
        r#"Scenario(name: "sync", duration_s: 4.0,
            nodes: [
                Client(name: "a", target: "kv", keys: Uniform(count: 10), timeout_ms: 1000.0,
                       workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 300.0), Step(at_s: 3.5, rate_per_s: 0.0)]),
                       mix: [(name: "r", weight: 2.0, op: Read), (name: "w", weight: 2.0, op: Write), (name: "c", weight: 1.0, op: Cas)]),
                Client(name: "b", target: "kv", keys: Uniform(count: 10), timeout_ms: 1000.0,
                       workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 300.0), Step(at_s: 3.5, rate_per_s: 0.0)]),
                       mix: [(name: "r", weight: 2.0, op: Read), (name: "w", weight: 2.0, op: Write)]),
                Store(name: "kv", replicas: 3, policy: Leader(mode: Sync, reads: Leader)),
            ],
            default_link: (latency: Uniform(min_ms: 0.2, max_ms: 3.0)))"#,
    );
    for seed in 1..=3 {
        let r = sim::run(&sc, seed);
        assert_eq!(
            metric(&r, "linearizable"),
            1.0,
            "seed {seed}: {:?}",
            r.verdicts
        );
        assert_eq!(metric(&r, "stale_reads"), 0.0);
        assert!(metric(&r, "store_ops_ok") > 1800.0);
        let s = run_sim(&sc, seed);
        let (h, fin) = history_and_final(&s, &sc);
        // Every operation got a definite answer, and no acknowledged write vanished.
        assert!(
            h.ops.iter().all(|o| o.outcome != Outcome::Info),
            "seed {seed}"
        );
        assert_eq!(lost_acknowledged(&h, &fin), 0, "seed {seed}");
        assert_eq!(
            sim::consistency::divergence(&s, &sc.stores),
            0,
            "seed {seed}"
        );
    }
}

#[test]
fn raft_minority_side_serves_nothing_and_histories_stay_linearizable() {
    // Five replicas; clients on both sides; kv-4 and kv-5 with client `west` are cut
    // off from 2 s to 4 s; the load stops at 5 s. Seeds differ in which replica leads
    // when the cut comes.
    let sc = scenario(
        r#"Scenario(name: "raft-minority", duration_s: 6.0,
            nodes: [
                Client(name: "east", target: "kv", workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 200.0), Step(at_s: 5.0, rate_per_s: 0.0)]),
                       keys: Uniform(count: 10), timeout_ms: 300.0,
                       retry: (max_attempts: 3, base_ms: 20.0),
                       mix: [(name: "r", weight: 1.0, op: Read), (name: "w", weight: 1.0, op: Write), (name: "c", weight: 0.3, op: Cas)]),
                Client(name: "west", target: "kv", workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 200.0), Step(at_s: 5.0, rate_per_s: 0.0)]),
                       keys: Uniform(count: 10), timeout_ms: 300.0,
                       retry: (max_attempts: 3, base_ms: 20.0),
                       mix: [(name: "r", weight: 1.0, op: Read), (name: "w", weight: 1.0, op: Write)]),
                Store(name: "kv", replicas: 5, policy: Raft()),
            ],
            default_link: (latency: Uniform(min_ms: 0.5, max_ms: 2.0)),
            faults: [(at_s: 2.0, for_s: 2.0, action: Partition(groups: [["kv-1", "kv-2", "kv-3", "east"], ["kv-4", "kv-5", "west"]]))])"#,
    );
    let (west, east) = (node_index(&sc, "west"), node_index(&sc, "east"));
    let minority: Vec<u32> = vec![3, 4];
    let (cut, heal) = (2_000_000_000u64, 4_000_000_000u64);
    let mut minority_led = 0;
    for seed in 1..=6 {
        let s = run_sim(&sc, seed);
        // Who led when the partition began?
        let mut leader = None;
        for (t, _, r, e, _) in &s.world.store_events {
            if t.as_ns() > cut {
                break;
            }
            match e {
                capsim::components::store::StoreEvent::BecameLeader { .. } => leader = Some(*r),
                capsim::components::store::StoreEvent::SteppedDown { .. } if leader == Some(*r) => {
                    leader = None
                }
                _ => {}
            }
        }
        if leader.is_some_and(|l| minority.contains(&l)) {
            minority_led += 1;
        }
        let mut east_ok_writes = 0;
        for rec in &s.world.history {
            let client = rec.process >> 40;
            let inside = rec.invoke.as_ns() >= cut && rec.complete.as_ns() < heal;
            if client == west && inside {
                assert_ne!(
                    rec.outcome, 0,
                    "seed {seed}: the minority side completed {:?} on key {} during the partition",
                    rec.op, rec.key
                );
            }
            if client == east
                && inside
                && rec.outcome == 0
                && rec.op != capsim::scenario::spec::OpSpec::Read
            {
                east_ok_writes += 1;
            }
        }
        assert!(
            east_ok_writes > 100,
            "seed {seed}: the majority side must keep committing ({east_ok_writes})"
        );
        assert_eq!(
            sim::consistency::divergence(&s, &sc.stores),
            0,
            "seed {seed}: replicas converge after the heal"
        );
        let r = sim::run(&sc, seed);
        assert_eq!(
            metric(&r, "linearizable"),
            1.0,
            "seed {seed}: {:?}",
            r.verdicts
        );
        assert_eq!(metric(&r, "lost_writes"), 0.0, "seed {seed}");
        assert!(metric(&r, "split_brain_s") < 1e-9, "seed {seed}");
    }
    assert!(
        minority_led >= 1,
        "no seed had the leader on the minority side; pick other seeds"
    );
}

#[test]
fn async_follower_reads_are_stale_by_the_replication_lag() {
    // Writer → leader kv-1, reader → follower kv-2; client links δ = 1 ms, replica
    // links d = 5 ms, constant; batches every B = 20 ms at a random phase.
    //
    // A write W invoked at t0 completes at c = t0 + 2δ; it is applied at the leader at
    // t0 + δ, waits U ~ Uniform(0, B) for the next batch and reaches kv-2 at
    // t0 + δ + U + d. A read invoked at τ reaches kv-2 at τ + δ, so it is stale iff
    // c < τ < t0 + U + d: a window of length L = U + a, a = d − 2δ = 3 ms.
    // With write rate λ_k per key (λ_k·L ≪ 1) and reads uniform in time:
    //   P(stale read)    = λ_k·E[L] = λ_k·(B/2 + a)                  = 1/s × 13 ms = 0.013
    //   staleness S = τ − c is uniform on (0, L) over a length-biased L, so
    //   E[S]             = E[L²] / (2E[L]) = (B²/3 + aB + a²) / (B + 2a) = 7.78 ms
    //   median S: (3 + y(1 − y/40)) / 13 = 1/2 → y = 3.875     → 6.875 ms.
    // (The mean replication lag itself is B/2 + d = 15 ms; the checker measures
    // staleness from the superseding write's completion, hence the 2δ and the halving.)
    let sc = scenario(
        r#"Scenario(name: "lag", duration_s: 4.0,
            nodes: [
                Client(name: "writer", target: "kv", route: Replica(0), workload: Poisson(rate_per_s: 1000.0),
                       keys: Uniform(count: 1000), mix: [(name: "w", op: Write)], timeout_ms: 1000.0),
                Client(name: "reader", target: "kv", route: Replica(1), workload: Poisson(rate_per_s: 5000.0),
                       keys: Uniform(count: 1000), mix: [(name: "r", op: Read)], timeout_ms: 1000.0),
                Store(name: "kv", replicas: 3, policy: Leader(mode: Async(batch_ms: 20.0), reads: Any)),
            ],
            links: [
                (from: "writer", to: "kv-1", latency: Constant(ms: 1.0)),
                (from: "reader", to: "kv-2", latency: Constant(ms: 1.0)),
                (from: "kv-1", to: "kv-2", latency: Constant(ms: 5.0)),
                (from: "kv-1", to: "kv-3", latency: Constant(ms: 5.0)),
                (from: "kv-2", to: "kv-3", latency: Constant(ms: 5.0)),
            ])"#,
    );
    let mut staleness_ms: Vec<f64> = Vec::new();
    let mut ok_reads = 0u64;
    for seed in 1..=3 {
        let s = run_sim(&sc, seed);
        let (h, _) = history_and_final(&s, &sc);
        ok_reads += h
            .ops
            .iter()
            .filter(|o| o.outcome == Outcome::Ok && o.kind == capsim::consistency::OpKind::Read)
            .count() as u64;
        let a = analyze_detailed(&h, None);
        staleness_ms.extend(a.stale_reads.iter().map(|s| s.staleness_ns as f64 / 1e6));
    }
    let n = staleness_ms.len() as f64;
    let rate = n / ok_reads as f64;
    let mean = staleness_ms.iter().sum::<f64>() / n;
    staleness_ms.sort_by(f64::total_cmp);
    let median = staleness_ms[staleness_ms.len() / 2];
    let max = *staleness_ms.last().unwrap();
    println!(
        "stale reads {n} of {ok_reads} (rate {rate:.5}); staleness mean {mean:.3} ms, median {median:.3} ms, max {max:.3} ms"
    );
    // Sample: ~60 000 reads over 3 seeds, ~780 stale. The stale count is ~Poisson:
    // relative sd 1/√780 = 3.6%; second-order effects (two writes in one window)
    // are O(λ_k·L) ≈ 1%. Tolerance 12% ≈ 3.3 sd.
    assert!(
        (rate / 0.013 - 1.0).abs() < 0.12,
        "stale-read rate {rate} vs 0.013"
    );
    // S has sd ≈ 4.6 ms → standard error of the mean 0.17 ms (2.1%); tolerance 8% ≈ 3.8 sd.
    assert!(
        (mean / 7.782 - 1.0).abs() < 0.08,
        "mean staleness {mean} ms vs 7.78 ms"
    );
    // Median: its standard error ≈ 1/(2 f(m) √n) with f(m) = 1/13 per ms → 0.23 ms; tolerance 0.8 ms.
    assert!(
        (median - 6.875).abs() < 0.8,
        "median staleness {median} ms vs 6.875 ms"
    );
    // No read can be staler than the longest window, B + a = 23 ms.
    assert!(max <= 23.0 + 1e-6, "max staleness {max} ms");
}

/// Lost acknowledged writes per seed in a failover scenario.
fn lost_writes(sc: &Scenario, seeds: std::ops::RangeInclusive<u64>) -> Vec<f64> {
    seeds
        .map(|seed| {
            let s = run_sim(sc, seed);
            let (h, fin) = history_and_final(&s, sc);
            lost_acknowledged(&h, &fin) as f64
        })
        .collect()
}

#[test]
fn async_failover_loses_writes_in_proportion_to_rate_times_lag() {
    // A writer at λ = 2000 writes/s over 10⁶ keys (so a lost write is almost never
    // masked by a later write to its key), linked only to kv-1 (δ = 0.5 ms; it reaches
    // the others through kv-1, so the network never relays replica traffic through
    // it); async batches every B = 40 ms at a random phase; replica links d = 15 ms.
    // At 1.0 s the leader fails; a follower takes over ~200–300 ms later (election
    // timeout 200 ms, randomised up to 300); the old leader rejoins at 2.0–2.1 s and
    // discards the suffix its followers never received. (Writes still in flight at
    // the end are not in the history; with ~1 in flight and 10⁶ keys, the chance that
    // one hides an earlier write's overwrite is ~1% per run: negligible.)
    //
    // Crash (1.0–2.0 s): messages already in flight still arrive (the network drops
    // only what reaches a dead node), so every batch sent before the crash is
    // delivered and the lost writes are those applied since the last tick:
    // E = λ·B/2 = 40.
    // Partition cutting the leader off (1.0–2.0 s; it is also crashed 1.9–2.1 s so
    // that after the heal it cannot acknowledge writes before hearing of the new
    // term): batches and acknowledgements in flight are dropped at delivery. Batches
    // sent before T − d arrive; acknowledgements sent before T − δ arrive, so the
    // lost writes are those applied in (last tick before T − d, T − δ):
    // E = λ·(B/2 + d − δ) = 2000 × 34.5 ms = 69.
    let text = |fault: &str| {
        format!(
            r#"Scenario(name: "loss", duration_s: 2.6,
            nodes: [
                Client(name: "c", target: "kv", keys: Uniform(count: 1000000), workload: Poisson(rate_per_s: 2000.0),
                       mix: [(name: "w", op: Write)], timeout_ms: 200.0),
                Store(name: "kv", replicas: 3,
                      policy: Leader(mode: Async(batch_ms: 40.0), failover: Heartbeat(interval_ms: 20.0, timeout_ms: 200.0))),
            ],
            links: [
                (from: "c", to: "kv-1", latency: Constant(ms: 0.5)),
                (from: "kv-1", to: "kv-2", latency: Constant(ms: 15.0)),
                (from: "kv-1", to: "kv-3", latency: Constant(ms: 15.0)),
                (from: "kv-2", to: "kv-3", latency: Constant(ms: 15.0)),
            ],
            faults: {fault})"#
        )
    };
    let crash = r#"[(at_s: 1.0, for_s: 1.0, action: Crash(node: "kv-1"))]"#;
    let partition = r#"[(at_s: 1.0, for_s: 1.0, action: Partition(groups: [["kv-1"], ["kv-2", "kv-3", "c"]])),
                        (at_s: 1.9, for_s: 0.2, action: Crash(node: "kv-1"))]"#;
    // 60 seeds each. Per seed the loss is Poisson(λU) with U uniform over a batch:
    // variance = E[λU] + λ²B²/12 = 40 + 533 (crash), 69 + 533 (partition), so sd ≈ 24–25
    // and the standard error of the mean over 60 seeds ≈ 3.1–3.2. Tolerances: ±10
    // writes (25% of 40, 3.2 SE) for the crash, ±11 (16% of 69, 3.5 SE) for the partition.
    for (name, fault, expected, tol) in [
        ("crash", crash, 40.0, 10.0),
        ("partition", partition, 69.0, 11.0),
    ] {
        let sc = scenario(&text(fault));
        let lost = lost_writes(&sc, 1..=60);
        let mean = lost.iter().sum::<f64>() / lost.len() as f64;
        let zeros = lost.iter().filter(|x| **x == 0.0).count();
        println!("{name}: mean lost {mean:.1} (expected {expected}), seeds with none {zeros}/60");
        assert!(
            (mean - expected).abs() < tol,
            "{name}: mean lost writes {mean} vs {expected}"
        );
    }
    // Synchronous replication under the same crash loses nothing. (Writes take a
    // 31 ms round trip here, so the load stops at 2.4 s: nothing in flight at the end.)
    let sync = scenario(&text(crash).replace("Async(batch_ms: 40.0)", "Sync").replace(
        "workload: Poisson(rate_per_s: 2000.0)",
        "workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 2000.0), Step(at_s: 2.4, rate_per_s: 0.0)])",
    ));
    assert!(lost_writes(&sync, 1..=5).iter().all(|x| *x == 0.0));
}

#[test]
fn fenced_failover_has_no_split_brain_and_naive_failover_does() {
    // The old leader kv-1 and client c1 are cut off from the majority from 1.0 to
    // 2.5 s; the load stops at 3 s. Keys are many, so lost writes are not masked by
    // later writes to the same key.
    let text = |fencing: bool| {
        format!(
            r#"Scenario(name: "fence", duration_s: 4.0,
            nodes: [
                Client(name: "c1", target: "kv", route: Replica(0), keys: Uniform(count: 100000),
                       workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 300.0), Step(at_s: 3.0, rate_per_s: 0.0)]),
                       mix: [(name: "w", op: Write), (name: "r", op: Read)], timeout_ms: 200.0),
                Client(name: "c2", target: "kv", keys: Uniform(count: 100000),
                       workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 300.0), Step(at_s: 3.0, rate_per_s: 0.0)]),
                       mix: [(name: "w", op: Write), (name: "r", op: Read)], timeout_ms: 200.0,
                       retry: (max_attempts: 3, base_ms: 10.0)),
                Store(name: "kv", replicas: 3,
                      policy: Leader(mode: Async(batch_ms: 10.0), failover: Heartbeat(interval_ms: 20.0, timeout_ms: 100.0, fencing: {fencing}))),
            ],
            default_link: (latency: Constant(ms: 1.0)),
            faults: [(at_s: 1.0, for_s: 1.5, action: Partition(groups: [["kv-1", "c1"], ["kv-2", "kv-3", "c2"]]))])"#
        )
    };
    for seed in 1..=3 {
        let (naive_sc, fenced_sc) = (scenario(&text(false)), scenario(&text(true)));
        let naive = sim::run(&naive_sc, seed);
        let fenced = sim::run(&fenced_sc, seed);
        let (sb_naive, sb_fenced) = (
            metric(&naive, "split_brain_s"),
            metric(&fenced, "split_brain_s"),
        );
        let (lost_naive, lost_fenced) = (
            metric(&naive, "lost_writes"),
            metric(&fenced, "lost_writes"),
        );
        println!(
            "seed {seed}: split brain {sb_naive:.3} s vs {sb_fenced:.3} s; lost writes {lost_naive} vs {lost_fenced}"
        );
        // Naive: two leaders from the election (~1.1 s) to the heal (2.5 s); c1's
        // ~150 writes/s to the deposed leader are acknowledged, then discarded.
        assert!(
            sb_naive > 1.2,
            "seed {seed}: naive split brain {sb_naive} s"
        );
        assert!(
            lost_naive > 150.0,
            "seed {seed}: the deposed leader's writes are lost ({lost_naive})"
        );
        assert_eq!(
            sb_fenced, 0.0,
            "seed {seed}: fencing must prevent two leaders"
        );
        // Fenced: only what the old leader acknowledged within its lease (≤ 100 ms) is lost.
        assert!(lost_fenced < 30.0, "seed {seed}: fenced lost {lost_fenced}");
        for sc in [&naive_sc, &fenced_sc] {
            assert_eq!(
                sim::consistency::divergence(&run_sim(sc, seed), &sc.stores),
                0,
                "seed {seed}: replicas converge"
            );
        }
    }
}

#[test]
fn a_client_settles_on_the_new_leader_after_a_crash() {
    // kv-1 leads until it crashes at 10 s (back at 30 s); a fenced heartbeat
    // failover (timeout 300 ms) elects another replica. The client keeps ~200
    // requests in flight (400/s × 500 ms timeout). Requests sent to kv-1 during the
    // first 500 ms time out; the first timeout moves the client's leader guess, and a
    // follower's redirect names the new leader. The timeouts of requests sent to kv-1
    // earlier must not move the guess again (round and round the replicas, back to
    // the dead kv-1). Expected loss ≈ 0.5 s of the 20 s window plus the election's
    // redirects: availability during the crash ≥ 1 − 0.6/20 = 0.97 per seed
    // (measured 0.974–0.976 over seeds 1–4; 0.61–0.967 when every timeout moved the
    // guess).
    let sc = scenario(
        r#"Scenario(name: "guess", duration_s: 40.0,
        nodes: [
            Client(name: "clients", target: "kv", workload: Poisson(rate_per_s: 400.0),
                   mix: [(name: "read", op: Read), (name: "write", op: Write)],
                   keys: Uniform(count: 100), timeout_ms: 500.0),
            Store(name: "kv", replicas: 3,
                  policy: Leader(leader: 0, mode: SemiSync(1), failover: Heartbeat(interval_ms: 50.0, timeout_ms: 300.0, fencing: true))),
        ],
        default_link: (latency: Constant(ms: 1.0)),
        faults: [(at_s: 10.0, for_s: 20.0, action: Crash(node: "kv-1"))])"#,
    );
    for seed in 1..=4 {
        let r = sim::run(&sc, seed);
        let a = metric(&r, "availability_during_faults");
        println!("seed {seed}: availability during the crash {a:.4}");
        assert!(a >= 0.97, "seed {seed}: availability during the crash {a}");
    }
}

#[test]
fn a_raft_leader_cut_off_from_its_majority_steps_down_within_the_check_quorum_bound() {
    // Check-quorum: at every heartbeat tick (every h = 50 ms) the leader counts the
    // followers whose last answer is younger than the minimum election timeout
    // e = 150 ms, and steps down without a majority. Cut off at P, its last answer
    // arrived at a ∈ [P − h − rtt, P + rtt] (the answer to the last heartbeat before P,
    // or one in flight; rtt = 2 ms here), and it steps down at the first tick at or
    // after a + e, so step-down − P ∈ [e − h − rtt, e + h + rtt] = [98, 202] ms.
    // Over 20 seeds (the leader is found by a fault-free run, identical up to P).
    // Measured 152–195 ms: with client traffic the followers answer every few ms, so
    // a ≈ P and the low end of the bound is not reached.
    let text = |cut: Option<&str>| {
        let faults = cut.map_or(String::new(), |n| {
            let rest: Vec<String> = ["kv-1", "kv-2", "kv-3", "c"]
                .iter()
                .filter(|&&o| o != n)
                .map(|o| format!("{o:?}"))
                .collect();
            format!(
                r#"(at_s: 5.0, for_s: 3.0, action: Partition(groups: [["{n}"], [{}]]))"#,
                rest.join(", ")
            )
        });
        format!(
            r#"Scenario(name: "cq", duration_s: 6.0,
            nodes: [
                Client(name: "c", target: "kv", workload: Poisson(rate_per_s: 50.0),
                       mix: [(name: "w", op: Write), (name: "r", op: Read)], timeout_ms: 200.0),
                Store(name: "kv", replicas: 3,
                      policy: Raft(election_timeout_ms: (150.0, 300.0), heartbeat_ms: 50.0)),
            ],
            default_link: (latency: Constant(ms: 1.0)),
            faults: [{faults}])"#
        )
    };
    let calm = scenario(&text(None));
    let mut delays = Vec::new();
    for seed in 1..=20 {
        let r = sim::run(&calm, seed);
        let at = |t: u64| r.leaders.iter().find(|l| l.from_ns <= t && t < l.to_ns);
        let leader = at(5_000_000_000)
            .unwrap_or_else(|| panic!("seed {seed}: no leader at 5 s"))
            .node
            .clone();
        let cut = sim::run(&scenario(&text(Some(&leader))), seed);
        let span = cut
            .leaders
            .iter()
            .find(|l| l.node == leader && l.from_ns < 5_000_000_000 && l.to_ns > 5_000_000_000)
            .unwrap_or_else(|| panic!("seed {seed}: {leader} led until 5 s"));
        let d_ms = (span.to_ns - 5_000_000_000) as f64 / 1e6;
        println!("seed {seed}: {leader} steps down {d_ms:.1} ms after the cut");
        assert!(
            (98.0..=202.0).contains(&d_ms),
            "seed {seed}: {leader} stepped down {d_ms} ms after the cut, outside [98, 202] ms"
        );
        delays.push(d_ms);
    }
    let (lo, hi) = delays
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &d| (a.min(d), b.max(d)));
    println!("step-down delay over 20 seeds: {lo:.1} .. {hi:.1} ms");
}
