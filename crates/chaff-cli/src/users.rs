//! Per-user commands: `report`, `list`, `settings`, and `classify --user`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chaff_core::Engine;
use chaff_core::feedback::{self, Envelope, FeedbackConfig, UserList};
use chaff_core::store::Store;
use clap::{Subcommand, ValueEnum};

/// What a report says.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum ReportKind {
    /// "Report as spam".
    Spam,
    /// "This is not spam".
    Ham,
    /// "This belongs in --category".
    Category,
}

/// Which list.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum ListName {
    /// The user's allowed senders (needs --user).
    Allow,
    /// The user's blocked senders (needs --user).
    Block,
    /// Senders and client IPs blocked for everyone.
    Global,
    /// Spam-trap addresses.
    Trap,
}

/// What to do with a list.
#[derive(Subcommand, Clone, Debug)]
pub enum ListAction {
    /// Add a pattern: `alice@example.com`, `@example.com`, `*.example.com` (or an IP for
    /// `global`, an address for `trap`).
    Add { pattern: String },
    /// Remove a pattern.
    Rm { pattern: String },
    /// Print the list, one entry a line.
    Show,
}

/// Guarded-learning options of `report`.
#[derive(clap::Args, Debug)]
pub struct FeedbackArgs {
    /// Distinct users who must agree before a report teaches the global overlay.
    #[arg(long, default_value_t = FeedbackConfig::default().min_agreeing_users)]
    pub min_agreeing_users: u32,
    /// Reports per user per hour that count toward global learning.
    #[arg(long, default_value_t = FeedbackConfig::default().reports_per_hour)]
    pub reports_per_hour: u32,
}

impl FeedbackArgs {
    pub fn config(&self) -> FeedbackConfig {
        FeedbackConfig {
            min_agreeing_users: self.min_agreeing_users,
            reports_per_hour: self.reports_per_hour,
            ..FeedbackConfig::default()
        }
    }
}

pub fn open_store(spec: &str) -> Result<Arc<dyn Store>> {
    chaff_core::store::open(spec).with_context(|| format!("opening store {spec}"))
}

/// `chaff report spam|ham|category --user U --store S FILE...`: one line per message,
/// `path<TAB>new|duplicate<TAB>sender<TAB>counted|not-counted<TAB>global-learned|-`.
pub fn report(
    engine: Engine,
    kind: ReportKind,
    category: Option<&str>,
    user: &str,
    files: &[PathBuf],
) -> Result<()> {
    if files.is_empty() {
        bail!("no messages: give FILE arguments (`-` reads standard input)");
    }
    let category = match (kind, category) {
        (ReportKind::Category, Some(c)) => {
            Some(feedback::category_from_name(c).with_context(|| {
                format!("unknown category {c:?} (personal, forum, newsletter, notification, spam)")
            })?)
        }
        (ReportKind::Category, None) => bail!("report category needs --category"),
        (_, Some(_)) => bail!("--category goes with `report category`"),
        _ => None,
    };
    let mut out = std::io::stdout().lock();
    for f in files {
        let raw = read(f)?;
        let r = match (kind, category) {
            (ReportKind::Spam, _) => engine.report_spam(user, &raw),
            (ReportKind::Ham, _) => engine.report_not_spam(user, &raw),
            (ReportKind::Category, Some(c)) => engine.report_category(user, &raw, c),
            (ReportKind::Category, None) => unreachable!("checked above"),
        }
        .with_context(|| format!("{}: report not recorded", f.display()))?;
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            f.display(),
            if r.duplicate { "duplicate" } else { "new" },
            r.sender.as_deref().unwrap_or("-"),
            if r.counted_globally {
                "counted"
            } else {
                "not-counted"
            },
            if r.global_learned {
                "global-learned"
            } else {
                "-"
            },
        )?;
    }
    Ok(())
}

fn read(f: &Path) -> Result<Vec<u8>> {
    if f.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
        Ok(v)
    } else {
        std::fs::read(f).with_context(|| format!("reading {}", f.display()))
    }
}

