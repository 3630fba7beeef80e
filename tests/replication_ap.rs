//! End-to-end checks of the AP replication policies (leaderless quorums and
//! multi-leader) through scenario text, the real client → network → replica path
//! and the consistency checker's anomaly detectors.
//!
//! Runs use `sim::build` + the anomaly detectors directly (not `sim::run`) to skip
//! the linearizability search, which these deliberately non-linearizable stores
//! do not need and which would dominate the test time.

use capsim::components::store::leaderless::preference_list;
use capsim::consistency::{AnomalyReport, History, OpKind, Outcome, analyze, final_values};
use capsim::engine::{NodeId, SimTime};
use capsim::scenario::load_str;
use capsim::scenario::spec::OpSpec;
use capsim::sim;
use capsim::sim::consistency::{StoreView, history_of};
use rand::Rng;
use std::path::Path;

/// What one run of a single-store scenario produced.
struct Out {
    history: History,
    report: AnomalyReport,
    /// Per replica: (key → values) for the keys asked for.
    values: Vec<Vec<Vec<i64>>>,
}

fn run(text: &str, seed: u64, keys: &[u64]) -> Out {
    let loaded = load_str(Path::new("replication_ap.ron"), text)
        .unwrap_or_else(|e| panic!("invalid scenario: {e}\n{text}"));
    let sc = &loaded.base;
    let mut s = sim::build(sc, seed);
    s.run(sc.duration, sc.max_events);
    let st = &sc.stores[0];
    let view = StoreView {
        sim: &s,
        replicas: &st.replicas,
    };
    let fin = final_values(&view);
    let history = history_of(&s.world.history, 0);
    let report = analyze(&history, Some(&fin));
    let values = st
        .replicas
        .iter()
        .map(|&node| {
            let rep = s
                .component(NodeId(node as u32))
                .downcast_ref::<capsim::components::store::replica::Replica>()
                .expect("a replica");
            keys.iter().map(|&k| rep.policy().values(k)).collect()
        })
        .collect();
    Out {
        history,
        report,
        values,
    }
}

fn quorum_scenario(r: u32, w: u32) -> String {
    format!(
        r#"Scenario(
    name: "quorum",
    duration_s: 2.0,
    nodes: [
        Client(name: "a", target: "kv", workload: Poisson(rate_per_s: 300.0), keys: Uniform(count: 4), route: Random,
               mix: [(name: "get", op: Read), (name: "put", op: Write)]),
        Client(name: "b", target: "kv", workload: Poisson(rate_per_s: 300.0), keys: Uniform(count: 4), route: Random,
               mix: [(name: "get", op: Read), (name: "put", op: Write)]),
        Store(name: "kv", replicas: 3, policy: Leaderless(r: {r}, w: {w}, timeout_ms: 1000.0)),
    ],
    default_link: (latency: Exponential(mean_ms: 2.0)),
)"#
    )
}

#[test]
fn overlapping_quorums_give_zero_stale_reads_over_fifty_seeds() {
    let text = quorum_scenario(2, 2);
    let (mut reads, mut stale, mut fails) = (0u64, 0u64, 0u64);
    for seed in 1..=50 {
        let o = run(&text, seed, &[]);
        reads += o.report.ok_reads;
        stale += o.report.stale_reads;
        fails += o
            .history
            .ops
            .iter()
            .filter(|op| op.outcome != Outcome::Ok)
            .count() as u64;
    }
    assert!(reads > 20_000, "enough reads to mean something ({reads})");
    assert_eq!(fails, 0, "no faults: every operation succeeds");
    eprintln!("R = W = 2, N = 3, 50 seeds: {stale} stale of {reads} reads");
    assert_eq!(
        stale, 0,
        "R + W > N without faults: {stale} stale reads out of {reads}"
    );
    // The same workload with R = W = 1 does show stale reads, so the check can fail.
    let weak: u64 = (1..=5)
        .map(|seed| run(&quorum_scenario(1, 1), seed, &[]).report.stale_reads)
        .sum();
    eprintln!("R = W = 1, 5 seeds: {weak} stale reads");
    assert!(
        weak > 0,
        "R = W = 1 should read stale values under 2 ms mean link latency"
    );
}

