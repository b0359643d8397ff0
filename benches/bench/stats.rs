//! Order statistics over repeated measurements.

/// The `q` quantile (0..=1) of `values`, linearly interpolated; NaN if empty.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

pub fn median(values: &[f64]) -> f64 {
    quantile(values, 0.5)
}

/// (25th, 75th) percentiles.
pub fn iqr(values: &[f64]) -> (f64, f64) {
    (quantile(values, 0.25), quantile(values, 0.75))
}

/// A distribution-free 95 % confidence interval for the median: the order
/// statistics whose ranks bound it with probability >= 0.95 (normal
/// approximation of the binomial; (NaN, NaN) below 6 values).
pub fn median_ci95(values: &[f64]) -> (f64, f64) {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 6 {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let half = 0.98 * n.sqrt();
    let lo = ((n / 2.0 - half).floor().max(1.0) as usize) - 1;
    let hi = ((n / 2.0 + 1.0 + half).ceil() as usize).min(v.len()) - 1;
    (v[lo], v[hi])
}