/// `chaff list allow|block|global|trap add|rm|show`.
pub fn list(
    store: &dyn Store,
    list: ListName,
    action: &ListAction,
    user: Option<&str>,
) -> Result<()> {
    let user_list = match list {
        ListName::Allow => Some(UserList::Allow),
        ListName::Block => Some(UserList::Block),
        _ => None,
    };
    let mut out = std::io::stdout().lock();
    match (user_list, user) {
        (Some(l), Some(u)) => match action {
            ListAction::Add { pattern } => {
                let new = feedback::list_add(store, u, l, pattern)?;
                writeln!(out, "{}", if new { "added" } else { "already listed" })?;
            }
            ListAction::Rm { pattern } => {
                let was = feedback::list_remove(store, u, l, pattern)?;
                writeln!(out, "{}", if was { "removed" } else { "not listed" })?;
            }
            ListAction::Show => {
                for e in feedback::list_show(store, u, l)? {
                    writeln!(out, "{e}")?;
                }
            }
        },
        (Some(_), None) => bail!("allow and block lists need --user"),
        (None, Some(_)) => bail!("global and trap lists are installation-wide: leave out --user"),
        (None, None) => {
            let trap = list == ListName::Trap;
            match action {
                ListAction::Add { pattern } => {
                    let new = if trap {
                        feedback::trap_add(store, pattern)?
                    } else {
                        feedback::global_block_add(store, pattern)?
                    };
                    writeln!(out, "{}", if new { "added" } else { "already listed" })?;
                }
                ListAction::Rm { pattern } => {
                    let was = if trap {
                        feedback::trap_remove(store, pattern)?
                    } else {
                        feedback::global_block_remove(store, pattern)?
                    };
                    writeln!(out, "{}", if was { "removed" } else { "not listed" })?;
                }
                ListAction::Show => {
                    let g = feedback::global_record(store)?;
                    let entries = if trap {
                        g.traps
                    } else {
                        g.block.into_iter().chain(g.block_ips).collect()
                    };
                    for e in entries {
                        writeln!(out, "{e}")?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// `chaff settings --user U [--user U2 | --users-file F] [KEY VALUE]`: with KEY VALUE, set it
/// for all the users at once (all or none); without, print the one user's settings.
pub fn settings(
    store: &dyn Store,
    users: &[String],
    users_file: Option<&Path>,
    kv: &[String],
) -> Result<()> {
    let mut all: Vec<String> = users.to_vec();
    if let Some(f) = users_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        all.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    if all.is_empty() {
        bail!("give --user (repeatable) or --users-file");
    }
    let mut out = std::io::stdout().lock();
    match kv {
        [] => {
            let [u] = &all[..] else {
                bail!("showing settings takes one user");
            };
            for (k, v) in feedback::settings(store, u)?.pairs() {
                writeln!(out, "{k}\t{v}")?;
            }
        }
        [k, v] => {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            feedback::set_setting(store, &refs, k, v)?;
            writeln!(out, "set {k}={v} for {} user(s)", refs.len())?;
        }
        _ => bail!(
            "give KEY VALUE, or nothing to show the settings (keys: {})",
            feedback::SETTING_KEYS.join(", ")
        ),
    }
    Ok(())
}

/// `chaff classify --user U --store S FILE...`: the tsv line gets the folder as a fifth column.
pub fn classify_for(
    engine: &Engine,
    user: &str,
    items: &[(String, PathBuf)],
    json: bool,
) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (name, path) in items {
        let raw = match read(path) {
            Ok(r) => r,
            Err(e) => {
                writeln!(
                    out,
                    "{}",
                    crate::output::error_line(name, &crate::output::error_chain(&e), json)
                )?;
                continue;
            }
        };
        let mut v = engine.classify_envelope(&Envelope::default(), &[user], &raw, json);
        let Some(v) = v.pop() else { continue };
        if v.degraded {
            tracing::warn!(user, "per-user data unavailable: global verdict");
        }
        if json {
            let mut j = serde_json::to_value(&v)?;
            if let Some(o) = j.as_object_mut() {
                o.insert("path".into(), name.clone().into());
            }
            writeln!(out, "{j}")?;
        } else {
            writeln!(
                out,
                "{}\t{}",
                crate::output::verdict_line(name, &v.verdict, false),
                v.folder
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
