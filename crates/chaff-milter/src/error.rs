//! The one error type of `chaff-milter`.

use std::path::PathBuf;

/// Everything that can go wrong in the milter. Each variant names the input that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The MTA sent bytes that are not a valid milter packet.
    #[error("milter protocol: {0}")]
    Protocol(String),
    /// A packet announced a length above the limit; nothing of it was buffered.
    #[error("milter protocol: packet of {len} bytes exceeds the limit of {max}")]
    PacketTooLarge {
        /// The announced length.
        len: usize,
        /// The configured limit (`max_packet`).
        max: usize,
    },
    /// The configuration file could not be read or is invalid.
    #[error("{}: {reason}", .path.display())]
    Config {
        /// The configuration file (empty for command-line flags).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A listen address is not `inet:HOST:PORT` or `unix:PATH`.
    #[error("listen address {0:?}: expected inet:HOST:PORT or unix:PATH")]
    Listen(String),
    /// Socket or file I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (`bind inet:127.0.0.1:2592`, `read from MTA`).
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The classifier could not be built or failed on a message.
    #[error("classifier: {0}")]
    Classifier(#[from] chaff_core::Error),
    /// Classification panicked; the message gets the configured error action.
    #[error("classifier panicked: {0}")]
    Panic(String),
}

impl Error {
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
