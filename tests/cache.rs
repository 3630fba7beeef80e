//! The cache component through the real scenario machinery (client → cache → data
//! server): hit ratio against Che's approximation, write-back loss on a crash
//! against its expectation, and write-through's durability. Each test states its
//! sample size and tolerance.

use capsim::components::cache::theory::{che_characteristic_time, che_hit_ratio, zipf_popularity};
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

/// One hot key behind a slow origin: reads at λ, TTL from insert, origin read F.
fn herd_scenario(pattern: &str) -> String {
    format!(
        r#"Scenario(
    name: "herd",
    duration_s: 21.0,
    warmup: Seconds(1.0),
    nodes: [
        Client(name: "c", target: "cache", workload: Poisson(rate_per_s: 1000.0),
               mix: [(name: "get", op: Read)], keys: Uniform(count: 1)),
        Cache(name: "cache", origin: "db", pattern: {pattern}, ttl_ms: Some(100.0), service: Some(Constant(ms: 0.0))),
        Server(name: "db", workers: 256, service: Constant(ms: 50.0), data: true),
    ],
    default_link: (latency: Constant(ms: 0.0)),
)"#
    )
}

#[test]
fn read_through_coalesces_the_thundering_herd_and_cache_aside_does_not() {
    // Each time the key expires, the next read misses and an origin read of
    // F = 50 ms starts. Cache-aside: every read arriving during those F is its own
    // miss and its own origin read, so a cycle sends 1 + N origin reads with
    // N ~ Poisson(λF) = Poisson(50). Read-through: exactly one per cycle, the
    // other misses wait for it (`coalesced`). Cycles (TTL 100 ms + F + the gap to
    // the next read) are the same in both, so origin reads per cycle are
    // 1 + λF = 51 vs 1. Sample: 20 s measured ≈ 133 cycles; the cache-aside mean
    // per cycle has SE ≈ sqrt(50/133) ≈ 0.6: tolerance ±3 (5 SE).
    let ca = run(&herd_scenario("CacheAside"), 3);
    let rt = run(&herd_scenario("ReadThrough"), 3);
    let cycles = metric(&rt, "cache.cache.origin_requests");
    let per_cycle = metric(&ca, "cache.cache.origin_requests") / cycles;
    eprintln!(
        "{cycles} cycles; origin reads per cycle: cache-aside {per_cycle:.2}, read-through 1; coalesced {}",
        metric(&rt, "cache.cache.coalesced")
    );
    assert!((120.0..=140.0).contains(&cycles), "{cycles} cycles");
    assert!(
        (per_cycle - 51.0).abs() <= 3.0,
        "cache-aside: {per_cycle:.2} origin reads per expiry, expected 1 + λF = 51"
    );
    assert_eq!(metric(&ca, "cache.cache.coalesced"), 0.0);
    // Every read-through miss but the one that fetched waited.
    let rt_misses = metric(&rt, "cache.cache.misses");
    assert_eq!(metric(&rt, "cache.cache.coalesced"), rt_misses - cycles);
    // Miss latency at the cache: cache-aside misses each wait for their own
    // origin read, F = 50 ms; read-through misses wait for the read in flight,
    // so those arriving during it wait the rest of it, F/2 on average:
    // (F + λF·F/2) / (1 + λF) = 25.49 ms over ~6 800 misses (tolerance 1 ms).
    let ca_miss = metric(&ca, "cache.cache.miss_latency_ms_mean");
    let rt_miss = metric(&rt, "cache.cache.miss_latency_ms_mean");
    eprintln!("miss latency: cache-aside {ca_miss:.3} ms, read-through {rt_miss:.3} ms");
    assert!(
        (ca_miss - 50.0).abs() < 0.1,
        "cache-aside miss latency {ca_miss}"
    );
    assert!(
        (rt_miss - 25.49).abs() < 1.0,
        "read-through miss latency {rt_miss}"
    );
    assert!(metric(&rt, "cache.cache.hit_latency_ms_p99") < 0.01);
    // Same misses either way: coalescing saves origin load, not misses.
    let ca_misses = metric(&ca, "cache.cache.misses");
    assert!(
        (ca_misses / rt_misses - 1.0).abs() < 0.1,
        "misses {ca_misses} vs {rt_misses}"
    );
}

