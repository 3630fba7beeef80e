//! Analytical hit-ratio predictions for caches under the independent reference
//! model (IRM) and for TTL caches under Poisson requests.
//!
//! These are back-of-the-envelope checks printed next to simulated results and the
//! yardsticks the store's validation tests measure against. This module only
//! computes numbers: it holds no state and never touches the simulator.
//!
//! * LRU — Che's approximation (Che, Tung, Wang 2002): the characteristic time
//!   `T` solves `Σ_i (1 − e^{−p_i T}) = C`; hit ratio `Σ_i p_i (1 − e^{−p_i T})`.
//! * FIFO and Random — the Dan & Towsley / Gelenbe approximation as unified by
//!   Martina, Garetto, Leonardi (2014): `T` solves `Σ_i p_i T / (1 + p_i T) = C`;
//!   hit ratio `Σ_i p_i · p_i T / (1 + p_i T)`.
//! * LFU (perfect frequency knowledge, IRM) — the `C` most popular items are cached.
//! * TTL with Poisson(λ) requests per key and infinite capacity — TTL set on insert:
//!   `λT / (1 + λT)`; TTL reset on every hit: `1 − e^{−λT}`.
//!
//! Popularity vectors need not be normalised; non-finite or negative weights count as
//! zero. Characteristic times are found by bisection (robust: the left-hand sides
//! are monotone in `T`).

use super::eviction::TtlMode;

/// Zipf(α) popularity over `n` items: `p_k ∝ 1 / k^α`, `k = 1..=n`, normalised,
/// most popular first.
pub fn zipf_popularity(n: usize, alpha: f64) -> Vec<f64> {
    let mut p: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-alpha)).collect();
    let total: f64 = p.iter().sum();
    if total > 0.0 && total.is_finite() {
        p.iter_mut().for_each(|x| *x /= total);
    }
    p
}

/// `x > 0` (false for NaN).
fn is_positive(x: f64) -> bool {
    x > 0.0
}

/// Normalised positive probabilities (zero/negative/non-finite weights dropped).
fn normalised(popularity: &[f64]) -> Vec<f64> {
    let mut p: Vec<f64> = popularity
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    let total: f64 = p.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return Vec::new();
    }
    p.iter_mut().for_each(|x| *x /= total);
    p
}

/// Solves `occupancy(T) = capacity` for `T > 0` by bisection, where `occupancy` is
/// increasing from 0 towards the number of items. `None` when the capacity is not
/// strictly between 0 and the number of items (no finite root).
fn characteristic_time(p: &[f64], capacity: f64, occupancy: impl Fn(f64) -> f64) -> Option<f64> {
    if !is_positive(capacity) || capacity >= p.len() as f64 {
        return None;
    }
    let mut lo = 0.0_f64;
    let mut hi = 1.0_f64;
    let mut doublings = 0;
    while occupancy(hi) < capacity {
        lo = hi;
        hi *= 2.0;
        doublings += 1;
        if doublings > 2000 || !hi.is_finite() {
            return Some(lo);
        }
    }
    for _ in 0..200 {
        let mid = lo + 0.5 * (hi - lo);
        if mid <= lo || mid >= hi {
            break;
        }
        if occupancy(mid) < capacity {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi))
}

/// Che's characteristic time of an LRU cache of `capacity` entries, in units of
/// requests (the popularities are per-request probabilities). `None` when the
/// capacity is ≤ 0 or holds every item.
pub fn che_characteristic_time(popularity: &[f64], capacity: f64) -> Option<f64> {
    let p = normalised(popularity);
    characteristic_time(&p, capacity, |t| {
        p.iter().map(|&pi| -(-pi * t).exp_m1()).sum()
    })
}

/// LRU hit ratio by Che's approximation (IRM, `capacity` entries).
pub fn che_hit_ratio(popularity: &[f64], capacity: f64) -> f64 {
    let p = normalised(popularity);
    if p.is_empty() || !is_positive(capacity) {
        return 0.0;
    }
    match che_characteristic_time(&p, capacity) {
        Some(t) => p.iter().map(|&pi| pi * -(-pi * t).exp_m1()).sum(),
        None => 1.0,
    }
}

/// Characteristic time of a FIFO or Random cache (Martina–Garetto–Leonardi), in
/// requests. `None` when the capacity is ≤ 0 or holds every item.
pub fn fifo_random_characteristic_time(popularity: &[f64], capacity: f64) -> Option<f64> {
    let p = normalised(popularity);
    characteristic_time(&p, capacity, |t| {
        p.iter().map(|&pi| pi * t / (1.0 + pi * t)).sum()
    })
}

