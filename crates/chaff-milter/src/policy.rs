//! What happens to a message, given one verdict per recipient: the SMTP action and the
//! header fields.
//!
//! Per recipient (in order of precedence):
//! 1. GTUBE fired: reject, always (whatever the settings, even for authenticated senders).
//! 2. A spam trap: discard for that recipient (when `discard_traps`).
//! 3. Authenticated submission, or the user turned the filter off: accept.
//! 4. Score above `reject_above`: reject; above `quarantine_above`: quarantine; else accept.
//!
//! A message has one SMTP outcome for all its recipients, so with several recipients the
//! **mildest** action among the non-trap recipients wins (accept < quarantine < reject): one
//! user's block list never costs another user a message. Trap recipients are removed from the
//! envelope (discard when every recipient is a trap; note that chaff-core blocks the sender
//! and client of mail to a trap for everyone at once, so the other recipients' verdicts
//! usually make such a message spam anyway). The `X-Spam-*` fields show the verdict
//! of the non-trap recipient with the lowest score (the same conservative choice); each
//! recipient's own verdict is in an `X-Chaff-Recipient` field, which Sieve matches against the
//! envelope recipient (see `examples/chaff.sieve`). Only recipients the message already names
//! in its `To:` or `Cc:` fields get one: a Bcc recipient's address must not be shown to the
//! others, so Bcc recipients get the shared (most conservative) verdict only.

use serde::Deserialize;

use crate::classify::UserVerdict;
use crate::headers;

/// Action settings (the `[actions]` table of the configuration file).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ActionSettings {
    /// Reject with [`ActionSettings::reject_reply`] when a score is above this (`None`, or
    /// 1.0 in a file: never; GTUBE is rejected whatever this says).
    pub reject_above: Option<f64>,
    /// Put in Postfix's hold queue when a score is above this (`None`: never).
    pub quarantine_above: Option<f64>,
    /// The SMTP reply for rejected messages; must start with a 5xx code.
    pub reject_reply: String,
    /// The SMTP reply for GTUBE.
    pub gtube_reply: String,
    /// Discard mail to spam traps.
    pub discard_traps: bool,
    /// Tempfail (with [`ActionSettings::tempfail_reply`]) when classification fails; otherwise
    /// the message is accepted without a verdict (with `X-Chaff-Error`).
    pub tempfail_on_error: bool,
    /// The SMTP reply for internal errors; must start with a 4xx code.
    pub tempfail_reply: String,
    /// Add one `X-Chaff-Recipient` field per visible (`To:` / `Cc:`) recipient to messages
    /// with several recipients.
    pub recipient_headers: bool,
}

impl Default for ActionSettings {
    fn default() -> Self {
        ActionSettings {
            reject_above: Some(0.99),
            quarantine_above: None,
            reject_reply: "550 5.7.1 Message rejected as spam".into(),
            gtube_reply: "550 5.7.1 GTUBE test message rejected".into(),
            discard_traps: true,
            tempfail_on_error: false,
            tempfail_reply: "451 4.7.1 Spam filter unavailable, try again later".into(),
            recipient_headers: true,
        }
    }
}

impl ActionSettings {
    /// Checks thresholds and reply codes; the error says which setting is wrong.
    pub fn check(&self) -> std::result::Result<(), String> {
        for (name, t) in [
            ("reject_above", self.reject_above),
            ("quarantine_above", self.quarantine_above),
        ] {
            if let Some(t) = t
                && !(0.0..=1.0).contains(&t)
            {
                return Err(format!("actions.{name} = {t} is not in [0, 1]"));
            }
        }
        for (name, reply, class) in [
            ("reject_reply", &self.reject_reply, '5'),
            ("gtube_reply", &self.gtube_reply, '5'),
            ("tempfail_reply", &self.tempfail_reply, '4'),
        ] {
            let b = reply.as_bytes();
            let ok = b.len() >= 4
                && b[0] == class as u8
                && b[1].is_ascii_digit()
                && b[2].is_ascii_digit()
                && b[3] == b' '
                && !reply.contains(['\r', '\n', '\0']);
            if !ok {
                return Err(format!(
                    "actions.{name} = {reply:?} must be one line starting with a {class}xx code"
                ));
            }
        }
        Ok(())
    }
}

