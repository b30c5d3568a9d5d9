//! `report.md`: the comparison table and how it was made.

use std::fmt::Write;

use chaff_core::metrics;

use super::{Mode, RunInfo, RunResult};

fn rate(n: usize, secs: f64) -> String {
    if secs > 0.0 {
        format!("{:.0}", n as f64 / secs)
    } else {
        "–".into()
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| {
        format!("{:.0}", b as f64 / (1024.0 * 1024.0))
    })
}

/// Errors at the natural threshold (misclassified messages).
pub fn errors(r: &RunResult) -> usize {
    r.rows
        .iter()
        .filter(|(_, spam, s)| (*s >= r.threshold) != *spam)
        .count()
}

/// The report as Markdown.
pub fn markdown(info: &RunInfo, results: &[RunResult]) -> String {
    let mut md = String::new();
    let split = info.mode == Mode::Split;
    let _ = writeln!(md, "# chaff compare: {}\n", info.corpus.display());
    if split {
        let _ = writeln!(
            md,
            "Split mode: stratified split, train fraction {}, seed {} (identical to `peerlib.py split`): {} training and {} test messages{}.\n",
            info.train_fraction,
            info.seed,
            info.n_train,
            info.n_test,
            info.limit
                .map_or(String::new(), |n| format!(" (--limit {n})"))
        );
    } else {
        let _ = writeln!(
            md,
            "Incremental mode (TREC immediate feedback): {} messages in the order of `random.Random({}).shuffle` (identical to `peerlib.py shuffle`){}; each is classified, then trained on its label.\n",
            info.n_test,
            info.seed,
            info.limit.map_or(String::new(), |n| format!(", first {n}"))
        );
    }
    let _ = writeln!(
        md,
        "| filter | threshold | (1-ROCA)% | lam% | hm% | sm% | sm% at hm ≤ 0.1% | {} | peak RSS (MiB) |",
        if split {
            "train msg/s | classify msg/s"
        } else {
            "errors | msg/s (classify + train)"
        }
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        let scored: Vec<(bool, f64)> = r.rows.iter().map(|x| (x.1, x.2)).collect();
        // metrics.py's rule: spam iff score >= threshold; `figures` takes the same rule.
        let f = metrics::figures(&scored, r.threshold);
        let speed = if split {
            let (ts, tn) = r.train.unwrap_or((0.0, 0));
            format!("{} | {}", rate(tn, ts), rate(r.rows.len(), r.classify_secs))
        } else {
            format!("{} | {}", errors(r), rate(r.rows.len(), r.classify_secs))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.4} | {:.3} | {:.3} | {:.3} | {:.3} | {speed} | {} |",
            r.name,
            r.threshold,
            f.one_minus_roca,
            f.lam,
            f.hm,
            f.sm,
            f.sm_at_hm01,
            mib(r.peak_rss)
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "![ROC curves](roc.svg)\n");
    if !split {
        let _ = writeln!(md, "![Learning curves](learning.svg)\n");
    }
    let _ = writeln!(md, "## How to read it\n");
    let _ = writeln!(
        md,
        "- Figures as `../shared/peers/metrics.py` computes them (`chaff_core::metrics`): a message is spam iff its score ≥ the filter's natural threshold; hm%/sm% ham/spam misclassification there; lam% the logistic average of the two; sm% at hm ≤ 0.1% at the strictest threshold chosen on this data (an oracle point); (1-ROCA)% = 100·(1 − AUC), ties counted ½. The `<filter>.scores.tsv` and `.threshold` files beside this report give the same numbers with `metrics.py`."
    );
    if split {
        let _ = writeln!(
            md,
            "- Speeds are wall-clock messages per second, file reads included, server start-up excluded. Chaff trains on one thread and classifies on {} thread(s), in-process; each peer runs its own programs as its harness does (bogofilter and spamprobe one bulk process, crm114 one process per message, sbclassifier one Python process, SpamAssassin one spamc per message with {} client(s) against spamd with 2 children, rspamd `rspamc -n 8` against 2 workers).",
            info.chaff_threads, info.peer_jobs
        );
    } else {
        let _ = writeln!(
            md,
            "- Speeds are wall-clock messages per second over the whole run (classify, then train, one message at a time; Chaff in-process, each peer one or two process spawns per message, sbclassifier one Python process). errors: misclassified at the natural threshold."
        );
    }
    let _ = writeln!(
        md,
        "- Peak RSS: for Chaff, the `VmHWM` of the chaff process, reset (`/proc/self/clear_refs`) just before its run, so it includes the process's baseline; for a peer, sampled from `/proc` every 50 ms: the larger of the largest `VmHWM` of one of its processes and the largest sum of `VmRSS` of all its processes at one time (daemons and their workers included)."
    );
    let _ = writeln!(
        md,
        "- Bayes stages of SpamAssassin and rspamd score only after {} messages of each class (`--min-learns`).",
        info.min_learns
    );
    let startups: Vec<String> = results
        .iter()
        .filter(|r| r.startup_secs >= 1.0)
        .map(|r| format!("{} {:.0} s", r.name, r.startup_secs))
        .collect();
    if !startups.is_empty() {
        let _ = writeln!(
            md,
            "- Server start-up, not in the speeds: {}.",
            startups.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "- Load average (1, 5, 15 min) before the run: {}; after: {}; {} cores. Other work on the machine slows every filter.",
        info.load_before,
        info.load_after,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for n in &info.notes {
        let _ = writeln!(md, "- {n}");
    }
    let _ = writeln!(md, "\nCommand: `{}`", info.command);
    md
}
