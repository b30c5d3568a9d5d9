//! Inputs and settings shared by Chaff's criterion benches (`benches/*.rs`); the benches
//! themselves only time things.
//!
//! - [`corpus`] finds the labelled corpora (`CHAFF_CORPORA`, else `../shared/corpora` next to
//!   the workspace), loads one into memory, splits it in two halves with a fixed seed and
//!   caches its tokens and the model trained on the first half.
//! - [`synthetic`] writes realistic multipart/alternative messages of any size from a seed, for
//!   the size sweep and for machines without the corpora.
//! - [`rng`] is the seeded generator both use.
//! - [`sampling`] holds the criterion settings: whole-corpus passes and single messages need
//!   different sample counts to finish in minutes on two cores.
//! - [`clock`] times with wall time, or with the bench thread's CPU time on a busy machine.
//!
//! [`reference_model`] picks the model the end-to-end benches score against.

pub mod clock;
pub mod corpus;
pub mod rng;
pub mod sampling;
pub mod synthetic;

use std::sync::OnceLock;

use chaff_core::Trainer;
use chaff_core::features::FeatureConfig;

/// Seed of the train/test split and of every synthetic message.
pub const SEED: u64 = 0x00C4_AFF0_BE4C_4E55;

/// A model to score against, with a short name for benchmark ids and a line saying what it is.
#[derive(Debug)]
pub struct ReferenceModel {
    /// The statistics (freeze them for an engine, write them for a model file).
    pub trainer: &'static Trainer,
    /// `spamassassin-half` or `synthetic-400msgs`.
    pub name: String,
    /// Messages and tokens, for the log.
    pub description: String,
}

/// The model the end-to-end and model-load benches use.
///
/// The SpamAssassin model trained on half the corpus when the corpus is there, because a large
/// table that misses the cache is the honest case. Otherwise a model trained on synthetic
/// messages, which is small and flatters lookups; the description says so.
pub fn reference_model() -> ReferenceModel {
    if let Some(c) = corpus::spamassassin() {
        let trainer = c.train_half_trainer();
        return ReferenceModel {
            trainer,
            name: format!("{}-half", c.name),
            description: format!(
                "trained on {} ({} msgs, {} tokens)",
                c.name,
                c.train.len(),
                trainer.len()
            ),
        };
    }
    const N: usize = 400;
    static SYNTHETIC: OnceLock<Trainer> = OnceLock::new();
    let trainer = SYNTHETIC.get_or_init(|| synthetic::trained(N, FeatureConfig::default()));
    ReferenceModel {
        trainer,
        name: format!("synthetic-{N}msgs"),
        description: format!(
            "trained on {N} synthetic msgs ({} tokens; small, so its lookups stay in cache and flatter the figures)",
            trainer.len()
        ),
    }
}
