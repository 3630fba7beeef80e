//! Load balancers through the real scenario machinery (client → balancer →
//! network → servers): balancing against queueing theory and exact weight
//! shares, least-connections against random with a slow backend, and health
//! checks against the exact detection bounds of `health.rs`. Each statistical
//! test states its sample size and the tolerance it derives from the variance.

use capsim::scenario::load_str;
use capsim::sim::{self, RunResult};
use std::path::Path;

fn run(text: &str, seed: u64) -> RunResult {
    let loaded =
        load_str(Path::new("lb.ron"), text).unwrap_or_else(|e| panic!("valid scenario: {e}"));
    sim::run(&loaded.base, seed)
}

fn metric(r: &RunResult, name: &str) -> f64 {
    r.metric(name).unwrap_or_else(|| panic!("no metric {name}"))
}

/// `n` identical-unless-said servers `b0..` behind balancer `lb`.
#[allow(clippy::too_many_arguments)] // a test helper: every knob is a scenario field
fn scenario(
    rate: &str,
    policy: &str,
    services: &[&str],
    extra_lb: &str,
    duration_s: f64,
    warmup_s: f64,
    latency_ms: f64,
    faults: &str,
) -> String {
    let names: Vec<String> = (0..services.len()).map(|i| format!("\"b{i}\"")).collect();
    let servers: String = services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!("Server(name: \"b{i}\", workers: 1, queue_capacity: 100000, service: {s}),\n")
        })
        .collect();
    format!(
        r#"Scenario(
    name: "lb",
    duration_s: {duration_s},
    warmup: Seconds({warmup_s}),
    nodes: [
        Client(name: "c", target: "lb", workload: {rate}),
        LoadBalancer(name: "lb", backends: [{}], policy: {policy}, {extra_lb}),
        {servers}
    ],
    default_link: (latency: Constant(ms: {latency_ms})),
    faults: [{faults}],
)"#,
        names.join(", ")
    )
}

