//! The cache component through the real scenario machinery (client → cache → data
//! server): hit ratio against Che's approximation, write-back loss on a crash
//! against its expectation, and write-through's durability. Each test states its
//! sample size and tolerance.

use capsim::components::cache::theory::{che_hit_ratio, zipf_popularity};
use capsim::scenario::load_str;
use capsim::sim::{self, RunResult};
use std::path::Path;

fn run(text: &str, seed: u64) -> RunResult {
    let loaded = load_str(Path::new("cache.ron"), text).expect("valid scenario");
    sim::run(&loaded.base, seed)
}

fn metric(r: &RunResult, name: &str) -> f64 {
    r.metric(name).unwrap_or_else(|| panic!("no metric {name}"))
}

/// Read-only IRM Zipf workload through an LRU cache; zero network latency and a
/// 10 µs origin, so a miss is populated before the next request for the key
/// almost surely (Che assumes instant insertion).
fn lru_scenario(capacity: u64, keys: u64, s: f64) -> String {
    format!(
        r#"Scenario(
    name: "che",
    duration_s: 12.0,
    warmup: Seconds(2.0),
    nodes: [
        Client(name: "c", target: "cache", workload: Poisson(rate_per_s: 5000.0),
               mix: [(name: "get", op: Read)], keys: Zipf(count: {keys}, s: {s})),
        Cache(name: "cache", origin: "db", eviction: Lru, capacity_entries: Some({capacity}), service: Some(Constant(ms: 0.0))),
        Server(name: "db", workers: 64, service: Constant(ms: 0.01), data: true),
    ],
    default_link: (latency: Constant(ms: 0.0)),
)"#
    )
}

#[test]
fn lru_hit_ratio_matches_che_approximation_for_two_sizes() {
    // Sample: 10 s measured × 5000 reads/s = 50 000 lookups per size. The hit
    // ratio's standard error is about sqrt(h(1−h)/n) ≈ 0.0022 (×~2 for the
    // correlation of successive LRU states), so 2 pp is ≥ 4 SE; Che's own
    // approximation error for N = 1000, C ≥ 50 is well under 1 pp.
    let (n, s) = (1000u64, 0.8);
    let pop = zipf_popularity(n as usize, s);
    for capacity in [50u64, 200] {
        let r = run(&lru_scenario(capacity, n, s), 7);
        let measured = metric(&r, "cache.cache.hit_ratio");
        let lookups = metric(&r, "cache.cache.hits") + metric(&r, "cache.cache.misses");
        assert!(lookups > 45_000.0, "too few lookups: {lookups}");
        let che = che_hit_ratio(&pop, capacity as f64);
        eprintln!("LRU C = {capacity}: measured {measured:.4}, Che {che:.4}, {lookups} lookups");
        assert!(
            (measured - che).abs() <= 0.02,
            "C = {capacity}: measured hit ratio {measured:.4} vs Che {che:.4}"
        );
    }
}

fn crash_scenario(pattern: &str, crash_at_s: f64, read_weight: f64) -> String {
    format!(
        r#"Scenario(
    name: "crash",
    duration_s: 1.5,
    warmup: Seconds(0.1),
    nodes: [
        Client(name: "c", target: "cache", workload: Poisson(rate_per_s: 1000.0),
               mix: [(name: "put", op: Write, weight: 1.0), (name: "get", op: Read, weight: {read_weight})],
               keys: Uniform(count: 1000000)),
        Cache(name: "cache", origin: "db", pattern: {pattern}, capacity_entries: Some(100000)),
        Server(name: "db", workers: 64, service: Constant(ms: 0.1), data: true),
    ],
    default_link: (latency: Constant(ms: 0.2)),
    faults: [(at_s: {crash_at_s}, action: Crash(node: "cache"))],
)"#
    )
}

