//! TREC spam-track figures from scores, as `../shared/peers/metrics.py` computes them:
//! (1-ROCA)%, lam%, ham and spam misclassification at a threshold, and spam misclassification at
//! the strictest threshold that keeps ham misclassification at or below 0.1 %; and the ROC
//! curve itself ([`roc_curve`]) for plots.

/// Evaluation figures for one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// Ham messages.
    pub n_ham: usize,
    /// Spam messages.
    pub n_spam: usize,
    /// Ham misclassification % at the threshold.
    pub hm: f64,
    /// Spam misclassification % at the threshold.
    pub sm: f64,
    /// Logistic average misclassification %.
    pub lam: f64,
    /// Spam misclassification % at ham misclassification <= 0.1 %.
    pub sm_at_hm01: f64,
    /// 100 · (1 − AUC).
    pub one_minus_roca: f64,
    /// Area under the ROC curve (ties count ½).
    pub auc: f64,
}

/// Computes the figures for `(is_spam, score)` pairs; a message is spam iff `score >= threshold`.
pub fn figures(scored: &[(bool, f64)], threshold: f64) -> Figures {
    let ham: Vec<f64> = scored.iter().filter(|s| !s.0).map(|s| s.1).collect();
    let spam: Vec<f64> = scored.iter().filter(|s| s.0).map(|s| s.1).collect();
    let fp = ham.iter().filter(|&&s| s >= threshold).count();
    let fn_ = spam.iter().filter(|&&s| s < threshold).count();
    let auc = auc(&ham, &spam);
    Figures {
        n_ham: ham.len(),
        n_spam: spam.len(),
        hm: pct(fp, ham.len()),
        sm: pct(fn_, spam.len()),
        lam: 100.0 * lam(fp, ham.len(), fn_, spam.len()),
        sm_at_hm01: sm_at_hm(&ham, &spam, 0.001),
        one_minus_roca: 100.0 * (1.0 - auc),
        auc,
    }
}

fn pct(k: usize, n: usize) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        100.0 * k as f64 / n as f64
    }
}

/// Mann-Whitney AUC with mid-ranks for ties.
pub fn auc(ham: &[f64], spam: &[f64]) -> f64 {
    if ham.is_empty() || spam.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = ham
        .iter()
        .map(|&s| (s, false))
        .chain(spam.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let (ns, nh) = (spam.len() as f64, ham.len() as f64);
    (rank_sum - ns * (ns + 1.0) / 2.0) / (ns * nh)
}

fn smooth(k: usize, n: usize) -> f64 {
    if k == 0 || k == n {
        (k as f64 + 0.5) / (n as f64 + 1.0)
    } else {
        k as f64 / n as f64
    }
}

fn lam(fp: usize, nh: usize, fn_: usize, ns: usize) -> f64 {
    if nh == 0 || ns == 0 {
        return f64::NAN;
    }
    let logit = |p: f64| (p / (1.0 - p)).ln();
    let x = (logit(smooth(fp, nh)) + logit(smooth(fn_, ns))) / 2.0;
    1.0 / (1.0 + (-x).exp())
}

/// Spam misclassification % at the strictest threshold whose ham misclassification is at most
/// `max_hm` (a fraction): the threshold sits at the (⌊max_hm·n_ham⌋+1)-th highest ham score and
/// a message is spam iff its score is above it.
pub fn sm_at_hm(ham: &[f64], spam: &[f64], max_hm: f64) -> f64 {
    if ham.is_empty() || spam.is_empty() {
        return f64::NAN;
    }
    let mut h = ham.to_vec();
    h.sort_by(|a, b| b.total_cmp(a));
    let k = ((max_hm * ham.len() as f64).floor() as usize).min(h.len() - 1);
    let t = h[k];
    pct(spam.iter().filter(|&&s| s <= t).count(), spam.len())
}

/// The ROC curve of `(is_spam, score)` pairs: `(ham misclassification, spam detection)`
/// fractions, one point per distinct score taken as threshold (spam iff `score >= t`), from the
/// strictest (`(0, 0)`) to `(1, 1)`. Tied scores make one diagonal step, which is what the
/// Mann-Whitney [`auc`] counts as ½.
pub fn roc_curve(scored: &[(bool, f64)]) -> Vec<(f64, f64)> {
    let nh = scored.iter().filter(|s| !s.0).count();
    let ns = scored.len() - nh;
    let mut sorted: Vec<(bool, f64)> = scored.to_vec();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut points = vec![(0.0, 0.0)];
    let (mut fp, mut tp) = (0usize, 0usize);
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].1 == sorted[i].1 {
            if sorted[j].0 {
                tp += 1;
            } else {
                fp += 1;
            }
            j += 1;
        }
        points.push((ratio(fp, nh), ratio(tp, ns)));
        i = j;
    }
    points
}

fn ratio(k: usize, n: usize) -> f64 {
    if n == 0 { 0.0 } else { k as f64 / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_inverted_orders() {
        let good = [(false, 0.1), (false, 0.2), (true, 0.8), (true, 0.9)];
        let f = figures(&good, 0.5);
        assert_eq!(f.auc, 1.0);
        assert_eq!((f.hm, f.sm), (0.0, 0.0));
        let bad = [(false, 0.9), (true, 0.1)];
        assert_eq!(figures(&bad, 0.5).auc, 0.0);
    }

    #[test]
    fn roc_curve_area_is_the_auc() {
        let scored = [
            (false, 0.1),
            (true, 0.3),
            (false, 0.3),
            (false, 0.7),
            (true, 0.8),
            (true, 0.9),
        ];
        let roc = roc_curve(&scored);
        assert_eq!(roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(roc.last(), Some(&(1.0, 1.0)));
        let area: f64 = roc
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        let ham: Vec<f64> = scored.iter().filter(|s| !s.0).map(|s| s.1).collect();
        let spam: Vec<f64> = scored.iter().filter(|s| s.0).map(|s| s.1).collect();
        assert!((area - auc(&ham, &spam)).abs() < 1e-12);
    }

    #[test]
    fn ties_count_half() {
        assert_eq!(auc(&[0.5], &[0.5]), 0.5);
    }

    #[test]
    fn lam_matches_metrics_py() {
        // metrics.py: fp=1 of 10 ham, fn=2 of 10 spam -> logit^-1((logit .1 + logit .2)/2)
        let l = lam(1, 10, 2, 10);
        let expect = 1.0 / (1.0 + (-((0.1f64 / 0.9).ln() + (0.2f64 / 0.8).ln()) / 2.0).exp());
        assert!((l - expect).abs() < 1e-12);
    }
}