#[test]
fn random_split_of_poisson_matches_mm1_at_the_split_rate() {
    // λ = 150/s split at random over 3 exponential servers with mean 10 ms: each
    // is an independent M/M/1 (Poisson splitting) with λ = 50/s, μ = 100/s,
    // ρ = 0.5, W = 1/(μ − λ) = 20 ms. Sample: 4 seeds × 3 backends = 12 independent
    // queues, ≈ 2 750 requests each (55 s measured). Tolerance: 4 standard errors
    // of the mean over the 12 estimates (the M/M/1 sojourn has a relaxation factor
    // of a few, so one estimate's relative error is ≈ 4 %, the mean's ≈ 1.2 %),
    // capped at 8 % so a large spread cannot make the test vacuous. Shares: each
    // ≈ 1/3 with binomial sd √(p(1−p)/n) ≈ 0.5 % at n ≈ 8 250; tolerance 2.5 % (5 sd).
    let s = "Exponential(mean_ms: 10.0)";
    let text = scenario(
        "Poisson(rate_per_s: 150.0)",
        "Random",
        &[s, s, s],
        "",
        60.0,
        5.0,
        0.0,
        "",
    );
    let mut w = Vec::new();
    for seed in 1..=4 {
        let r = run(&text, seed);
        for b in 0..3 {
            w.push(metric(&r, &format!("node.b{b}.sojourn_ms_mean")));
            let share = metric(&r, &format!("lb.lb.backend.b{b}.share"));
            assert!(
                (share - 1.0 / 3.0).abs() < 0.025,
                "seed {seed} b{b}: share {share}"
            );
        }
    }
    let n = w.len() as f64;
    let m = w.iter().sum::<f64>() / n;
    let se = (w.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    let expected = 20.0;
    eprintln!("random split: mean sojourn {m:.3} ms (se {se:.3}) vs M/M/1 W = {expected} ms");
    assert!(
        (m - expected).abs() < (4.0 * se).min(0.08 * expected),
        "mean sojourn {m:.3} ms vs M/M/1 {expected} ms (se {se:.3})"
    );
}

#[test]
fn weighted_round_robin_shares_are_exactly_proportional_to_weights() {
    // Deterministic: smooth weighted round robin repeats the cycle c b a c b c for
    // weights 1:2:3, so after n picks each count is within 1 of n·w/Σw.
    let s = "Constant(ms: 1.0)";
    let text = scenario(
        "Constant(rate_per_s: 600.0)",
        "WeightedRoundRobin",
        &[s, s, s],
        "weights: [1, 2, 3]",
        10.0,
        0.0,
        0.0,
        "",
    );
    let r = run(&text, 1);
    let counts: Vec<f64> = (0..3)
        .map(|b| metric(&r, &format!("lb.lb.backend.b{b}.requests")))
        .collect();
    let total: f64 = counts.iter().sum();
    assert!(total > 5_900.0, "total {total}");
    for (b, c) in counts.iter().enumerate() {
        let expected = total * (b + 1) as f64 / 6.0;
        assert!((c - expected).abs() <= 1.0, "b{b}: {c} vs {expected}");
    }
}

#[test]
fn least_connections_beats_random_on_p99_with_one_slow_backend() {
    // 4 backends, one 3× slower (30 ms vs 10 ms), λ = 100/s. Random gives the slow
    // one λ = 25/s at ρ = 0.75: its sojourn is exponential with mean 120 ms, and it
    // carries 25 % of requests, so the overall p99 is near its p96 ≈ 390 ms.
    // Least connections steers work away from it; expected p99 well under half.
    // Sample: 2 seeds × 30 s ≈ 5 800 requests per policy; the p99 estimate's
    // relative error is ≈ 10 %, so requiring LC < 0.6 × Random leaves a wide margin.
    let f = "Exponential(mean_ms: 10.0)";
    let slow = "Exponential(mean_ms: 30.0)";
    let p99 = |policy: &str| -> f64 {
        let text = scenario(
            "Poisson(rate_per_s: 100.0)",
            policy,
            &[f, f, f, slow],
            "",
            30.0,
            1.0,
            0.0,
            "",
        );
        (1..=2)
            .map(|seed| metric(&run(&text, seed), "latency_ms_p99"))
            .sum::<f64>()
            / 2.0
    };
    let (lc, rnd) = (p99("LeastConnections"), p99("Random"));
    eprintln!("one slow backend: p99 least-connections {lc:.1} ms, random {rnd:.1} ms");
    assert!(
        lc < 0.6 * rnd,
        "least connections p99 {lc:.1} ms vs random {rnd:.1} ms"
    );
    assert!(
        rnd > 250.0,
        "random p99 {rnd:.1} ms should reflect the slow backend's M/M/1 tail"
    );
}

/// Health checks every 100 ms, timeout 50 ms, eject after 3 failures, re-admit after 2.
const HEALTH: &str =
    "health: (interval_ms: 100.0, timeout_ms: 50.0, unhealthy_threshold: 3, healthy_threshold: 2)";

#[test]
fn health_checks_detect_a_crash_within_the_exact_bounds() {
    // From health.rs: D ∈ [(k−1)·i + τ − a, k·i + τ − a) with a = request latency +
    // processing = 1 ms (checks are answered at once), k = 3, i = 100 ms, τ = 50 ms:
    // [249, 349) ms, exactly, for every run. 50 runs (seeds 1..=50) with crash times
    // spaced 13.7 ms apart, so the phase δ covers [0, i) nearly uniformly; then
    // E[D] = 299 ms and the mean of 50 has sd 100/√12/√50 ≈ 4.1 ms: tolerance 16 ms (4 sd).
    let s = "Exponential(mean_ms: 1.0)";
    let mut ds = Vec::new();
    for j in 0..50u64 {
        let at = 1.0 + j as f64 * 0.0137;
        let faults = format!("(at_s: {at}, action: Crash(node: \"b1\"))");
        let text = scenario(
            "Poisson(rate_per_s: 200.0)",
            "RoundRobin",
            &[s, s, s],
            HEALTH,
            3.0,
            0.0,
            1.0,
            &faults,
        );
        let r = run(&text, j + 1);
        assert_eq!(metric(&r, "lb.lb.detections"), 1.0, "run {j}");
        assert_eq!(metric(&r, "lb.lb.false_ejections"), 0.0, "run {j}");
        let d_ns = (metric(&r, "lb.lb.detect_s_mean") * 1e9).round() as u64;
        assert!(
            (249_000_000..349_000_000).contains(&d_ns),
            "run {j}: detected after {d_ns} ns, outside [249, 349) ms"
        );
        ds.push(d_ns as f64 / 1e6);
    }
    let mean = ds.iter().sum::<f64>() / ds.len() as f64;
    let (lo, hi) = ds
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &d| (a.min(d), b.max(d)));
    eprintln!(
        "detection over 50 runs: mean {mean:.2} ms (theory 299), min {lo:.2}, max {hi:.2}, bounds [249, 349)"
    );
    assert!(
        (mean - 299.0).abs() < 16.0,
        "mean detection {mean:.1} ms vs 299 ms"
    );
}

#[test]
fn nothing_is_sent_to_a_backend_after_it_is_ejected() {
    // Round robin sends exactly every third request to the crashed b1 until it is
    // ejected (< 349 ms after the crash): Poisson with mean ≤ 200/3 × 0.349 ≈ 23,
    // sd ≈ 4.8; bound 48 (5 sd). Had the balancer kept sending after ejection, b1
    // would get ≈ 67/s for the remaining ~1.7 s (≈ 110 requests).
    let s = "Exponential(mean_ms: 1.0)";
    let mut total = 0.0;
    for seed in 1..=10u64 {
        let faults = "(at_s: 1.0, action: Crash(node: \"b1\"))";
        let text = scenario(
            "Poisson(rate_per_s: 200.0)",
            "RoundRobin",
            &[s, s, s],
            HEALTH,
            3.0,
            0.0,
            1.0,
            faults,
        );
        let r = run(&text, seed);
        let dead = metric(&r, "lb.lb.sent_to_dead");
        assert!(
            dead <= 48.0,
            "seed {seed}: {dead} requests sent to the dead backend"
        );
        // Every request sent to b1 after the crash is lost; all others succeed (no client timeout: they stay in flight).
        assert_eq!(metric(&r, "errors"), 0.0);
        total += dead;
    }
    assert!(
        total > 0.0,
        "some requests must reach the dead backend before detection"
    );
}

