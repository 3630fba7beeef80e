//! Validation of [`CacheStore`] against caching theory (test-only).
//!
//! The store is driven directly, with no simulator: an independent-reference-model
//! (IRM) stream with Zipf popularity for the replacement policies, and merged
//! per-key Poisson streams on real (nanosecond) times for the TTL modes. Each test
//! states its sample size and tolerance.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;

use super::eviction::{CacheConfig, CacheStore, EvictionPolicy, Lookup, TtlMode};
use super::theory::{
    che_hit_ratio, fifo_random_hit_ratio, lfu_hit_ratio, ttl_hit_ratio, zipf_popularity,
};
use crate::detrand::{SimRng, stream};

const N_ITEMS: usize = 10_000;
const ALPHA: f64 = 0.8;
const WARMUP_REQUESTS: u64 = 200_000;
const MEASURED_REQUESTS: u64 = 1_000_000;

/// Inverse-CDF Zipf sampler: item `k` (0 = most popular) with probability `p[k]`.
struct Sampler {
    cdf: Vec<f64>,
}

impl Sampler {
    fn new(p: &[f64]) -> Self {
        let mut acc = 0.0;
        let cdf = p
            .iter()
            .map(|&x| {
                acc += x;
                acc
            })
            .collect();
        Sampler { cdf }
    }
    fn sample(&self, rng: &mut SimRng) -> u64 {
        let u: f64 = rng.random();
        let k = self.cdf.partition_point(|&c| c <= u);
        k.min(self.cdf.len() - 1) as u64
    }
}

/// Hit ratio of `policy` with `capacity` entries under IRM: every request is a
/// `get`, a miss `put`s the item. Counts only the `MEASURED_REQUESTS` after
/// `WARMUP_REQUESTS`.
fn irm_hit_ratio(policy: EvictionPolicy, capacity: u64, p: &[f64], seed: u64) -> f64 {
    let sampler = Sampler::new(p);
    let mut workload = stream(seed, "irm-workload");
    let mut victims_rng = stream(seed, "irm-cache");
    let mut store = CacheStore::new(CacheConfig {
        policy,
        capacity_entries: Some(capacity),
        ..CacheConfig::default()
    });
    let mut evicted = Vec::new();
    let mut hits = 0u64;
    for r in 0..WARMUP_REQUESTS + MEASURED_REQUESTS {
        let key = sampler.sample(&mut workload);
        match store.get(key, r) {
            Lookup::Hit(_) => hits += u64::from(r >= WARMUP_REQUESTS),
            _ => {
                evicted.clear();
                store.put(key, 0, 1, false, r, &mut victims_rng, &mut evicted);
            }
        }
    }
    assert_eq!(store.len() as u64, capacity);
    hits as f64 / MEASURED_REQUESTS as f64
}

// Sample size and tolerance for the IRM tests: 1,000,000 measured requests after a
// 200,000-request warm-up (≥ 20 characteristic times for every size used, so the
// cache is in steady state). The binomial standard error is √(h(1−h)/n) ≤ 0.0005;
// correlation between successive hits through the cache state inflates it by a
// small factor, so the statistical error is ≲ 0.2 pp. The 2 pp tolerance is the
// brief's and is dominated by the approximations themselves (Che's is known to be
// within a fraction of a point for Zipf with N = 10⁴); the tests use 1 pp, tighter
// than the 2 pp the brief allows, since the measured errors are all ≤ 0.1 pp. Each
// test also checks that the theory of a *different* policy is not matched (the
// LRU–FIFO gap is 2.3 pp at C = 100, 4.2 pp at C = 1000), so a mix-up fails.

fn assert_close(what: &str, measured: f64, theory: f64, tol: f64) {
    println!("{what}: measured {measured:.4}, theory {theory:.4}");
    assert!(
        (measured - theory).abs() <= tol,
        "{what}: measured {measured:.4} vs theory {theory:.4} (tolerance {tol})"
    );
}

