//! Per-user feedback: reports ("spam" / "not spam" / "this is a newsletter"), allow and block
//! lists, settings, guarded global learning and spam traps. The rules of the game live here;
//! the records are kept in a [`crate::store::Store`] and the [`crate::Engine`] applies them.
//!
//! # What a report does
//! - **Report spam** (`Engine::report_spam`): the sender's address goes on the user's block
//!   list (and off their allow list), and the user's weight overlay learns the message as spam.
//!   **Not spam** is the reverse. Reporting the same message (same tokens) with the same label
//!   again changes nothing; the opposite label undoes and redoes.
//! - The **overlay** is a small sparse set of learner weights (at most
//!   [`MAX_USER_OVERLAY`] tokens) added to the global model's for that user only. A report
//!   moves the message's log-odds to [`OVERLAY_TARGET`] on the reported side, spread evenly
//!   over its tokens, leaving out tokens more than [`COMMON_TOKEN_SHARE`] of all trained mail
//!   contains (they say nothing about this message and would move every other one). A similar
//!   message shares a part of the tokens and so moves by that part: one to three reports of
//!   similar mail flip the user's verdict on the next one.
//! - **Global learning is guarded**: a report counts toward the global overlay only within the
//!   user's rate limit ([`FeedbackConfig::reports_per_hour`]), and the global overlay learns a
//!   message only when [`FeedbackConfig::min_agreeing_users`] distinct users reported it the
//!   same way. One user can change only their own verdicts.
//! - **Spam traps**: mail to a trap address is learned as spam globally (no vote needed) and its
//!   sender address and client IP are blocked for everyone.
//!
//! # Order of checks when classifying for a user
//! 1. The message's own score: global model + rules + global overlay + the user's overlay.
//! 2. A rule that forces a verdict (GTUBE) decides, whatever the lists say.
//! 3. A recipient that is a spam trap gets spam.
//! 4. Global block list (sender pattern or client IP): [`BLOCK_WEIGHT`] is added.
//! 5. The user's block list: [`BLOCK_WEIGHT`] is added. **Block beats allow**: when a block
//!    entry matches, the allow list is not consulted.
//! 6. The user's allow list. The hit is **trusted** only when the sender's domain is
//!    authenticated (a DKIM, SPF or DMARC pass for that domain in an `Authentication-Results`
//!    field whose authserv-id is trusted, see `EngineBuilder::trusted_authserv_ids`) or when the
//!    envelope sender (SMTP `MAIL FROM`) matches the same allow entry; a trusted hit adds
//!    [`TRUSTED_ALLOW_WEIGHT`] (ham). An untrusted hit — a `From:` header alone, which anybody
//!    can forge — only adds [`UNTRUSTED_ALLOW_WEIGHT`].
//! 7. Category: spam is `spam`; otherwise a sender the user filed into a category
//!    (`Engine::report_category`) gets that category, else the category model decides.
//! 8. Folder: from the user's settings; a filter that is off leaves that mail in the inbox
//!    (the verdict, score and headers stay the same).

pub mod pattern;
mod records;

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

pub use pattern::SenderPattern;
pub use records::{
    GlobalRecord, MAX_GLOBAL_ENTRIES, MAX_GLOBAL_OVERLAY, MAX_LIST_ENTRIES, MAX_REMEMBERED_REPORTS,
    MAX_USER_OVERLAY, Overlay, RECORD_VERSION, ReportMark, SETTING_KEYS, Settings, UserRecord,
    VOTE_SLOTS, VoteRecord,
};
pub(crate) use records::{decode, encode};

use crate::store::{Key, Store};
use crate::{Category, Error, Result, Verdict};