/// One key, slow origin, reads and writes through the cache, no TTL.
fn race_scenario(pattern: &str) -> String {
    format!(
        r#"Scenario(
    name: "race",
    duration_s: 21.0,
    warmup: Seconds(1.0),
    nodes: [
        Client(name: "c", target: "cache", workload: Poisson(rate_per_s: 500.0),
               mix: [(name: "get", op: Read, weight: 49.0), (name: "put", op: Write, weight: 1.0)],
               keys: Uniform(count: 1)),
        Cache(name: "cache", origin: "db", pattern: {pattern}, service: Some(Constant(ms: 0.0))),
        Server(name: "db", workers: 64, service: Exponential(mean_ms: 20.0), data: true),
    ],
    links: [
        (from: "c", to: "cache", latency: Constant(ms: 1.0)),
        (from: "cache", to: "db", latency: Exponential(mean_ms: 5.0)),
    ],
)"#
    )
}

#[test]
fn cache_aside_race_leaves_stale_entries_and_read_through_does_not() {
    // The cache-aside race: a miss reads the origin, a write lands and
    // invalidates, then the miss stores the old value — stale until the next
    // write. Writes at 10/s, origin reads and writes ~20 ms, reads at 490/s: the
    // race needs the origin's answer to be overtaken by the write's (network
    // delays to the origin vary: Exponential, mean 5 ms), and each costs many
    // stale reads.
    // Read-through does not store a read that was out when the key was
    // invalidated, so only reads that overlap a write can be stale. Sample: 20 s
    // measured, ~9 800 reads, ~200 writes.
    // Read-through still answers the reads that waited for a read overtaken by a
    // write with the old value (they began before the write was acknowledged,
    // but are answered after it, so the cache counts them stale): measured 0.025
    // against cache-aside's 0.094 (seeds 5-7), whose stale entries also serve
    // reads that begin after the write.
    let rate = |pattern: &str| {
        (5..8)
            .map(|seed| {
                metric(
                    &run(&race_scenario(pattern), seed),
                    "cache.cache.stale_read_rate",
                )
            })
            .sum::<f64>()
            / 3.0
    };
    let (ca_rate, rt_rate) = (rate("CacheAside"), rate("ReadThrough"));
    eprintln!("stale read rate: cache-aside {ca_rate:.4}, read-through {rt_rate:.4}");
    assert!(
        ca_rate > 0.05,
        "cache-aside stale read rate {ca_rate:.4}: the race is not happening"
    );
    assert!(
        rt_rate < ca_rate / 2.0,
        "read-through {rt_rate:.4} vs cache-aside {ca_rate:.4}"
    );
}

/// Readers on a Zipf set, writers on a large uniform key space.
fn pollution_scenario(pattern: &str) -> String {
    format!(
        r#"Scenario(
    name: "pollution",
    duration_s: 12.0,
    warmup: Seconds(2.0),
    nodes: [
        Client(name: "r", target: "cache", workload: Poisson(rate_per_s: 5000.0),
               mix: [(name: "get", op: Read)], keys: Zipf(count: 1000, s: 0.8)),
        Client(name: "w", target: "cache", workload: Poisson(rate_per_s: 2000.0),
               mix: [(name: "put", op: Write)], keys: Uniform(count: 100000)),
        Cache(name: "cache", origin: "db", pattern: {pattern}, eviction: Lru, capacity_entries: Some(200), service: Some(Constant(ms: 0.0))),
        Server(name: "db", workers: 64, service: Constant(ms: 0.01), data: true),
    ],
    default_link: (latency: Constant(ms: 0.0)),
)"#
    )
}

