//! Availability arithmetic through the real machinery: nodes that fail at random
//! (`RandomCrashes`: exponential up and repair times) against the textbook
//! formulas — one node A = MTBF / (MTBF + MTTR), two in series A², three in
//! parallel behind a health-checking balancer with client retries 1 − (1 − A)³.

use capsim::scenario::load_str;
use capsim::sim::{self, RunResult};
use std::path::Path;

fn runs(text: &str, seeds: u64) -> Vec<RunResult> {
    let loaded = load_str(Path::new("availability.ron"), text).expect("valid scenario");
    (1..=seeds).map(|s| sim::run(&loaded.base, s)).collect()
}

fn metric(rs: &[RunResult], name: &str) -> Vec<f64> {
    rs.iter()
        .map(|r| r.metric(name).unwrap_or_else(|| panic!("no metric {name}")))
        .collect()
}

fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// |mean − theory| within 4 standard errors across seeds and within `cap`.
fn assert_close(what: &str, v: &[f64], theory: f64, cap: f64) {
    let (m, se) = mean_se(v);
    eprintln!("{what}: {m:.4} ± {se:.4} (SE) vs {theory:.4}");
    let err = (m - theory).abs();
    assert!(
        err <= 4.0 * se && err <= cap,
        "{what}: {m:.4} ± {se:.4} (SE over {} seeds) vs theory {theory:.4}",
        v.len()
    );
}

/// One node, MTBF 9 s and MTTR 1 s: up 90% of the time. 8 seeds × 1000 s ≈ 800
/// failure cycles; the uptime estimator's standard error is then about 0.005
/// (alternating renewal process: Var ≈ (σ_U²(1−A)² + σ_D²A²) / (n (μ_U+μ_D)²)
/// with exponential σ = μ), so the cap is 0.02. Requests (constant 100/s, 50 ms
/// timeout) succeed exactly when the node is up, up to the few in flight at
/// each crash: per seed, request availability is within 0.003 of uptime.
#[test]
fn one_node_is_up_mtbf_over_mtbf_plus_mttr() {
    let text = r#"Scenario(
    name: "one-node",
    duration_s: 1000.0,
    nodes: [
        Client(name: "c", target: "s", workload: Constant(rate_per_s: 100.0), timeout_ms: 50.0),
        Server(name: "s", workers: 4, service: Constant(ms: 1.0)),
    ],
    links: [(from: "c", to: "s", latency: Constant(ms: 1.0))],
    faults: [(at_s: 0.0, action: RandomCrashes(nodes: ["s"], mtbf_s: 9.0, mttr_s: 1.0))],
)"#;
    let rs = runs(text, 8);
    let up = metric(&rs, "node.s.uptime");
    assert_close("uptime", &up, 0.9, 0.02);
    let avail = metric(&rs, "availability");
    for (a, u) in avail.iter().zip(&up) {
        assert!(
            (a - u).abs() < 0.003,
            "request availability {a} vs uptime {u}"
        );
    }
    // Different seeds are different failure histories.
    assert!(up.windows(2).all(|w| w[0] != w[1]), "{up:?}");
}

/// Two nodes in series (front calls back), each up 80% (MTBF 4 s, MTTR 1 s),
/// failing independently: a request succeeds only when both are up, A² = 0.64.
/// 8 seeds × 1000 s; cap 0.03.
#[test]
fn two_nodes_in_series_multiply() {
    let text = r#"Scenario(
    name: "series",
    duration_s: 1000.0,
    nodes: [
        Client(name: "c", target: "front", workload: Constant(rate_per_s: 100.0), timeout_ms: 100.0),
        Server(name: "front", workers: 8, service: Constant(ms: 1.0), calls: [Call(target: "back", timeout_ms: 20.0)]),
        Server(name: "back", workers: 8, service: Constant(ms: 1.0)),
    ],
    default_link: (latency: Constant(ms: 1.0)),
    faults: [(at_s: 0.0, action: RandomCrashes(nodes: ["front", "back"], mtbf_s: 4.0, mttr_s: 1.0))],
)"#;
    let rs = runs(text, 8);
    for n in ["front", "back"] {
        assert_close(n, &metric(&rs, &format!("node.{n}.uptime")), 0.8, 0.03);
    }
    assert_close(
        "series availability",
        &metric(&rs, "availability"),
        0.64,
        0.03,
    );
}

/// Three backends in parallel, each up 80%, behind a balancer that health-checks
/// every 20 ms (one missed check ejects) and a client that retries up to 5 times
/// (backoff 5, 10, 20, 40 ms): a request fails only when all three are down,
/// (1 − 0.8)³ = 0.008, plus the rare request whose every attempt lands in a
/// detection gap. 8 seeds × 1000 s give about 190 all-down episodes (mean
/// length 1/3 s) in all, so the unavailability's standard error is ≈ 0.001:
/// tolerance 0.004.
#[test]
fn three_nodes_in_parallel_fail_together_rarely() {
    let text = r#"Scenario(
    name: "parallel",
    duration_s: 1000.0,
    nodes: [
        Client(name: "c", target: "lb", workload: Constant(rate_per_s: 100.0), timeout_ms: 50.0,
               retry: (max_attempts: 5, base_ms: 5.0, jitter: None)),
        LoadBalancer(name: "lb", backends: ["s1", "s2", "s3"], policy: RoundRobin, timeout_ms: 30.0,
                     health: (interval_ms: 20.0, timeout_ms: 10.0, unhealthy_threshold: 1, healthy_threshold: 1)),
        Server(name: "s1", workers: 8, service: Constant(ms: 1.0)),
        Server(name: "s2", workers: 8, service: Constant(ms: 1.0)),
        Server(name: "s3", workers: 8, service: Constant(ms: 1.0)),
    ],
    default_link: (latency: Constant(ms: 0.5)),
    faults: [(at_s: 0.0, action: RandomCrashes(nodes: ["s1", "s2", "s3"], mtbf_s: 4.0, mttr_s: 1.0))],
)"#;
    let rs = runs(text, 8);
    let unavail: Vec<f64> = metric(&rs, "availability")
        .iter()
        .map(|a| 1.0 - a)
        .collect();
    let (m, se) = mean_se(&unavail);
    let theory = 0.2f64.powi(3);
    eprintln!("parallel unavailability: {m:.5} ± {se:.5} (SE) vs {theory}");
    assert!(
        (m - theory).abs() <= 0.004,
        "parallel unavailability {m:.5} ± {se:.5} vs (1 − A)³ = {theory}"
    );
}
