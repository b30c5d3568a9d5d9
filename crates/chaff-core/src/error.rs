//! The one error type of `chaff-core`.

use std::path::PathBuf;

/// Everything that can go wrong in `chaff-core`. Each variant names the input that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written. The message holds the I/O error's, and it is not
    /// given again as [`std::error::Error::source`] (a printed chain would show it twice).
    #[error("{path}: {error}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A model file is not usable: wrong magic, unsupported version, truncated or corrupt.
    #[error("model {origin}: {reason}")]
    Model {
        /// Where the model came from (a path, or `embedded`).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The setting that is wrong.
        field: &'static str,
        /// Why it is wrong.
        reason: String,
    },
    /// A corpus index line could not be understood.
    #[error("{path}:{line}: {reason}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A rules file is not valid: bad TOML, an unknown key, target or fact, a missing or extra
    /// test, a regex that does not compile. Nothing from the file is used.
    #[error(
        "{}:{line}: {}{reason}",
        .file.display(),
        .rule.as_deref().map(|r| format!("rule {r}: ")).unwrap_or_default()
    )]
    Rules {
        /// The rules file (`<embedded>/default.toml` for the built-in rules).
        file: PathBuf,
        /// The 1-based line of the offending rule or key (0 when the file could not be read).
        line: usize,
        /// The id of the offending rule, when the error is inside one.
        rule: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// The per-user store failed: cannot be opened, is of an unknown schema, or a read or
    /// write failed.
    #[error("store {store}: {reason}")]
    Store {
        /// The store (`redb:PATH`, `redis://…`).
        store: String,
        /// What went wrong.
        reason: String,
    },
    /// A stored record could not be decoded (corrupt, or written by a newer version).
    #[error("stored record {key}: {reason}")]
    Record {
        /// The record's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A per-user operation needs a store and the engine has none.
    #[error("no store configured: per-user lists, settings and reports need one")]
    NoStore,
    /// A user's input was refused (a malformed list pattern, an unknown setting).
    #[error("{what}: {reason}")]
    Invalid {
        /// The value refused.
        what: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            error,
        }
    }
    pub(crate) fn model(origin: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Model {
            origin: origin.into(),
            reason: reason.into(),
        }
    }
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_is_told_once() {
        use std::error::Error as _;
        let e = Error::io(
            "/x/m.chaffmodel",
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        );
        assert_eq!(e.to_string(), "/x/m.chaffmodel: no such file");
        // In the message, so not again as the source: a printed chain shows it once.
        assert!(e.source().is_none());
        assert!(
            matches!(&e, Error::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
        );
    }
}
