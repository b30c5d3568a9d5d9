//! The TOML configuration file and the listen address. Every key is optional; command-line
//! flags override the file.
//!
//! ```toml
//! listen = "inet:127.0.0.1:2592"       # or "unix:/run/chaff/milter.sock"
//! store = "/var/lib/chaff/store"        # per-user lists and settings (chaff-core store)
//! model = "/var/lib/chaff/model.chaffmodel"   # default: the embedded model
//! category_model = "/var/lib/chaff/model.categories"
//! rules = ["/etc/chaff/site-rules.toml"]
//! default_rules = true
//! threshold = 0.5                       # X-Spam-Flag: YES above this
//! trusted_authserv_ids = ["mx.example.org"]
//! max_packet = 1048576                  # larger milter packets end the connection
//! stats_interval_secs = 60              # periodic stats log line; 0: only at shutdown
//! drain_timeout_secs = 30               # SIGTERM: wait this long for open sessions
//!
//! [actions]
//! reject_above = 0.99                   # 550 5.7.1 above this; 1.0: never (GTUBE still is)
//! quarantine_above = 0.9                # Postfix hold queue (default: never)
//! reject_reply = "550 5.7.1 Message rejected as spam"
//! discard_traps = true
//! tempfail_on_error = false
//! recipient_headers = true
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chaff_core::store::Store;
use serde::Deserialize;

use crate::classify::Classifier;
use crate::policy::ActionSettings;
use crate::protocol::DEFAULT_MAX_PACKET;
use crate::session::SessionSettings;
use crate::{Error, Result};

/// Where the milter listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `inet:HOST:PORT` (IPv6 hosts in brackets: `inet:[::1]:2592`).
    Inet(String, u16),
    /// `unix:PATH`.
    Unix(PathBuf),
}

