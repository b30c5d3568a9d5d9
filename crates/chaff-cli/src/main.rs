//! `chaff`: classify, train and evaluate with the Chaff mail classifier.

mod categories;
mod compare;
mod eval;
mod output;
mod trec;
mod users;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chaff_core::corpus::{self, IndexEntry};
use chaff_core::features::FeatureConfig;
use chaff_core::{Engine, Model, Trainer};
use clap::{Parser, Subcommand, ValueEnum};
use rayon::prelude::*;

#[derive(Parser)]
#[command(
    name = "chaff",
    version,
    about = "Sort mail: spam score, category and explanation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Tsv,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum EvalMode {
    /// Train on --train, score --test.
    Split,
    /// In --index order: classify each message, then train on its true label (TREC protocol).
    Incremental,
    /// Ham categories: stratified k-fold cross-validation over --index / --index-as.
    Categories,
}

#[derive(Subcommand)]
enum Command {
    /// Classify messages: one `path<TAB>verdict<TAB>score<TAB>category` line each.
    Classify {
        /// Model file (default: the embedded model).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Category model file (default: the embedded category model).
        #[arg(long)]
        category_model: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "tsv")]
        format: Format,
        /// Read message paths from the second column of an index.tsv.
        #[arg(long)]
        index: Option<PathBuf>,
        /// Resolve index paths against this folder instead of the index's folder.
        #[arg(long, requires = "index")]
        root: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        #[command(flatten)]
        rules: RulesArgs,
        /// Classify for this user: their lists, weights and settings (needs --store). Adds
        /// the folder as a fifth tsv column.
        #[arg(long, requires = "store")]
        user: Option<String>,
        /// Per-user store: a directory (embedded store) or `redis://HOST:PORT[/DB]`.
        #[arg(long)]
        store: Option<String>,
        /// Message files (`-` reads one message from standard input).
        files: Vec<PathBuf>,
    },
    /// Report messages for a user: spam (blocks the sender), ham (allows it), or a category.
    Report {
        #[arg(value_enum)]
        kind: users::ReportKind,
        #[arg(long)]
        user: String,
        /// Per-user store: a directory or `redis://HOST:PORT[/DB]`.
        #[arg(long)]
        store: String,
        /// For `report category`: personal, forum, newsletter, notification or spam.
        #[arg(long)]
        category: Option<String>,
        /// Model file (default: the embedded model).
        #[arg(long)]
        model: Option<PathBuf>,
        #[command(flatten)]
        feedback: users::FeedbackArgs,
        #[command(flatten)]
        rules: RulesArgs,
        /// Message files (`-` reads one message from standard input).
        files: Vec<PathBuf>,
    },
    /// Show or change allow, block, global block and spam-trap lists.
    List {
        #[arg(value_enum)]
        list: users::ListName,
        #[command(subcommand)]
        action: users::ListAction,
        /// The user (allow and block lists).
        #[arg(long, global = true)]
        user: Option<String>,
        /// Per-user store: a directory or `redis://HOST:PORT[/DB]`.
        #[arg(long, global = true)]
        store: Option<String>,
    },
    /// Show a user's settings, or set KEY VALUE for one or many users at once.
    Settings {
        /// The user (repeatable: the setting is applied to all of them, atomically).
        #[arg(long)]
        user: Vec<String>,
        /// A file of users, one per line (bulk apply).
        #[arg(long)]
        users_file: Option<PathBuf>,
        /// Per-user store: a directory or `redis://HOST:PORT[/DB]`.
        #[arg(long)]
        store: String,
        /// KEY VALUE (spam_filter on|off, newsletter_filter, notification_filter,
        /// inbox_folder, spam_folder, newsletter_folder, notification_folder).
        kv: Vec<String>,
    },
    /// Train a model from labelled indexes (labels: see `corpus::spam_label`).
    Train {
        /// Where to write the model.
        #[arg(long)]
        out: PathBuf,
        /// Continue from this model instead of an empty one.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Labelled index files (`label<TAB>path`).
        #[arg(long, required = true)]
        index: Vec<PathBuf>,
        /// Resolve index paths against this folder.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Drop tokens seen in fewer messages than this before writing (smaller file).
        #[arg(long, default_value_t = 1)]
        min_count: u32,
        /// Keep at most this many tokens (the most frequent) in the written model.
        #[arg(long)]
        max_tokens: Option<usize>,
        /// Train in an order shuffled with this seed (interleaves the indexes; the online
        /// learner needs mixed classes). Default: the order of the indexes.
        #[arg(long)]
        shuffle: Option<u64>,
    },
    /// Evaluate: TREC figures and a scores file readable by metrics.py.
    Eval {
        #[arg(long, value_enum)]
        mode: EvalMode,
        /// Training index (split mode).
        #[arg(long)]
        train: Option<PathBuf>,
        /// Test index (split mode).
        #[arg(long)]
        test: Option<PathBuf>,
        /// Index in arrival order (incremental mode); labelled indexes (categories mode,
        /// repeatable).
        #[arg(long)]
        index: Vec<PathBuf>,
        /// Categories mode: `CATEGORY=INDEX.tsv`, every message of the index is CATEGORY
        /// whatever its label (`newsletter=markup_newsletters/index.tsv`). Repeatable.
        #[arg(long)]
        index_as: Vec<String>,
        /// Categories mode: number of folds.
        #[arg(long, default_value_t = 5)]
        folds: usize,
        /// Categories mode: write `path<TAB>truth<TAB>predicted` lines here.
        #[arg(long)]
        predictions_out: Option<PathBuf>,
        #[command(flatten)]
        category_params: CategoryParams,
        /// Resolve index paths against this folder.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Write `path<TAB>truth<TAB>score` lines here.
        #[arg(long)]
        scores_out: Option<PathBuf>,
        /// Spam threshold for hm% / sm%.
        #[arg(long, default_value_t = 0.5)]
        threshold: f64,
        #[command(flatten)]
        rules: RulesArgs,
        /// Write `path<TAB>truth<TAB>z without rules<TAB>fired rule ids` lines here, for tuning
        /// rule weights (`corpora/tune-rules.py`).
        #[arg(long)]
        rule_hits_out: Option<PathBuf>,
        /// Split mode: threads that classify the test set (default: all cores). Incremental
        /// mode is sequential by nature.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Train the ham category model from indexes labelled with categories.
    TrainCategories {
        /// Where to write the category model.
        #[arg(long)]
        out: PathBuf,
        /// Indexes labelled personal / forum / newsletter / notification (Gmail tabs
        /// promotions / updates / social / none read as newsletter). Repeatable.
        #[arg(long)]
        index: Vec<PathBuf>,
        /// `CATEGORY=INDEX.tsv`: every message of the index is CATEGORY, whatever its label
        /// (for a bulk corpus: `newsletter=markup_newsletters/index.tsv`). Repeatable.
        #[arg(long)]
        index_as: Vec<String>,
        /// Resolve index paths against this folder.
        #[arg(long)]
        root: Option<PathBuf>,
        #[command(flatten)]
        params: CategoryParams,
    },
    /// Run Chaff and the installed peer filters on the same split or order of a corpus; write
    /// report.md, roc.svg (and learning.svg in incremental mode).
    Compare(compare::CompareArgs),
    /// The TREC spam track toolkit's filter commands (initialize, classify, train, finalize).
    Trec(trec::TrecArgs),
    /// Inspect a model file.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

/// Category model training settings (defaults: `chaff_core::category::TrainParams`).
#[derive(clap::Args)]
struct CategoryParams {
    /// Log-odds by which another category must beat `personal` to be chosen.
    #[arg(long)]
    margin: Option<f64>,
    /// Training passes.
    #[arg(long)]
    epochs: Option<u32>,
    /// AdaGrad step size.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// L2 penalty.
    #[arg(long)]
    l2: Option<f64>,
    /// Class weighting: 0 = none, 1 = fully balanced.
    #[arg(long)]
    balance: Option<f64>,
    /// Tokens in fewer training messages get no weight.
    #[arg(long)]
    min_messages: Option<u32>,
}

impl CategoryParams {
    fn params(&self) -> chaff_core::category::TrainParams {
        let mut p = chaff_core::category::TrainParams::default();
        if let Some(v) = self.margin {
            p.margin = v;
        }
        if let Some(v) = self.epochs {
            p.epochs = v;
        }
        if let Some(v) = self.learning_rate {
            p.learning_rate = v;
        }
        if let Some(v) = self.l2 {
            p.l2 = v;
        }
        if let Some(v) = self.balance {
            p.balance = v;
        }
        if let Some(v) = self.min_messages {
            p.min_messages = v;
        }
        p
    }
}

/// Rules options of `classify` and `eval`.
#[derive(clap::Args)]
struct RulesArgs {
    /// Rules file over the default rules (repeatable; later files override earlier ones by
    /// rule id; `weight = 0` disables a rule).
    #[arg(long = "rules", value_name = "FILE")]
    rule_files: Vec<PathBuf>,
    /// Leave out the default rules: the Bayes/learner score alone (plus any --rules files).
    #[arg(long)]
    no_rules: bool,
    /// Believe `Authentication-Results` fields of this authserv-id (repeatable).
    #[arg(long = "trusted-authserv-id", value_name = "ID")]
    trusted_authserv_ids: Vec<String>,
}

impl RulesArgs {
    fn apply(&self, mut builder: chaff_core::EngineBuilder) -> chaff_core::EngineBuilder {
        for f in &self.rule_files {
            builder = builder.rules_file(f);
        }
        builder
            .default_rules(!self.no_rules)
            .trusted_authserv_ids(self.trusted_authserv_ids.iter().cloned())
    }

    /// Default settings with these rules (for `eval`, which builds no engine).
    fn config(&self) -> Result<chaff_core::EngineConfig> {
        let mut config = chaff_core::EngineConfig::default();
        if self.no_rules || !self.rule_files.is_empty() {
            config.rules = std::sync::Arc::new(chaff_core::rules::RuleSet::load(
                !self.no_rules,
                &self.rule_files,
            )?);
        }
        config.trusted_authserv_ids = self.trusted_authserv_ids.clone();
        Ok(config)
    }
}

#[derive(Subcommand)]
enum ModelCommand {
    /// Version, token count, training counts and size (`embedded` for the built-in model).
    Info { file: PathBuf },
}

/// mimalloc instead of the system allocator: mail parsing allocates many small, short-lived
/// buffers, and glibc's malloc/free took about a tenth of the instructions of bulk
/// classification (callgrind, `chaff classify --index` over 300 SpamAssassin messages).
/// Built without transparent huge pages (`no_thp`): a run of `chaff` is short, and with them
/// each fresh 2 MiB region was zeroed whole on first touch (a third of the CPU time of
/// classifying one message) and, when the kernel had to compact memory first, stalled for
/// tens of milliseconds.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CHAFF_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("chaff: {}", output::error_chain(&e));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Classify {
            model,
            category_model,
            format,
            index,
            root,
            jobs,
            rules,
            user,
            store,
            files,
        } => classify(
            user.as_deref(),
            store.as_deref(),
            model.as_deref(),
            category_model.as_deref(),
            format,
            index.as_deref(),
            root.as_deref(),
            jobs,
            &rules,
            files,
        ),
        Command::Train {
            out,
            model,
            index,
            root,
            min_count,
            max_tokens,
            shuffle,
        } => train(
            &out,
            model.as_deref(),
            &index,
            root.as_deref(),
            min_count,
            max_tokens,
            shuffle,
        ),
        Command::Eval {
            mode,
            train,
            test,
            index,
            root,
            scores_out,
            threshold,
            index_as,
            folds,
            predictions_out,
            category_params,
            rules,
            rule_hits_out,
            jobs,
        } => {
            let root = root.as_deref();
            let config = rules.config()?;
            let want_hits = rule_hits_out.is_some();
            if mode == EvalMode::Categories {
                return categories::eval_categories(
                    &index,
                    &index_as,
                    root,
                    folds,
                    category_params.params(),
                    predictions_out.as_deref(),
                );
            }
            let run = match mode {
                EvalMode::Split => {
                    let (Some(train), Some(test)) = (train, test) else {
                        bail!("--mode split needs --train and --test")
                    };
                    eval::split(
                        &labelled(&train, root)?,
                        &labelled(&test, root)?,
                        &config,
                        want_hits,
                        jobs,
                    )?
                }
                EvalMode::Categories => unreachable!("handled above"),
                EvalMode::Incremental => {
                    let [index] = &index[..] else {
                        bail!("--mode incremental needs one --index")
                    };
                    eval::incremental(&labelled(index, root)?, &config, want_hits)?
                }
            };
            if let Some(path) = scores_out {
                run.write_scores(&path)?;
            }
            if let Some(path) = rule_hits_out {
                run.write_rule_hits(&path)?;
            }
            run.print_summary(threshold);
            Ok(())
        }
        Command::TrainCategories {
            out,
            index,
            index_as,
            root,
            params,
        } => {
            categories::train_categories(&out, &index, &index_as, root.as_deref(), params.params())
        }
        Command::Compare(args) => compare::run(args),
        Command::Trec(args) => trec::run(args),
        Command::Model {
            command: ModelCommand::Info { file },
        } => model_info(&file),
        Command::Report {
            kind,
            user,
            store,
            category,
            model,
            feedback,
            rules,
            files,
        } => {
            let engine = rules
                .apply(Engine::builder().model(load_model(model.as_deref())?))
                .store(users::open_store(&store)?)
                .feedback(feedback.config())
                .build()?;
            users::report(engine, kind, category.as_deref(), &user, &files)
        }
        Command::List {
            list,
            action,
            user,
            store,
        } => {
            let Some(store) = store else {
                bail!("--store is required")
            };
            users::list(&*users::open_store(&store)?, list, &action, user.as_deref())
        }
        Command::Settings {
            user,
            users_file,
            store,
            kv,
        } => users::settings(
            &*users::open_store(&store)?,
            &user,
            users_file.as_deref(),
            &kv,
        ),
    }
}

