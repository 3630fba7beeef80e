//! Network routing through the real scenario machinery.

use capsim::scenario::load_str;
use capsim::sim;
use std::path::Path;

/// Clients are endpoints, not routers: with a 10 ms direct link and a 0.2 ms
/// path through another client, requests take the direct link (2 × 10 ms plus a
/// 1 ms service time, all constant, so the mean is exactly 21 ms).
#[test]
fn routes_never_pass_through_a_client() {
    let text = r#"Scenario(
    name: "routes",
    duration_s: 10.0,
    nodes: [
        Client(name: "mobile", target: "api", workload: Constant(rate_per_s: 10.0)),
        Client(name: "browser", target: "api", workload: Constant(rate_per_s: 10.0)),
        Server(name: "api", workers: 4, service: Constant(ms: 1.0)),
    ],
    links: [
        (from: "mobile", to: "api", latency: Constant(ms: 10.0)),
        (from: "mobile", to: "browser", latency: Constant(ms: 0.1)),
        (from: "browser", to: "api", latency: Constant(ms: 0.1)),
    ],
)"#;
    let loaded = load_str(Path::new("routes.ron"), text).expect("valid scenario");
    let r = sim::run(&loaded.base, 1);
    // Browser requests: 0.2 + 1 ms; mobile: 20 + 1 ms; equal rates.
    let mean = r.metric("latency_ms_mean").expect("latency");
    let want = (21.0 + 1.2) / 2.0;
    assert!(
        (mean - want).abs() < 0.01,
        "mean latency {mean} ms, expected {want} ms (mobile must not relay via browser)"
    );
}