/// Log-odds added for a blocked sender (global or the user's).
pub const BLOCK_WEIGHT: f64 = 20.0;
/// Log-odds added for a trusted allow-list hit.
pub const TRUSTED_ALLOW_WEIGHT: f64 = -20.0;
/// Log-odds added for an allow-list hit whose sender is not authenticated.
pub const UNTRUSTED_ALLOW_WEIGHT: f64 = -3.0;
/// Log-odds a report moves its message to (score σ(6/2) ≈ 0.95 spam, 0.05 ham).
pub const OVERLAY_TARGET: f64 = 6.0;
/// Most log-odds one report adds to one token.
pub const MAX_TOKEN_STEP: f64 = 1.0;
/// Tokens in more than this share of the trained mail are not learned from reports.
pub const COMMON_TOKEN_SHARE: f64 = 0.2;

/// Settings of the feedback layer (operator settings, not per-user ones).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackConfig {
    /// Distinct users who must report a message the same way before the global overlay
    /// learns it (at least 1; default 3).
    pub min_agreeing_users: u32,
    /// Reports per user per hour that count toward global learning (more are still applied
    /// to the user's own lists and weights). Default 20.
    pub reports_per_hour: u32,
    /// How long a classifier uses installation-wide state (traps, global lists, global
    /// overlay) before reading it again. Its own writes are seen at once. Default 1 s.
    pub global_ttl: Duration,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        FeedbackConfig {
            min_agreeing_users: 3,
            reports_per_hour: 20,
            global_ttl: Duration::from_secs(1),
        }
    }
}

/// What the MTA knows about a delivery, beyond the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The SMTP client's address.
    pub client_ip: Option<IpAddr>,
    /// The HELO / EHLO name.
    pub helo: Option<String>,
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub mail_from: Option<String>,
    /// The client authenticated (SMTP AUTH): a submission, not inbound mail.
    pub authenticated: bool,
}

/// Which list an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListKind {
    /// The user's allowed senders.
    Allow,
    /// The user's blocked senders.
    Block,
    /// Senders blocked for everyone.
    GlobalBlock,
    /// Client addresses blocked for everyone.
    GlobalBlockIp,
    /// The recipient is a spam trap.
    Trap,
}

impl ListKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Allow => "allow",
            ListKind::Block => "block",
            ListKind::GlobalBlock => "global-block",
            ListKind::GlobalBlockIp => "global-block-ip",
            ListKind::Trap => "trap",
        }
    }
}

/// A list entry that matched a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListHit {
    /// The list.
    pub list: ListKind,
    /// The entry (pattern, address or IP).
    pub entry: String,
    /// For allow hits: the sender was authenticated, so the hit decided.
    pub trusted: bool,
    /// Log-odds it added.
    pub weight: f64,
}

impl ListHit {
    /// Readable form for explanations: `blocked sender @example.com (block list)`.
    pub fn describe(&self) -> String {
        match self.list {
            ListKind::Allow if self.trusted => {
                format!("allowed sender {} (authenticated)", self.entry)
            }
            ListKind::Allow => format!(
                "allowed sender {} (not authenticated: score lowered only)",
                self.entry
            ),
            ListKind::Block => format!("blocked sender {}", self.entry),
            ListKind::GlobalBlock => format!("blocked sender {} (global)", self.entry),
            ListKind::GlobalBlockIp => format!("blocked client {} (global)", self.entry),
            ListKind::Trap => format!("spam trap {}", self.entry),
        }
    }
}

/// A verdict for one recipient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserVerdict {
    /// The recipient (lower case).
    pub user: String,
    /// Score, spam or not, category and (when asked for) the explanation, with this user's
    /// lists and weights applied. The explanation's `list_hits` name the list entries.
    pub verdict: Verdict,
    /// The folder the user's settings file it into.
    pub folder: String,
    /// The user's spam filter is on (when off, spam stays in the inbox; headers still say spam).
    pub spam_filter: bool,
    /// The list entry that weighed in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_hit: Option<ListHit>,
    /// The recipient is a spam trap.
    pub trap: bool,
    /// The user's record could not be read (store down, corrupt record): the verdict is the
    /// global one, without the user's lists, weights and settings.
    pub degraded: bool,
}