#[test]
fn write_through_allocates_written_keys_and_write_around_does_not_per_che() {
    // Write-through caches every written key (write-allocate): LRU sees the
    // union of the read stream (5000/s, Zipf 0.8 over 1000 keys) and the write
    // stream (2000/s uniform over 100 000 keys), so reads get Che's hit ratio
    // with the characteristic time of that union. Write-around updates only
    // keys already cached (no-write-allocate); the writes hit reader keys 1% of
    // the time, which barely matters, so reads get Che's ratio for the read
    // stream alone. Sample: 50 000 reads each, SE ≈ 0.2-0.5 pp: tolerance 2 pp.
    let (n, s, c) = (1000usize, 0.8, 200.0);
    let reads = zipf_popularity(n, s);
    let around_che = che_hit_ratio(&reads, c);
    let (rr, wr, wkeys) = (5000.0, 2000.0, 100_000usize);
    let total = rr + wr;
    let mut union: Vec<f64> = (0..wkeys)
        .map(|k| wr / wkeys as f64 / total + if k < n { rr * reads[k] / total } else { 0.0 })
        .collect();
    let sum: f64 = union.iter().sum();
    union.iter_mut().for_each(|q| *q /= sum);
    let t = che_characteristic_time(&union, c).expect("solvable");
    let through_che: f64 = (0..n)
        .map(|k| reads[k] * (1.0 - (-union[k] * t).exp()))
        .sum();
    let around = metric(
        &run(&pollution_scenario("WriteAround"), 9),
        "cache.cache.hit_ratio",
    );
    let through = metric(
        &run(&pollution_scenario("WriteThrough"), 9),
        "cache.cache.hit_ratio",
    );
    eprintln!(
        "read hit ratio: write-around {around:.4} (Che, reads only {around_che:.4}); write-through {through:.4} (Che, union {through_che:.4})"
    );
    assert!(
        (around - around_che).abs() <= 0.02,
        "write-around {around:.4} vs {around_che:.4}"
    );
    assert!(
        (through - through_che).abs() <= 0.02,
        "write-through {through:.4} vs {through_che:.4}"
    );
    assert!(
        around - through > 0.05,
        "pollution too small to tell the policies apart"
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

/// Four shards behind client → `c1` (never crashed); `c3` crashes at 2 s
/// (`fault`, e.g. with `for_s: 1.0` to restart it). `health` is the shards'
/// `peer_health` (empty: static membership), `fwd` their forward timeout.
struct Shards<'a> {
    placement: &'a str,
    keys: &'a str,
    health: &'a str,
    fwd: &'a str,
    fault: &'a str,
}

const HEALTH_100MS: &str = "peer_health: (interval_ms: 100.0, timeout_ms: 50.0, healthy_threshold: 2, unhealthy_threshold: 3),";
const RING: &str = "ConsistentHash(vnodes: 200)";

fn shards_scenario(s: &Shards) -> String {
    let shard = |name: &str, peers: &str| {
        format!(
            r#"Cache(name: "{name}", origin: "db", capacity_entries: Some(3000), peers: [{peers}], placement: Some({}), {} {}),"#,
            s.placement, s.health, s.fwd
        )
    };
    format!(
        r#"Scenario(
    name: "shards",
    duration_s: 4.0,
    warmup: Seconds(1.0),
    bucket_s: 0.25,
    nodes: [
        Client(name: "c", target: "c1", workload: Poisson(rate_per_s: 2000.0), keys: {}, timeout_ms: 300.0),
        {}
        {}
        {}
        {}
        Server(name: "db", workers: 32, service: Constant(ms: 0.5), data: true),
    ],
    default_link: (latency: Constant(ms: 0.2)),
    faults: [(at_s: 2.0, {} action: Crash(node: "c3"))],
)"#,
        s.keys,
        shard("c1", r#""c2", "c3", "c4""#),
        shard("c2", r#""c1", "c3", "c4""#),
        shard("c3", r#""c1", "c2", "c4""#),
        shard("c4", r#""c1", "c2", "c3""#),
        s.fault,
    )
}

#[test]
fn losing_a_shard_remaps_one_nth_of_keys_with_consistent_hashing_and_n_minus_one_nth_with_modulo() {
    // n = 4 shards, the 20 000 keys clients request; c3 leaves and rejoins. Each of
    // the 3 surviving shards drops c3 from its ring (a leave) and adds it back
    // after the restart (a join).
    //
    // Modulo (owner = live[h mod n]): for a uniform hash, (h mod n, h mod (n−1)) is
    // uniform over all n(n−1) pairs (CRT), and a key stays put only for the n−1
    // pairs where the old and new list positions name the same node, whichever
    // node leaves: P(stay) = 1/n, so exactly (n−1)/n = 0.75 move (joins: the same
    // with n the larger membership). Over K = 20 000 keys the measured fraction has
    // sd sqrt(p(1−p)/K) = 0.0031; tolerance 4 sd = 0.0125.
    //
    // Consistent hashing moves exactly the keys of the node that left or joined:
    // its share of the hash space (the `theory` figure), measured over the same
    // keys within the same 0.0125 (p ≈ 0.25, sd ≤ 0.0031). That share is 1/n up
    // to the ring's imbalance: with V = 200 virtual nodes a node's share is a sum
    // of V arcs, sd ≈ 1/(n·sqrt(V)) = 0.018; tolerance 4 sd = 0.07.
    let k = 20_000.0f64;
    let tol_keys = 4.0 * (0.75f64 * 0.25 / k).sqrt();
    let spec = |placement| Shards {
        placement,
        keys: "Uniform(count: 20000)",
        health: HEALTH_100MS,
        fwd: "forward_timeout_ms: 20.0,",
        fault: "for_s: 1.0,",
    };
    let ring = run(&shards_scenario(&spec(RING)), 11);
    let modulo = run(&shards_scenario(&spec("Modulo")), 11);
    for (name, r) in [("ring", &ring), ("modulo", &modulo)] {
        assert_eq!(
            metric(r, "cache_ring_changes"),
            6.0,
            "{name}: 3 leaves + 3 joins"
        );
        for what in ["leave", "join"] {
            let f = metric(r, &format!("cache_remap_{what}_fraction"));
            let t = metric(r, &format!("cache_remap_{what}_theory"));
            eprintln!("{name} {what}: moved {f:.4}, expected {t:.4}");
            assert!(
                (f - t).abs() <= tol_keys,
                "{name} {what}: {f} vs {t} ± {tol_keys}"
            );
        }
    }
    assert_eq!(metric(&modulo, "cache_remap_leave_theory"), 0.75);
    let share = metric(&ring, "cache_remap_leave_theory");
    assert!(
        (share - 0.25).abs() <= 0.07,
        "c3's ring share {share} vs 1/4"
    );
}

#[test]
fn the_miss_surge_after_losing_a_shard_scales_with_the_remapped_fraction() {
    // 500 uniform keys at 2000 reads/s (4/s per key), shards large enough to hold
    // everything, so in the baseline (1 s to 2 s) almost every read hits (a key
    // still unread at 1 s: e^−4 ≈ 2%, at 2 s: e^−8). c3 is lost for good at 2 s.
    // Each key that moved misses once at its new owner when next read (within the
    // remaining 2 s: probability 1 − e^−8 ≈ 1): moved × 500. Two small terms
    // roughly cancel: until c1 drops c3 (D ≈ 40 ms: checks every 20 ms, 2
    // failures) reads of c3's ≈ 1/4 of keys fall back to the origin (≈ +20
    // misses), and the baseline's residual cold misses (≈ 9 in 2000 lookups)
    // make the baseline miss ratio too high by ≈ 0.45 pp (≈ −18 over 4000
    // lookups). So extra misses ≈ 500 × moved: ring ≈ 120, modulo ≈ 373. Over 8
    // seeds the measured counts had sd ≈ 8 (ring) and ≈ 9 (modulo); ±20% is
    // ≥ 3 sd for both.
    let fast = "peer_health: (interval_ms: 20.0, timeout_ms: 10.0, healthy_threshold: 2, unhealthy_threshold: 2),";
    let spec = |placement| Shards {
        placement,
        keys: "Uniform(count: 500)",
        health: fast,
        fwd: "forward_timeout_ms: 5.0,",
        fault: "",
    };
    for placement in [RING, "Modulo"] {
        let r = run(&shards_scenario(&spec(placement)), 21);
        let moved = metric(&r, "cache_remap_leave_fraction");
        let extra = metric(&r, "cache_extra_misses");
        let expected = moved * 500.0;
        eprintln!(
            "{placement}: moved {moved:.3}, extra misses {extra:.0} (expected ≈ {expected:.0}), dip {:.3}",
            metric(&r, "cache_hit_ratio_dip")
        );
        assert!(
            (extra - expected).abs() <= 0.2 * expected,
            "{placement}: extra misses {extra} vs ≈ {expected}"
        );
    }
}

#[test]
fn peers_stop_forwarding_to_a_dead_shard_once_health_checks_fail() {
    // c3 owns ≈ 24% of the keys (its ring share); reads arrive at 2000/s, so ≈ 480/s
    // are forwarded to it. With peer health checks (i = 100 ms, τ = 50 ms, k = 3)
    // c1 drops c3 after D < k·i + τ = 350 ms, so at most ≈ 480 × 0.35 ≈ 170
    // forwards time out (Poisson, sd ≈ 13: bound 240 is 5 sd above). With static
    // membership c1 keeps forwarding for the whole 1 s crash: ≈ 480 timeouts (sd ≈
    // 22; bound 380 is 4.5 sd below). The forward timeout serves every read from
    // the origin, so no request fails either way.
    let spec = |health, fwd| Shards {
        placement: RING,
        keys: "Uniform(count: 20000)",
        health,
        fwd,
        fault: "for_s: 1.0,",
    };
    let with_fwd = "forward_timeout_ms: 20.0,";
    let dynamic = run(&shards_scenario(&spec(HEALTH_100MS, with_fwd)), 5);
    let fixed = run(&shards_scenario(&spec("", with_fwd)), 5);
    let (d, f) = (
        metric(&dynamic, "cache.c1.forward_timeouts"),
        metric(&fixed, "cache.c1.forward_timeouts"),
    );
    eprintln!("forward timeouts: with peer health {d}, static membership {f}");
    assert!(d > 0.0 && d < 240.0, "with peer health: {d}");
    assert!(f > 380.0, "static membership: {f}");
    assert_eq!(metric(&fixed, "cache_ring_changes"), 0.0);
    for r in [&dynamic, &fixed] {
        assert_eq!(metric(r, "errors") + metric(r, "timeouts"), 0.0);
    }
    // Without a forward timeout, static membership leaves reads for c3's keys
    // hanging until the client gives up.
    let hang = run(&shards_scenario(&spec("", "")), 5);
    assert!(metric(&hang, "timeouts") > 380.0);
}

#[test]
fn a_balancer_health_checks_caches_and_ejects_only_the_crashed_one() {
    // Two standalone caches behind a health-checking balancer; b crashes at 2 s.
    // Caches answer health checks, so a is never ejected and b is ejected once.
    let text = r#"Scenario(
    name: "lbcache",
    duration_s: 4.0,
    warmup: Seconds(0.5),
    nodes: [
        Client(name: "c", target: "lb", workload: Poisson(rate_per_s: 500.0)),
        LoadBalancer(name: "lb", backends: ["a", "b"], policy: RoundRobin,
                     health: (interval_ms: 100.0, timeout_ms: 50.0)),
        Cache(name: "a", origin: "db"),
        Cache(name: "b", origin: "db"),
        Server(name: "db", workers: 8, service: Constant(ms: 0.5), data: true),
    ],
    default_link: (latency: Constant(ms: 0.2)),
    faults: [(at_s: 2.0, action: Crash(node: "b"))],
)"#;
    let r = run(text, 2);
    assert_eq!(metric(&r, "lb.lb.false_ejections"), 0.0);
    assert_eq!(metric(&r, "lb.lb.detections"), 1.0);
    assert!(metric(&r, "lb.lb.backend.a.share") > 0.7);
}

/// A publisher writes through `gw`; a reader reads at `edge` 20 ms from the
/// origin. `push` adds `push_to: ["edge"]` on `gw`; `ttl` sets the edge's TTL.
fn cdn_scenario(push: bool, ttl: &str) -> String {
    let push_to = if push { r#"push_to: ["edge"],"# } else { "" };
    format!(
        r#"Scenario(
    name: "cdn",
    duration_s: 8.0,
    warmup: Seconds(2.0),
    nodes: [
        Client(name: "r", target: "edge", workload: Poisson(rate_per_s: 2000.0),
               mix: [(name: "get", op: Read)], keys: Zipf(count: 1000, s: 0.9)),
        Client(name: "p", target: "gw", workload: Poisson(rate_per_s: 100.0),
               mix: [(name: "put", op: Write)], keys: Zipf(count: 1000, s: 0.9)),
        Cache(name: "edge", origin: "db", ttl_ms: {ttl}),
        Cache(name: "gw", origin: "db", pattern: WriteAround, {push_to}),
        Server(name: "db", workers: 16, service: Constant(ms: 0.2), data: true),
    ],
    links: [
        (from: "r", to: "edge", latency: Constant(ms: 1.0)),
        (from: "edge", to: "db", latency: Constant(ms: 20.0)),
        (from: "p", to: "gw", latency: Constant(ms: 1.0)),
        (from: "gw", to: "db", latency: Constant(ms: 0.5)),
    ],
)"#
    )
}

#[test]
fn push_keeps_edges_fresher_and_hotter_than_pull_with_a_ttl() {
    // Push: a read of key k at the edge is stale iff a write to k was acknowledged
    // at `gw` within the last δ = 20.5 ms (the push's transit gw → db → edge), so
    // with Poisson writes at w_k = 100·p_k per second the stale rate is
    // Σ_k p_k·(1 − e^{−w_k·δ}) (reads and writes share the Zipf popularity p).
    // Over 12 seeds the measured rate had mean 0.0337 and sd 0.0027 (8%): ±25% is
    // 3 sd.
    // Pull with a 1 s TTL is stale whenever the key was rewritten since its fetch
    // (far more often) and hits less (expiries).
    let pull = run(&cdn_scenario(false, "Some(1000.0)"), 3);
    let push = run(&cdn_scenario(true, "None"), 3);
    let (sp, sq) = (
        metric(&pull, "cache.edge.stale_read_rate"),
        metric(&push, "cache.edge.stale_read_rate"),
    );
    let (hp, hq) = (
        metric(&pull, "cache.edge.hit_ratio"),
        metric(&push, "cache.edge.hit_ratio"),
    );
    let theory: f64 = zipf_popularity(1000, 0.9)
        .iter()
        .map(|p| p * (1.0 - (-100.0 * p * 0.0205f64).exp()))
        .sum();
    eprintln!(
        "pull TTL 1 s: hit {hp:.3} stale {sp:.4}; push: hit {hq:.3} stale {sq:.4} (theory {theory:.4})"
    );
    assert!(
        (sq - theory).abs() <= 0.25 * theory,
        "push stale rate {sq} vs {theory}"
    );
    assert!(sp > 3.0 * sq, "pull stale {sp} vs push {sq}");
    assert!(hq > hp + 0.05, "push hit {hq} vs pull {hp}");
    // Every acknowledged write is pushed once and received once (no faults); the
    // counts differ only by pushes in flight at the two ends of the measured
    // window (Poisson, mean 100/s × 20.5 ms ≈ 2 each: sd of the difference ≈ 2).
    let sent = metric(&push, "cache.gw.pushes_sent");
    assert!(sent > 500.0);
    assert!((metric(&push, "cache.edge.pushes_received") - sent).abs() <= 10.0);
    assert_eq!(metric(&pull, "cache.gw.pushes_sent"), 0.0);
}

#[test]
fn distributed_cache_runs_are_reproducible_with_membership_changes() {
    // Health checks, forward timeouts and ring rebuilds draw no hidden randomness:
    // the same seed gives the same metrics and time series, bit for bit.
    let text = shards_scenario(&Shards {
        placement: RING,
        keys: "Zipf(count: 5000, s: 0.9)",
        health: HEALTH_100MS,
        fwd: "forward_timeout_ms: 20.0,",
        fault: "for_s: 1.0,",
    });
    let (a, b) = (run(&text, 9), run(&text, 9));
    let bits = |r: &RunResult| -> Vec<(String, u64)> {
        r.metrics
            .iter()
            .map(|(k, v)| (k.clone(), v.to_bits()))
            .collect()
    };
    assert_eq!(bits(&a), bits(&b));
    let series = |r: &RunResult| -> Vec<u64> {
        r.timeseries
            .iter()
            .flat_map(|t| [t.cache_hit_ratio.to_bits(), t.cache_origin_per_s.to_bits()])
            .collect()
    };
    assert_eq!(series(&a), series(&b));
    assert_eq!(metric(&a, "cache_ring_changes"), 6.0);
}

#[test]
fn reordered_pushes_never_leave_an_edge_with_an_older_value() {
    // `gw` pushes every acknowledged write to `edge` over jittery links
    // (gw → db → edge, each Uniform(1, 40) ms): writes of one key ≈ 25 ms apart
    // (20 keys, 800 writes/s) often arrive in the other order. Writes stop at 5 s; measuring from 6 s, every push has
    // arrived (≤ 80.5 ms transit), so every edge read must return the latest
    // acknowledged write. Each push carries the pusher's ack order and the edge
    // drops one older than what it already applied (`pushes_outdated`, > 0 here);
    // applying pushes in arrival order instead would leave the older value of
    // any key whose last two pushes crossed — stale forever (no TTL): with the
    // check disabled, 5 of 10 seeds of a 5-key version ended with a stale key
    // (read rate ≈ 0.2); with 20 keys, P(no key's last pushes cross) ≈ 0.75^20.
    // Counters are kept after the warm-up only: the dropped pushes are counted in
    // a run measured from 0.5 s, the stale reads in one measured from 6 s.
    let text = |warmup: f64| {
        format!(
            r#"Scenario(
    name: "push-order",
    duration_s: 8.0,
    warmup: Seconds({warmup}),
    nodes: [
        Client(name: "r", target: "edge", workload: Poisson(rate_per_s: 2000.0),
               mix: [(name: "get", op: Read)], keys: Uniform(count: 20)),
        Client(name: "p", target: "gw",
               workload: Schedule(segments: [Step(at_s: 0.0, rate_per_s: 800.0), Step(at_s: 5.0, rate_per_s: 0.0)]),
               mix: [(name: "put", op: Write)], keys: Uniform(count: 20)),
        Cache(name: "edge", origin: "db"),
        Cache(name: "gw", origin: "db", pattern: WriteAround, push_to: ["edge"]),
        Server(name: "db", workers: 16, service: Constant(ms: 0.2), data: true),
    ],
    links: [
        (from: "r", to: "edge", latency: Constant(ms: 1.0)),
        (from: "edge", to: "db", latency: Uniform(min_ms: 1.0, max_ms: 40.0)),
        (from: "p", to: "gw", latency: Constant(ms: 1.0)),
        (from: "gw", to: "db", latency: Uniform(min_ms: 1.0, max_ms: 40.0)),
    ],
)"#
        )
    };
    for seed in 1..=3 {
        let outdated = metric(&run(&text(0.5), seed), "cache.edge.pushes_outdated");
        let stale = metric(&run(&text(6.0), seed), "cache.edge.stale_read_rate");
        eprintln!(
            "seed {seed}: {outdated} outdated pushes dropped, stale read rate after 6 s {stale}"
        );
        assert!(outdated > 0.0, "seed {seed}: no push overtook another");
        assert_eq!(stale, 0.0, "seed {seed}: an edge kept an older value");
    }
}
