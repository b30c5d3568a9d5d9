//! A Postfix milter for Chaff: every message leaves with a verdict in its headers, spam above
//! a threshold is rejected, and no mail is lost when the filter fails.
//!
//! ```no_run
//! use chaff_milter::{config::Config, server};
//! # async fn run() -> chaff_milter::Result<()> {
//! let config = Config::default(); // inet:127.0.0.1:2592, embedded model, default actions
//! let classifier = server::shared(config.build_classifier(config.open_store()?)?);
//! let srv = server::Server::bind(&config.listen()?, config.session_settings(), classifier,
//!                                config.max_packet).await?;
//! srv.run(async { let _ = tokio::signal::ctrl_c().await; }, std::time::Duration::from_secs(30)).await
//! # }
//! ```
//!
//! Postfix side: `smtpd_milters = inet:127.0.0.1:2592`, `milter_protocol = 6`,
//! `milter_default_action = accept` (see `examples/postfix-main.cf`).
//!
//! # Layers
//! - [`protocol`]: the milter wire format (sans I/O): a bounded [`protocol::Decoder`] from bytes
//!   to [`protocol::Command`]s, and [`protocol::Reply`] encoding.
//! - [`session`]: one MTA connection as a state machine (negotiation, envelope and message
//!   collection, end-of-message decision); no I/O, so tests and the fuzz target drive it.
//! - [`classify`]: the seam to `chaff-core` ([`classify::Classifier`]: one verdict per
//!   recipient). All classification, lists and settings come from chaff-core.
//! - [`policy`]: verdicts → action (reject / quarantine / discard / accept) and header
//!   fields ([`headers`]), including the rules for several recipients.
//! - [`server`]: tokio listener, one task per connection, reload by swapping the classifier,
//!   drain on shutdown; [`stats`]: counters and latency histograms; [`config`]: the TOML file.
//!
//! # Why the protocol is written here
//! The milter protocol is small (about fifteen commands of length-prefixed packets), and the
//! alternatives each cost something this crate would keep paying for:
//! - **indymilter** is complete and pure Rust, but GPL-3.0-or-later: the milter binary would
//!   have to be GPL while the rest of Chaff is MIT OR Apache-2.0.
//! - **miltr-server** (MIT) lacks `SMFIR_ACCEPT`, change-sender, progress and macro-list
//!   requests, and serves one connection per server object.
//! - Writing it here keeps one licence, every action Postfix offers (add, change and delete
//!   headers, quarantine, delete recipient, custom replies, macro requests, no-reply stages),
//!   and a sans-I/O decoder that a proptest and a cargo-fuzz target (`fuzz/`,
//!   `milter_session`) feed arbitrary bytes. Its cost is this module's tests.
//!
//! # Behaviour
//! At end of message the message is classified once for all recipients (each recipient is a
//! user with their own lists and settings in the chaff-core store); see [`policy`] for the
//! actions and what happens when recipients disagree, and [`headers`] for the fields. An
//! authenticated submission (`{auth_authen}` set) gets headers but no spam action. When
//! classification fails the message is accepted with `X-Chaff-Error` (or tempfailed with
//! `tempfail_on_error`); when the milter is down, Postfix applies `milter_default_action`.

#![warn(missing_docs)]

pub mod classify;
pub mod config;
mod error;
pub mod headers;
pub mod policy;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;
pub mod session;
pub mod stats;

pub use error::{Error, Result};