/// What a report changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportOutcome {
    /// The same report of the same message was already made: nothing changed.
    pub duplicate: bool,
    /// The sender address that went on (or off) a list.
    pub sender: Option<String>,
    /// The report counted toward global learning (within the user's rate limit).
    pub counted_globally: bool,
    /// This report completed the agreement and the global overlay learned the message.
    pub global_learned: bool,
    /// Tokens in the user's overlay after the report.
    pub overlay_tokens: usize,
}

/// What a user said about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Spam.
    Spam,
    /// Not spam.
    Ham,
    /// Not spam, and it belongs in this category.
    Category(Category),
}

impl Label {
    fn code(self) -> u8 {
        match self {
            Label::Spam | Label::Category(Category::Spam) => 1,
            Label::Ham => 2,
            Label::Category(c) => 3 + c as u8,
        }
    }
    /// Whether the label says spam.
    pub fn is_spam(self) -> bool {
        matches!(self, Label::Spam | Label::Category(Category::Spam))
    }
}

/// The store key of a user's record, validating the address.
pub fn user_key(user: &str) -> Result<Key> {
    let u = user.trim();
    if u.is_empty() || u.len() > 320 || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Invalid {
            what: format!("user {user:?}"),
            reason: "a user is an address: no white space, 1 to 320 characters".into(),
        });
    }
    Ok(Key::user(u))
}

pub(crate) fn user_hash(user: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(user.trim().to_ascii_lowercase().as_bytes())
}

fn load<T: serde::de::DeserializeOwned + Default>(
    kind: u8,
    key: &Key,
    v: &Option<Vec<u8>>,
) -> Result<T> {
    match v {
        Some(b) => decode(kind, &key.name(), b),
        None => Ok(T::default()),
    }
}

/// Reads a user's record (`None` when the user has none).
pub fn user_record(store: &dyn Store, user: &str) -> Result<Option<UserRecord>> {
    let key = user_key(user)?;
    let v = store.read(std::slice::from_ref(&key))?;
    match v.into_iter().next().flatten() {
        Some(b) => decode(b'U', &key.name(), &b).map(Some),
        None => Ok(None),
    }
}

/// Reads the installation-wide record.
pub fn global_record(store: &dyn Store) -> Result<GlobalRecord> {
    let v = store.read(&[Key::Global])?;
    load(b'G', &Key::Global, &v[0])
}

/// Changes the records of `users` in one atomic update.
fn update_users(
    store: &dyn Store,
    users: &[&str],
    f: &mut dyn FnMut(&mut UserRecord) -> Result<()>,
) -> Result<()> {
    let keys: Vec<Key> = users.iter().map(|u| user_key(u)).collect::<Result<_>>()?;
    store.update(&keys, &mut |values| {
        for (k, v) in keys.iter().zip(values.iter_mut()) {
            let mut r: UserRecord = load(b'U', k, v)?;
            f(&mut r)?;
            *v = Some(encode(b'U', &r));
        }
        Ok(())
    })
}

fn update_global(
    store: &dyn Store,
    f: &mut dyn FnMut(&mut GlobalRecord) -> Result<()>,
) -> Result<()> {
    store.update(&[Key::Global], &mut |values| {
        let mut g: GlobalRecord = load(b'G', &Key::Global, &values[0])?;
        f(&mut g)?;
        values[0] = Some(encode(b'G', &g));
        Ok(())
    })
}

/// A user's list: allow or block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserList {
    /// Allowed senders.
    Allow,
    /// Blocked senders.
    Block,
}

fn list_mut(r: &mut UserRecord, list: UserList) -> &mut Vec<String> {
    match list {
        UserList::Allow => &mut r.allow,
        UserList::Block => &mut r.block,
    }
}

fn push_bounded(list: &mut Vec<String>, entry: String, max: usize) -> bool {
    if list.contains(&entry) {
        return false;
    }
    if list.len() >= max {
        list.remove(0);
    }
    list.push(entry);
    true
}

