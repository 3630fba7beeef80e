//! Partial replication: a leaderless store with more replicas than copies per
//! key (N < group size). A replica outside a key's preference list holds nothing
//! for it by design; that must not count as divergence, or every key would look
//! divergent forever and convergence could never be measured.

use capsim::consistency::anomalies::ReplicaStateView;
use capsim::scenario::load_str;
use capsim::sim;
use capsim::sim::consistency::StoreView;
use std::path::Path;

#[test]
fn replicas_outside_a_keys_preference_list_do_not_diverge() {
    // 5 replicas, N = 3, R = W = 2, 40 keys. kv-5 is cut off from 1 to 2 s (its
    // keys' other replicas take the writes); anti-entropy every 200 ms repairs
    // it after the heal. The load stops at 3 s; the run ends at 4 s.
    let text = r#"Scenario(name: "partial", duration_s: 4.0, bucket_s: 0.5,
        nodes: [
            Client(name: "c", target: "kv", route: Random, keys: Uniform(count: 40), timeout_ms: 2000.0,
                   workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 400.0), Step(at_s: 3.0, rate_per_s: 0.0)]),
                   mix: [(name: "r", weight: 1.0, op: Read), (name: "w", weight: 1.0, op: Write)]),
            Store(name: "kv", replicas: 5, policy: Leaderless(n: 3, r: 2, w: 2, anti_entropy_ms: 200.0)),
        ],
        default_link: (latency: Uniform(min_ms: 0.5, max_ms: 2.0)),
        faults: [(at_s: 1.0, for_s: 1.0, action: Partition(groups: [["kv-1", "kv-2", "kv-3", "kv-4", "c"], ["kv-5"]]))])"#;
    let sc = load_str(Path::new("partial.ron"), text)
        .expect("valid")
        .base;
    for seed in 1..=2 {
        let mut s = sim::build(&sc, seed);
        s.run(sc.duration, sc.max_events);
        s.finish();
        let view = StoreView {
            sim: &s,
            replicas: &sc.stores[0].replicas,
        };
        // Every key is held by exactly 3 replicas, and they agree.
        let keys = view.keys();
        assert_eq!(keys.len(), 40, "seed {seed}");
        for &k in &keys {
            let holders: Vec<usize> = (0..5).filter(|&r| !view.values(r, k).is_empty()).collect();
            let owners: Vec<usize> = (0..5).filter(|&r| view.responsible(r, k)).collect();
            assert_eq!(owners.len(), 3, "seed {seed} key {k}");
            assert_eq!(
                holders, owners,
                "seed {seed} key {k}: held outside its preference list"
            );
        }
        assert_eq!(
            sim::consistency::divergence(&s, &sc.stores),
            0,
            "seed {seed}"
        );
        let r = sim::run(&sc, seed);
        let m = |n: &str| r.metric(n).unwrap_or(f64::NAN);
        // Normal divergence (replication in flight) is a few keys, not all 40.
        assert!(
            m("divergent_keys_baseline") < 10.0,
            "seed {seed}: {}",
            m("divergent_keys_baseline")
        );
        assert!(
            m("divergent_keys_max") > 0.0,
            "seed {seed}: kv-5 missed writes"
        );
        assert_eq!(m("converged"), 1.0, "seed {seed}");
        assert!(
            m("convergence_s") <= 1.5,
            "seed {seed}: {}",
            m("convergence_s")
        );
    }
}
