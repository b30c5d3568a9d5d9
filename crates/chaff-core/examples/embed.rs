//! Embedding Chaff: build an engine once, hand it raw message bytes, read the verdict.
//!
//! ```sh
//! cargo run -p chaff-core --example embed -- examples/spam.eml   # a file
//! cargo run -p chaff-core --example embed                        # the built-in sample
//! ```

use std::process::ExitCode;

use chaff_core::features::FeatureConfig;
use chaff_core::{Engine, Trainer};

/// Classified when no file is given.
const SAMPLE: &[u8] = b"From: \"Prize Desk\" <desk@winners.example.biz>\r\n\
To: you@example.org\r\n\
Subject: You have WON a prize!!!\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Claim your $1,000,000 now at <a href=\"http://claim.example.biz/x\">www.yourbank.com</a></p>\r\n";

fn main() -> ExitCode {
    let (name, raw) = match std::env::args_os().nth(1) {
        Some(path) => match std::fs::read(&path) {
            Ok(bytes) => (path.to_string_lossy().into_owned(), bytes),
            Err(e) => {
                eprintln!("{}: {e}", path.to_string_lossy());
                return ExitCode::FAILURE;
            }
        },
        None => ("built-in sample".to_string(), SAMPLE.to_vec()),
    };

    // One engine for the whole program: it is Send + Sync and cheap to clone.
    let engine = match Engine::builder().build() {
        Ok(engine) => engine,
        Err(e) => {
            // A build whose embedded model is missing or stale still runs, just without opinions.
            eprintln!(
                "default model unusable ({e}); falling back to an empty model (every score is 0.5)"
            );
            let empty = Trainer::new(FeatureConfig::default())
                .freeze()
                .expect("an empty model encodes");
            Engine::builder()
                .model(empty)
                .build()
                .expect("default settings are valid")
        }
    };

    // `classify` is the hot path; `classify_explained` also names the tokens that weighed most.
    let verdict = engine.classify_explained(&raw);
    println!("{name}");
    println!(
        "  verdict:  {}",
        if verdict.is_spam { "spam" } else { "ham" }
    );
    println!(
        "  score:    {:.3} (threshold {})",
        verdict.score,
        engine.config().threshold
    );
    println!("  category: {}", verdict.category);
    if let Some(explanation) = &verdict.explanation {
        println!("  rules that fired (log-odds toward spam):");
        for r in &explanation.rules {
            println!("    {:+7.3}  {}", r.weight, r.id);
        }
        println!("  top tokens (log-odds toward spam; learner + Bayesian share):");
        for t in &explanation.top_tokens {
            let text = t.text.as_deref().unwrap_or("(unnamed)");
            println!(
                "    {:+7.3}  {text:<48} spam {:>5}  ham {:>5}",
                t.weight + t.bayes,
                t.spam,
                t.ham
            );
        }
        // The same, folded for a mail header (what a milter would add).
        println!("  header:   {}", explanation.header_value());
    }
    ExitCode::SUCCESS
}