impl Listen {
    /// Parses `inet:HOST:PORT`, `inet:PORT@HOST` (libmilter's form) or `unix:PATH`.
    ///
    /// ```
    /// use chaff_milter::config::Listen;
    /// assert_eq!(Listen::parse("inet:127.0.0.1:2592").unwrap(), Listen::Inet("127.0.0.1".into(), 2592));
    /// assert_eq!(Listen::parse("inet:2592@localhost").unwrap(), Listen::Inet("localhost".into(), 2592));
    /// assert!(Listen::parse("tcp:1").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Listen> {
        let bad = || Error::Listen(s.to_string());
        if let Some(path) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("local:")) {
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        let rest = s.strip_prefix("inet:").ok_or_else(bad)?;
        let (host, port) = if let Some((port, host)) = rest.split_once('@') {
            (host, port)
        } else {
            rest.rsplit_once(':').ok_or_else(bad)?
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Listen::Inet(host.to_string(), port))
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Inet(h, p) if h.contains(':') => write!(f, "inet:[{h}]:{p}"),
            Listen::Inet(h, p) => write!(f, "inet:{h}:{p}"),
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listen address (`inet:HOST:PORT` or `unix:PATH`).
    pub listen: String,
    /// The chaff-core store (per-user lists, weights, settings): a directory, or
    /// `redis://HOST:PORT[/DB]` shared by several milters (`docs/redis.md`).
    pub store: Option<String>,
    /// Spam model file (default: the embedded model).
    pub model: Option<PathBuf>,
    /// Category model file (default: the embedded one).
    pub category_model: Option<PathBuf>,
    /// Rules files over the default rules.
    pub rules: Vec<PathBuf>,
    /// Start from the embedded default rules.
    pub default_rules: bool,
    /// Spam threshold in (0, 1).
    pub threshold: f64,
    /// Authentication services whose `Authentication-Results` the rules believe.
    pub trusted_authserv_ids: Vec<String>,
    /// Largest milter packet accepted, in bytes.
    pub max_packet: usize,
    /// Ask the MTA not to wait for replies before end of message.
    pub no_reply: bool,
    /// Seconds between stats log lines (0: only at shutdown).
    pub stats_interval_secs: u64,
    /// Seconds SIGTERM waits for open sessions before exiting.
    pub drain_timeout_secs: u64,
    /// Actions.
    pub actions: ActionSettings,
}

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "inet:127.0.0.1:2592";

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.into(),
            store: None,
            model: None,
            category_model: None,
            rules: Vec::new(),
            default_rules: true,
            threshold: 0.5,
            trusted_authserv_ids: Vec::new(),
            max_packet: DEFAULT_MAX_PACKET,
            no_reply: true,
            stats_interval_secs: 60,
            drain_timeout_secs: 30,
            actions: ActionSettings::default(),
        }
    }
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and checks configuration text (`origin` names it in errors).
    pub fn parse(text: &str, origin: &Path) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| Error::Config {
            path: origin.to_path_buf(),
            reason: e.to_string(),
        })?;
        config.check(origin)?;
        Ok(config)
    }

    /// Checks values that TOML types cannot.
    pub fn check(&self, origin: &Path) -> Result<()> {
        let bad = |reason: String| Error::Config {
            path: origin.to_path_buf(),
            reason,
        };
        Listen::parse(&self.listen)?;
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(bad(format!(
                "threshold = {} is not in (0, 1)",
                self.threshold
            )));
        }
        if self.max_packet < 65_536 + 1 {
            return Err(bad(format!(
                "max_packet = {} is below one body chunk (65537)",
                self.max_packet
            )));
        }
        self.actions.check().map_err(bad)
    }

    /// The listen address.
    pub fn listen(&self) -> Result<Listen> {
        Listen::parse(&self.listen)
    }

    /// What sessions need.
    pub fn session_settings(&self) -> SessionSettings {
        SessionSettings {
            actions: self.actions.clone(),
            no_reply: self.no_reply,
            ..SessionSettings::default()
        }
    }

    /// Opens the configured store (`None` without one: everyone gets the global verdict).
    /// Opened once per process; reloads reuse it.
    pub fn open_store(&self) -> Result<Option<Arc<dyn Store>>> {
        match &self.store {
            Some(spec) => Ok(Some(chaff_core::store::open(spec)?)),
            None => Ok(None),
        }
    }

    /// Builds the classifier: model and rules as configured, over `store`. Called at start and
    /// on SIGHUP (then an error keeps the running classifier).
    pub fn build_classifier(&self, store: Option<Arc<dyn Store>>) -> Result<Arc<dyn Classifier>> {
        let mut b = chaff_core::Engine::builder()
            .threshold(self.threshold)
            .default_rules(self.default_rules)
            .trusted_authserv_ids(self.trusted_authserv_ids.iter().cloned());
        if let Some(m) = &self.model {
            b = b.model(chaff_core::Model::open(m)?);
        }
        if let Some(m) = &self.category_model {
            b = b.category_model(chaff_core::CategoryModel::open(m)?);
        }
        for r in &self.rules {
            b = b.rules_file(r);
        }
        if let Some(store) = store {
            b = b.store(store);
        }
        Ok(Arc::new(b.build()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_defaults() {
        let c = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen().unwrap(), Listen::Inet("127.0.0.1".into(), 2592));
    }

    #[test]
    fn full_file() {
        let c = Config::parse(
            r#"
listen = "unix:/run/chaff.sock"
store = "/tmp/s"
rules = ["a.toml", "b.toml"]
threshold = 0.6
[actions]
reject_above = 0.97
quarantine_above = 0.9
tempfail_on_error = true
"#,
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(c.listen().unwrap(), Listen::Unix("/run/chaff.sock".into()));
        assert_eq!(c.actions.reject_above, Some(0.97));
        assert_eq!(c.actions.quarantine_above, Some(0.9));
        assert!(c.actions.tempfail_on_error);
        assert_eq!(c.rules.len(), 2);
    }

    #[test]
    fn errors_name_the_file_and_key() {
        for (text, needle) in [
            ("listen = \"tcp:1\"", "tcp:1"),
            ("threshold = 1.5", "threshold"),
            ("unknown_key = 1", "unknown_key"),
            ("[actions]\nreject_reply = \"250 ok\"", "reject_reply"),
            ("max_packet = 10", "max_packet"),
        ] {
            let e = Config::parse(text, Path::new("/etc/chaff/milter.toml")).unwrap_err();
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            Listen::parse("inet:[::1]:25").unwrap(),
            Listen::Inet("::1".into(), 25)
        );
        assert_eq!(
            Listen::parse("inet:[::1]:25").unwrap().to_string(),
            "inet:[::1]:25"
        );
        for bad in ["inet:host", "inet::25", "unix:", "inet:h:99999", "x"] {
            assert!(Listen::parse(bad).is_err(), "{bad}");
        }
    }
}