/// Adds `pattern` to `user`'s list (the other list keeps its entries: block beats allow).
/// Returns whether it was new. A full list drops its oldest entry.
///
/// ```
/// use chaff_core::feedback::{self, UserList};
/// let store = chaff_core::store::MemoryStore::default();
/// feedback::list_add(&store, "alice@example.org", UserList::Block, "@spam.example").unwrap();
/// assert_eq!(feedback::list_show(&store, "alice@example.org", UserList::Block).unwrap(), ["@spam.example"]);
/// ```
pub fn list_add(store: &dyn Store, user: &str, list: UserList, pattern: &str) -> Result<bool> {
    let p = SenderPattern::parse(pattern)?.to_string();
    let mut added = false;
    update_users(store, &[user], &mut |r| {
        added = push_bounded(list_mut(r, list), p.clone(), MAX_LIST_ENTRIES);
        Ok(())
    })?;
    Ok(added)
}

/// Removes `pattern` from `user`'s list; returns whether it was there.
pub fn list_remove(store: &dyn Store, user: &str, list: UserList, pattern: &str) -> Result<bool> {
    let p = SenderPattern::parse(pattern)?.to_string();
    let mut removed = false;
    update_users(store, &[user], &mut |r| {
        let l = list_mut(r, list);
        let before = l.len();
        l.retain(|e| *e != p);
        removed = l.len() != before;
        Ok(())
    })?;
    Ok(removed)
}

/// The entries of `user`'s list, in the order they were added.
pub fn list_show(store: &dyn Store, user: &str, list: UserList) -> Result<Vec<String>> {
    let mut r = user_record(store, user)?.unwrap_or_default();
    Ok(std::mem::take(list_mut(&mut r, list)))
}

/// `user`'s settings (the defaults when they have none).
pub fn settings(store: &dyn Store, user: &str) -> Result<Settings> {
    Ok(user_record(store, user)?.unwrap_or_default().settings)
}

/// Sets one setting for every user in `users`, atomically: all of them or none (an invalid
/// value or user changes nothing).
///
/// ```
/// use chaff_core::feedback;
/// let store = chaff_core::store::MemoryStore::default();
/// feedback::set_setting(&store, &["a@x.org", "b@x.org"], "newsletter_filter", "off").unwrap();
/// assert!(!feedback::settings(&store, "b@x.org").unwrap().newsletter_filter);
/// assert!(feedback::set_setting(&store, &["a@x.org"], "colour", "red").is_err());
/// ```
pub fn set_setting(store: &dyn Store, users: &[&str], key: &str, value: &str) -> Result<()> {
    // Validate once before touching the store.
    Settings::default().set(key, value)?;
    update_users(store, users, &mut |r| r.settings.set(key, value))
}

/// Adds a spam-trap address.
pub fn trap_add(store: &dyn Store, address: &str) -> Result<bool> {
    let a = match SenderPattern::parse(address)? {
        SenderPattern::Address(a) => a,
        _ => {
            return Err(Error::Invalid {
                what: format!("trap {address:?}"),
                reason: "a trap is one address".into(),
            });
        }
    };
    let mut added = false;
    update_global(store, &mut |g| {
        added = push_bounded(&mut g.traps, a.clone(), MAX_GLOBAL_ENTRIES);
        Ok(())
    })?;
    Ok(added)
}

/// Removes a spam-trap address.
pub fn trap_remove(store: &dyn Store, address: &str) -> Result<bool> {
    let a = address.trim().to_lowercase();
    let mut removed = false;
    update_global(store, &mut |g| {
        let before = g.traps.len();
        g.traps.retain(|t| *t != a);
        removed = before != g.traps.len();
        Ok(())
    })?;
    Ok(removed)
}

/// Adds a sender pattern or a client IP address to the global block list.
pub fn global_block_add(store: &dyn Store, entry: &str) -> Result<bool> {
    let mut added = false;
    if let Ok(ip) = entry.trim().parse::<IpAddr>() {
        update_global(store, &mut |g| {
            added = push_bounded(&mut g.block_ips, ip.to_string(), MAX_GLOBAL_ENTRIES);
            Ok(())
        })?;
    } else {
        let p = SenderPattern::parse(entry)?.to_string();
        update_global(store, &mut |g| {
            added = push_bounded(&mut g.block, p.clone(), MAX_GLOBAL_ENTRIES);
            Ok(())
        })?;
    }
    Ok(added)
}

