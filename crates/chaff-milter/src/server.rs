//! The network side: a tokio listener (TCP or unix socket), one task per MTA connection, each
//! driving a [`Session`] with packets from a [`Decoder`]. The classifier sits behind an
//! [`ArcSwap`], so a reload (SIGHUP) swaps it between messages without locking or dropping
//! connections; shutdown stops accepting and waits for open connections (drain).
//!
//! Classification runs on the connection's task, inside `block_in_place`: it takes well under a
//! millisecond of CPU, so handing it to a blocking pool would cost more than it saves, but with a
//! Redis store it also waits on the network, and then the runtime's other tasks move to another
//! worker.
//!
//! Any error on a connection (bad packet, oversized packet, unknown command, the MTA going
//! away mid-message) ends that connection with a log line; the server keeps serving.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::classify::Classifier;
use crate::config::Listen;
use crate::protocol::{Command, Decoder};
use crate::session::{Event, Session, SessionSettings};
use crate::stats::Stats;
use crate::{Error, Result};

/// The classifier every session uses, swappable at run time.
pub type SharedClassifier = Arc<ArcSwap<Arc<dyn Classifier>>>;

/// Wraps a classifier for [`Server::new`].
pub fn shared(c: Arc<dyn Classifier>) -> SharedClassifier {
    Arc::new(ArcSwap::from_pointee(c))
}

/// A connection is closed when the MTA sends nothing for this long (Postfix keeps a milter
/// connection for the whole SMTP session, whose own timeouts are shorter).
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

/// A bound milter server.
pub struct Server {
    listener: Listener,
    settings: Arc<SessionSettings>,
    classifier: SharedClassifier,
    stats: Arc<Stats>,
    max_packet: usize,
}

impl Server {
    /// Binds the address (a stale unix socket file is replaced).
    pub async fn bind(
        listen: &Listen,
        settings: SessionSettings,
        classifier: SharedClassifier,
        max_packet: usize,
    ) -> Result<Server> {
        let what = || format!("bind {listen}");
        let listener = match listen {
            Listen::Inet(host, port) => Listener::Tcp(
                TcpListener::bind((host.as_str(), *port))
                    .await
                    .map_err(|e| Error::io(what(), e))?,
            ),
            Listen::Unix(path) => {
                if std::fs::symlink_metadata(path).is_ok_and(|m| {
                    use std::os::unix::fs::FileTypeExt;
                    m.file_type().is_socket()
                }) {
                    let _ = std::fs::remove_file(path);
                }
                Listener::Unix(
                    UnixListener::bind(path).map_err(|e| Error::io(what(), e))?,
                    path.clone(),
                )
            }
        };
        Ok(Server {
            listener,
            settings: Arc::new(settings),
            classifier,
            stats: Arc::new(Stats::default()),
            max_packet,
        })
    }