#[test]
fn write_back_crash_loses_about_rate_times_half_flush_interval() {
    // Writes at W = 1000/s over 10^6 uniform keys (coalescing negligible), flushed
    // every F = 100 ms with no batch limit that binds: the dirty set at a crash at
    // phase φ ∈ [0, F) after a flush is Poisson(W·φ); over a uniform phase the mean
    // is W·F/2 = 50. Sample: 40 runs (seeds), crash phases stratified over [0, F),
    // so the mean's SE is about sqrt(50/40) ≈ 1.1 writes. Tolerance: 10% (5 writes,
    // > 4 SE).
    let runs = 40;
    let mut total = 0.0;
    for k in 0..runs {
        let phase = (k as f64 + 0.5) / runs as f64 * 0.1;
        let text = crash_scenario(
            "WriteBack, flush_interval_ms: Some(100.0), batch_size: Some(100000)",
            1.0 + phase,
            0.0,
        );
        let r = run(&text, 100 + k as u64);
        total += metric(&r, "cache.cache.lost_writes");
    }
    let mean = total / runs as f64;
    let expected = 1000.0 * 0.1 / 2.0;
    eprintln!(
        "write-back: mean lost writes per crash {mean:.2} over {runs} runs, W·F/2 = {expected}"
    );
    assert!(
        (mean - expected).abs() <= 0.1 * expected,
        "mean lost writes per crash {mean:.2} vs W·F/2 = {expected}"
    );
}

#[test]
fn write_through_never_loses_an_acknowledged_write_on_crash() {
    // Same workload (half reads), 5 crash times: write-through acknowledges only
    // after the origin has the value, so nothing acknowledged is lost; the same
    // crash under write-back loses some (the comparison keeps the test honest).
    let mut back_lost = 0.0;
    for k in 0..5 {
        let at = 1.0 + 0.017 * k as f64;
        let r = run(&crash_scenario("WriteThrough", at, 1.0), 200 + k);
        assert_eq!(
            metric(&r, "cache.cache.lost_writes"),
            0.0,
            "write-through lost writes (crash at {at} s)"
        );
        assert!(metric(&r, "requests_ok") > 500.0);
        let b = run(
            &crash_scenario("WriteBack, flush_interval_ms: Some(100.0)", at, 1.0),
            200 + k,
        );
        back_lost += metric(&b, "cache.cache.lost_writes");
    }
    assert!(
        back_lost > 0.0,
        "write-back lost nothing in 5 crashes: the crash is not reaching the cache"
    );
}

#[test]
#[allow(clippy::err_expect)]
fn cache_scenario_errors_are_reported_with_positions() {
    let text = r#"Scenario(
    name: "bad",
    duration_s: 1.0,
    nodes: [
        Client(name: "c", target: "cache", workload: Poisson(rate_per_s: 10.0)),
        Cache(name: "cache", origin: "dbx", capacity_entries: Some(0), refresh_fraction: Some(1.5)),
        Server(name: "db", service: Constant(ms: 1.0), data: true),
    ],
    default_link: (latency: Constant(ms: 0.0)),
)"#;
    let err = load_str(Path::new("bad.ron"), text)
        .err()
        .expect("invalid scenario");
    let msg = format!("{err}");
    assert!(msg.contains("unknown node `dbx`"), "{msg}");
    assert!(msg.contains("capacity_entries"), "{msg}");
    assert!(msg.contains("refresh_fraction"), "{msg}");
    assert!(msg.contains(":6:"), "no position on line 6: {msg}");
}

#[test]
fn distributed_cache_forwards_each_key_to_its_owner_shard() {
    // Two shards with consistent hashing; the client talks to shard a only. Keys
    // owned by b are forwarded (about half, ±10 pp over 2000 uniform keys and ~9000
    // requests), and both shards end up holding entries.
    let text = r#"Scenario(
    name: "shards",
    duration_s: 3.0,
    nodes: [
        Client(name: "c", target: "a", workload: Poisson(rate_per_s: 3000.0), keys: Uniform(count: 2000)),
        Cache(name: "a", origin: "db", peers: ["b"], placement: Some(ConsistentHash(vnodes: 200))),
        Cache(name: "b", origin: "db", peers: ["a"], placement: Some(ConsistentHash(vnodes: 200))),
        Server(name: "db", workers: 16, service: Constant(ms: 0.1), data: true),
    ],
    default_link: (latency: Constant(ms: 0.1)),
)"#;
    let r = run(text, 3);
    let fwd = metric(&r, "cache.a.forwarded");
    let total = metric(&r, "requests_ok");
    let share = fwd / total;
    eprintln!(
        "forwarded share {share:.3}; entries a = {}, b = {}",
        metric(&r, "cache.a.entries"),
        metric(&r, "cache.b.entries")
    );
    assert!((share - 0.5).abs() < 0.1, "forwarded share {share}");
    assert!(metric(&r, "cache.a.entries") > 500.0 && metric(&r, "cache.b.entries") > 500.0);
    assert!(metric(&r, "cache_hit_ratio") > 0.5);
}