/// Removes a sender pattern or client IP from the global block list.
pub fn global_block_remove(store: &dyn Store, entry: &str) -> Result<bool> {
    let canonical = match entry.trim().parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => SenderPattern::parse(entry)?.to_string(),
    };
    let mut removed = false;
    update_global(store, &mut |g| {
        let before = g.block.len() + g.block_ips.len();
        g.block.retain(|e| *e != canonical);
        g.block_ips.retain(|e| *e != canonical);
        removed = before != g.block.len() + g.block_ips.len();
        Ok(())
    })?;
    Ok(removed)
}

/// Installation-wide state as a classifier uses it (parsed once per refresh).
#[derive(Debug, Default)]
pub(crate) struct GlobalView {
    pub traps: Vec<String>,
    pub block: Vec<SenderPattern>,
    pub block_ips: Vec<IpAddr>,
    pub overlay: Overlay,
    /// The store could not be read: these are empty or stale.
    pub degraded: bool,
}

impl GlobalView {
    pub(crate) fn from_records(g: &GlobalRecord, overlay: Overlay) -> GlobalView {
        GlobalView {
            traps: g.traps.clone(),
            block: g
                .block
                .iter()
                .filter_map(|p| SenderPattern::parse(p).ok())
                .collect(),
            block_ips: g.block_ips.iter().filter_map(|p| p.parse().ok()).collect(),
            overlay,
            degraded: false,
        }
    }

    pub(crate) fn load(store: &dyn Store) -> Result<GlobalView> {
        let v = store.read(&[Key::Global, Key::GlobalOverlay])?;
        let g: GlobalRecord = load(b'G', &Key::Global, &v[0])?;
        let o: Overlay = load(b'O', &Key::GlobalOverlay, &v[1])?;
        Ok(GlobalView::from_records(&g, o))
    }
}

/// What the engine knows about the message, for the list checks.
pub(crate) struct Sender<'a> {
    pub address: Option<&'a str>,
    pub authenticated_domains: &'a [String],
}

/// The list entry that applies to `sender` for `user` (steps 3–6 of the order of checks).
pub(crate) fn list_check(
    user: &str,
    user_rec: Option<&UserRecord>,
    global: &GlobalView,
    sender: &Sender<'_>,
    env: &Envelope,
) -> Option<ListHit> {
    if global
        .traps
        .iter()
        .any(|t| t.eq_ignore_ascii_case(user.trim()))
    {
        return Some(ListHit {
            list: ListKind::Trap,
            entry: user.trim().to_lowercase(),
            trusted: true,
            weight: BLOCK_WEIGHT,
        });
    }
    let address = sender.address.unwrap_or("");
    let hit = |list, entry: String, trusted, weight| {
        Some(ListHit {
            list,
            entry,
            trusted,
            weight,
        })
    };
    if !address.is_empty()
        && let Some(p) = global.block.iter().find(|p| p.matches(address))
    {
        return hit(ListKind::GlobalBlock, p.to_string(), true, BLOCK_WEIGHT);
    }
    if let Some(ip) = env.client_ip
        && global.block_ips.contains(&ip)
    {
        return hit(ListKind::GlobalBlockIp, ip.to_string(), true, BLOCK_WEIGHT);
    }
    let rec = user_rec?;
    if address.is_empty() {
        return None;
    }
    let find = |list: &[String]| {
        list.iter()
            .filter_map(|e| SenderPattern::parse(e).ok())
            .find(|p| p.matches(address))
    };
    if let Some(p) = find(&rec.block) {
        return hit(ListKind::Block, p.to_string(), true, BLOCK_WEIGHT);
    }
    if let Some(p) = find(&rec.allow) {
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        let authenticated = sender
            .authenticated_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain));
        let envelope_matches = env
            .mail_from
            .as_deref()
            .map(|m| p.matches(&m.trim().trim_matches(['<', '>']).to_lowercase()))
            .unwrap_or(false);
        let trusted = authenticated || envelope_matches;
        let weight = if trusted {
            TRUSTED_ALLOW_WEIGHT
        } else {
            UNTRUSTED_ALLOW_WEIGHT
        };
        return hit(ListKind::Allow, p.to_string(), trusted, weight);
    }
    None
}