    /// The bound address, in listen syntax (`inet:127.0.0.1:40123`).
    pub fn local_addr(&self) -> String {
        match &self.listener {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(a) => Listen::Inet(a.ip().to_string(), a.port()).to_string(),
                Err(_) => "inet:?".into(),
            },
            Listener::Unix(_, p) => Listen::Unix(p.clone()).to_string(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits up to `drain` for
    /// open connections before closing them.
    pub async fn run(self, shutdown: impl Future<Output = ()>, drain: Duration) -> Result<()> {
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        error!(error = %e, "connection task failed");
                    }
                }
                accepted = self.accept() => match accepted {
                    Ok(stream) => {
                        let c = Connection {
                            settings: self.settings.clone(),
                            classifier: self.classifier.clone(),
                            stats: self.stats.clone(),
                            max_packet: self.max_packet,
                        };
                        tasks.spawn(c.serve(stream));
                    }
                    Err(e) => {
                        // EMFILE and the like: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        let open = tasks.len();
        info!(
            open,
            "shutting down: no new connections, draining open ones"
        );
        if let Listener::Unix(_, path) = &self.listener {
            let _ = std::fs::remove_file(path);
        }
        drop(self.listener);
        let drained =
            tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            warn!(
                left = tasks.len(),
                "drain timeout: closing remaining connections"
            );
            tasks.shutdown().await;
        }
        info!(stats = %self.stats.summary(), "stopped");
        Ok(())
    }

    async fn accept(&self) -> std::io::Result<Stream> {
        match &self.listener {
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(Stream::Tcp(s))
            }
            Listener::Unix(l, _) => Ok(Stream::Unix(l.accept().await?.0)),
        }
    }
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

struct Connection {
    settings: Arc<SessionSettings>,
    classifier: SharedClassifier,
    stats: Arc<Stats>,
    max_packet: usize,
}

impl Connection {
    async fn serve(self, stream: Stream) {
        self.stats.connections.fetch_add(1, Relaxed);
        self.stats.open.fetch_add(1, Relaxed);
        let result = match stream {
            Stream::Tcp(s) => self.run(s).await,
            Stream::Unix(s) => self.run(s).await,
        };
        self.stats.open.fetch_sub(1, Relaxed);
        if let Err(e) = result {
            self.stats.connection_errors.fetch_add(1, Relaxed);
            error!(error = %e, "connection closed on error");
        }
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&self, mut stream: S) -> Result<()> {
        let mut decoder = Decoder::new(self.max_packet);
        let mut session = Session::new(self.settings.clone());
        let mut buf = vec![0u8; 64 * 1024];
        let mut replies = Vec::new();
        let mut wire = Vec::new();
        let mut busy = Duration::ZERO;
        loop {
            loop {
                let t0 = Instant::now();
                let cpu0 = thread_cpu_time();
                let Some(cmd) = decoder.next_command()? else {
                    break;
                };
                if matches!(cmd, Command::Mail(_)) {
                    busy = Duration::ZERO;
                }
                debug!(command = cmd.name(), "command");
                let eom = matches!(cmd, Command::EndOfMessage(_));
                let event = {
                    let classifier = self.classifier.load();
                    let handle = || session.handle(cmd, &***classifier, &mut replies);
                    // End of message classifies, and with a server-backed store (Redis) it
                    // waits on the network: let the runtime move its other tasks off this
                    // worker meanwhile (same thread, so the CPU time below stays right).
                    if eom && multi_thread() {
                        tokio::task::block_in_place(handle)?
                    } else {
                        handle()?
                    }
                };
                // Same thread: no await since cpu0.
                let cpu = thread_cpu_time().saturating_sub(cpu0);
                // Count before replying, so whoever sees the reply sees the count.
                match &event {
                    Event::Message(outcome) => {
                        self.stats.count_action(outcome.action);
                        if outcome.error {
                            self.stats.classify_errors.fetch_add(1, Relaxed);
                        }
                    }
                    Event::Aborted => {
                        self.stats.aborted.fetch_add(1, Relaxed);
                    }
                    Event::None | Event::Close => {}
                }
                if !replies.is_empty() {
                    wire.clear();
                    for r in replies.drain(..) {
                        r.encode(&mut wire);
                    }
                    stream
                        .write_all(&wire)
                        .await
                        .map_err(|e| Error::io("write to MTA", e))?;
                }
                let took = t0.elapsed();
                busy += took;
                match event {
                    Event::None => {}
                    Event::Message(_) => {
                        self.stats.eom.record(took);
                        self.stats.eom_cpu.record(cpu);
                        self.stats.busy.record(busy);
                        busy = Duration::ZERO;
                    }
                    Event::Aborted => busy = Duration::ZERO,
                    Event::Close => return Ok(()),
                }
            }
            let n = match tokio::time::timeout(IDLE_TIMEOUT, stream.read(&mut buf)).await {
                Ok(r) => r.map_err(|e| Error::io("read from MTA", e))?,
                Err(_) => return Err(Error::Protocol("MTA idle for an hour".into())),
            };
            if n == 0 {
                if session.in_message() || decoder.pending() > 0 {
                    return Err(Error::Protocol(format!(
                        "MTA disconnected mid-{} ({} bytes of a packet pending)",
                        if session.in_message() {
                            "message"
                        } else {
                            "packet"
                        },
                        decoder.pending()
                    )));
                }
                return Ok(());
            }
            decoder.extend(&buf[..n]);
        }
    }
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given; CLOCK_THREAD_CPUTIME_ID is
    // supported on every Linux and BSD. On failure ts stays zero (a zero reading).
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Whether this runs on a multi-threaded runtime (`block_in_place` panics on the
/// current-thread runtime tests may use).
fn multi_thread() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}
