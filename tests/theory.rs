//! Queueing theory checks: the simulator against closed-form answers, through the
//! real scenario machinery (client → network → server). Each test states its
//! sample size and the tolerance it derives from the estimator's variance; each
//! also has an absolute cap so that a large variance cannot make it vacuous.

use capsim::scenario::load_str;
use capsim::sim::{self, RunResult};
use capsim::theory;
use std::path::Path;

fn scenario(rate: f64, workers: u32, queue: u32, service: &str, duration_s: f64) -> String {
    format!(
        r#"Scenario(
    name: "theory",
    duration_s: {duration_s},
    warmup: Seconds(10.0),
    nodes: [
        Client(name: "c", target: "s", workload: Poisson(rate_per_s: {rate})),
        Server(name: "s", workers: {workers}, queue_capacity: {queue}, service: {service}),
    ],
    links: [(from: "c", to: "s", latency: Constant(ms: 0.0))],
)"#
    )
}

fn runs(text: &str, seeds: u64) -> Vec<RunResult> {
    let loaded = load_str(Path::new("theory.ron"), text).expect("valid scenario");
    (1..=seeds).map(|s| sim::run(&loaded.base, s)).collect()
}

fn metric(rs: &[RunResult], name: &str) -> Vec<f64> {
    rs.iter()
        .map(|r| r.metric(name).unwrap_or_else(|| panic!("no metric {name}")))
        .collect()
}

/// Mean and standard error over independent seeds (batch means across replications).
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// |sim − theory| within 4 standard errors (P(false failure) < 1e-4 under normality)
/// and within `cap` relative error.
fn assert_close(what: &str, sim: (f64, f64), theory: f64, cap: f64) {
    let (m, se) = sim;
    let err = (m - theory).abs();
    assert!(
        err <= 4.0 * se + 1e-12 || err <= 1e-9,
        "{what}: simulated {m:.5} ± {se:.5} (SE) vs theory {theory:.5}: off by {:.1} SE",
        err / se
    );
    assert!(
        err / theory.abs().max(1e-12) <= cap,
        "{what}: simulated {m:.5} vs theory {theory:.5}: relative error {:.3} > cap {cap}",
        err / theory
    );
}

#[test]
fn mm1_mean_response_time_and_p_wait_match_theory() {
    // λ = 800/s, μ = 1000/s, ρ = 0.8: W = 1/(μ−λ) = 5 ms, P(wait) = ρ = 0.8.
    // Sample: 8 seeds × 200 s measured ≈ 1.28 M customers. The asymptotic variance of
    // the M/M/1 sojourn-time mean at ρ = 0.8 is ≈ 2000/μ² per customer (Whitt 1989),
    // so SE ≈ sqrt(2000/1.28e6) ms ≈ 0.04 ms (0.8%); we use the observed SE over seeds
    // (4 SE) and cap the relative error at 5%.
    let rs = runs(
        &scenario(800.0, 1, 1_000_000, "Exponential(mean_ms: 1.0)", 210.0),
        8,
    );
    let w = theory::mmc(1, 800.0, 1000.0).unwrap();
    assert_close(
        "M/M/1 W (ms)",
        mean_se(&metric(&rs, "node.s.sojourn_ms_mean")),
        w.sojourn_s * 1e3,
        0.05,
    );
    assert_close(
        "M/M/1 end-to-end mean (ms)",
        mean_se(&metric(&rs, "latency_ms_mean")),
        w.sojourn_s * 1e3,
        0.05,
    );
    // P(wait): a proportion over ~1.28 M arrivals, strongly autocorrelated; over-seed SE, cap 2%.
    assert_close(
        "M/M/1 P(wait)",
        mean_se(&metric(&rs, "node.s.p_wait")),
        0.8,
        0.02,
    );
    // Utilization = ρ.
    assert_close(
        "M/M/1 utilization",
        mean_se(&metric(&rs, "node.s.utilization")),
        0.8,
        0.02,
    );
}

