//! Client workloads against their expected values, through the real scenario
//! machinery: rate schedules (non-homogeneous Poisson and evenly spaced),
//! closed loops (exact mean value analysis) and retries over a lossy link.
//! Each test states its sample size and the tolerance derived from it.

use capsim::scenario::load_str;
use capsim::sim::{self, RunResult};
use std::path::Path;

fn runs(text: &str, seeds: u64) -> Vec<RunResult> {
    let loaded = load_str(Path::new("workloads.ron"), text).expect("valid scenario");
    (1..=seeds).map(|s| sim::run(&loaded.base, s)).collect()
}

fn metric(r: &RunResult, name: &str) -> f64 {
    r.metric(name).unwrap_or_else(|| panic!("no metric {name}"))
}

/// The schedule below, written out by hand: 200/s until 4 s, a ramp to 1000/s at
/// 8 s, held; a spike to 3000/s during [10, 11); zero from 12 s on.
fn rate(t: f64) -> f64 {
    if t >= 12.0 {
        0.0
    } else if (10.0..11.0).contains(&t) {
        3000.0
    } else if t < 4.0 {
        200.0
    } else if t < 8.0 {
        200.0 + 200.0 * (t - 4.0)
    } else {
        1000.0
    }
}

/// Expected arrivals in [a, b): the integral of `rate` (midpoint rule on 1 ms
/// steps is exact here up to rounding, as the rate is piecewise linear with
/// breakpoints on whole milliseconds).
fn expected(a: f64, b: f64) -> f64 {
    let steps = ((b - a) * 1000.0).round() as usize;
    (0..steps)
        .map(|i| rate(a + (i as f64 + 0.5) / 1000.0) / 1000.0)
        .sum()
}

fn schedule_scenario(poisson: bool) -> String {
    format!(
        r#"Scenario(
    name: "schedule",
    duration_s: 14.0,
    nodes: [
        Client(name: "c", target: "s", workload: Schedule(poisson: {poisson}, segments: [
            Step(at_s: 0.0, rate_per_s: 200.0),
            Ramp(from_s: 4.0, to_s: 8.0, to_rate_per_s: 1000.0),
            Spike(at_s: 10.0, duration_s: 1.0, rate_per_s: 3000.0),
            Step(at_s: 12.0, rate_per_s: 0.0),
        ])),
        Server(name: "s", workers: 1000, service: Constant(ms: 0.0)),
    ],
    links: [(from: "c", to: "s", latency: Constant(ms: 0.0))],
)"#
    )
}

/// Arrivals per 1 s bucket (service and network take no time, so every request
/// completes in the bucket it arrived in).
fn per_bucket(r: &RunResult) -> Vec<f64> {
    r.timeseries
        .iter()
        .map(|row| (row.ok + row.errors + row.rejected + row.timeouts) as f64)
        .collect()
}

/// Non-homogeneous Poisson arrivals: the count in each 1 s bucket, summed over 10
/// seeds, is Poisson with mean 10·Λ(bucket). Tolerance 4·√mean (a false failure
/// has probability < 1e-4 per bucket); the schedule's shape (steps, a ramp, a
/// spike, a stop) is thereby checked bucket by bucket. After the rate drops to
/// zero there must be no arrivals at all.
#[test]
fn schedule_arrivals_follow_the_integrated_rate() {
    let rs = runs(&schedule_scenario(true), 10);
    let mut sums = [0.0; 14];
    for r in &rs {
        for (k, c) in per_bucket(r).into_iter().enumerate().take(14) {
            sums[k] += c;
        }
    }
    for (k, &got) in sums.iter().enumerate() {
        let mean = 10.0 * expected(k as f64, k as f64 + 1.0);
        let tol = if mean > 0.0 { 4.0 * mean.sqrt() } else { 0.0 };
        assert!(
            (got - mean).abs() <= tol,
            "bucket {k}: {got} arrivals over 10 seeds, expected {mean:.1} ± {tol:.1}"
        );
    }
}

