//! `chaff compare`: Chaff and the established filters on the same data, side by side.
//!
//! The run makes the split (or the incremental order) exactly as the shared peer harness does
//! (`chaff_core::corpus::stratified_split` / `python_shuffle`, which reproduce `peerlib.py`), runs
//! Chaff in-process (`eval`), then each selected peer with its own programs ([`peers`]), and
//! writes into `--out`: the split or order (`train.tsv`, `test.tsv` / `order.tsv`), one
//! `<filter>.scores.tsv` and `<filter>.threshold` per filter (readable by the harness's
//! `metrics.py`), `report.md` ([`report`]), `roc.svg` and in incremental mode `learning.svg`
//! ([`plot`]). A peer that is not installed, or fails, is noted in the report and skipped.

mod peers;
mod plot;
mod process;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chaff_core::corpus::{self, IndexEntry};
use clap::ValueEnum;

use crate::eval;
use crate::output::progress;
use peers::{Ctx, Msg, Peer};
use process::Meter;

/// How the filters meet the data.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Train on a stratified share of the corpus, score the rest.
    Split,
    /// In a shuffled order: classify each message, then train on its label (TREC immediate
    /// feedback).
    Incremental,
}

/// `chaff compare` options.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// Corpus folder with an `index.tsv` (`label<TAB>path`, paths relative to the folder).
    #[arg(long)]
    corpus: PathBuf,
    /// Where to write the report, plots, scores and the peers' work folders.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "split")]
    mode: Mode,
    /// Peers to run, comma-separated (`all`, `none`, or names: bogofilter, spamprobe, crm114,
    /// sbclassifier, spamassassin-bayes, spamassassin, rspamd).
    #[arg(long, value_delimiter = ',', default_value = "all")]
    peers: Vec<String>,
    /// Split mode: share of each class that trains.
    #[arg(long, default_value_t = 0.5)]
    train_fraction: f64,
    /// Seed of the split or the order (Python's `random.Random(seed)`, as `peerlib.py`).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Use only this many messages: the first of the shuffled order, or in split mode the first
    /// of the (shuffled) training and test lists in the train fraction.
    #[arg(long)]
    limit: Option<usize>,
    /// Threads Chaff classifies with in split mode (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Concurrent clients for peers that classify through a server (spamc).
    #[arg(long, default_value_t = 1)]
    peer_jobs: usize,
    /// Messages of each class a peer's Bayes needs before it scores (SpamAssassin
    /// bayes_min_*_num, rspamd min_learns; their default is 200).
    #[arg(long, default_value_t = 200)]
    min_learns: u32,
}

/// One filter's scores and costs.
pub struct RunResult {
    /// `chaff`, `bogofilter`, `rspamd-bayes`...
    pub name: String,
    /// Natural threshold: spam iff `score >= threshold`.
    pub threshold: f64,
    /// `(path, is spam, score)` in test (or arrival) order.
    pub rows: Vec<(String, bool, f64)>,
    /// Split mode: training seconds and messages.
    pub train: Option<(f64, usize)>,
    /// Classification seconds (incremental mode: classify + train, the whole run).
    pub classify_secs: f64,
    /// Peak resident memory in bytes, and how it was measured.
    pub peak_rss: Option<u64>,
    /// Seconds spent starting servers before the timed phases.
    pub startup_secs: f64,
}

/// What the report says about the run besides the table.
pub struct RunInfo {
    pub mode: Mode,
    pub corpus: PathBuf,
    pub n_train: usize,
    pub n_test: usize,
    pub seed: u64,
    pub train_fraction: f64,
    pub limit: Option<usize>,
    pub chaff_threads: usize,
    pub peer_jobs: usize,
    pub min_learns: u32,
    pub notes: Vec<String>,
    pub load_before: String,
    pub load_after: String,
    pub command: String,
}