/// Independent Monte-Carlo of WARS (Bailis et al., "Probabilistically Bounded
/// Staleness", VLDB 2012) for N = 3, R = W = 1 and a coordinator outside the
/// preference list: P(a read sent `t_ms` after the write's acknowledgement returns it).
/// `means_ms`: exponential means of the W, A, R, S legs.
fn wars_mc(means_ms: [f64; 4], t_ms: f64, samples: u32, seed: u64) -> f64 {
    let mut rng = capsim::detrand::stream(seed, "wars-mc-e2e");
    let mut exp = |mean: f64| -mean * (1.0 - rng.random::<f64>()).ln();
    let mut fresh = 0u32;
    for _ in 0..samples {
        let w: [f64; 3] = std::array::from_fn(|_| exp(means_ms[0]));
        let commit = w
            .iter()
            .map(|wi| wi + exp(means_ms[1]))
            .fold(f64::INFINITY, f64::min);
        let r: [f64; 3] = std::array::from_fn(|_| exp(means_ms[2]));
        let back: [f64; 3] = std::array::from_fn(|i| r[i] + exp(means_ms[3]));
        let first = (0..3)
            .min_by(|&a, &b| back[a].total_cmp(&back[b]))
            .unwrap_or(0);
        if w[first] <= commit + t_ms + r[first] {
            fresh += 1;
        }
    }
    f64::from(fresh) / f64::from(samples)
}

#[test]
fn wars_staleness_end_to_end_matches_independent_monte_carlo() {
    // Links give per-direction latencies, so here the write and read legs share the
    // coordinator → replica distribution (W = R, mean 2 ms) and the ack and response
    // legs the replica → coordinator one (A = S, mean 1 ms). (The policy-level test in
    // leaderless.rs drives four distinct leg distributions through a message pump.)
    let means = [2.0, 1.0, 2.0, 1.0];
    // 4 replicas, n = 3: the one outside key 0's preference list coordinates.
    let coord = (0..4)
        .find(|r| !preference_list(0, 3, 4).any(|x| x == *r))
        .expect("one replica outside");
    let mut links = String::new();
    for i in (0..4).filter(|&i| i != coord) {
        links += &format!(
            "(from: \"kv-{c}\", to: \"kv-{i}\", one_way: true, latency: Exponential(mean_ms: 2.0)),\n(from: \"kv-{i}\", to: \"kv-{c}\", one_way: true, latency: Exponential(mean_ms: 1.0)),\n",
            c = coord + 1,
            i = i + 1
        );
    }
    for t_ms in [0.0f64, 1.0, 2.0, 5.0, 10.0] {
        // MC: 400k samples (SE ≤ 0.08 pp). Simulator: the first `need` reads that directly
        // follow a write, enough for a binomial SE ≤ 0.25 pp at the MC's p (≥ 2000).
        // The difference has SE ≤ 0.27 pp; the 1 pp tolerance is ≥ 3.7 SE.
        let p_mc = wars_mc(means, t_ms, 400_000, 11);
        let need = ((p_mc * (1.0 - p_mc) / 0.0025f64.powi(2)).ceil() as usize).max(2000);
        let text = format!(
            r#"Scenario(
    name: "wars",
    duration_s: 2000.0,
    bucket_s: 100.0,
    nodes: [
        Client(name: "u", target: "kv", workload: Closed(users: 1, think: Constant(ms: {t_ms})), keys: Uniform(count: 1),
               route: Replica({coord}), mix: [(name: "get", op: Read), (name: "put", op: Write)]),
        Store(name: "kv", replicas: 4, policy: Leaderless(n: 3, r: 1, w: 1, read_repair: false, timeout_ms: 200.0)),
    ],
    links: [
        (from: "u", to: "kv-{c}", latency: Constant(ms: 0.0)),
        {links}
    ],
    default_link: (latency: Constant(ms: 1.0)),
)"#,
            c = coord + 1
        );
        let loaded = load_str(Path::new("wars.ron"), &text)
            .unwrap_or_else(|e| panic!("invalid scenario: {e}"));
        let mut s = sim::build(&loaded.base, 5);
        // One user alternates at random between reads and writes; count the reads that
        // directly follow an acknowledged write (a quarter of the ops), `need` of them.
        let think_ns = SimTime::from_ms_f64(t_ms).as_ns();
        let (mut n, mut fresh, mut seen, mut horizon) = (0usize, 0usize, 1usize, SimTime::ZERO);
        while n < need && horizon < SimTime::from_secs(2000) {
            horizon = horizon + SimTime::from_secs(20);
            s.run(horizon, u64::MAX);
            let h = &s.world.history;
            while seen < h.len() && n < need {
                let (w, r) = (&h[seen - 1], &h[seen]);
                seen += 1;
                if w.op == OpSpec::Write
                    && w.outcome == 0
                    && r.op == OpSpec::Read
                    && r.outcome == 0
                    && r.invoke.as_ns() == w.complete.as_ns() + think_ns
                {
                    n += 1;
                    fresh += usize::from(r.read == Some(w.value));
                }
            }
        }
        assert_eq!(
            n, need,
            "t = {t_ms} ms: the run was too short for the sample size"
        );
        let p_sim = fresh as f64 / n as f64;
        eprintln!(
            "WARS end to end, t = {t_ms} ms: simulator {p_sim:.4} ({n} reads), Monte-Carlo {p_mc:.4}"
        );
        assert!(
            (p_sim - p_mc).abs() <= 0.01,
            "t = {t_ms} ms: simulator {p_sim:.4} vs Monte-Carlo {p_mc:.4}"
        );
    }
}