/// Evenly spaced mode: arrivals are one unit of integrated rate apart, so every
/// bucket's count is its integral rounded either way (±1), deterministically.
#[test]
fn evenly_spaced_schedule_matches_the_integral_in_every_bucket() {
    let rs = runs(&schedule_scenario(false), 1);
    let got = per_bucket(&rs[0]);
    for (k, &n) in got.iter().enumerate().take(14) {
        let want = expected(k as f64, k as f64 + 1.0);
        assert!(
            (n - want).abs() <= 1.0,
            "bucket {k}: {n} arrivals, expected {want:.1} ± 1"
        );
    }
}

/// Exact mean value analysis of a closed network: N users thinking Z on average
/// (a delay station) and one FCFS exponential server with mean service S.
fn mva(users: u32, s: f64, z: f64) -> (f64, f64) {
    let (mut q, mut x, mut r) = (0.0, 0.0, 0.0);
    for n in 1..=users {
        r = s * (1.0 + q);
        x = f64::from(n) / (z + r);
        q = x * r;
    }
    (x, r)
}

/// Closed loop: 5 users, exponential think time of 40 ms, one worker with
/// exponential 10 ms service. MVA gives the exact throughput X and response time
/// R. 8 seeds × 300 s (≈ 30 000 requests each); tolerance 4 standard errors
/// across seeds, and at most 3 % relative error.
#[test]
fn closed_loop_matches_mean_value_analysis() {
    let text = r#"Scenario(
    name: "closed",
    duration_s: 300.0,
    warmup: Seconds(10.0),
    nodes: [
        Client(name: "c", target: "s", workload: Closed(users: 5, think: Exponential(mean_ms: 40.0))),
        Server(name: "s", workers: 1, service: Exponential(mean_ms: 10.0)),
    ],
    links: [(from: "c", to: "s", latency: Constant(ms: 0.0))],
)"#;
    let rs = runs(text, 8);
    let (x_theory, r_theory) = mva(5, 0.010, 0.040);
    for (name, theory, scale) in [
        ("throughput_per_s", x_theory, 1.0),
        ("latency_ms_mean", r_theory, 1000.0),
    ] {
        let v: Vec<f64> = rs.iter().map(|r| metric(r, name) / scale).collect();
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let se = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
        let err = (m - theory).abs();
        assert!(
            err <= 4.0 * se && err / theory <= 0.03,
            "{name}: simulated {m:.5} ± {se:.5} vs MVA {theory:.5}"
        );
    }
}

/// Retries over a link that loses 20 % of messages each way: an attempt succeeds
/// with probability s = 0.8² = 0.64; with 3 attempts a request fails with
/// probability (1 − s)³ = 0.046656, and makes on average (1 − s) + (1 − s)² =
/// 0.4896 retries. 4 seeds × 100 s at 200/s ≈ 80 000 requests: the standard
/// error of availability is √(0.953·0.047/80 000) ≈ 0.00075; tolerance 0.003
/// (4 SE). Retries per request: SE ≈ 0.0025, tolerance 0.01.
#[test]
fn retries_recover_lost_attempts_as_probability_predicts() {
    let text = r#"Scenario(
    name: "retries",
    duration_s: 100.0,
    nodes: [
        Client(name: "c", target: "s", workload: Poisson(rate_per_s: 200.0),
            timeout_ms: 20.0,
            retry: (max_attempts: 3, base_ms: 5.0, jitter: None)),
        Server(name: "s", workers: 8, service: Constant(ms: 1.0)),
    ],
    links: [(from: "c", to: "s", latency: Constant(ms: 1.0), loss: 0.2)],
)"#;
    let rs = runs(text, 4);
    let mut ok = 0.0;
    let mut done = 0.0;
    let mut retries = 0.0;
    for r in &rs {
        let d = metric(r, "requests_ok") / metric(r, "availability");
        ok += metric(r, "requests_ok");
        done += d;
        retries += metric(r, "retries");
    }
    let availability = ok / done;
    let s: f64 = 0.8 * 0.8;
    let want = 1.0 - (1.0 - s).powi(3);
    assert!(
        (availability - want).abs() <= 0.003,
        "availability {availability:.5} vs {want:.5}"
    );
    let per_request = retries / done;
    let want_retries = (1.0 - s) + (1.0 - s).powi(2);
    assert!(
        (per_request - want_retries).abs() <= 0.01,
        "retries per request {per_request:.4} vs {want_retries:.4}"
    );
}
