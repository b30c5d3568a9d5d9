//! `chaff trec`: the filter interface of the TREC spam track evaluation toolkit
//! (`initialize`, `classify FILE`, `train JUDGEMENT FILE [CLASS [TFILE]]`, `finalize`), so the
//! toolkit's `run.sh` can drive Chaff one process per command. State lives in a folder
//! ([`state`]): `--state DIR`, else `$CHAFF_TREC_DIR`, else `./chaff-trec-state`.
//!
//! `classify` prints the toolkit's one line, `class=spam|ham score=S tfile=*`, with the score in
//! [0, 1] (spam above 0.5) at full precision so the toolkit's ROC analysis sees no false ties.

pub mod state;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chaff_core::EngineConfig;
use chaff_core::engine::{classify_message, message_tokens};
use chaff_core::model::TokenStats;
use clap::Subcommand;

use state::State;

/// Journaled messages folded into a new base model, by default.
pub const DEFAULT_COMPACT_EVERY: usize = 256;

/// The toolkit's commands.
#[derive(Subcommand)]
pub enum TrecCommand {
    /// Starts a fresh, empty filter state.
    Initialize,
    /// Prints `class=spam|ham score=S tfile=*` for one message.
    Classify {
        /// The message (one RFC 5322 message per file).
        file: PathBuf,
    },
    /// Learns one message with its gold-standard judgement.
    Train {
        /// `spam` or `ham`.
        judgement: String,
        /// The message.
        file: PathBuf,
        /// The class `classify` gave (passed by the toolkit; unused).
        classification: Option<String>,
        /// The auxiliary file `classify` named (`*`: none; unused).
        tfile: Option<String>,
    },
    /// Folds the journal into the model; the state stays usable.
    Finalize,
}

/// Where the state lives and how often the journal is folded.
#[derive(clap::Args)]
pub struct TrecArgs {
    /// State folder (default: `$CHAFF_TREC_DIR`, else `./chaff-trec-state`).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Fold the journal into a new model file after this many trained messages (default:
    /// `$CHAFF_TREC_COMPACT_EVERY`, else 256). 1 rewrites the whole model after every message.
    #[arg(long)]
    pub compact_every: Option<usize>,
    #[command(subcommand)]
    pub command: TrecCommand,
}

/// Runs one toolkit command.
pub fn run(args: TrecArgs) -> Result<()> {
    let dir = args
        .state
        .or_else(|| std::env::var_os("CHAFF_TREC_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("chaff-trec-state"));
    let compact_every = match args.compact_every {
        Some(n) => n,
        None => match std::env::var("CHAFF_TREC_COMPACT_EVERY") {
            Ok(v) => v
                .parse()
                .with_context(|| format!("CHAFF_TREC_COMPACT_EVERY={v:?}: not a number"))?,
            Err(_) => DEFAULT_COMPACT_EVERY,
        },
    };
    match args.command {
        TrecCommand::Initialize => State::initialize(&dir),
        TrecCommand::Classify { file } => {
            let (spam, score) = classify(&State::open(&dir)?, &file)?;
            println!(
                "class={} score={score} tfile=*",
                if spam { "spam" } else { "ham" }
            );
            Ok(())
        }
        TrecCommand::Train {
            judgement, file, ..
        } => {
            let spam = state::judgement(&judgement)?;
            let mut st = State::open(&dir)?;
            let raw = read(&file)?;
            let config = config();
            let mut tokens = Vec::new();
            message_tokens(&raw, &config.limits, &features(&st), &mut tokens);
            st.train(&tokens, spam, compact_every)
        }
        TrecCommand::Finalize => {
            let mut st = State::open(&dir)?;
            st.compact()?;
            tracing::info!(model = %st.model_path().display(), "finalized");
            Ok(())
        }
    }
}

fn read(file: &Path) -> Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
}

/// The engine settings of a TREC run: defaults (rules on), no category model (the toolkit asks
/// spam or ham only).
fn config() -> EngineConfig {
    EngineConfig::default()
}

fn features(st: &State) -> chaff_core::features::FeatureConfig {
    st.overlay.base().meta().features
}

/// `(is spam, score)` of one message against the state.
fn classify(st: &State, file: &Path) -> Result<(bool, f64)> {
    let raw = read(file)?;
    let config = config();
    let v = classify_message(
        &st.overlay,
        &raw,
        &features(st),
        &config,
        &mut Vec::new(),
        &mut Vec::new(),
        false,
    );
    tracing::debug!(trained = ?st.overlay.totals(), score = v.score, "classified");
    Ok((v.is_spam, v.score))
}