/// Three datacenters, each with a leader and its local clients (zero-latency client
/// link, `Nearest` routing); 5 ms mean between leaders; clocks skewed by +40 / −25 ms.
///
/// Co-locating clients matters for the lost-write detector, which counts a write as
/// lost when it vanished and no write was invoked after it completed: with a remote
/// client, a write that *saw* `X` at a replica can still have been invoked before
/// `X`'s acknowledgement reached `X`'s client, and superseding `X` would then count.
/// With local clients, a write that saw `X` was invoked after `X` completed.
fn multi_scenario(resolve: &str) -> String {
    let client = |name: &str| {
        format!(
            r#"Client(name: "{name}", target: "kv", keys: Uniform(count: 10),
               workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 150.0), Step(at_s: 3.0, rate_per_s: 0.0)]),
               mix: [(name: "get", op: Read), (name: "put", op: Write)]),
        "#
        )
    };
    format!(
        r#"Scenario(
    name: "multi",
    duration_s: 4.0,
    nodes: [
        {a}{b}{c}
        Store(name: "kv", replicas: 3, clock_skew_ms: [0.0, 40.0, -25.0],
              policy: MultiLeader(resolve: {resolve}, replicate_ms: 5.0, retransmit_ms: 200.0)),
    ],
    links: [
        (from: "a", to: "kv-1", latency: Constant(ms: 0.0)),
        (from: "b", to: "kv-2", latency: Constant(ms: 0.0)),
        (from: "c", to: "kv-3", latency: Constant(ms: 0.0)),
    ],
    default_link: (latency: Exponential(mean_ms: 5.0)),
)"#,
        a = client("a"),
        b = client("b"),
        c = client("c"),
    )
}

#[test]
fn multi_leader_lww_under_clock_skew_loses_acknowledged_writes_and_version_vectors_do_not() {
    let keys: Vec<u64> = (0..10).collect();
    let (mut lww_lost, mut vv_lost, mut acked) = (0u64, 0u64, 0u64);
    let mut siblings_seen = false;
    for seed in 1..=3 {
        for (resolve, lost) in [("Lww", &mut lww_lost), ("VersionVectors", &mut vv_lost)] {
            let o = run(&multi_scenario(resolve), seed, &keys);
            *lost += o.report.lost_writes.expect("final state given");
            acked += o.report.acknowledged_writes;
            // Replication stopped with the workload at 3 s: replicas have converged.
            for r in 1..o.values.len() {
                assert_eq!(
                    o.values[r], o.values[0],
                    "{resolve}, seed {seed}: replica {r} diverged"
                );
            }
            siblings_seen |= o.values[0].iter().any(|v| v.len() > 1);
            if resolve == "Lww" {
                assert!(
                    o.values[0].iter().all(|v| v.len() <= 1),
                    "LWW keeps one value per key"
                );
            }
        }
    }
    eprintln!(
        "multi-leader, 3 seeds: {acked} acknowledged writes; lost: LWW {lww_lost}, version vectors {vv_lost}"
    );
    assert!(acked > 3000, "enough writes ({acked})");
    assert!(
        lww_lost > 0,
        "LWW on skewed clocks must lose acknowledged writes"
    );
    assert_eq!(
        vv_lost, 0,
        "version vectors never lose an acknowledged write"
    );
    assert!(
        siblings_seen,
        "concurrent writes were kept as siblings somewhere"
    );
}