#[test]
fn lru_hit_ratio_matches_che_approximation() {
    let p = zipf_popularity(N_ITEMS, ALPHA);
    for (c, seed) in [(100u64, 11), (1000, 12)] {
        let m = irm_hit_ratio(EvictionPolicy::Lru, c, &p, seed);
        let che = che_hit_ratio(&p, c as f64);
        assert_close(&format!("LRU C={c}"), m, che, 0.01);
        assert!(m - fifo_random_hit_ratio(&p, c as f64) > 0.02);
    }
}

#[test]
fn fifo_hit_ratio_matches_dan_towsley_approximation() {
    let p = zipf_popularity(N_ITEMS, ALPHA);
    for (c, seed) in [(100u64, 21), (1000, 22)] {
        let m = irm_hit_ratio(EvictionPolicy::Fifo, c, &p, seed);
        let th = fifo_random_hit_ratio(&p, c as f64);
        assert_close(&format!("FIFO C={c}"), m, th, 0.01);
        assert!(che_hit_ratio(&p, c as f64) - m > 0.02);
    }
}

#[test]
fn random_replacement_hit_ratio_matches_the_fifo_random_approximation() {
    let p = zipf_popularity(N_ITEMS, ALPHA);
    for (c, seed) in [(100u64, 31), (1000, 32)] {
        let m = irm_hit_ratio(EvictionPolicy::Random, c, &p, seed);
        let th = fifo_random_hit_ratio(&p, c as f64);
        assert_close(&format!("Random C={c}"), m, th, 0.01);
        assert!(che_hit_ratio(&p, c as f64) - m > 0.02);
    }
}

#[test]
fn perfect_lfu_converges_to_caching_the_most_popular_items() {
    // Perfect LFU (counts survive eviction) under IRM caches the C items with the
    // highest counts, which converge to the C most popular: hit ratio → Σ top-C p_i.
    // After the 200,000-request warm-up the count of the C-th item (p ≈ 9·10⁻⁴ at
    // C = 100) is ≈ 185 ± 14, so only near-equal-popularity neighbours around rank C
    // can be swapped, costing ≪ 0.1 pp. Statistical error ≲ 0.2 pp (see above):
    // tolerance 1 pp.
    let p = zipf_popularity(N_ITEMS, ALPHA);
    for (c, seed) in [(100u64, 41), (1000, 42)] {
        let m = irm_hit_ratio(EvictionPolicy::PerfectLfu, c, &p, seed);
        let th = lfu_hit_ratio(&p, c as f64);
        assert_close(&format!("PerfectLfu C={c}"), m, th, 0.01);
    }
}

#[test]
fn in_cache_lfu_beats_lru_but_stays_below_the_perfect_lfu_bound() {
    // In-cache LFU (counts reset on eviction) does *not* converge to the top C under
    // IRM: the first items to collect a second hit become sticky and every later
    // newcomer, entering at count 1, is the next victim — the "cache pollution" that
    // motivates aging and TinyLFU (Breslau et al. 1999 compare in-cache and perfect
    // LFU). Measured (1,000,000 requests): 26.5 % vs the 30.0 % top-C sum at C = 100,
    // 52.2 % vs 57.1 % at C = 1000, and no better after 5,000,000 requests. What holds
    // is the ordering Che-LRU < in-cache LFU < Σ top-C p_i; margins of 3 pp below
    // (measured gaps ≥ 8.5 pp) and 1 pp above (measured ≥ 3.5 pp) are ≫ the
    // ≲ 0.2 pp statistical error, and an LRU- or MRU-like mistake fails them.
    let p = zipf_popularity(N_ITEMS, ALPHA);
    for (c, seed) in [(100u64, 41), (1000, 42)] {
        let m = irm_hit_ratio(EvictionPolicy::Lfu, c, &p, seed);
        let (lru, top) = (che_hit_ratio(&p, c as f64), lfu_hit_ratio(&p, c as f64));
        println!("in-cache LFU C={c}: measured {m:.4}, Che-LRU {lru:.4}, top-C {top:.4}");
        assert!(
            m > lru + 0.03 && m < top - 0.01,
            "C={c}: {m} not in ({lru}+3pp, {top}-1pp)"
        );
    }
}