#[test]
fn recovered_backends_return_to_the_rotation() {
    // b0 is down from 2 s to 4 s of an 8 s run. Detection takes < 349 ms and
    // re-admission (h = 2) < 201 ms + 1 ms, so b0 serves for ≥ 2 + 3.4 s of 8 s:
    // share ≥ (5.4/8)/3 ÷ (a bit) ≈ 0.22 with round robin; without re-admission it
    // would be ≈ (2.3/8)/3 ≈ 0.1. Requests ≈ 1 600, share sd < 1 %.
    let s = "Exponential(mean_ms: 1.0)";
    let faults = "(at_s: 2.0, for_s: 2.0, action: Crash(node: \"b0\"))";
    let text = scenario(
        "Poisson(rate_per_s: 200.0)",
        "RoundRobin",
        &[s, s, s],
        HEALTH,
        8.0,
        0.0,
        1.0,
        faults,
    );
    let r = run(&text, 3);
    let share = metric(&r, "lb.lb.backend.b0.share");
    assert!(share > 0.2, "b0 share {share}: it did not come back");
    assert_eq!(metric(&r, "lb.lb.detections"), 1.0);
}

#[test]
fn passive_ejection_of_a_slow_backend_counts_as_false_ejection() {
    // b2 is alive but takes 50 ms; the balancer gives up after 20 ms: every request
    // to it times out, so after 3 in a row it is ejected although it never crashed.
    let f = "Constant(ms: 1.0)";
    let text = scenario(
        "Poisson(rate_per_s: 100.0)",
        "RoundRobin",
        &[f, f, "Constant(ms: 50.0)"],
        "timeout_ms: 20.0, passive: (consecutive_errors: 3, ejection_ms: 1000.0)",
        5.0,
        0.0,
        0.0,
        "",
    );
    let r = run(&text, 1);
    assert!(metric(&r, "lb.lb.false_ejections") >= 1.0);
    assert!(metric(&r, "lb.lb.backend_timeouts") >= 3.0);
    assert!(
        metric(&r, "lb.lb.detect_s_mean").is_nan(),
        "no crash, so nothing to detect"
    );
}

#[test]
fn bad_balancer_specs_are_reported_with_positions() {
    let s = "Constant(ms: 1.0)";
    let text = scenario(
        "Poisson(rate_per_s: 10.0)",
        "PowerOfD(d: 0)",
        &[s, s],
        "weights: [1], health: (interval_ms: 10.0, timeout_ms: 20.0, unhealthy_threshold: 0)",
        1.0,
        0.0,
        0.0,
        "",
    );
    let text = text.replace("backends: [\"b0\", \"b1\"]", "backends: [\"b0\", \"bx\"]");
    let Err(err) = load_str(Path::new("lb.ron"), &text) else {
        panic!("the scenario must be rejected")
    };
    let err = err.to_string();
    for needle in [
        "unknown node `bx`",
        "1 weights for 2 backends",
        "PowerOfD",
        "longer than the interval",
        "unhealthy_threshold",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
}

#[test]
fn a_crashed_balancer_loses_its_in_flight_requests_and_recovers_on_restart() {
    // The balancer is down from 1 s to 2 s of 4 s: requests in flight through it
    // are lost (clients time out after 200 ms), requests sent while it is down too;
    // after the restart it balances again, so most of the run still succeeds.
    let s = "Exponential(mean_ms: 5.0)";
    let text = scenario(
        "Poisson(rate_per_s: 200.0)",
        "LeastConnections",
        &[s, s],
        HEALTH,
        4.0,
        0.0,
        1.0,
        "(at_s: 1.0, for_s: 1.0, action: Crash(node: \"lb\"))",
    )
    .replace(
        "workload: Poisson(rate_per_s: 200.0)",
        "workload: Poisson(rate_per_s: 200.0), timeout_ms: 200.0",
    );
    // About 1.4 requests are in flight on average (200/s × ≈ 7 ms), so a single
    // crash may catch none: 5 seeds together catch some with near certainty.
    let mut lost = 0.0;
    for seed in 1..=5 {
        let r = run(&text, seed);
        lost += metric(&r, "lb.lb.lost_crash");
        // ≈ 200 requests are sent during the 1 s outage (sd ≈ 14); all time out.
        let timeouts = metric(&r, "timeouts");
        assert!(
            (120.0..300.0).contains(&timeouts),
            "seed {seed}: timeouts {timeouts}"
        );
        let avail = metric(&r, "availability");
        assert!(
            avail > 0.6 && avail < 0.85,
            "seed {seed}: availability {avail}, expected ≈ 3/4"
        );
    }
    assert!(lost >= 1.0, "requests in flight at the crash are lost");
}