/// The category `user` filed `sender`'s mail into, if any.
pub(crate) fn category_for_sender(rec: &UserRecord, sender: Option<&str>) -> Option<Category> {
    let s = sender?;
    rec.category_senders
        .iter()
        .rev()
        .find(|(a, _)| a == s)
        .and_then(|(_, c)| category_from_name(c))
}

/// The category named `name` (`personal`, `forum`, `newsletter`, `notification`, `spam`).
pub fn category_from_name(name: &str) -> Option<Category> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "personal" => Category::Personal,
        "forum" => Category::Forum,
        "newsletter" => Category::Newsletter,
        "notification" => Category::Notification,
        "spam" => Category::Spam,
        _ => return None,
    })
}

/// The folder `settings` file a verdict into.
pub(crate) fn folder(settings: &Settings, v: &Verdict) -> String {
    let f = if v.is_spam {
        settings.spam_filter.then_some(&settings.spam_folder)
    } else {
        match v.category {
            Category::Newsletter => settings
                .newsletter_filter
                .then_some(&settings.newsletter_folder),
            Category::Notification => settings
                .notification_filter
                .then_some(&settings.notification_folder),
            _ => None,
        }
    };
    f.unwrap_or(&settings.inbox_folder).clone()
}

/// Moves `overlay` so that `tokens` score `OVERLAY_TARGET` log-odds on the side of `spam`,
/// given that they score `z` now. Does nothing when they already do.
pub(crate) fn learn(overlay: &mut Overlay, tokens: &[u64], z: f64, spam: bool, max: usize) {
    if tokens.is_empty() || !z.is_finite() {
        return;
    }
    let target = if spam {
        OVERLAY_TARGET
    } else {
        -OVERLAY_TARGET
    };
    let need = target - z;
    if (spam && need <= 0.0) || (!spam && need >= 0.0) {
        return;
    }
    let step = (need / tokens.len() as f64).clamp(-MAX_TOKEN_STEP, MAX_TOKEN_STEP);
    overlay.add(tokens, step, max);
}

/// Everything a report needs to know about its message.
pub(crate) struct ReportInput<'a> {
    pub user: &'a str,
    pub label: Label,
    pub sender: Option<&'a str>,
    /// Tokens the overlays learn (the common ones left out).
    pub learnable: &'a [u64],
    /// Every distinct token (for the overlays' current sums).
    pub tokens: &'a [u64],
    /// Score of the message without any overlay or list (log-odds).
    pub base_z: f64,
    pub fingerprint: u128,
    pub now: u64,
}

