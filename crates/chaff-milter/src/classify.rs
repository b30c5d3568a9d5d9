//! The seam between the milter and `chaff-core`: what the MTA told us
//! ([`Envelope`](chaff_core::feedback::Envelope)) in, one
//! [`UserVerdict`](chaff_core::feedback::UserVerdict) per recipient out, behind the
//! [`Classifier`] trait so sessions can be tested and fuzzed with a classifier of their own.
//! The implementation for [`Engine`] is all the milter uses in production: per-user lists,
//! weights, settings and spam traps all come from chaff-core and its store.

use chaff_core::Engine;
pub use chaff_core::feedback::{Envelope, UserVerdict};

use crate::Result;

/// Classifies one message for its recipients.
pub trait Classifier: Send + Sync {
    /// One verdict per recipient, in order, each with an explanation.
    fn classify(
        &self,
        envelope: &Envelope,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Vec<UserVerdict>>;

    /// The spam threshold verdicts are made with (shown as `required=` in `X-Spam-Status`).
    fn threshold(&self) -> f64 {
        0.5
    }
}

/// One parse and one store read for all recipients
/// ([`Engine::classify_envelope`] with explanations).
impl Classifier for Engine {
    fn classify(
        &self,
        envelope: &Envelope,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Vec<UserVerdict>> {
        let users: Vec<&str> = recipients.iter().map(String::as_str).collect();
        Ok(self.classify_envelope(envelope, &users, message, true))
    }

    fn threshold(&self) -> f64 {
        self.config().threshold
    }
}
