//! One milter connection as a state machine, without I/O: [`Session::handle`] takes a
//! [`Command`] and pushes the [`Reply`]s to send. The server feeds it from a socket; tests and
//! the fuzz target feed it directly.
//!
//! It negotiates version 6 with the actions it may use (add and change headers, quarantine,
//! delete recipients, macro lists) and asks the MTA not to wait for replies to the stages that
//! never change the outcome (connect to body), which saves Postfix one round trip per header
//! and body chunk. It collects the envelope (client address, HELO, sender, recipients,
//! `{auth_authen}`) and the message (headers as received, then the body, up to
//! `max_message_bytes`), and at end of message classifies once for all recipients and answers
//! with the [`policy`](crate::policy) decision. One connection carries any number of
//! messages; abort and `QUIT_NC` reset what they should.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use tracing::{debug, info, warn};

use crate::classify::{Classifier, Envelope};
use crate::headers::{OWN_HEADERS, own_header_index};
use crate::policy::{Action, ActionSettings, Decision, decide};
use crate::protocol::{ClientAddress, Command, Reply, Stage, VERSION, action, flag};
use crate::{Error, Result};

/// Settings every session shares.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// What to do with verdicts.
    pub actions: ActionSettings,
    /// Bytes of a message kept for classification (the classifier reads a prefix anyway);
    /// the rest is counted and dropped.
    pub max_message_bytes: usize,
    /// Ask the MTA not to wait for replies before end of message (`SMFIP_NR_*`).
    pub no_reply: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            actions: ActionSettings::default(),
            max_message_bytes: chaff_core::parse::ParseLimits::default().max_message_bytes,
            no_reply: true,
        }
    }
}

/// What a command did, for the server's counters and logs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Nothing worth counting.
    None,
    /// A message was decided (end of message answered).
    Message(MessageOutcome),
    /// A message in progress was aborted.
    Aborted,
    /// The MTA said quit: close the connection.
    Close,
}

/// The result of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageOutcome {
    /// The action sent.
    pub action: Action,
    /// Envelope recipients.
    pub recipients: usize,
    /// Message size as received (headers and body).
    pub bytes: usize,
    /// Classification failed (the error action was used).
    pub error: bool,
}

/// Actions we use, if the MTA offers them.
const WANTED_ACTIONS: u32 = action::ADD_HEADERS
    | action::CHANGE_HEADERS
    | action::QUARANTINE
    | action::DELETE_RCPT
    | action::SET_SYMLIST;

/// Stages whose replies never matter to us (we decide at end of message).
const NO_REPLY_FLAGS: u32 = flag::NR_CONNECT
    | flag::NR_HELO
    | flag::NR_MAIL
    | flag::NR_RCPT
    | flag::NR_DATA
    | flag::NR_HEADER
    | flag::NR_EOH
    | flag::NR_BODY
    | flag::NR_UNKNOWN;

/// One milter connection.
#[derive(Debug)]
pub struct Session {
    settings: Arc<SessionSettings>,
    /// Actions and protocol flags agreed on; before negotiation: every wanted action, replies
    /// to everything.
    actions: u32,
    flags: u32,
    /// Latest macros per stage (command byte).
    macros: Vec<(u8, Vec<(String, String)>)>,
    client_ip: Option<std::net::IpAddr>,
    helo: Option<String>,
    msg: Option<Message>,
}

/// The message in progress.
#[derive(Debug, Default)]
struct Message {
    mail_from: String,
    /// Recipients as the MTA sent them (for deletion) and without angle brackets.
    recipients: Vec<(String, String)>,
    raw: Vec<u8>,
    bytes: usize,
    in_body: bool,
    /// Occurrences of each of [`OWN_HEADERS`] in the incoming message.
    own_headers: [u32; OWN_HEADERS.len()],
}

