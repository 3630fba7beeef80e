//! Probability distributions for service times, latencies and think times, as
//! written in scenario files (milliseconds), and their validated, sampling form
//! (nanoseconds). Sampling draws only from the caller's stream.

use crate::detrand::SimRng;
use crate::engine::SimTime;
use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal, Pareto};
use serde::{Deserialize, Serialize};

/// A duration distribution as written in a scenario file. All times in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum DistSpec {
    /// Always `ms`.
    Constant { ms: f64 },
    /// Exponential with mean `mean_ms` (memoryless: the M in M/M/c).
    Exponential { mean_ms: f64 },
    /// Uniform on [min_ms, max_ms].
    Uniform { min_ms: f64, max_ms: f64 },
    /// Normal, truncated at 0 (redrawn until non-negative, at most 64 times, then 0).
    Normal { mean_ms: f64, std_ms: f64 },
    /// Log-normal with the given median and shape σ (of the underlying normal).
    LogNormal { median_ms: f64, sigma: f64 },
    /// Pareto (type I) with scale `min_ms` and shape `alpha` (mean = α·min/(α−1) for α>1).
    Pareto { min_ms: f64, alpha: f64 },
    /// Empirical distribution from a percentile table: `[(0.5, 10.0), (0.99, 80.0), (1.0, 200.0)]`
    /// = (quantile in (0,1], value in ms), quantiles increasing; linear interpolation
    /// between points, from (0, `min_ms`) (default 0).
    Empirical {
        percentiles: Vec<(f64, f64)>,
        #[serde(default)]
        min_ms: f64,
    },
}

/// A validated distribution over nanoseconds.
#[derive(Clone, Debug)]
pub enum Dist {
    Constant(f64),
    Exponential(Exp<f64>, f64),
    Uniform(f64, f64),
    Normal(Normal<f64>, f64),
    LogNormal(LogNormal<f64>, f64),
    Pareto(Pareto<f64>, f64),
    Empirical(Vec<(f64, f64)>),
}

