//! `chaff-milter`: the Chaff milter daemon (see the crate documentation and README.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info};

use chaff_milter::config::Config;
use chaff_milter::server::{self, Server};

/// Chaff milter for Postfix: adds spam verdict headers, rejects or quarantines spam.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML configuration file (every key optional).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address, overriding the file: inet:HOST:PORT or unix:PATH.
    #[arg(long)]
    listen: Option<String>,
    /// chaff-core store (per-user lists and settings), overriding the file: a directory, or
    /// `redis://HOST:PORT[/DB]` for state shared by several milters.
    #[arg(long)]
    store: Option<String>,
    /// Check the configuration and load the model and rules, then exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "chaff-milter failed");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> chaff_milter::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(s) = args.store {
        config.store = Some(s);
    }
    let origin = args.config.clone().unwrap_or_default();
    config.check(&origin)?;
    let store = config.open_store()?;
    let classifier = server::shared(config.build_classifier(store.clone())?);
    if args.check {
        info!("configuration and classifier OK");
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| chaff_milter::Error::Io {
            what: "start runtime".into(),
            error: e,
        })?;
    rt.block_on(async move {
        let listen = config.listen()?;
        let srv = Server::bind(
            &listen,
            config.session_settings(),
            classifier.clone(),
            config.max_packet,
        )
        .await?;
        info!(listen = %srv.local_addr(), store = ?config.store, "listening");
        let stats = srv.stats();
        let io = |e| chaff_milter::Error::Io {
            what: "install signal handler".into(),
            error: e,
        };
        let mut hup = signal(SignalKind::hangup()).map_err(io)?;
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        let mut int = signal(SignalKind::interrupt()).map_err(io)?;
        let reload_config = Arc::new(config.clone());
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let c = reload_config.clone();
                let store = store.clone();
                // Building loads and checks files: keep it off the runtime's workers.
                match tokio::task::spawn_blocking(move || c.build_classifier(store)).await {
                    Ok(Ok(new)) => {
                        classifier.store(Arc::new(new));
                        info!("SIGHUP: model and rules reloaded");
                    }
                    Ok(Err(e)) => {
                        error!(error = %e, "SIGHUP: reload failed, keeping the running classifier")
                    }
                    Err(e) => error!(error = %e, "SIGHUP: reload task failed"),
                }
            }
        });
        if config.stats_interval_secs > 0 {
            let every = Duration::from_secs(config.stats_interval_secs);
            let stats = stats.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    info!(stats = %stats.summary(), "stats");
                }
            });
        }
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM"),
                _ = int.recv() => info!("SIGINT"),
            }
        };
        srv.run(shutdown, Duration::from_secs(config.drain_timeout_secs))
            .await
    })
}