impl Message {
    fn push(&mut self, max: usize, bytes: &[u8]) {
        self.bytes += bytes.len();
        let room = max.saturating_sub(self.raw.len());
        self.raw.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn start_body(&mut self, max: usize) {
        if !self.in_body {
            self.in_body = true;
            self.push(max, b"\r\n");
        }
    }
}

/// Recipients kept per message; Postfix allows 1,000 (`smtpd_recipient_limit`). More are
/// ignored (logged), so a misbehaving client cannot grow a session without bound.
pub const MAX_RECIPIENTS: usize = 10_000;

/// Planted copies of one of our fields removed per message; a message with more keeps the rest
/// (ours are added after them, and Sieve's `header :is` matches any copy, so they cannot
/// hide a YES).
const MAX_DELETIONS: u32 = 100;

/// Stages whose macros belong to one message (cleared when it ends).
const MESSAGE_STAGES: &[u8] = b"MRTLNBE";

impl Session {
    /// A new connection.
    pub fn new(settings: Arc<SessionSettings>) -> Session {
        Session {
            settings,
            actions: WANTED_ACTIONS & !action::SET_SYMLIST,
            flags: 0,
            macros: Vec::new(),
            client_ip: None,
            helo: None,
            msg: None,
        }
    }

    /// The protocol flags agreed on (`flag::*`).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The value of a macro from the latest macros of any stage (`{auth_authen}`, `i`).
    pub fn macro_value(&self, name: &str) -> Option<&str> {
        self.macros
            .iter()
            .rev()
            .flat_map(|(_, pairs)| pairs.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a message is in progress (MAIL seen, not yet ended or aborted).
    pub fn in_message(&self) -> bool {
        self.msg.is_some()
    }

    /// Handles one command, pushing the replies to send (none for stages negotiated as
    /// no-reply). An error is a protocol violation: log it and close the connection.
    pub fn handle<C: Classifier + ?Sized>(
        &mut self,
        cmd: Command,
        classifier: &C,
        out: &mut Vec<Reply>,
    ) -> Result<Event> {
        let max = self.settings.max_message_bytes;
        let reply_unless = |flags: u32, nr: u32, out: &mut Vec<Reply>| {
            if flags & nr == 0 {
                out.push(Reply::Continue);
            }
        };
        match cmd {
            Command::Negotiate {
                version,
                actions,
                flags,
            } => {
                if version < 2 {
                    return Err(Error::Protocol(format!(
                        "MTA protocol version {version} < 2"
                    )));
                }
                self.actions = WANTED_ACTIONS & actions;
                let mut want = flag::HEADER_LEADING_SPACE;
                if self.settings.no_reply {
                    want |= NO_REPLY_FLAGS;
                }
                self.flags = want & flags;
                if self.actions & action::ADD_HEADERS == 0 {
                    warn!(
                        offered = actions,
                        "MTA does not offer add-header: no verdict headers"
                    );
                }
                let macros = if self.actions & action::SET_SYMLIST != 0 {
                    vec![
                        (Stage::Connect, "{client_addr} {client_name}".to_string()),
                        (Stage::Mail, "{auth_authen} {auth_type} i".to_string()),
                        (Stage::Eom, "i".to_string()),
                    ]
                } else {
                    Vec::new()
                };
                out.push(Reply::Negotiate {
                    version: version.min(VERSION),
                    actions: self.actions,
                    flags: self.flags,
                    macros,
                });
            }
            Command::Macros { stage, pairs } => {
                match self.macros.iter_mut().find(|(s, _)| *s == stage) {
                    Some(slot) => slot.1 = pairs,
                    // Bounded: only the nine stage bytes a well-behaved MTA uses are kept.
                    None if b"CHMRTLNBEU".contains(&stage) => self.macros.push((stage, pairs)),
                    None => debug!(stage, "macros for an unknown stage ignored"),
                }
            }
            Command::Connect { address, .. } => {
                self.client_ip = match address {
                    ClientAddress::Inet(ip, _) => Some(ip),
                    _ => self
                        .macro_value("{client_addr}")
                        .and_then(|a| a.parse().ok()),
                };
                reply_unless(self.flags, flag::NR_CONNECT, out);
            }
            Command::Helo(name) => {
                self.helo = Some(name);
                reply_unless(self.flags, flag::NR_HELO, out);
            }
            Command::Mail(args) => {
                self.msg = Some(Message {
                    mail_from: unbracket(args.first().map_or("", String::as_str)).to_string(),
                    ..Message::default()
                });
                reply_unless(self.flags, flag::NR_MAIL, out);
            }
            Command::Rcpt(args) => {
                let msg = self.msg.get_or_insert_with(Message::default);
                if let Some(raw) = args.into_iter().next() {
                    if msg.recipients.len() < MAX_RECIPIENTS {
                        let user = unbracket(&raw).to_string();
                        msg.recipients.push((raw, user));
                    } else if msg.recipients.len() == MAX_RECIPIENTS {
                        warn!(
                            max = MAX_RECIPIENTS,
                            "too many recipients; the rest are not classified"
                        );
                    }
                }
                reply_unless(self.flags, flag::NR_RCPT, out);
            }
            Command::Data => reply_unless(self.flags, flag::NR_DATA, out),
            Command::Header { name, value } => {
                let msg = self.msg.get_or_insert_with(Message::default);
                if let Some(i) = own_header_index(&name) {
                    msg.own_headers[i] = msg.own_headers[i].saturating_add(1);
                }
                msg.push(max, name.as_bytes());
                msg.push(max, b":");
                if !value.starts_with(b" ") && !value.starts_with(b"\t") {
                    msg.push(max, b" ");
                }
                // Folded values may arrive with bare LF line breaks.
                push_crlf_normalized(msg, max, &value);
                msg.push(max, b"\r\n");
                reply_unless(self.flags, flag::NR_HEADER, out);
            }
            Command::EndOfHeaders => {
                self.msg
                    .get_or_insert_with(Message::default)
                    .start_body(max);
                reply_unless(self.flags, flag::NR_EOH, out);
            }
            Command::Body(chunk) => {
                let msg = self.msg.get_or_insert_with(Message::default);
                msg.start_body(max);
                msg.push(max, &chunk);
                reply_unless(self.flags, flag::NR_BODY, out);
            }
            Command::EndOfMessage(chunk) => {
                let mut msg = self.msg.take().unwrap_or_default();
                if !chunk.is_empty() {
                    msg.start_body(max);
                    msg.push(max, &chunk);
                }
                let outcome = self.end_of_message(msg, classifier, out);
                self.clear_message_macros();
                return Ok(Event::Message(outcome));
            }
            Command::Abort => {
                self.clear_message_macros();
                if self.msg.take().is_some() {
                    return Ok(Event::Aborted);
                }
            }
            Command::Quit => return Ok(Event::Close),
            Command::QuitNewConnection => {
                self.macros.clear();
                self.client_ip = None;
                self.helo = None;
                self.msg = None;
            }
            Command::Unknown(_) => reply_unless(self.flags, flag::NR_UNKNOWN, out),
        }
        Ok(Event::None)
    }

    fn clear_message_macros(&mut self) {
        self.macros.retain(|(s, _)| !MESSAGE_STAGES.contains(s));
    }

    fn end_of_message<C: Classifier + ?Sized>(
        &mut self,
        msg: Message,
        classifier: &C,
        out: &mut Vec<Reply>,
    ) -> MessageOutcome {
        let s = &self.settings.actions;
        let envelope = Envelope {
            client_ip: self.client_ip,
            helo: self.helo.clone(),
            mail_from: Some(msg.mail_from.clone()),
            authenticated: self
                .macro_value("{auth_authen}")
                .is_some_and(|a| !a.is_empty()),
        };
        // Postfix always has a recipient; a bare protocol client may not: classify for no one
        // in particular then (the global verdict).
        let mut users: Vec<String> = msg.recipients.iter().map(|(_, u)| u.clone()).collect();
        if users.is_empty() {
            users.push(String::new());
        }
        let queue_id = self.macro_value("i").unwrap_or("-").to_string();
        let result = catch_unwind(AssertUnwindSafe(|| {
            classifier.classify(&envelope, &users, &msg.raw)
        }))
        .unwrap_or_else(|p| {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::Panic(what))
        });
        let (decision, error) = match result {
            Ok(verdicts) if verdicts.len() == users.len() => {
                let visible = |user: &str| crate::policy::named_in_to_or_cc(&msg.raw, user);
                let d = decide(
                    s,
                    &verdicts,
                    envelope.authenticated,
                    classifier.threshold(),
                    &visible,
                );
                if let Some(i) = d.shown {
                    let v = &verdicts[i];
                    info!(
                        queue_id,
                        from = %msg.mail_from,
                        rcpts = users.len(),
                        bytes = msg.bytes,
                        score = v.verdict.score,
                        spam = v.verdict.is_spam,
                        category = %v.verdict.category,
                        action = d.action.as_str(),
                        authenticated = envelope.authenticated,
                        degraded = verdicts.iter().any(|v| v.degraded),
                        "message"
                    );
                }
                (d, false)
            }
            other => {
                let err = match other {
                    Err(e) => e.to_string(),
                    Ok(v) => format!("{} verdicts for {} recipients", v.len(), users.len()),
                };
                warn!(queue_id, error = %err, "classification failed");
                let d = if s.tempfail_on_error {
                    Decision {
                        action: Action::Tempfail,
                        reply: Some(s.tempfail_reply.clone()),
                        headers: Vec::new(),
                        remove_recipients: Vec::new(),
                        shown: None,
                    }
                } else {
                    Decision {
                        action: Action::Accept,
                        reply: None,
                        headers: vec![("X-Chaff-Error", "classification failed".to_string())],
                        remove_recipients: Vec::new(),
                        shown: None,
                    }
                };
                (d, true)
            }
        };
        self.emit(&decision, &msg, out);
        MessageOutcome {
            action: decision.action,
            recipients: msg.recipients.len(),
            bytes: msg.bytes,
            error,
        }
    }

    /// The end-of-message replies: header changes, then one final reply.
    fn emit(&self, d: &Decision, msg: &Message, out: &mut Vec<Reply>) {
        let delivers = matches!(d.action, Action::Accept | Action::Quarantine);
        if delivers {
            if self.actions & action::CHANGE_HEADERS != 0 {
                // Remove planted copies of our fields, last first so indexes stay valid.
                for (name, &n) in OWN_HEADERS.iter().zip(&msg.own_headers) {
                    for index in (1..=n.min(MAX_DELETIONS)).rev() {
                        out.push(Reply::ChangeHeader {
                            index,
                            name: name.to_string(),
                            value: String::new(),
                        });
                    }
                }
            }
            if self.actions & action::ADD_HEADERS != 0 {
                // With HEADER_LEADING_SPACE the MTA writes `Name:` + value as given.
                let lead = if self.flags & flag::HEADER_LEADING_SPACE != 0 {
                    " "
                } else {
                    ""
                };
                for (name, value) in &d.headers {
                    out.push(Reply::AddHeader {
                        name: name.to_string(),
                        // Postfix expects folded lines joined with bare LF.
                        value: format!("{lead}{}", value.replace("\r\n", "\n")),
                    });
                }
            }
            if self.actions & action::DELETE_RCPT != 0 {
                for user in &d.remove_recipients {
                    if let Some((raw, _)) = msg.recipients.iter().find(|(_, u)| u == user) {
                        out.push(Reply::DeleteRecipient(raw.clone()));
                    }
                }
            } else if !d.remove_recipients.is_empty() {
                warn!("MTA does not offer delete-recipient: spam traps stay recipients");
            }
        }
        match d.action {
            Action::Accept => out.push(Reply::Accept),
            Action::Quarantine => {
                if self.actions & action::QUARANTINE != 0 {
                    out.push(Reply::Quarantine("chaff: spam".into()));
                } else {
                    warn!("MTA does not offer quarantine: message accepted");
                }
                out.push(Reply::Accept);
            }
            Action::Discard => out.push(Reply::Discard),
            Action::Reject | Action::Tempfail => out.push(match &d.reply {
                Some(r) => Reply::ReplyCode(r.clone()),
                None if d.action == Action::Reject => Reply::Reject,
                None => Reply::Tempfail,
            }),
        }
    }
}

/// `<a@b>` → `a@b`; anything else unchanged (trimmed).
fn unbracket(addr: &str) -> &str {
    let a = addr.trim();
    a.strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(a)
}

/// Appends `value`, turning bare LF line breaks into CRLF.
fn push_crlf_normalized(msg: &mut Message, max: usize, value: &[u8]) {
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        if b == b'\n' && (i == 0 || value[i - 1] != b'\r') {
            msg.push(max, &value[start..i]);
            msg.push(max, b"\r\n");
            start = i + 1;
        }
    }
    msg.push(max, &value[start..]);
}
