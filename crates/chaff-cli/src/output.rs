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

/// An error and its causes on one line, like anyhow's `{:#}`, but leaving out a cause whose text
/// the line already holds. Errors that print their cause and also give it as `source()` (as
/// `chaff_core::Error::Io` once did, and some dependencies' errors do) would otherwise show it
/// twice ("x: No such file (os error 2): No such file (os error 2)").
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// The line for a message that could not be read.
pub fn error_line(name: &str, err: &str, json: bool) -> String {
    if json {
        serde_json::json!({ "path": name, "error": err }).to_string()
    } else {
        format!("{name}\terror\t\t{err}")
    }
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[test]
    fn a_cause_already_in_the_message_is_shown_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let core = chaff_core::Error::Io {
            path: "/x/m.chaffmodel".into(),
            error: io,
        };
        let e = anyhow::Error::new(core).context("loading the model");
        assert_eq!(
            error_chain(&e),
            "loading the model: /x/m.chaffmodel: no such file"
        );
        let plain = anyhow::anyhow!("outer").context("top");
        assert_eq!(error_chain(&plain), "top: outer");
    }
}