#[test]
fn mmc_mean_wait_matches_erlang_c_at_two_loads() {
    // (c, ρ) = (4, 0.9) and (8, 0.6), mean service 1 ms. Erlang C mean wait
    // Wq = C(c, a)/(cμ − λ). Sample: 8 seeds × 150 s: 4.3 M and 5.8 M customers.
    // At ρ = 0.9 the waiting-time mean has a large relaxation time, so its over-seed
    // SE is ~2%; tolerance 4 SE, capped at 8% (ρ = 0.9) and 6% (ρ = 0.6, where Wq
    // is small and the relative noise larger).
    for (c, rho, cap) in [(4u32, 0.9, 0.08), (8u32, 0.6, 0.06)] {
        let lambda = rho * f64::from(c) * 1000.0;
        let rs = runs(
            &scenario(lambda, c, 1_000_000, "Exponential(mean_ms: 1.0)", 160.0),
            8,
        );
        let p = theory::mmc(c, lambda, 1000.0).unwrap();
        let wq: Vec<f64> = metric(&rs, "node.s.sojourn_ms_mean")
            .iter()
            .map(|w| w - 1.0)
            .collect();
        // Service-time sample mean noise (SE ~0.001 ms) is negligible against Wq.
        assert_close(
            &format!("M/M/{c} Wq at ρ={rho} (ms)"),
            mean_se(&wq),
            p.wait_s * 1e3,
            cap,
        );
        assert_close(
            &format!("M/M/{c} P(wait) at ρ={rho}"),
            mean_se(&metric(&rs, "node.s.p_wait")),
            p.p_wait,
            0.03,
        );
    }
}

#[test]
fn md1_mean_wait_matches_pollaczek_khinchine() {
    // M/D/1 at ρ = 0.7 with D = 1 ms: Wq = ρ D / (2(1 − ρ)) = 1.1667 ms.
    // Sample: 8 seeds × 200 s ≈ 1.1 M customers; deterministic service halves the
    // M/M/1 variance; tolerance 4 SE over seeds, cap 4%.
    let rs = runs(
        &scenario(700.0, 1, 1_000_000, "Constant(ms: 1.0)", 210.0),
        8,
    );
    let p = theory::mg1(700.0, 0.001, 0.0).unwrap();
    let wq: Vec<f64> = metric(&rs, "node.s.sojourn_ms_mean")
        .iter()
        .map(|w| w - 1.0)
        .collect();
    assert_close("M/D/1 Wq (ms)", mean_se(&wq), p.wait_s * 1e3, 0.04);
}

#[test]
fn erlang_b_blocking_for_a_pool_with_no_queue() {
    // M/M/c/c with c = 10, offered load a = 7 erlangs (λ = 7000/s, 1 ms mean
    // holding time): B(10, 7) = 0.07874. Blocking probability over ≈ 8 × 7000 × 60 =
    // 3.4 M arrivals: binomial SE ≈ 1.5e-4 but arrivals are correlated through the
    // state; use over-seed SE, 4 SE, cap 3%.
    let rs = runs(
        &scenario(7000.0, 10, 0, "Exponential(mean_ms: 1.0)", 70.0),
        8,
    );
    let b = theory::erlang_b(10, 7.0);
    assert!((b - 0.078_741).abs() < 1e-5);
    assert_close(
        "Erlang B blocking",
        mean_se(&metric(&rs, "node.s.reject_rate")),
        b,
        0.03,
    );
}

#[test]
fn littles_law_holds_on_a_multi_tier_scenario() {
    // The bundled three-tier scenario (web → app → db + scatter to search, queue),
    // shortened to 20 s. Little's law L = λW is exact for the time-average number in
    // the system over an interval up to end effects (requests in flight at the
    // boundaries): with ~1500/s × 15 s measured and ~90 in the system, end effects
    // are < 90 / 22500 ≈ 0.4%; tolerance 1%.
    let text = std::fs::read_to_string("scenarios/three-tier.ron")
        .unwrap()
        .replace("duration_s: 60.0", "duration_s: 20.0")
        .replace("at_s: 30.0, for_s: 20.0", "at_s: 10.0, for_s: 5.0");
    let loaded = load_str(Path::new("scenarios/three-tier.ron"), &text).expect("valid");
    for seed in 1..=2 {
        let r = sim::run(&loaded.base, seed);
        let l = r.metric("littles_l_measured").unwrap();
        let lw = r.metric("littles_l_lambda_w").unwrap();
        assert!(
            l > 10.0,
            "L = {l}: the scenario should keep many requests in flight"
        );
        assert!(
            (l - lw).abs() / l < 0.01,
            "seed {seed}: L = {l:.3}, λW = {lw:.3}"
        );
    }
}