fn load_model(path: Option<&Path>) -> Result<Model> {
    Ok(match path {
        Some(p) => Model::open(p)?,
        None => chaff_core::default_model()?,
    })
}

/// Reads an index whose labels must all map to spam or ham.
pub(crate) fn labelled(index: &Path, root: Option<&Path>) -> Result<Vec<(IndexEntry, bool)>> {
    corpus::read_index(index, root)?
        .into_iter()
        .map(|e| match corpus::spam_label(&e.label) {
            Some(s) => Ok((e, s)),
            None => bail!(
                "{}: label {:?} is neither spam nor ham (see `chaff train --help`)",
                index.display(),
                e.label
            ),
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn classify(
    user: Option<&str>,
    store: Option<&str>,
    model: Option<&Path>,
    category_model: Option<&Path>,
    format: Format,
    index: Option<&Path>,
    root: Option<&Path>,
    jobs: Option<usize>,
    rules: &RulesArgs,
    files: Vec<PathBuf>,
) -> Result<()> {
    // Loading the models (checksums) and building the engine (compiling the rules) run on
    // another thread, while this one reads the index and the first messages.
    let build_engine = || -> Result<Engine> {
        let mut builder = rules.apply(Engine::builder().model(load_model(model)?));
        if let Some(path) = category_model {
            builder = builder.category_model(chaff_core::CategoryModel::open(path)?);
        }
        if let Some(spec) = store {
            builder = builder.store(users::open_store(spec)?);
        }
        Ok(builder.build()?)
    };
    // The worker pool comes first, and one of its threads builds the engine, which keeps a
    // core busy for a few milliseconds: meanwhile this thread reads the index and then
    // messages, and stops reading as soon as the engine is ready (reading is then shared by
    // every worker). A thread of its own for the build cost more: its exit (freeing what
    // compiling the rules allocated) held up the start by about as long again.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()?;
    let built = std::sync::atomic::AtomicBool::new(false);
    let mut engine = None;
    let (items, preread) = pool.in_place_scope(|s| -> Result<_> {
        s.spawn(|_| {
            engine = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                build_engine,
            )));
            built.store(true, std::sync::atomic::Ordering::Release);
        });
        let mut items: Vec<(String, PathBuf)> = files
            .into_iter()
            .map(|p| (p.display().to_string(), p))
            .collect();
        if let Some(index) = index {
            items.extend(
                corpus::read_index(index, root)?
                    .into_iter()
                    .map(|e| (e.rel, e.path)),
            );
        }
        if items.is_empty() {
            bail!("no messages: give FILE arguments or --index");
        }
        let preread: Vec<std::io::Result<Vec<u8>>> = items
            .iter()
            .take_while(|_| !built.load(std::sync::atomic::Ordering::Acquire))
            .map(|(_, p)| read_message(p))
            .collect();
        Ok((items, preread))
    })?;
    let engine = match engine {
        Some(Ok(e)) => e?,
        _ => bail!("building the classifier panicked"),
    };
    if let Some(user) = user {
        return users::classify_for(&engine, user, &items, format == Format::Json);
    }
    let explain = format == Format::Json;
    let started = Instant::now();
    let sources: Vec<(&String, Source<'_>)> = items
        .iter()
        .zip(
            preread
                .into_iter()
                .map(Ok)
                .chain(std::iter::repeat_with(|| Err(()))),
        )
        .map(|((name, path), pre)| (name, pre.map_err(|()| path.as_path())))
        .collect();
    let lines: Vec<String> = pool.install(|| {
        sources
            .into_par_iter()
            .map_init(Vec::new, |buf, (name, source)| {
                let raw = match source {
                    Ok(read) => read.map(std::borrow::Cow::Owned),
                    Err(path) => {
                        read_into(path, buf).map(|len| std::borrow::Cow::Borrowed(&buf[..len]))
                    }
                };
                match raw {
                    Ok(raw) => {
                        let v = if explain {
                            engine.classify_explained(&raw)
                        } else {
                            engine.classify(&raw)
                        };
                        output::verdict_line(name, &v, explain)
                    }
                    Err(e) => output::error_line(name, &e.to_string(), explain),
                }
            })
            .collect()
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in &lines {
        writeln!(out, "{l}")?;
    }
    out.flush()?;
    tracing::info!(
        messages = lines.len(),
        seconds = started.elapsed().as_secs_f64(),
        "classified"
    );
    Ok(())
}

/// A message `classify` has read already, or the path to read it from.
type Source<'a> = Result<std::io::Result<Vec<u8>>, &'a Path>;

/// A message file, or standard input for `-`.
fn read_message(path: &Path) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        read_stdin()
    } else {
        std::fs::read(path)
    }
}

/// Reads a message file (or standard input for `-`) into `buf`, reusing its allocation, and
/// returns its length: the message is `buf[..len]`. Unlike `std::fs::read` it does not `stat`
/// the file for its size first (the buffer is nearly always big enough already); that and
/// the saved allocation were measurable in bulk `classify`.
fn read_into(path: &Path, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    if path.as_os_str() == "-" {
        *buf = read_stdin()?;
        return Ok(buf.len());
    }
    // A huge message read before should not keep its buffer for the rest of the run.
    if buf.len() > MAX_KEPT_BUFFER {
        buf.truncate(MAX_KEPT_BUFFER);
        buf.shrink_to_fit();
    }
    let mut file = std::fs::File::open(path)?;
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize((buf.len() * 2).max(64 << 10), 0);
        }
        match std::io::Read::read(&mut file, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

/// The largest read buffer a `classify` worker keeps between messages.
const MAX_KEPT_BUFFER: usize = 4 << 20;

fn read_stdin() -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
    Ok(v)
}

fn train(
    out: &Path,
    base: Option<&Path>,
    indexes: &[PathBuf],
    root: Option<&Path>,
    min_count: u32,
    max_tokens: Option<usize>,
    shuffle: Option<u64>,
) -> Result<()> {
    let mut trainer = match base {
        Some(b) => Trainer::from_model(&Model::open(b)?),
        None => Trainer::new(FeatureConfig::default()),
    };
    let mut all = Vec::new();
    for index in indexes {
        all.extend(labelled(index, root)?);
    }
    if let Some(seed) = shuffle {
        chaff_core::corpus::shuffle(&mut all, seed);
    }
    let started = Instant::now();
    let bar = output::progress(all.len() as u64, "training");
    let limits = chaff_core::parse::ParseLimits::default();
    let features = trainer.features();
    let mut tokens = Vec::new();
    for (entry, spam) in &all {
        let raw = std::fs::read(&entry.path)
            .with_context(|| format!("reading {}", entry.path.display()))?;
        chaff_core::engine::message_tokens(&raw, &limits, &features, &mut tokens);
        trainer.train(&tokens, *spam);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if min_count > 1 {
        trainer.prune(min_count);
    }
    if let Some(n) = max_tokens {
        trainer.prune_to(n);
    }
    trainer.write(out)?;
    let meta = trainer.meta();
    eprintln!(
        "trained {} messages ({} spam, {} ham) in {:.2} s ({:.0} msg/s); {} tokens -> {}",
        all.len(),
        meta.n_spam,
        meta.n_ham,
        secs,
        all.len() as f64 / secs.max(1e-9),
        meta.n_tokens,
        out.display()
    );
    Ok(())
}

fn model_info(file: &Path) -> Result<()> {
    let model = if file.as_os_str() == "embedded" {
        chaff_core::default_model()?
    } else {
        Model::open(file)?
    };
    let m = model.meta();
    println!("origin\t{}", model.origin());
    println!(
        "format_version\t{}",
        chaff_core::model::file::FORMAT_VERSION
    );
    println!("tokenizer_version\t{}", m.tokenizer_version);
    println!("tokens\t{}", m.n_tokens);
    println!("trained_spam\t{}", m.n_spam);
    println!("trained_ham\t{}", m.n_ham);
    println!("osb_window\t{}", m.features.osb_window);
    println!("size_bytes\t{}", model.size_bytes());
    Ok(())
}
