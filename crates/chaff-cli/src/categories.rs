//! `chaff train-categories` and `chaff eval --mode categories`: the ham category model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chaff_core::Category;
use chaff_core::category::crossval::{Confusion, stratified_folds};
use chaff_core::category::{CLASSES, Example, TrainParams, class_index, train};
use chaff_core::corpus::{self, IndexEntry};
use chaff_core::features::FeatureConfig;
use chaff_core::parse::ParseLimits;
use rayon::prelude::*;

/// Seed of the cross-validation folds (fixed: the same command always gives the same table).
pub const FOLD_SEED: u64 = 1;

/// One labelled message: where it came from (index number, path) and its category.
pub struct Labelled {
    pub index: usize,
    pub entry: IndexEntry,
    pub category: Category,
}

/// Reads `--index` files (labels: category names or Gmail tabs, see
/// `corpus::category_label`) and `--index-as CATEGORY=INDEX` files (every message is
/// CATEGORY, whatever its label).
pub fn read_labelled(
    indexes: &[PathBuf],
    index_as: &[String],
    root: Option<&Path>,
) -> Result<(Vec<Labelled>, Vec<String>)> {
    let mut out = Vec::new();
    let mut names = Vec::new();
    for path in indexes {
        let n = names.len();
        names.push(path.display().to_string());
        for e in corpus::read_index(path, root)? {
            let Some(category) = corpus::category_label(&e.label) else {
                bail!(
                    "{}: label {:?} is not a ham category (personal, forum, newsletter, notification)",
                    path.display(),
                    e.label
                );
            };
            out.push(Labelled {
                index: n,
                entry: e,
                category,
            });
        }
    }
    for spec in index_as {
        let Some((name, path)) = spec.split_once('=') else {
            bail!("--index-as {spec:?}: expected CATEGORY=INDEX.tsv");
        };
        let Some(category) = chaff_core::category::parse_category(name) else {
            bail!("--index-as {spec:?}: {name:?} is not a ham category");
        };
        let path = Path::new(path);
        let n = names.len();
        names.push(format!("{} (as {category})", path.display()));
        for e in corpus::read_index(path, root)? {
            out.push(Labelled {
                index: n,
                entry: e,
                category,
            });
        }
    }
    if out.is_empty() {
        bail!("no messages: give --index or --index-as");
    }
    Ok((out, names))
}

/// Parses and tokenizes every message, in parallel, in order.
fn examples(items: &[Labelled]) -> Result<Vec<Example>> {
    let limits = ParseLimits::default();
    let features = FeatureConfig::default();
    items
        .par_iter()
        .map(|l| {
            let raw = std::fs::read(&l.entry.path)
                .with_context(|| format!("reading {}", l.entry.path.display()))?;
            Ok(Example::from_message(&raw, &limits, &features))
        })
        .collect()
}

/// Trains a category model on every message and writes it.
pub fn train_categories(
    out: &Path,
    indexes: &[PathBuf],
    index_as: &[String],
    root: Option<&Path>,
    params: TrainParams,
) -> Result<()> {
    let (items, _) = read_labelled(indexes, index_as, root)?;
    let started = Instant::now();
    let ex = examples(&items)?;
    let pairs: Vec<(&Example, usize)> = ex
        .iter()
        .zip(&items)
        .map(|(e, l)| (e, class_index(l.category).unwrap_or(0)))
        .collect();
    let model = train::fit(&params, &pairs)?;
    model.write(out)?;
    let info = model.info();
    eprintln!(
        "trained {} messages ({}) in {:.2} s; {} weights, {} bytes -> {}",
        items.len(),
        CLASSES
            .iter()
            .zip(info.trained)
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64(),
        info.n_tokens,
        info.size_bytes,
        out.display()
    );
    Ok(())
}

/// k-fold cross-validation: prints per-class precision, recall, F1, macro-F1 and the
/// confusion matrix, over all messages and, with several indexes, per index.
pub fn eval_categories(
    indexes: &[PathBuf],
    index_as: &[String],
    root: Option<&Path>,
    folds: usize,
    params: TrainParams,
    predictions_out: Option<&Path>,
) -> Result<()> {
    if folds < 2 {
        bail!("--folds must be at least 2");
    }
    let (items, names) = read_labelled(indexes, index_as, root)?;
    let started = Instant::now();
    let ex = examples(&items)?;
    let classes: Vec<usize> = items
        .iter()
        .map(|l| class_index(l.category).unwrap_or(0))
        .collect();
    let fold_of = stratified_folds(&classes, folds, FOLD_SEED);
    let predicted: Vec<Vec<(usize, Category)>> = (0..folds)
        .into_par_iter()
        .map(|k| -> Result<Vec<(usize, Category)>> {
            let train: Vec<(&Example, usize)> = (0..ex.len())
                .filter(|&i| fold_of[i] != k)
                .map(|i| (&ex[i], classes[i]))
                .collect();
            let model = train::fit(&params, &train)?;
            Ok((0..ex.len())
                .filter(|&i| fold_of[i] == k)
                .map(|i| (i, model.predict(&ex[i].tokens, &ex[i].facts).category))
                .collect())
        })
        .collect::<Result<_>>()?;
    let mut all = Confusion::default();
    let mut by_index = vec![Confusion::default(); names.len()];
    let mut rows = Vec::with_capacity(items.len());
    for (i, p) in predicted.into_iter().flatten() {
        let pc = class_index(p).unwrap_or(0);
        all.add(classes[i], pc);
        by_index[items[i].index].add(classes[i], pc);
        rows.push((i, p));
    }
    rows.sort_unstable_by_key(|r| r.0);
    println!(
        "{folds}-fold stratified cross-validation (fold seed {FOLD_SEED}), {} messages, {:.1} s",
        items.len(),
        started.elapsed().as_secs_f64()
    );
    println!("## all\n{}", all.table());
    if names.len() > 1 {
        for (name, c) in names.iter().zip(&by_index) {
            println!("## {name}\n{}", c.table());
        }
    }
    if let Some(path) = predictions_out {
        let mut s = String::from("path\ttruth\tpredicted\n");
        for (i, p) in rows {
            s.push_str(&format!(
                "{}\t{}\t{p}\n",
                items[i].entry.rel, items[i].category
            ));
        }
        std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