impl DistSpec {
    /// Check parameters; on error returns (field, message, hint).
    pub fn validate(&self) -> Result<(), (String, String, String)> {
        fn fin(
            name: &str,
            v: f64,
            min_ok: f64,
            strict: bool,
        ) -> Result<(), (String, String, String)> {
            if !v.is_finite() || v < min_ok || (strict && v == min_ok) {
                let rel = if strict { ">" } else { "≥" };
                return Err((
                    name.to_string(),
                    format!("`{name}` must be a finite number {rel} {min_ok} (got {v})"),
                    format!("durations are in milliseconds, e.g. `{name}: 5.0`"),
                ));
            }
            Ok(())
        }
        match self {
            DistSpec::Constant { ms } => fin("ms", *ms, 0.0, false),
            DistSpec::Exponential { mean_ms } => fin("mean_ms", *mean_ms, 0.0, true),
            DistSpec::Uniform { min_ms, max_ms } => {
                fin("min_ms", *min_ms, 0.0, false)?;
                fin("max_ms", *max_ms, 0.0, false)?;
                if max_ms < min_ms {
                    return Err((
                        "max_ms".into(),
                        format!("`max_ms` ({max_ms}) is below `min_ms` ({min_ms})"),
                        "swap the two bounds".into(),
                    ));
                }
                Ok(())
            }
            DistSpec::Normal { mean_ms, std_ms } => {
                fin("mean_ms", *mean_ms, 0.0, false)?;
                fin("std_ms", *std_ms, 0.0, false)
            }
            DistSpec::LogNormal { median_ms, sigma } => {
                fin("median_ms", *median_ms, 0.0, true)?;
                fin("sigma", *sigma, 0.0, false)
            }
            DistSpec::Pareto { min_ms, alpha } => {
                fin("min_ms", *min_ms, 0.0, true)?;
                fin("alpha", *alpha, 0.0, true)
            }
            DistSpec::Empirical {
                percentiles,
                min_ms,
            } => {
                fin("min_ms", *min_ms, 0.0, false)?;
                if percentiles.is_empty() {
                    return Err((
                        "percentiles".into(),
                        "an empirical distribution needs at least one (quantile, ms) point".into(),
                        "e.g. `percentiles: [(0.5, 10.0), (0.99, 80.0), (1.0, 200.0)]`".into(),
                    ));
                }
                let mut last_q = 0.0;
                let mut last_v = *min_ms;
                for &(q, v) in percentiles {
                    if !(q > last_q && q <= 1.0) || !q.is_finite() {
                        return Err((
                            "percentiles".into(),
                            format!("quantile {q} must be in (0, 1] and strictly increasing"),
                            "list points in increasing quantile order, ending at 1.0".into(),
                        ));
                    }
                    if !v.is_finite() || v < last_v {
                        return Err((
                            "percentiles".into(),
                            format!(
                                "value {v} ms at quantile {q} is smaller than the previous value {last_v} ms"
                            ),
                            "values must not decrease with the quantile (and not be below min_ms)"
                                .into(),
                        ));
                    }
                    last_q = q;
                    last_v = v;
                }
                if (last_q - 1.0).abs() > 1e-12 {
                    return Err((
                        "percentiles".into(),
                        format!("the last quantile is {last_q}, it must be 1.0"),
                        "end the table with the maximum, e.g. `(1.0, 500.0)`".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Build the sampling form. Call [`DistSpec::validate`] first; invalid
    /// parameters fall back to a constant zero rather than panicking.
    pub fn build(&self) -> Dist {
        if self.validate().is_err() {
            return Dist::Constant(0.0);
        }
        const M: f64 = 1e6;
        match self {
            DistSpec::Constant { ms } => Dist::Constant(ms * M),
            DistSpec::Exponential { mean_ms } => Dist::Exponential(
                Exp::new(1.0 / (mean_ms * M)).expect("validated"),
                mean_ms * M,
            ),
            DistSpec::Uniform { min_ms, max_ms } => Dist::Uniform(min_ms * M, max_ms * M),
            DistSpec::Normal { mean_ms, std_ms } => Dist::Normal(
                Normal::new(mean_ms * M, std_ms * M).expect("validated"),
                mean_ms * M,
            ),
            DistSpec::LogNormal { median_ms, sigma } => {
                let mu = (median_ms * M).ln();
                Dist::LogNormal(
                    LogNormal::new(mu, *sigma).expect("validated"),
                    (mu + sigma * sigma / 2.0).exp(),
                )
            }
            DistSpec::Pareto { min_ms, alpha } => {
                let mean = if *alpha > 1.0 {
                    alpha * min_ms * M / (alpha - 1.0)
                } else {
                    f64::INFINITY
                };
                Dist::Pareto(Pareto::new(min_ms * M, *alpha).expect("validated"), mean)
            }
            DistSpec::Empirical {
                percentiles,
                min_ms,
            } => {
                let mut pts = vec![(0.0, min_ms * M)];
                pts.extend(percentiles.iter().map(|&(q, v)| (q, v * M)));
                Dist::Empirical(pts)
            }
        }
    }
}

impl Dist {
    /// Draw a value in nanoseconds (≥ 0).
    #[inline]
    pub fn sample_ns(&self, rng: &mut SimRng) -> f64 {
        match self {
            Dist::Constant(v) => *v,
            Dist::Exponential(d, _) => d.sample(rng),
            Dist::Uniform(a, b) => {
                if a == b {
                    *a
                } else {
                    rng.random_range(*a..=*b)
                }
            }
            Dist::Normal(d, _) => {
                for _ in 0..64 {
                    let v = d.sample(rng);
                    if v >= 0.0 {
                        return v;
                    }
                }
                0.0
            }
            Dist::LogNormal(d, _) => d.sample(rng),
            Dist::Pareto(d, _) => d.sample(rng),
            Dist::Empirical(pts) => {
                let u: f64 = rng.random();
                // First point whose quantile ≥ u; interpolate from the previous one.
                let i = pts.partition_point(|&(q, _)| q < u).clamp(1, pts.len() - 1);
                let (q0, v0) = pts[i - 1];
                let (q1, v1) = pts[i];
                if q1 <= q0 {
                    v1
                } else {
                    v0 + (v1 - v0) * (u - q0) / (q1 - q0)
                }
            }
        }
    }

    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> SimTime {
        SimTime::from_ns_f64(self.sample_ns(rng))
    }

    /// Mean in nanoseconds (the truncated normal's mean is approximated by the
    /// untruncated one when truncation is negligible).
    pub fn mean_ns(&self) -> f64 {
        match self {
            Dist::Constant(v) => *v,
            Dist::Exponential(_, m) => *m,
            Dist::Uniform(a, b) => (a + b) / 2.0,
            Dist::Normal(_, m) => *m,
            Dist::LogNormal(_, m) => *m,
            Dist::Pareto(_, m) => *m,
            Dist::Empirical(pts) => pts
                .windows(2)
                .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
                .sum(),
        }
    }

    /// Squared coefficient of variation (Var/mean²) where known, for the
    /// Pollaczek–Khinchine and Allen–Cunneen estimates.
    pub fn scv(&self) -> Option<f64> {
        match self {
            Dist::Constant(_) => Some(0.0),
            Dist::Exponential(..) => Some(1.0),
            Dist::Uniform(a, b) => {
                let m = (a + b) / 2.0;
                (m > 0.0).then(|| (b - a).powi(2) / 12.0 / (m * m))
            }
            _ => None,
        }
    }

    /// Is this the exponential distribution (for M/M/c predictions)?
    pub fn is_exponential(&self) -> bool {
        matches!(self, Dist::Exponential(..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detrand::stream;

    fn mean_of(spec: DistSpec, n: usize) -> f64 {
        let d = spec.build();
        let mut rng = stream(1, "dist");
        (0..n).map(|_| d.sample_ns(&mut rng)).sum::<f64>() / n as f64
    }

    #[test]
    fn sample_means_match_analytic_means() {
        // n = 200k; the sample mean's relative standard error is CV/sqrt(n) ≤ 1/447 for
        // these distributions (CV ≤ 1), so 1% is > 4σ.
        let n = 200_000;
        for spec in [
            DistSpec::Exponential { mean_ms: 5.0 },
            DistSpec::Uniform {
                min_ms: 1.0,
                max_ms: 3.0,
            },
            DistSpec::LogNormal {
                median_ms: 2.0,
                sigma: 0.5,
            },
            DistSpec::Empirical {
                percentiles: vec![(0.5, 10.0), (0.9, 20.0), (1.0, 40.0)],
                min_ms: 0.0,
            },
        ] {
            let analytic = spec.build().mean_ns();
            let got = mean_of(spec.clone(), n);
            assert!(
                (got / analytic - 1.0).abs() < 0.01,
                "{spec:?}: {got} vs {analytic}"
            );
        }
    }

    #[test]
    fn empirical_hits_its_percentiles() {
        let d = DistSpec::Empirical {
            percentiles: vec![(0.5, 10.0), (0.99, 100.0), (1.0, 200.0)],
            min_ms: 1.0,
        }
        .build();
        let mut rng = stream(2, "emp");
        let mut v: Vec<f64> = (0..100_000).map(|_| d.sample_ns(&mut rng) / 1e6).collect();
        v.sort_by(f64::total_cmp);
        // The sample median of 100k draws lies within ±0.5% in quantile of the true one;
        // the density near the median is 0.5/9 per ms, so ±0.1 ms is > 4σ.
        assert!((v[50_000] - 10.0).abs() < 0.2, "median {}", v[50_000]);
        assert!(v[0] >= 1.0 && v[99_999] <= 200.0);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(DistSpec::Exponential { mean_ms: 0.0 }.validate().is_err());
        assert!(DistSpec::Constant { ms: -1.0 }.validate().is_err());
        assert!(
            DistSpec::Uniform {
                min_ms: 3.0,
                max_ms: 1.0
            }
            .validate()
            .is_err()
        );
        assert!(
            DistSpec::Empirical {
                percentiles: vec![(0.5, 1.0)],
                min_ms: 0.0
            }
            .validate()
            .is_err()
        );
        assert!(
            DistSpec::Empirical {
                percentiles: vec![(0.5, 2.0), (1.0, 1.0)],
                min_ms: 0.0
            }
            .validate()
            .is_err()
        );
        assert!(
            DistSpec::Pareto {
                min_ms: 1.0,
                alpha: f64::NAN
            }
            .validate()
            .is_err()
        );
    }
}
