//! The seam between the milter and `chaff-core`: what the MTA told us ([`Envelope`]) and one
//! verdict per recipient ([`RecipientVerdict`]), behind the [`Classifier`] trait so sessions
//! can be tested and fuzzed with a classifier of their own.

use std::net::IpAddr;

use chaff_core::{Engine, Verdict};

use crate::Result;

/// What the MTA told us about the SMTP transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The SMTP client's address.
    pub client_ip: Option<IpAddr>,
    /// HELO / EHLO name.
    pub helo: Option<String>,
    /// Envelope sender without angle brackets (empty for the null sender `<>`).
    pub mail_from: Option<String>,
    /// SASL-authenticated submission (`{auth_authen}` was set).
    pub authenticated: bool,
}

/// The verdict for one recipient (the recipient address is the user).
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientVerdict {
    /// The recipient address, without angle brackets.
    pub user: String,
    /// Score, spam flag, category and explanation for this user.
    pub verdict: Verdict,
    /// The user's spam filter is on (when off: headers only, no action).
    pub spam_filter: bool,
    /// The recipient is a spam trap.
    pub trap: bool,
    /// The user's settings could not be read: this is the global verdict.
    pub degraded: bool,
}

/// Classifies one message for its recipients.
pub trait Classifier: Send + Sync {
    /// One verdict per recipient, in order, each with an explanation.
    fn classify(
        &self,
        envelope: &Envelope,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Vec<RecipientVerdict>>;

    /// The spam threshold verdicts are made with (shown as `required=` in `X-Spam-Status`).
    fn threshold(&self) -> f64 {
        0.5
    }
}

/// Without a store: the global verdict for every recipient, filter on, no traps.
impl Classifier for Engine {
    fn classify(
        &self,
        _envelope: &Envelope,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Vec<RecipientVerdict>> {
        let verdict = self.classify_explained(message);
        Ok(recipients
            .iter()
            .map(|user| RecipientVerdict {
                user: user.clone(),
                verdict: verdict.clone(),
                spam_filter: true,
                trap: false,
                degraded: false,
            })
            .collect())
    }

    fn threshold(&self) -> f64 {
        self.config().threshold
    }
}