#[test]
fn sloppy_quorum_keeps_writes_available_across_a_partition_and_hands_off_after_heal() {
    let pl: Vec<usize> = preference_list(0, 3, 5).collect();
    let name = |i: usize| format!("\"kv-{}\"", i + 1);
    let cut = format!("[{}, {}]", name(pl[1]), name(pl[2]));
    let rest: Vec<String> = (0..5)
        .filter(|i| *i != pl[1] && *i != pl[2])
        .map(name)
        .collect();
    let scenario = |sloppy: bool| {
        format!(
            r#"Scenario(
    name: "sloppy",
    duration_s: 5.0,
    nodes: [
        Client(name: "u", target: "kv", keys: Uniform(count: 1), route: Replica({coord}),
               workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 100.0), Step(at_s: 4.0, rate_per_s: 0.0)]),
               mix: [(name: "get", op: Read), (name: "put", op: Write)]),
        Store(name: "kv", replicas: 5, policy: Leaderless(n: 3, r: 2, w: 2, timeout_ms: 30.0, read_repair: false,
              sloppy_quorum: {sloppy}, hinted_handoff: true, hint_interval_ms: 100.0)),
    ],
    default_link: (latency: Exponential(mean_ms: 1.0)),
    faults: [(at_s: 1.0, for_s: 2.0, action: Partition(groups: [{cut}, ["u", {rest}]]))],
)"#,
            coord = pl[0],
            rest = rest.join(", ")
        )
    };
    let in_partition = |h: &History, kind: OpKind| -> (usize, usize) {
        let ops: Vec<_> = h
            .ops
            .iter()
            .filter(|o| {
                o.kind == kind && o.invoke_ns >= 1_100_000_000 && o.invoke_ns < 3_000_000_000
            })
            .collect();
        (
            ops.iter().filter(|o| o.outcome == Outcome::Ok).count(),
            ops.len(),
        )
    };
    let sloppy = run(&scenario(true), 1, &[0]);
    let (ok, all) = in_partition(&sloppy.history, OpKind::Write);
    assert!(
        all > 50 && ok as f64 >= 0.95 * all as f64,
        "sloppy quorum: {ok} of {all} writes acknowledged during the partition"
    );
    let (rok, rall) = in_partition(&sloppy.history, OpKind::Read);
    assert!(
        rall > 50 && rok as f64 >= 0.95 * rall as f64,
        "sloppy quorum: {rok} of {rall} reads answered during the partition"
    );
    // After the heal, hints reach the cut-off replicas: the whole preference list holds
    // the last acknowledged write.
    let last = sloppy
        .history
        .ops
        .iter()
        .filter(|o| o.kind == OpKind::Write && o.outcome == Outcome::Ok)
        .max_by_key(|o| o.complete_ns)
        .expect("writes");
    for &r in &pl {
        assert_eq!(
            sloppy.values[r][0],
            vec![last.write_value.expect("a value")],
            "replica {r} converged"
        );
    }
    // Writes acknowledged but absent from the final state must each have lost to a
    // concurrent write (one a single open-loop client can have in flight at the
    // same time; LWW may order either first), never vanish outright.
    let vanished = sloppy
        .history
        .ops
        .iter()
        .filter(|w| w.kind == OpKind::Write && w.outcome == Outcome::Ok)
        .filter(|w| {
            let v = w.write_value.expect("a value");
            !pl.iter().any(|&r| sloppy.values[r][0].contains(&v))
                && !sloppy.history.ops.iter().any(|o| {
                    // any later write, or another write concurrent with it
                    let later = o.invoke_ns > w.complete_ns;
                    let concurrent = o.id != w.id && o.complete_ns >= w.invoke_ns;
                    o.kind == OpKind::Write && (later || concurrent)
                })
        })
        .count();
    assert_eq!(
        vanished, 0,
        "acknowledged writes vanished after hinted handoff"
    );
    // Strict quorums: the same partition leaves writes without a quorum.
    let strict = run(&scenario(false), 1, &[0]);
    let (sok, sall) = in_partition(&strict.history, OpKind::Write);
    eprintln!(
        "partition: sloppy {ok}/{all} writes, {rok}/{rall} reads ok; strict {sok}/{sall} writes ok"
    );
    assert!(
        sall > 50 && sok == 0,
        "strict quorum: {sok} of {sall} writes acknowledged during the partition"
    );
}
