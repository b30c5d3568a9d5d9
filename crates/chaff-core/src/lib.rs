//! Chaff sorts mail the way a good mail provider does: raw message bytes in, a spam score, a
//! category and an explanation out. Embed an [`Engine`]; it carries a default model.
//!
//! ```
//! let engine = chaff_core::Engine::builder().build().unwrap();
//! let verdict = engine.classify(b"From: a@example.org\r\nSubject: Hello\r\n\r\nLunch tomorrow?\r\n");
//! println!("{} {:.3} {}", if verdict.is_spam { "spam" } else { "ham" }, verdict.score, verdict.category);
//! ```
//!
//! The pipeline, one module per stage: [`parse`] (bytes → [`parse::MessageView`]) →
//! [`features`] (view → token hashes) → [`score`] (token statistics from a [`model`] →
//! [`Verdict`]), with [`rules`] (declarative rules over the view, weights added to the score). [`engine`] ties them together; [`corpus`] and [`metrics`] serve training and
//! evaluation tools.

#![warn(missing_docs)]

pub mod category;
pub mod corpus;
pub mod engine;
mod error;
pub mod features;
pub mod feedback;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod rules;
pub mod score;
pub mod store;

pub use category::CategoryModel;
pub use engine::{Engine, EngineBuilder, EngineConfig};
pub use error::{Error, Result};
pub use model::{Model, Trainer};
pub use score::{Category, Explanation, Verdict};

#[repr(C, align(64))]
struct Aligned<T: ?Sized>(T);

static DEFAULT_MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!("../model/default.chaffmodel"));

/// The model embedded in this build (see `corpora/README.md` for how it is trained).
pub fn default_model() -> Result<Model> {
    Model::from_static(&DEFAULT_MODEL.0, "embedded default model")
}

static DEFAULT_CATEGORIES: &Aligned<[u8]> =
    &Aligned(*include_bytes!("../model/default.categories"));

/// The category model embedded in this build (`corpora/train-default-categories.sh` trains it).
///
/// Read once per process and shared (clones are cheap): opening it checks it and builds its
/// lookup table, about 800 KB, which every engine built without a category model would
/// otherwise repeat.
pub fn default_category_model() -> Result<CategoryModel> {
    static MODEL: std::sync::OnceLock<CategoryModel> = std::sync::OnceLock::new();
    if let Some(m) = MODEL.get() {
        return Ok(m.clone());
    }
    let m = CategoryModel::from_static(&DEFAULT_CATEGORIES.0, "embedded default category model")?;
    Ok(MODEL.get_or_init(|| m).clone())
}
