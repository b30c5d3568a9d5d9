//! Output lines and the progress bar.

use chaff_core::Verdict;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// One classify output line.
pub fn verdict_line(name: &str, v: &Verdict, json: bool) -> String {
    let verdict = if v.is_spam { "spam" } else { "ham" };
    if json {
        serde_json::json!({
            "path": name,
            "verdict": verdict,
            "score": v.score,
            "category": v.category,
            "explanation": v.explanation,
        })
        .to_string()
    } else {
        format!("{name}\t{verdict}\t{:.6}\t{}", v.score, v.category)
    }
}

/// The line for a message that could not be read.
pub fn error_line(name: &str, err: &str, json: bool) -> String {
    if json {
        serde_json::json!({ "path": name, "error": err }).to_string()
    } else {
        format!("{name}\terror\t\t{err}")
    }
}
