//! Summary statistics over seeds: mean, standard deviation, Student-t 95%
//! confidence interval. Folded sequentially in input order, so the result never
//! depends on thread scheduling.

use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Agg {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
    /// Half-width of the 95% confidence interval of the mean (0 for n < 2).
    pub ci95: f64,
    pub min: f64,
    pub max: f64,
}

/// Two-sided 97.5% quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        31..=40 => 2.042 - (df - 30) as f64 * (2.042 - 2.021) / 10.0,
        41..=60 => 2.021 - (df - 40) as f64 * (2.021 - 2.000) / 20.0,
        61..=120 => 2.000 - (df - 60) as f64 * (2.000 - 1.980) / 60.0,
        _ => 1.960,
    }
}

/// Aggregate values (NaN values are skipped).
pub fn aggregate(values: &[f64]) -> Agg {
    let v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    let n = v.len();
    if n == 0 {
        return Agg {
            n: 0,
            mean: f64::NAN,
            std: f64::NAN,
            ci95: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let std = var.sqrt();
    let ci95 = if n > 1 {
        t975(n - 1) * std / (n as f64).sqrt()
    } else {
        0.0
    };
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Agg {
        n,
        mean,
        std,
        ci95,
        min,
        max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_matches_a_hand_computed_case() {
        // Values 1..=5: mean 3, sample variance 2.5, std 1.5811, t(4) = 2.776,
        // CI half-width = 2.776 * 1.5811 / sqrt(5) = 1.9630.
        let a = aggregate(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(a.n, 5);
        assert!((a.mean - 3.0).abs() < 1e-12);
        assert!((a.std - 1.581_138_8).abs() < 1e-6);
        assert!((a.ci95 - 1.962_9).abs() < 1e-3, "{}", a.ci95);
        assert_eq!((a.min, a.max), (1.0, 5.0));
    }

    #[test]
    fn single_value_and_nan_are_handled() {
        let a = aggregate(&[7.0, f64::NAN]);
        assert_eq!((a.n, a.mean, a.ci95), (1, 7.0, 0.0));
        assert!(aggregate(&[]).mean.is_nan());
    }
}
