//! Closed-form queueing results used for back-of-the-envelope predictions
//! (`capsim check`, and beside simulated figures in `capsim run`) and by the
//! theory tests: Erlang B and C, M/M/c, M/M/c/K, M/G/1 (Pollaczek–Khinchine).

/// Erlang B: probability that an arrival finds all `c` servers busy in M/M/c/c
/// with offered load `a` = λ/μ erlangs.
pub fn erlang_b(c: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    b
}

/// Erlang C: probability of waiting in M/M/c with offered load `a` < c.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let c_f = f64::from(c);
    if a >= c_f {
        return 1.0;
    }
    let b = erlang_b(c, a);
    c_f * b / (c_f - a * (1.0 - b))
}

/// Predictions for one station.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prediction {
    /// Which model the numbers come from.
    pub model: String,
    /// Offered load per worker, λ·E[S]/c.
    pub rho: f64,
    /// Probability an arrival has to wait (or, with no queue, is blocked).
    pub p_wait: f64,
    /// Mean time in queue, seconds.
    pub wait_s: f64,
    /// Mean time in the station (queue + service), seconds.
    pub sojourn_s: f64,
    /// Probability an arrival is rejected (finite queue).
    pub p_reject: f64,
    /// True when the formula is exact for this station, false for an approximation.
    pub exact: bool,
}

/// M/M/c with an unbounded queue. `lambda`, `mu` per second.
pub fn mmc(c: u32, lambda: f64, mu: f64) -> Option<Prediction> {
    let a = lambda / mu;
    let rho = a / f64::from(c);
    if rho >= 1.0 || lambda <= 0.0 {
        return None;
    }
    let pw = erlang_c(c, a);
    let wq = pw / (f64::from(c) * mu - lambda);
    Some(Prediction {
        model: "M/M/c".to_string(),
        rho,
        p_wait: pw,
        wait_s: wq,
        sojourn_s: wq + 1.0 / mu,
        p_reject: 0.0,
        exact: true,
    })
}

/// M/M/c/K: c servers, room for K in total (K ≥ c). Works for any ρ.
pub fn mmck(c: u32, k: u32, lambda: f64, mu: f64) -> Option<Prediction> {
    if k < c || lambda <= 0.0 || mu <= 0.0 || k > 1_000_000 {
        return None;
    }
    let a = lambda / mu;
    // Unnormalised p_n in log space for stability.
    let mut logp = Vec::with_capacity(k as usize + 1);
    let mut lp = 0.0f64;
    logp.push(0.0);
    for n in 1..=k {
        let servers = f64::from(n.min(c));
        lp += (lambda / (servers * mu)).ln();
        logp.push(lp);
    }
    let m = logp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logp.iter().map(|l| (l - m).exp()).collect();
    let z: f64 = w.iter().sum();
    let p: Vec<f64> = w.iter().map(|x| x / z).collect();
    let p_reject = p[k as usize];
    let lq: f64 = p
        .iter()
        .enumerate()
        .skip(c as usize)
        .map(|(n, pn)| (n as f64 - f64::from(c)) * pn)
        .sum();
    let lambda_eff = lambda * (1.0 - p_reject);
    let wq = if lambda_eff > 0.0 {
        lq / lambda_eff
    } else {
        0.0
    };
    // P(an admitted arrival waits) = P(n ≥ c | n < K).
    let p_wait = if p_reject < 1.0 {
        p[c as usize..k as usize].iter().sum::<f64>() / (1.0 - p_reject)
    } else {
        1.0
    };
    Some(Prediction {
        model: (if k == c {
            "M/M/c/c (Erlang B)"
        } else {
            "M/M/c/K"
        })
        .to_string(),
        rho: a / f64::from(c),
        p_wait,
        wait_s: wq,
        sojourn_s: wq + 1.0 / mu,
        p_reject,
        exact: true,
    })
}

/// M/G/1 (Pollaczek–Khinchine): mean wait from the mean service time and its
/// squared coefficient of variation. Exact for c = 1.
pub fn mg1(lambda: f64, mean_s: f64, scv: f64) -> Option<Prediction> {
    let rho = lambda * mean_s;
    if rho >= 1.0 || lambda <= 0.0 {
        return None;
    }
    let wq = rho / (1.0 - rho) * mean_s * (1.0 + scv) / 2.0;
    Some(Prediction {
        model: (if scv == 0.0 {
            "M/D/1 (P-K)"
        } else {
            "M/G/1 (P-K)"
        })
        .to_string(),
        rho,
        p_wait: rho,
        wait_s: wq,
        sojourn_s: wq + mean_s,
        p_reject: 0.0,
        exact: true,
    })
}

/// Best available prediction for a station with Poisson arrivals at `lambda`/s,
/// `c` workers, room for `queue` waiting, service mean `mean_s` and squared CV
/// `scv` (None if unknown), `exponential` when service is exponential.
pub fn predict(
    lambda: f64,
    c: u32,
    queue: u32,
    mean_s: f64,
    scv: Option<f64>,
    exponential: bool,
) -> Option<Prediction> {
    if lambda <= 0.0 || mean_s <= 0.0 || c == 0 {
        return None;
    }
    let mu = 1.0 / mean_s;
    let rho = lambda * mean_s / f64::from(c);
    if exponential {
        // Exact for the finite waiting room; tends to M/M/c as the room grows.
        if let Some(p) = mmck(c, c.saturating_add(queue), lambda, mu) {
            return Some(p);
        }
        return mmc(c, lambda, mu);
    }
    match scv {
        Some(scv) if c == 1 && queue >= 10_000 => mg1(lambda, mean_s, scv),
        Some(scv) if queue >= 10_000 => mmc(c, lambda, mu).map(|p| Prediction {
            model: "M/G/c (Allen–Cunneen approx.)".to_string(),
            wait_s: p.wait_s * (1.0 + scv) / 2.0,
            sojourn_s: p.wait_s * (1.0 + scv) / 2.0 + mean_s,
            exact: false,
            ..p
        }),
        _ => None,
    }
    .or(Some(Prediction {
        model: "utilization only".to_string(),
        rho,
        p_wait: f64::NAN,
        wait_s: f64::NAN,
        sojourn_s: f64::NAN,
        p_reject: f64::NAN,
        exact: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_values_match_tables() {
        // Erlang B table: c = 10, A = 5 erlangs → 0.018385.
        assert!((erlang_b(10, 5.0) - 0.018_385).abs() < 1e-5);
        // Erlang C: c = 2, A = 1 → 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // M/M/1: P(wait) = ρ.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
    }

    #[test]
    fn mmck_tends_to_mmc_for_long_queues() {
        let a = mmc(4, 3.2, 1.0).unwrap();
        let b = mmck(4, 4 + 2000, 3.2, 1.0).unwrap();
        assert!((a.wait_s - b.wait_s).abs() / a.wait_s < 1e-6);
        assert!(b.p_reject < 1e-12);
    }

    #[test]
    fn pk_for_exponential_service_equals_mm1() {
        let a = mg1(0.8, 1.0, 1.0).unwrap();
        let b = mmc(1, 0.8, 1.0).unwrap();
        assert!((a.wait_s - b.wait_s).abs() < 1e-12);
    }
}
