//! Cross-validation of category models: deterministic stratified folds and the confusion
//! matrix with per-class precision, recall and F1.

use super::{CLASSES, N_CLASSES};

/// Assigns each item a fold in `0..k`, stratified: within each class, items are shuffled with
/// `seed` and dealt round-robin, so every fold gets the same share of every class (±1) and a
/// seed always gives the same folds.
///
/// ```
/// let folds = chaff_core::category::crossval::stratified_folds(&[0, 0, 0, 1, 1, 1], 3, 1);
/// assert_eq!(folds.len(), 6);
/// for f in 0..3 { assert_eq!(folds.iter().filter(|&&x| x == f).count(), 2); }
/// ```
pub fn stratified_folds(classes: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let k = k.max(1);
    let mut folds = vec![0; classes.len()];
    let max = classes.iter().copied().max().map_or(0, |m| m + 1);
    // Continue the deal across classes, so small classes do not all land in fold 0.
    let mut next = 0;
    for class in 0..max {
        let mut members: Vec<usize> = (0..classes.len())
            .filter(|&i| classes[i] == class)
            .collect();
        crate::corpus::shuffle(&mut members, seed.wrapping_add(class as u64));
        for i in members {
            folds[i] = next % k;
            next += 1;
        }
    }
    folds
}

/// Counts of (true class, predicted class).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confusion {
    /// `counts[truth][predicted]`, classes in the order of [`CLASSES`].
    pub counts: [[u32; N_CLASSES]; N_CLASSES],
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassFigures {
    /// Of the messages predicted in the class, the share that are.
    pub precision: f64,
    /// Of the messages in the class, the share predicted so.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Messages truly in the class.
    pub support: u32,
    /// Messages predicted in the class.
    pub predicted: u32,
}

impl Confusion {
    /// Records one prediction (class indices).
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    /// Messages counted.
    pub fn total(&self) -> u32 {
        self.counts.iter().flatten().sum()
    }

    /// Figures of class `c`. An empty denominator gives 0.
    pub fn class(&self, c: usize) -> ClassFigures {
        let tp = self.counts[c][c] as f64;
        let support: u32 = self.counts[c].iter().sum();
        let predicted: u32 = (0..N_CLASSES).map(|t| self.counts[t][c]).sum();
        let ratio = |a: f64, b: u32| if b == 0 { 0.0 } else { a / b as f64 };
        let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        ClassFigures {
            precision,
            recall,
            f1,
            support,
            predicted,
        }
    }

    /// Mean F1 over the classes that have messages.
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> = (0..N_CLASSES)
            .map(|c| self.class(c))
            .filter(|f| f.support > 0)
            .map(|f| f.f1)
            .collect();
        if present.is_empty() {
            0.0
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        }
    }

    /// Share of messages on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let right: u32 = (0..N_CLASSES).map(|c| self.counts[c][c]).sum();
        right as f64 / self.total().max(1) as f64
    }

    /// The table: per-class precision / recall / F1 / support, macro-F1, accuracy and the
    /// confusion matrix (rows: truth, columns: predicted).
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<13} {:>9} {:>7} {:>7} {:>8}",
            "class", "precision", "recall", "f1", "support"
        );
        for (c, class) in CLASSES.iter().enumerate() {
            let f = self.class(c);
            let _ = writeln!(
                s,
                "{:<13} {:>9.3} {:>7.3} {:>7.3} {:>8}",
                class.as_str(),
                f.precision,
                f.recall,
                f.f1,
                f.support
            );
        }
        let _ = writeln!(
            s,
            "macro-F1 {:.3}  accuracy {:.3}  n={}",
            self.macro_f1(),
            self.accuracy(),
            self.total()
        );
        let _ = write!(s, "confusion (rows: truth, columns: predicted)\n{:<13}", "");
        for class in CLASSES {
            let _ = write!(s, " {:>12}", class.as_str());
        }
        for (c, class) in CLASSES.iter().enumerate() {
            let _ = write!(s, "\n{:<13}", class.as_str());
            for p in 0..N_CLASSES {
                let _ = write!(s, " {:>12}", self.counts[c][p]);
            }
        }
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_and_deterministic() {
        let classes: Vec<usize> = (0..103)
            .map(|i| if i < 90 { 0 } else { 1 + i % 3 })
            .collect();
        let a = stratified_folds(&classes, 5, 7);
        assert_eq!(a, stratified_folds(&classes, 5, 7));
        assert_ne!(a, stratified_folds(&classes, 5, 8));
        for class in 0..4 {
            let n: Vec<usize> = (0..5)
                .map(|f| {
                    (0..103)
                        .filter(|&i| classes[i] == class && a[i] == f)
                        .count()
                })
                .collect();
            assert!(
                n.iter().max().unwrap() - n.iter().min().unwrap() <= 1,
                "{class}: {n:?}"
            );
        }
    }

    #[test]
    fn figures() {
        let mut c = Confusion::default();
        for _ in 0..8 {
            c.add(0, 0);
        }
        c.add(0, 1);
        c.add(1, 1);
        c.add(1, 1);
        c.add(2, 0);
        let p = c.class(0);
        assert!((p.precision - 8.0 / 9.0).abs() < 1e-12 && (p.recall - 8.0 / 9.0).abs() < 1e-12);
        assert!((c.class(1).precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(c.class(3).support, 0);
        assert_eq!(c.total(), 12);
        assert!(c.table().contains("macro-F1"));
    }
}