/// Runs the comparison.
pub fn run(args: CompareArgs) -> Result<()> {
    let index = args.corpus.join("index.tsv");
    let entries = crate::labelled(&index, Some(&args.corpus))?;
    if entries.is_empty() {
        bail!("{}: no messages", index.display());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let load_before = loadavg();
    let selected = select_peers(&args.peers)?;
    let mut notes = Vec::new();

    let (train, test) = match args.mode {
        Mode::Split => {
            if !(args.train_fraction > 0.0 && args.train_fraction < 1.0) {
                bail!("--train-fraction must be in (0, 1)");
            }
            let (mut train, mut test) =
                corpus::stratified_split(&entries, args.train_fraction, args.seed);
            if let Some(n) = args.limit {
                let k = (n as f64 * args.train_fraction).round() as usize;
                train.truncate(k);
                test.truncate(n.saturating_sub(k));
            }
            corpus::write_index(&args.out.join("train.tsv"), &train)?;
            corpus::write_index(&args.out.join("test.tsv"), &test)?;
            (train, test)
        }
        Mode::Incremental => {
            let mut order = entries.clone();
            corpus::python_shuffle(&mut order, args.seed);
            if let Some(n) = args.limit {
                order.truncate(n);
            }
            corpus::write_index(&args.out.join("order.tsv"), &order)?;
            (Vec::new(), order)
        }
    };
    eprintln!(
        "compare: {} mode, {} training and {} {} messages from {}",
        if args.mode == Mode::Split {
            "split"
        } else {
            "incremental"
        },
        train.len(),
        test.len(),
        if args.mode == Mode::Split {
            "test"
        } else {
            "ordered"
        },
        args.corpus.display()
    );

    let mut results = vec![run_chaff(&args, &train, &test)?];
    let chaff_threads = match args.mode {
        Mode::Split => rayon::ThreadPoolBuilder::new()
            .num_threads(args.jobs.unwrap_or(0))
            .build()
            .map(|p| p.current_num_threads())
            .unwrap_or(1),
        Mode::Incremental => 1,
    };

    let to_msgs = |v: &[(IndexEntry, bool)]| -> Vec<Msg> {
        v.iter()
            .map(|(e, s)| Msg {
                rel: e.rel.clone(),
                path: e.path.clone(),
                spam: *s,
            })
            .collect()
    };
    let (train_msgs, test_msgs) = (to_msgs(&train), to_msgs(&test));
    let corpus_dir = std::path::absolute(&args.corpus)?;
    for mut peer in selected {
        let name = peer.name();
        if let Err(why) = peer.check() {
            eprintln!("compare: skipping {name}: {why}");
            notes.push(format!("{name} skipped: {why}."));
            continue;
        }
        eprintln!("compare: running {name}");
        match run_peer(&args, &corpus_dir, peer.as_mut(), &train_msgs, &test_msgs) {
            Ok(mut r) => results.append(&mut r),
            Err(e) => {
                let e = crate::output::error_chain(&e);
                eprintln!("compare: {name} failed: {e}");
                notes.push(format!("{name} failed and is left out: {e}."));
            }
        }
        // Dropping the peer here stops its servers before the next one starts.
        drop(peer);
    }

    for r in &results {
        write_scores(&args.out, r)?;
    }
    let info = RunInfo {
        mode: args.mode,
        corpus: args.corpus.clone(),
        n_train: train.len(),
        n_test: test.len(),
        seed: args.seed,
        train_fraction: args.train_fraction,
        limit: args.limit,
        chaff_threads,
        peer_jobs: args.peer_jobs,
        min_learns: args.min_learns,
        notes,
        load_before,
        load_after: loadavg(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    plot::roc(&args.out.join("roc.svg"), &results)?;
    if args.mode == Mode::Incremental {
        plot::learning(&args.out.join("learning.svg"), &results)?;
    }
    let md = report::markdown(&info, &results);
    std::fs::write(args.out.join("report.md"), &md)?;
    print!("{md}");
    Ok(())
}

fn select_peers(names: &[String]) -> Result<Vec<Box<dyn Peer>>> {
    let all = peers::all();
    if names.iter().any(|n| n == "all") {
        return Ok(all);
    }
    if names.iter().all(|n| n == "none" || n.is_empty()) {
        return Ok(Vec::new());
    }
    let known: Vec<&str> = all.iter().map(|p| p.name()).collect();
    for n in names {
        if !known.contains(&n.as_str()) {
            bail!("unknown peer {n:?} (known: {})", known.join(", "));
        }
    }
    Ok(all
        .into_iter()
        .filter(|p| names.iter().any(|n| n == p.name()))
        .collect())
}

fn run_chaff(
    args: &CompareArgs,
    train: &[(IndexEntry, bool)],
    test: &[(IndexEntry, bool)],
) -> Result<RunResult> {
    eprintln!("compare: running chaff (in-process)");
    let config = chaff_core::EngineConfig::default();
    reset_peak_rss();
    let run = match args.mode {
        Mode::Split => eval::split(train, test, &config, false, args.jobs)?,
        Mode::Incremental => eval::incremental(test, &config, false)?,
    };
    let (train, classify_secs) = match args.mode {
        Mode::Split => (
            Some((run.train_secs, run.train_messages)),
            run.classify_secs,
        ),
        Mode::Incremental => (None, run.train_secs),
    };
    Ok(RunResult {
        name: "chaff".into(),
        threshold: config.threshold,
        rows: run.rows,
        train,
        classify_secs,
        peak_rss: peak_rss(),
        startup_secs: 0.0,
    })
}

fn run_peer(
    args: &CompareArgs,
    corpus_dir: &Path,
    peer: &mut dyn Peer,
    train: &[Msg],
    test: &[Msg],
) -> Result<Vec<RunResult>> {
    let work = args.out.join("work").join(peer.name());
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("clearing {}", work.display()))?;
    }
    std::fs::create_dir_all(&work)?;
    let work = std::path::absolute(&work)?;
    let meter = Meter::start();
    let ctx = Ctx {
        work,
        corpus: corpus_dir,
        min_learns: args.min_learns,
        meter: &meter,
        jobs: args.peer_jobs,
    };
    let t0 = Instant::now();
    peer.start(&ctx)?;
    let startup_secs = t0.elapsed().as_secs_f64();
    let (train_cost, scores, classify_secs) = match args.mode {
        Mode::Split => {
            let t = Instant::now();
            peer.train(&ctx, train)?;
            let train_secs = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let scores = peer.classify(&ctx, test)?;
            (
                Some((train_secs, train.len())),
                scores,
                t.elapsed().as_secs_f64(),
            )
        }
        Mode::Incremental => {
            let bar = progress(test.len() as u64, peer.name());
            let t = Instant::now();
            let scores = peer.incremental(&ctx, test, &|| bar.inc(1))?;
            bar.finish_and_clear();
            (None, scores, t.elapsed().as_secs_f64())
        }
    };
    let peak = meter.finish();
    let outputs = peer.outputs();
    if scores.len() != outputs.len() || scores.iter().any(|s| s.len() != test.len()) {
        bail!("{}: wrong number of scores", peer.name());
    }
    Ok(outputs
        .into_iter()
        .zip(scores)
        .map(|((name, threshold), s)| RunResult {
            name: name.to_string(),
            threshold,
            rows: test
                .iter()
                .zip(s)
                .map(|(m, s)| (m.rel.clone(), m.spam, s))
                .collect(),
            train: train_cost,
            classify_secs,
            peak_rss: (peak > 0).then_some(peak),
            startup_secs,
        })
        .collect())
}

fn write_scores(out: &Path, r: &RunResult) -> Result<()> {
    let mut s = String::new();
    for (p, spam, score) in &r.rows {
        s.push_str(&format!(
            "{p}\t{}\t{score}\n",
            if *spam { "spam" } else { "ham" }
        ));
    }
    std::fs::write(out.join(format!("{}.scores.tsv", r.name)), s)?;
    std::fs::write(
        out.join(format!("{}.threshold", r.name)),
        format!("{}\n", r.threshold),
    )?;
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Resets this process's peak-RSS mark (`VmHWM`) to its current RSS (Linux `clear_refs` 5).
fn reset_peak_rss() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        tracing::warn!(error = %e, "cannot reset VmHWM; chaff's peak memory covers the whole process life");
    }
}

/// This process's peak RSS (`VmHWM`) in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
