//! Cache benchmark: is eviction O(1)/O(log n) in practice? Two parts.
//!
//! 1. The store alone: for every eviction policy and capacities of 1 k, 100 k and
//!    1 M entries (filled first), 3 M operations on uniform keys over twice the
//!    capacity (hit ratio about 1/2, so about half the operations evict), with a
//!    sliding TTL and 1 in 8 puts dirty. Prints ns per operation: a constant-time
//!    policy shows the same figure at every capacity, up to cache-miss effects of a
//!    larger working set.
//! 2. The whole simulator: clients → LRU cache → server at 20 k requests/s for 60 s
//!    of virtual time, cache of 1 k vs 1 M entries over 2 M keys. Prints events/s.
//!
//! `cargo bench --bench cache`.

use capsim::components::cache::{CacheConfig, CacheStore, EvictionPolicy, Lookup, TtlMode};
use capsim::detrand::stream;
use capsim::scenario::load_str;
use capsim::sim;
use rand::Rng;
use std::path::Path;
use std::time::Instant;

const OPS: u64 = 3_000_000;

fn store_ns_per_op(policy: EvictionPolicy, capacity: u64) -> (f64, f64) {
    let mut store = CacheStore::new(CacheConfig {
        policy,
        capacity_entries: Some(capacity),
        ttl_ns: Some(u64::MAX / 4),
        ttl_mode: TtlMode::SlidingOnHit,
        ..CacheConfig::default()
    });
    let mut rng = stream(1, "bench-workload");
    let mut cache_rng = stream(1, "bench-cache");
    let mut evicted = Vec::new();
    for k in 0..capacity {
        evicted.clear();
        store.put(k, 0, 64, false, k, &mut cache_rng, &mut evicted);
    }
    let t0 = Instant::now();
    for t in capacity..capacity + OPS {
        let key = rng.random_range(0..2 * capacity);
        if !matches!(store.get(key, t), Lookup::Hit(_)) {
            evicted.clear();
            store.put(key, 0, 64, key % 8 == 0, t, &mut cache_rng, &mut evicted);
        }
    }
    let ns = t0.elapsed().as_secs_f64() * 1e9 / OPS as f64;
    (ns, store.stats().hit_ratio())
}

fn scenario(capacity: u64) -> String {
    format!(
        r#"Scenario(
    name: "bench-cache",
    duration_s: 60.0,
    max_events: 1000000000,
    nodes: [
        Client(name: "c", target: "cache", workload: Poisson(rate_per_s: 20000.0),
               keys: Uniform(count: 2000000)),
        Cache(name: "cache", origin: "db", pattern: CacheAside, eviction: Lru,
              capacity_entries: Some({capacity})),
        Server(name: "db", workers: 64, queue_capacity: 100000, service: Exponential(mean_ms: 1.0), data: true),
    ],
    links: [
        (from: "c", to: "cache", latency: Constant(ms: 0.5)),
        (from: "cache", to: "db", latency: Constant(ms: 0.5)),
    ],
)"#
    )
}

fn main() {
    println!("capsim cache benchmark (single thread)");
    println!("1. store alone: {OPS} get-or-put operations, uniform keys over 2 × capacity");
    println!(
        "{:<12} {:>14} {:>14} {:>14}",
        "policy", "1k ns/op", "100k ns/op", "1M ns/op"
    );
    for policy in [
        EvictionPolicy::Lru,
        EvictionPolicy::Lfu,
        EvictionPolicy::Fifo,
        EvictionPolicy::Lifo,
        EvictionPolicy::Mru,
        EvictionPolicy::Random,
        EvictionPolicy::PerfectLfu,
    ] {
        let row: Vec<String> = [1_000u64, 100_000, 1_000_000]
            .iter()
            .map(|&c| {
                let (ns, hit) = store_ns_per_op(policy, c);
                format!("{ns:>7.1} ({hit:.2})")
            })
            .collect();
        println!(
            "{:<12} {:>14} {:>14} {:>14}",
            format!("{policy:?}"),
            row[0],
            row[1],
            row[2]
        );
    }
    println!("   (hit ratio in parentheses)");
    println!("2. whole simulator: client → LRU cache → server, 20 k req/s, 60 s virtual");
    for capacity in [1_000u64, 1_000_000] {
        let loaded = load_str(Path::new("bench-cache.ron"), &scenario(capacity))
            .expect("valid bench scenario");
        let t0 = Instant::now();
        let r = sim::run(&loaded.base, 1);
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "cache {capacity:>9} entries: {:>6.2} s wall, {:>6.2} M events/s, hit ratio {:.3}, {} events",
            secs,
            r.events as f64 / secs / 1e6,
            r.metric("cache.cache.hit_ratio")
                .or_else(|| r.metric("cache_hit_ratio"))
                .unwrap_or(f64::NAN),
            r.events
        );
    }
}
