//! The peer harness's train/test split and arrival order (`../shared/peers/peerlib.py split`
//! and `shuffle`), bit for bit, so Chaff and the peers it is compared with see the same messages
//! in the same order.

use std::io::Write;
use std::path::Path;

use super::{IndexEntry, PythonRandom};
use crate::{Error, Result};

/// A training list and a test list of labelled items (`true`: spam).
pub type Split<T> = (Vec<(T, bool)>, Vec<(T, bool)>);

/// `peerlib.py split CORPUS FRACTION SEED`: per label, ham then spam, the messages of that label
/// in index order are shuffled with one `random.Random(seed)` and the first
/// `round(fraction · n)` (Python's round: ties to even) go to training, the rest to the test set;
/// then the training and the test list are each shuffled with the same generator.
///
/// ```
/// let items: Vec<(u32, bool)> = (0..10).map(|i| (i, i % 2 == 0)).collect();
/// let (train, test) = chaff_core::corpus::stratified_split(&items, 0.5, 1);
/// // 5 ham and 5 spam: round(2.5) = 2 of each train.
/// assert_eq!((train.len(), test.len()), (4, 6));
/// ```
pub fn stratified_split<T: Clone>(items: &[(T, bool)], train_fraction: f64, seed: u64) -> Split<T> {
    let mut rng = PythonRandom::new(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for spam in [false, true] {
        let mut sub: Vec<(T, bool)> = items.iter().filter(|i| i.1 == spam).cloned().collect();
        rng.shuffle(&mut sub);
        let k = ((train_fraction * sub.len() as f64).round_ties_even() as usize).min(sub.len());
        test.extend(sub.split_off(k));
        train.extend(sub);
    }
    rng.shuffle(&mut train);
    rng.shuffle(&mut test);
    (train, test)
}

/// `peerlib.py shuffle INDEX SEED`: the whole index shuffled with `random.Random(seed)`, the
/// arrival order of an incremental run over a corpus that has none of its own.
pub fn python_shuffle<T>(items: &mut [T], seed: u64) {
    PythonRandom::new(seed).shuffle(items);
}

/// Writes `label<TAB>path` lines (`peerlib.py`'s `write_tsv`), labels as `ham` / `spam`.
pub fn write_index(path: &Path, entries: &[(IndexEntry, bool)]) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for (e, spam) in entries {
        writeln!(f, "{}\t{}", if *spam { "spam" } else { "ham" }, e.rel).map_err(io)?;
    }
    f.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_round_half_to_even_per_label() {
        // 5 ham, 3 spam at 0.5: round(2.5) = 2 ham and round(1.5) = 2 spam in training.
        let items: Vec<(u32, bool)> = (0..8).map(|i| (i, i >= 5)).collect();
        let (train, test) = stratified_split(&items, 0.5, 7);
        assert_eq!(train.iter().filter(|i| !i.1).count(), 2);
        assert_eq!(train.iter().filter(|i| i.1).count(), 2);
        assert_eq!(train.len() + test.len(), 8);
        let mut all: Vec<u32> = train.iter().chain(&test).map(|i| i.0).collect();
        all.sort();
        assert_eq!(all, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let items: Vec<(u32, bool)> = (0..200).map(|i| (i, i % 3 == 0)).collect();
        assert_eq!(
            stratified_split(&items, 0.5, 1),
            stratified_split(&items, 0.5, 1)
        );
        assert_ne!(
            stratified_split(&items, 0.5, 1).0,
            stratified_split(&items, 0.5, 2).0
        );
    }
}