/// The SMTP outcome for a message or a recipient, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Deliver (with headers).
    Accept,
    /// Deliver into Postfix's hold queue.
    Quarantine,
    /// Refuse with a 5xx reply.
    Reject,
    /// Accept and drop (spam traps).
    Discard,
    /// Refuse with a 4xx reply (internal error, when configured).
    Tempfail,
}

impl Action {
    /// Lower-case name for headers and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Quarantine => "quarantine",
            Action::Reject => "reject",
            Action::Discard => "discard",
            Action::Tempfail => "tempfail",
        }
    }
}

/// The decision for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What the MTA is told to do.
    pub action: Action,
    /// The SMTP reply for [`Action::Reject`] / [`Action::Tempfail`].
    pub reply: Option<String>,
    /// Fields to add, in order.
    pub headers: Vec<(&'static str, String)>,
    /// Recipients to remove from the envelope (spam traps among real recipients).
    pub remove_recipients: Vec<String>,
    /// The verdict the `X-Spam-*` fields show (index into the verdicts).
    pub shown: Option<usize>,
}

/// Whether the GTUBE rule fired for this verdict.
fn gtube(r: &UserVerdict) -> bool {
    r.verdict
        .explanation
        .as_ref()
        .is_some_and(|e| e.rules.iter().any(|f| f.id == "GTUBE"))
}

/// Whether `address` is named in a `To:` or `Cc:` field of the header section of `raw`
/// (compared without case), i.e. the other recipients can already see it.
pub fn named_in_to_or_cc(raw: &[u8], address: &str) -> bool {
    if address.is_empty() {
        return false;
    }
    let end = memchr::memmem::find(raw, b"\r\n\r\n")
        .or_else(|| memchr::memmem::find(raw, b"\n\n"))
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let address = address.to_ascii_lowercase();
    let mut in_field = false;
    for line in head.lines() {
        let continuation = line.starts_with([' ', '\t']);
        if !continuation {
            in_field = line.starts_with("to:") || line.starts_with("cc:");
        }
        if in_field && line.contains(&address) {
            return true;
        }
    }
    false
}

/// The action one recipient's verdict calls for.
pub fn recipient_action(s: &ActionSettings, r: &UserVerdict, authenticated: bool) -> Action {
    let above = |t: Option<f64>| t.is_some_and(|t| r.verdict.score > t);
    if gtube(r) {
        Action::Reject
    } else if r.trap && s.discard_traps {
        Action::Discard
    } else if authenticated || !r.spam_filter {
        Action::Accept
    } else if above(s.reject_above) {
        Action::Reject
    } else if above(s.quarantine_above) {
        Action::Quarantine
    } else {
        Action::Accept
    }
}