/// Applies a report to the values of `[User, Vote slot, GlobalOverlay, Global]` (in that order).
pub(crate) fn apply_report(
    values: &mut [Option<Vec<u8>>],
    keys: &[Key],
    input: &ReportInput<'_>,
    config: &FeedbackConfig,
) -> Result<ReportOutcome> {
    let mut user: UserRecord = load(b'U', &keys[0], &values[0])?;
    let fp64 = input.fingerprint as u64;
    let code = input.label.code();
    let mut out = ReportOutcome {
        sender: input.sender.map(str::to_string),
        overlay_tokens: user.overlay.len(),
        ..ReportOutcome::default()
    };
    if user
        .reports
        .iter()
        .any(|m| m.fingerprint == fp64 && m.label == code)
    {
        out.duplicate = true;
        return Ok(out);
    }
    let spam = input.label.is_spam();
    // Lists: the sender's exact address moves to the side of the label. Domain-wide entries the
    // user made themselves stay (block beats allow).
    if let Some(s) = input.sender.filter(|s| SenderPattern::parse(s).is_ok()) {
        let s = s.to_string();
        let (to, from) = if spam {
            (&mut user.block, &mut user.allow)
        } else {
            (&mut user.allow, &mut user.block)
        };
        from.retain(|e| *e != s);
        push_bounded(to, s.clone(), MAX_LIST_ENTRIES);
        if let Label::Category(c) = input.label
            && c != Category::Spam
        {
            user.category_senders.retain(|(a, _)| *a != s);
            if user.category_senders.len() >= MAX_LIST_ENTRIES {
                user.category_senders.remove(0);
            }
            user.category_senders.push((s, c.as_str().to_string()));
        }
    }
    let global_overlay: Overlay = load(b'O', &keys[2], &values[2])?;
    let global_z = input.base_z + global_overlay.sum(input.tokens);
    let user_z = global_z + user.overlay.sum(input.tokens);
    learn(
        &mut user.overlay,
        input.learnable,
        user_z,
        spam,
        MAX_USER_OVERLAY,
    );
    out.overlay_tokens = user.overlay.len();
    user.reports.retain(|m| m.fingerprint != fp64);
    if user.reports.len() >= MAX_REMEMBERED_REPORTS {
        user.reports.remove(0);
    }
    user.reports.push(ReportMark {
        fingerprint: fp64,
        label: code,
    });
    user.reports_total += 1;
    if input.now.saturating_sub(user.window_start) >= 3600 {
        user.window_start = input.now;
        user.window_count = 0;
    }
    out.counted_globally = user.window_count < config.reports_per_hour;
    if out.counted_globally {
        user.window_count += 1;
        let mut vote: VoteRecord = load(b'V', &keys[1], &values[1])?;
        if vote.fingerprint != input.fingerprint {
            // The slot held another message's tally: this message's starts afresh.
            vote = VoteRecord {
                fingerprint: input.fingerprint,
                ..VoteRecord::default()
            };
        }
        let who = user_hash(input.user);
        vote.spam.retain(|&u| u != who);
        vote.ham.retain(|&u| u != who);
        let side = if spam { &mut vote.spam } else { &mut vote.ham };
        side.push(who);
        let agreeing = side.len();
        let want = if spam { 1 } else { 2 };
        if agreeing >= config.min_agreeing_users.max(1) as usize && vote.applied != want {
            let mut overlay = global_overlay;
            learn(
                &mut overlay,
                input.learnable,
                global_z,
                spam,
                MAX_GLOBAL_OVERLAY,
            );
            vote.applied = want;
            let mut g: GlobalRecord = load(b'G', &keys[3], &values[3])?;
            g.overlay_version += 1;
            values[2] = Some(encode(b'O', &overlay));
            values[3] = Some(encode(b'G', &g));
            out.global_learned = true;
        }
        values[1] = Some(encode(b'V', &vote));
    }
    values[0] = Some(encode(b'U', &user));
    Ok(out)
}

/// Applies mail to a trap to the values of `[Global, GlobalOverlay]`: the sender and client
/// are blocked for everyone and the message is learned as spam.
pub(crate) fn apply_trap(
    values: &mut [Option<Vec<u8>>],
    sender: Option<&str>,
    client_ip: Option<IpAddr>,
    learnable: &[u64],
    tokens: &[u64],
    base_z: f64,
) -> Result<()> {
    let mut g: GlobalRecord = load(b'G', &Key::Global, &values[0])?;
    let mut overlay: Overlay = load(b'O', &Key::GlobalOverlay, &values[1])?;
    if let Some(s) = sender.filter(|s| SenderPattern::parse(s).is_ok()) {
        push_bounded(&mut g.block, s.to_string(), MAX_GLOBAL_ENTRIES);
    }
    if let Some(ip) = client_ip {
        push_bounded(&mut g.block_ips, ip.to_string(), MAX_GLOBAL_ENTRIES);
    }
    let z = base_z + overlay.sum(tokens);
    learn(&mut overlay, learnable, z, true, MAX_GLOBAL_OVERLAY);
    g.overlay_version += 1;
    values[0] = Some(encode(b'G', &g));
    values[1] = Some(encode(b'O', &overlay));
    Ok(())
}