/// Hit ratio of an unbounded TTL cache under merged Poisson request streams: `keys`
/// keys each requested at rate `lambda_t / ttl_ns` per ns. Measures `measured`
/// requests after a warm-up of 20·(T + 1/λ). Calls `expire_until` every 1,000
/// requests so both lazy and proactive expiry are exercised.
fn ttl_hit_ratio_measured(mode: TtlMode, lambda_t: f64, seed: u64) -> (f64, u64) {
    const KEYS: u64 = 1000;
    const TTL_NS: u64 = 1_000_000;
    const MEASURED: u64 = 200_000;
    let rate_per_ns = lambda_t / TTL_NS as f64;
    let warmup_ns = (20.0 * (TTL_NS as f64 + 1.0 / rate_per_ns)) as u64;
    let mut rng = stream(seed, "ttl-arrivals");
    let mut cache_rng = stream(seed, "ttl-cache");
    let next_gap = |rng: &mut SimRng| {
        let u = 1.0 - rng.random::<f64>(); // (0, 1]
        (-u.ln() / rate_per_ns).round() as u64
    };
    let mut arrivals: BinaryHeap<Reverse<(u64, u64)>> = (0..KEYS)
        .map(|k| Reverse((next_gap(&mut rng), k)))
        .collect();
    let mut store = CacheStore::new(CacheConfig {
        policy: EvictionPolicy::Lru,
        ttl_ns: Some(TTL_NS),
        ttl_mode: mode,
        ..CacheConfig::default()
    });
    let (mut evicted, mut expired) = (Vec::new(), Vec::new());
    let (mut hits, mut n, mut requests) = (0u64, 0u64, 0u64);
    while n < MEASURED {
        let Some(Reverse((t, key))) = arrivals.pop() else {
            break;
        };
        arrivals.push(Reverse((t + next_gap(&mut rng), key)));
        let measuring = t >= warmup_ns;
        match store.get(key, t) {
            Lookup::Hit(_) => hits += u64::from(measuring),
            _ => {
                store.put(key, 0, 1, false, t, &mut cache_rng, &mut evicted);
            }
        }
        n += u64::from(measuring);
        requests += 1;
        if requests % 1000 == 0 {
            expired.clear();
            store.expire_until(t, &mut expired);
        }
    }
    assert!(evicted.is_empty(), "infinite capacity never evicts");
    (hits as f64 / n as f64, n)
}

#[test]
fn ttl_hit_ratios_match_poisson_renewal_formulas() {
    // n = 200,000 measured requests per case. Binomial σ = √(h(1−h)/n) ≤ 0.00112
    // (h = ½), so 4σ ≤ 0.45 pp and the 1 pp floor applies. For SlidingOnHit each
    // request is a hit iff its key's previous inter-arrival < T: independent draws,
    // exactly binomial. For FromInsert, the renewal-reward (delta-method) variance
    // (1−h)²λT/(n(1+λT)) is below the binomial one, so the bound is conservative.
    // The two modes' predictions differ by 9–13 pp at these λT, so swapping them
    // fails.
    for (i, &x) in [0.5, 1.0, 4.0].iter().enumerate() {
        for mode in [TtlMode::FromInsert, TtlMode::SlidingOnHit] {
            let (m, n) = ttl_hit_ratio_measured(mode, x, 50 + i as u64);
            let th = ttl_hit_ratio(x / 1e6, 1_000_000, mode);
            let sigma = (th * (1.0 - th) / n as f64).sqrt();
            let tol = (4.0 * sigma).max(0.01);
            assert_close(
                &format!("TTL {mode:?} λT={x} (n={n}, σ={sigma:.5})"),
                m,
                th,
                tol,
            );
        }
    }
}