/// Decides for a message with these verdicts (one per recipient, never empty in practice;
/// empty gives accept without headers). `threshold` is the spam threshold for `required=`.
pub fn decide(
    s: &ActionSettings,
    verdicts: &[UserVerdict],
    authenticated: bool,
    threshold: f64,
    visible: &dyn Fn(&str) -> bool,
) -> Decision {
    let actions: Vec<Action> = verdicts
        .iter()
        .map(|r| recipient_action(s, r, authenticated))
        .collect();
    let real: Vec<usize> = (0..verdicts.len())
        .filter(|&i| actions[i] != Action::Discard)
        .collect();
    let any_gtube = verdicts.iter().any(gtube);
    let action = if any_gtube {
        Action::Reject
    } else if verdicts.is_empty() {
        Action::Accept
    } else if real.is_empty() {
        Action::Discard
    } else {
        real.iter()
            .map(|&i| actions[i])
            .min()
            .unwrap_or(Action::Accept)
    };
    let shown = real
        .iter()
        .copied()
        .min_by(|&a, &b| {
            verdicts[a]
                .verdict
                .score
                .total_cmp(&verdicts[b].verdict.score)
        })
        .or(if verdicts.is_empty() { None } else { Some(0) });
    let mut headers = shown
        .map(|i| headers::verdict_headers(&verdicts[i].verdict, threshold))
        .unwrap_or_default();
    if s.recipient_headers && verdicts.len() > 1 {
        for (r, a) in verdicts
            .iter()
            .zip(&actions)
            .filter(|(r, _)| visible(&r.user))
        {
            headers.push((
                "X-Chaff-Recipient",
                headers::recipient_header(r, a.as_str()),
            ));
        }
    }
    let remove_recipients = if action == Action::Accept || action == Action::Quarantine {
        verdicts
            .iter()
            .zip(&actions)
            .filter(|(_, a)| **a == Action::Discard)
            .map(|(r, _)| r.user.clone())
            .collect()
    } else {
        Vec::new()
    };
    let reply = match action {
        Action::Reject if any_gtube => Some(s.gtube_reply.clone()),
        Action::Reject => Some(s.reject_reply.clone()),
        _ => None,
    };
    Decision {
        action,
        reply,
        headers,
        remove_recipients,
        shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaff_core::score::FiredRule;
    use chaff_core::{Category, Explanation, Verdict};

    fn rv(user: &str, score: f64) -> UserVerdict {
        UserVerdict {
            user: user.into(),
            verdict: Verdict {
                score,
                is_spam: score > 0.5,
                category: if score > 0.5 {
                    Category::Spam
                } else {
                    Category::Personal
                },
                explanation: Some(Explanation::default()),
            },
            spam_filter: true,
            trap: false,
            folder: String::new(),
            list_hit: None,
            degraded: false,
        }
    }

    fn settings() -> ActionSettings {
        ActionSettings {
            reject_above: Some(0.95),
            quarantine_above: Some(0.8),
            ..Default::default()
        }
    }

    #[test]
    fn thresholds_pick_the_action() {
        let s = settings();
        for (score, want) in [
            (0.1, Action::Accept),
            (0.8, Action::Accept),
            (0.81, Action::Quarantine),
            (0.95, Action::Quarantine),
            (0.96, Action::Reject),
        ] {
            let d = decide(&s, &[rv("a@x", score)], false, 0.5, &|_| true);
            assert_eq!(d.action, want, "score {score}");
            assert_eq!(d.reply.is_some(), want == Action::Reject);
            assert_eq!(d.headers.len(), 6, "single recipient: no X-Chaff-Recipient");
        }
    }

    #[test]
    fn filter_off_and_authenticated_only_get_headers() {
        let s = settings();
        let mut off = rv("a@x", 0.99);
        off.spam_filter = false;
        let d = decide(&s, &[off], false, 0.5, &|_| true);
        assert_eq!(d.action, Action::Accept);
        assert_eq!(d.headers[0], ("X-Spam-Flag", "YES".into()));
        assert_eq!(
            decide(&s, &[rv("a@x", 0.99)], true, 0.5, &|_| true).action,
            Action::Accept
        );
    }

    #[test]
    fn gtube_is_rejected_whatever_the_settings() {
        let s = ActionSettings {
            reject_above: None,
            quarantine_above: None,
            ..Default::default()
        };
        let mut g = rv("a@x", 1.0);
        g.spam_filter = false;
        g.verdict
            .explanation
            .as_mut()
            .unwrap()
            .rules
            .push(FiredRule {
                id: "GTUBE".into(),
                weight: 1000.0,
                category: Default::default(),
            });
        let d = decide(&s, &[rv("b@x", 0.1), g], true, 0.5, &|_| true);
        assert_eq!(d.action, Action::Reject);
        assert_eq!(
            d.reply.as_deref(),
            Some("550 5.7.1 GTUBE test message rejected")
        );
    }

    #[test]
    fn several_recipients_take_the_mildest_action() {
        let s = settings();
        let d = decide(&s, &[rv("a@x", 0.99), rv("b@x", 0.2)], false, 0.5, &|_| {
            true
        });
        assert_eq!(d.action, Action::Accept);
        assert_eq!(d.shown, Some(1));
        assert_eq!(d.headers[0], ("X-Spam-Flag", "NO".into()));
        let per: Vec<&String> = d
            .headers
            .iter()
            .filter(|(n, _)| *n == "X-Chaff-Recipient")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            per,
            vec![
                "<a@x> flag=YES score=9.9 category=spam action=reject",
                "<b@x> flag=NO score=2.0 category=personal action=accept"
            ]
        );
        let d = decide(&s, &[rv("a@x", 0.99), rv("b@x", 0.9)], false, 0.5, &|_| {
            true
        });
        assert_eq!(d.action, Action::Quarantine);
        let d = decide(
            &ActionSettings {
                recipient_headers: false,
                ..settings()
            },
            &[rv("a@x", 0.99), rv("b@x", 0.97)],
            false,
            0.5,
            &|_| true,
        );
        assert_eq!(d.action, Action::Reject);
        assert_eq!(d.headers.len(), 6);
    }

    #[test]
    fn bcc_recipients_are_not_named() {
        let raw =
            b"From: x@y\r\nTo: Alice <a@x>,\r\n  Bob <B@X>\r\nSubject: Cc: c@x\r\n\r\nTo: d@x\r\n";
        assert!(named_in_to_or_cc(raw, "a@x"));
        assert!(named_in_to_or_cc(raw, "b@x"), "folded line, other case");
        assert!(
            !named_in_to_or_cc(raw, "c@x"),
            "a subject is not a Cc field"
        );
        assert!(!named_in_to_or_cc(raw, "d@x"), "the body is not the header");
        let visible = |u: &str| named_in_to_or_cc(raw, u);
        let d = decide(
            &settings(),
            &[rv("a@x", 0.2), rv("d@x", 0.3)],
            false,
            0.5,
            &visible,
        );
        let named: Vec<&String> = d
            .headers
            .iter()
            .filter(|(n, _)| *n == "X-Chaff-Recipient")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(named.len(), 1);
        assert!(named[0].starts_with("<a@x>"), "{named:?}");
    }

    #[test]
    fn traps_are_removed_or_discarded() {
        let s = settings();
        let mut trap = rv("trap@x", 0.3);
        trap.trap = true;
        let d = decide(&s, &[trap.clone(), rv("b@x", 0.2)], false, 0.5, &|_| true);
        assert_eq!(d.action, Action::Accept);
        assert_eq!(d.remove_recipients, vec!["trap@x".to_string()]);
        assert_eq!(d.shown, Some(1));
        let d = decide(&s, &[trap.clone()], false, 0.5, &|_| true);
        assert_eq!(d.action, Action::Discard);
        assert!(d.remove_recipients.is_empty());
        let keep = ActionSettings {
            discard_traps: false,
            ..settings()
        };
        assert_eq!(
            decide(&keep, &[trap], false, 0.5, &|_| true).action,
            Action::Accept
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(ActionSettings::default().check().is_ok());
        for bad in [
            ActionSettings {
                reject_above: Some(1.5),
                ..Default::default()
            },
            ActionSettings {
                reject_reply: "250 ok".into(),
                ..Default::default()
            },
            ActionSettings {
                tempfail_reply: "550 5.7.1 no".into(),
                ..Default::default()
            },
            ActionSettings {
                reject_reply: "550 5.7.1 a\r\nb".into(),
                ..Default::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