/// FIFO / Random-replacement hit ratio under IRM (`capacity` entries).
pub fn fifo_random_hit_ratio(popularity: &[f64], capacity: f64) -> f64 {
    let p = normalised(popularity);
    if p.is_empty() || !is_positive(capacity) {
        return 0.0;
    }
    match fifo_random_characteristic_time(&p, capacity) {
        Some(t) => p.iter().map(|&pi| pi * pi * t / (1.0 + pi * t)).sum(),
        None => 1.0,
    }
}

/// Perfect-LFU hit ratio under IRM: total probability of the `floor(capacity)` most
/// popular items.
pub fn lfu_hit_ratio(popularity: &[f64], capacity: f64) -> f64 {
    let mut p = normalised(popularity);
    if !is_positive(capacity) {
        return 0.0;
    }
    p.sort_by(|a, b| b.total_cmp(a));
    let c = capacity.floor().min(p.len() as f64) as usize;
    p[..c].iter().sum()
}

/// Hit ratio of a TTL cache with infinite capacity when one key is requested as a
/// Poisson process of `rate_per_ns`: `λT/(1+λT)` for [`TtlMode::FromInsert`],
/// `1 − e^{−λT}` for [`TtlMode::SlidingOnHit`]. 0 for non-positive or NaN inputs.
pub fn ttl_hit_ratio(rate_per_ns: f64, ttl_ns: u64, mode: TtlMode) -> f64 {
    let x = rate_per_ns * ttl_ns as f64;
    if !is_positive(x) {
        return 0.0;
    }
    if x.is_infinite() {
        return 1.0;
    }
    match mode {
        TtlMode::FromInsert => x / (1.0 + x),
        TtlMode::SlidingOnHit => -(-x).exp_m1(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn che_root_satisfies_its_equation() {
        let p = zipf_popularity(10_000, 0.8);
        for c in [1.0, 100.0, 1000.0, 9_999.0] {
            let t = che_characteristic_time(&p, c).unwrap();
            let occ: f64 = p.iter().map(|&pi| 1.0 - (-pi * t).exp()).sum();
            assert!((occ - c).abs() < 1e-6 * c, "c={c} occ={occ}");
            let t2 = fifo_random_characteristic_time(&p, c).unwrap();
            let occ2: f64 = p.iter().map(|&pi| pi * t2 / (1.0 + pi * t2)).sum();
            assert!((occ2 - c).abs() < 1e-6 * c, "c={c} occ2={occ2}");
        }
    }

    #[test]
    fn uniform_popularity_gives_capacity_fraction_for_lfu_and_orders_policies() {
        // Uniform popularity: every policy caches C/N of the mass (Che exactly via
        // symmetry: Σ(1−e^{−T/N}) = C ⇒ h = C/N).
        let p = vec![1.0; 1000];
        assert!((che_hit_ratio(&p, 250.0) - 0.25).abs() < 1e-9);
        assert!((fifo_random_hit_ratio(&p, 250.0) - 0.25).abs() < 1e-9);
        assert!((lfu_hit_ratio(&p, 250.0) - 0.25).abs() < 1e-9);
        // Skewed popularity: LFU ≥ LRU ≥ FIFO/Random, all in (0, 1).
        let z = zipf_popularity(10_000, 0.8);
        let (lfu, lru, fifo) = (
            lfu_hit_ratio(&z, 100.0),
            che_hit_ratio(&z, 100.0),
            fifo_random_hit_ratio(&z, 100.0),
        );
        assert!(
            lfu > lru && lru > fifo && fifo > 0.0 && lfu < 1.0,
            "{lfu} {lru} {fifo}"
        );
    }

    #[test]
    fn degenerate_inputs_give_bounded_answers() {
        assert_eq!(che_hit_ratio(&[], 10.0), 0.0);
        assert_eq!(che_hit_ratio(&[1.0, 2.0], 0.0), 0.0);
        assert_eq!(che_hit_ratio(&[1.0, 2.0], 5.0), 1.0);
        assert_eq!(fifo_random_hit_ratio(&[f64::NAN, -1.0], 1.0), 0.0);
        assert_eq!(fifo_random_hit_ratio(&[1.0, f64::NAN], 1.0), 1.0);
        assert_eq!(lfu_hit_ratio(&[1.0, 3.0], 1.0), 0.75);
        assert_eq!(ttl_hit_ratio(f64::NAN, 5, TtlMode::FromInsert), 0.0);
        assert_eq!(ttl_hit_ratio(1.0, 0, TtlMode::SlidingOnHit), 0.0);
        assert_eq!(ttl_hit_ratio(f64::INFINITY, 1, TtlMode::SlidingOnHit), 1.0);
        assert!((ttl_hit_ratio(1e-6, 1_000_000, TtlMode::FromInsert) - 0.5).abs() < 1e-12);
        let s = ttl_hit_ratio(1e-6, 1_000_000, TtlMode::SlidingOnHit);
        assert!((s - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
    }
}
