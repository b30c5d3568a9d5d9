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
    /// Socket or file I/O failed. The message holds the I/O error's (it is not given again as
    /// `source()`, so a printed chain shows it once).
    #[error("{what}: {error}")]
    Io {
        /// What was being done (`bind inet:127.0.0.1:2592`, `read from MTA`).
        what: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The classifier could not be built or failed on a message (its error's message is part
    /// of this one, and not given again as `source()`).
    #[error("classifier: {0}")]
    Classifier(chaff_core::Error),
    /// Classification panicked; the message gets the configured error action.
    #[error("classifier panicked: {0}")]
    Panic(String),
}

impl Error {
    #[cfg_attr(not(feature = "server"), allow(dead_code))]
    pub(crate) fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            error,
        }
    }
}

impl From<chaff_core::Error> for Error {
    fn from(e: chaff_core::Error) -> Self {
        Error::Classifier(e)
    }
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_told_once() {
        use std::error::Error as _;
        let io = Error::io(
            "read from MTA",
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "early eof"),
        );
        assert_eq!(io.to_string(), "read from MTA: early eof");
        assert!(io.source().is_none());
        let core = chaff_core::Error::Config {
            field: "threshold",
            reason: "not in [0, 1]".into(),
        };
        let e = Error::from(core);
        assert_eq!(
            e.to_string(),
            "classifier: invalid configuration: threshold: not in [0, 1]"
        );
        assert!(e.source().is_none());
    }
}
