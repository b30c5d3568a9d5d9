//! The Redis store (feature `redis`): state shared by every node of a multi-server
//! installation, so a report received by one node changes the verdicts of all of them.
//!
//! Opened with [`RedisStore::open`] (or [`super::open`]) from a spec
//! `redis://[:PASSWORD@]HOST:PORT[/DB][?prefix=chaff:&cache_ms=500&timeout_ms=500]`.
//! `docs/redis.md` is the operator's guide; this comment says how the code keeps the
//! [`Store`] contract.
//!
//! - **Key layout.** Every key starts with the prefix (`chaff:`). A user's record is
//!   `chaff:{user:ADDRESS}`; the installation-wide keys (global state, the global overlay, votes)
//!   are `chaff:{global}:NAME`. The braces are Redis Cluster hash tags: one user's record sits in
//!   one slot, and the global keys share one slot, so any update of global keys alone is
//!   single-slot.
//! - **Updates** are optimistic compare-and-set: one `MGET` of the keys, `f` in this process, then
//!   one Lua script that checks every key still has the value `f` saw (by SHA-1, so the old
//!   values are not sent back), writes the changed keys and publishes their names for
//!   invalidation, all atomically. On a conflict the loop re-reads and calls `f` again (a
//!   bounded number of times). A script rather than `WATCH`/`MULTI`/`EXEC`: two round trips
//!   instead of three, no per-connection `WATCH` state, and the invalidation message is part of
//!   the same atomic step. Durability is the server's: with `appendfsync always` Redis replies
//!   only after the AOF write is fsynced; on open the store logs a warning when the server is
//!   configured otherwise.
//! - **Reads** are one `MGET` of the keys not in the cache. The cache holds user records (and
//!   their absence) for at most `cache_ms`; the global keys are always read from Redis (the
//!   engine keeps its own copy of them for `global_ttl`, so caching them here would only add
//!   staleness). A local update drops its keys at once, and a subscriber thread drops keys named
//!   on the invalidation channel (`PREFIX invalidate`), so another node's write is usually seen
//!   within milliseconds and at worst after `cache_ms`. While the subscriber is not connected
//!   the cache is not used. Values of one cached read may have been fetched by different
//!   `MGET`s (each a committed value, none older than `cache_ms`); with `cache_ms=0` a read is
//!   one atomic `MGET`, a true snapshot.
//! - **Failures** are quick: connections are made with `timeout_ms`, every command has that read
//!   and write timeout, and after a failed connection attempt the store fails at once (without
//!   trying) for [`RETRY_AFTER`], so a dead Redis costs a classification microseconds, not a
//!   timeout each. Errors are [`Error::Store`] naming the server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use super::{Key, Store, Updater, Values};
use crate::{Error, Result};

/// How long a failed connection attempt makes the store fail at once, without trying again.
pub const RETRY_AFTER: Duration = Duration::from_millis(250);

/// How many times [`Store::update`] re-reads and retries when other writers keep changing its
/// keys, before it gives up with an error.
const MAX_ATTEMPTS: u32 = 200;

/// Idle connections kept per store.
const POOL_SIZE: usize = 16;

/// Compare-and-set of several keys. KEYS: the keys. ARGV[1]: the invalidation channel (empty: do
/// not publish); ARGV[2]: one op per key (`k` keep, `s` set, `d` delete); ARGV[3 .. n+2]: the
/// SHA-1 (hex) of each key's value as the caller read it, empty for an absent key; then the new
/// value of each `s` key in order. Returns 1 when written, 0 when a key had changed.
const CAS_SCRIPT: &str = r"
local n = #KEYS
for i = 1, n do
  local cur = redis.call('GET', KEYS[i])
  local want = ARGV[i + 2]
  if cur then
    if redis.sha1hex(cur) ~= want then return 0 end
  elseif want ~= '' then
    return 0
  end
end
local ops = ARGV[2]
local v = n + 3
local changed = {}
for i = 1, n do
  local op = string.sub(ops, i, i)
  if op == 's' then
    redis.call('SET', KEYS[i], ARGV[v])
    v = v + 1
    changed[#changed + 1] = KEYS[i]
  elseif op == 'd' then
    redis.call('DEL', KEYS[i])
    changed[#changed + 1] = KEYS[i]
  end
end
if #changed > 0 and ARGV[1] ~= '' then
  redis.call('PUBLISH', ARGV[1], table.concat(changed, '\n'))
end
return 1
";

/// Settings of a [`RedisStore`], normally given in the spec's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Prepended to every key and to the invalidation channel (`chaff:`), so several
    /// installations can share one Redis database.
    pub prefix: String,
    /// How long a read value may be served from the per-process cache; `0` disables the cache.
    /// Bounds how late another node's write is seen when an invalidation message is lost.
    pub cache_ttl: Duration,
    /// Connect, read and write timeout of every Redis command.
    pub timeout: Duration,
    /// Upper bound of the cache's size (values plus key names), in bytes.
    pub cache_bytes: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "chaff:".to_string(),
            cache_ttl: Duration::from_millis(500),
            timeout: Duration::from_millis(500),
            cache_bytes: 64 << 20,
        }
    }
}

/// A [`Store`] in a Redis server, shared by several processes or machines.
///
/// Cheap to share (`Arc<dyn Store>`); it keeps a small pool of connections and one subscriber
/// thread for cache invalidation, which ends within a second of the store being dropped.
///
/// ```no_run
/// use chaff_core::store::{Key, RedisStore, Store};
/// let store = RedisStore::open("redis://127.0.0.1:6379/0?prefix=chaff:&cache_ms=500")?;
/// store.update(&[Key::user("alice@example.org")], &mut |v| {
///     v[0] = Some(b"record".to_vec());
///     Ok(())
/// })?;
/// # Ok::<(), chaff_core::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The spec without password or query, for messages.
    name: String,
    options: RedisOptions,
    channel: String,
    script: redis::Script,
    pool: Mutex<Vec<redis::Connection>>,
    /// Set after a failed connection attempt: until then, fail without trying.
    down: Mutex<Option<(Instant, String)>>,
    cache: Cache,
    /// Whether the subscriber thread is connected (the cache is used only then).
    subscribed: AtomicBool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("server", &self.name)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Opens the store named by `spec` (`redis://HOST:PORT[/DB][?OPTIONS]`); the options are
    /// `prefix` (default `chaff:`), `cache_ms` (default 500), `timeout_ms` (default 500) and
    /// Redis's own `protocol`.
    ///
    /// An unreachable server is not an error here (a node may start before Redis): the store
    /// logs a warning and connects on first use.
    pub fn open(spec: &str) -> Result<RedisStore> {
        let (url, options) = parse_spec(spec)?;
        RedisStore::open_with(&url, options)
    }

    /// Opens the store at `url` (a `redis://` URL without Chaff's options) with `options`.
    pub fn open_with(url: &str, options: RedisOptions) -> Result<RedisStore> {
        let name = redact(url);
        let config = |reason: String| Error::Config {
            field: "store",
            reason: format!("{name}: {reason}"),
        };
        if options.timeout.is_zero() {
            return Err(config("timeout_ms must be at least 1".into()));
        }
        let client = redis::Client::open(url).map_err(|e| config(e.to_string()))?;
        let channel = format!("{}invalidate", options.prefix);
        let inner = Arc::new(Inner {
            client,
            name,
            channel,
            script: redis::Script::new(CAS_SCRIPT),
            pool: Mutex::new(Vec::new()),
            down: Mutex::new(None),
            cache: Cache::new(options.cache_ttl, options.cache_bytes),
            subscribed: AtomicBool::new(false),
            options,
        });
        if !inner.options.cache_ttl.is_zero() {
            spawn_subscriber(&inner)?;
        }
        match inner.connection() {
            Ok(mut con) => {
                inner.check_durability(&mut con);
                inner.give_back(con);
            }
            Err(e) => tracing::warn!("{e}; will connect on first use"),
        }
        Ok(RedisStore { inner })
    }

    /// The Redis key that holds `key` (`chaff:{user:alice@example.org}`).
    pub fn redis_key(&self, key: &Key) -> String {
        self.inner.redis_key(key)
    }

    /// Whether reads use the cache now: it is on (`cache_ms` > 0) and its invalidation
    /// subscriber is connected. Without the subscriber every read goes to Redis.
    pub fn cache_live(&self) -> bool {
        !self.inner.options.cache_ttl.is_zero() && self.inner.subscribed.load(Ordering::Acquire)
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.options
    }
}

impl Store for RedisStore {
    fn read(&self, keys: &[Key]) -> Result<Values> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let inner = &self.inner;
        let names: Vec<String> = keys.iter().map(|k| inner.redis_key(k)).collect();
        let cached = inner.subscribed.load(Ordering::Acquire) && !inner.cache.ttl.is_zero();
        let mut out: Values = vec![None; keys.len()];
        let mut missing: Vec<usize> = Vec::with_capacity(keys.len());
        let mut generation = 0;
        if cached {
            let state = inner.cache.state.read().unwrap_or_else(|e| e.into_inner());
            generation = state.generation;
            let now = Instant::now();
            for (i, (k, n)) in keys.iter().zip(&names).enumerate() {
                match state.map.get(n) {
                    Some(e) if now < e.expires && cacheable(k) => out[i] = e.value.clone(),
                    _ => missing.push(i),
                }
            }
            if missing.is_empty() {
                return Ok(out);
            }
        } else {
            missing.extend(0..keys.len());
        }
        let fetch: Vec<&str> = missing.iter().map(|&i| names[i].as_str()).collect();
        let values: Values = inner.run(|con| redis::cmd("MGET").arg(&fetch).query(con))?;
        if values.len() != fetch.len() {
            return Err(inner.error(format!(
                "MGET of {} keys returned {} values",
                fetch.len(),
                values.len()
            )));
        }
        if cached {
            let (names, values): (Vec<&str>, Values) = missing
                .iter()
                .zip(&fetch)
                .zip(&values)
                .filter(|((i, _), _)| cacheable(&keys[**i]))
                .map(|((_, n), v)| (*n, v.clone()))
                .unzip();
            if !names.is_empty() {
                inner.cache.insert(generation, &names, &values);
            }
        }
        for (i, v) in missing.into_iter().zip(values) {
            out[i] = v;
        }
        Ok(out)
    }

    fn update(&self, keys: &[Key], f: &mut Updater<'_>) -> Result<()> {
        if keys.is_empty() {
            return f(&mut []);
        }
        let inner = &self.inner;
        let names: Vec<String> = keys.iter().map(|k| inner.redis_key(k)).collect();
        for attempt in 1..=MAX_ATTEMPTS {
            // Reading on a fresh or pooled connection is safe to retry; the commit below is
            // not (a lost reply leaves its outcome unknown), so it runs on the same connection
            // right after a successful read.
            let mut con = inner.connection()?;
            let old: Values =
                inner.retrying(&mut con, &mut |c| redis::cmd("MGET").arg(&names).query(c))?;
            if old.len() != names.len() {
                return Err(inner.error("MGET returned the wrong number of values"));
            }
            let mut new = old.clone();
            if let Err(e) = f(&mut new) {
                inner.give_back(con);
                return Err(e);
            }
            let mut ops = String::with_capacity(names.len());
            let mut invocation = inner.script.prepare_invoke();
            for n in &names {
                invocation.key(n.as_str());
            }
            invocation.arg(if inner.options.cache_ttl.is_zero() {
                ""
            } else {
                inner.channel.as_str()
            });
            for (o, n) in old.iter().zip(&new) {
                ops.push(match (o, n) {
                    (o, n) if o == n => 'k',
                    (_, Some(_)) => 's',
                    (_, None) => 'd',
                });
            }
            if ops.bytes().all(|c| c == b'k') {
                // Nothing changed: `f` saw one consistent MGET, and there is nothing to write.
                inner.give_back(con);
                return Ok(());
            }
            invocation.arg(ops.as_str());
            for o in &old {
                invocation.arg(o.as_deref().map(sha1_hex).unwrap_or_default());
            }
            for (op, n) in ops.bytes().zip(&new) {
                if let (b's', Some(v)) = (op, n) {
                    invocation.arg(v.as_slice());
                }
            }
            let written: i64 = invocation.invoke(&mut con).map_err(|e| {
                if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                    inner.error(format!(
                        "the connection failed while committing, so the update may or may not \
                         have been applied: {e}"
                    ))
                } else {
                    inner.error(e)
                }
            })?;
            inner.give_back(con);
            inner.cache.invalidate(names.iter().map(String::as_str));
            if written == 1 {
                if attempt > 1 {
                    tracing::debug!(attempt, "redis update applied after conflicts");
                }
                return Ok(());
            }
            if attempt > 8 {
                // Heavy contention on these keys: let the other writers finish.
                std::thread::sleep(Duration::from_micros(50 * u64::from(attempt.min(40))));
            }
        }
        Err(inner.error(format!(
            "update of {} gave up after {MAX_ATTEMPTS} attempts: other writers kept changing \
             the keys",
            names.join(", ")
        )))
    }

    fn users(&self) -> Result<Vec<String>> {
        let inner = &self.inner;
        let head = format!("{}{{user:", inner.options.prefix);
        let pattern = format!("{}*", glob_escape(&head));
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = inner.run(|con| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(con)
            })?;
            for k in batch {
                let user = std::str::from_utf8(&k)
                    .ok()
                    .and_then(|k| k.strip_prefix(head.as_str()))
                    .and_then(|k| k.strip_suffix('}'));
                match user {
                    Some(u) => out.push(u.to_string()),
                    None => tracing::warn!(
                        key = %String::from_utf8_lossy(&k),
                        "ignoring a Redis key that is not a Chaff user record"
                    ),
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        // SCAN may return a key twice.
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn size_bytes(&self) -> Result<u64> {
        let info: String = self
            .inner
            .run(|con| redis::cmd("INFO").arg("memory").query(con))?;
        info_field(&info, "used_memory")
            .ok_or_else(|| self.inner.error("INFO memory has no used_memory"))
    }

    fn describe(&self) -> String {
        format!("{} (prefix {})", self.inner.name, self.inner.options.prefix)
    }
}

impl Inner {
    fn redis_key(&self, key: &Key) -> String {
        let prefix = &self.options.prefix;
        match key {
            Key::User(u) => format!("{prefix}{{user:{u}}}"),
            other => format!("{prefix}{{global}}:{}", other.name()),
        }
    }

    fn error(&self, reason: impl std::fmt::Display) -> Error {
        Error::Store {
            store: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    /// A pooled connection, or a new one.
    fn connection(&self) -> Result<redis::Connection> {
        if let Some(c) = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(c);
        }
        self.fresh_connection()
    }

    /// A new connection, unless a recent attempt failed (then fail at once).
    fn fresh_connection(&self) -> Result<redis::Connection> {
        {
            let down = self.down.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((until, why)) = down.as_ref()
                && Instant::now() < *until
            {
                return Err(self.error(format!("Redis unreachable ({why}); not retrying yet")));
            }
        }
        let t = self.options.timeout;
        let connected = self.client.get_connection_with_timeout(t).and_then(|c| {
            c.set_read_timeout(Some(t))?;
            c.set_write_timeout(Some(t))?;
            Ok(c)
        });
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        match connected {
            Ok(c) => {
                if down.take().is_some() {
                    tracing::info!(store = %self.name, "Redis reachable again");
                }
                Ok(c)
            }
            Err(e) => {
                drop(down);
                let why = format!("cannot connect: {e}");
                self.mark_down(why.clone());
                Err(self.error(why))
            }
        }
    }

    fn give_back(&self, con: redis::Connection) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_SIZE {
            pool.push(con);
        }
    }

    /// Runs a read-only command, once more on a new connection if a pooled one turns out dead.
    fn run<T>(
        &self,
        mut cmd: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let mut con = self.connection()?;
        let v = self.retrying(&mut con, &mut cmd)?;
        self.give_back(con);
        Ok(v)
    }

    /// Runs a command that is safe to repeat on `con`. A pooled connection to a restarted
    /// server fails on first use: then once more on a new connection. A timeout is not
    /// repeated (the server is hung or unreachable) and makes the store fail at once for
    /// [`RETRY_AFTER`], so a hung server costs one timeout, not one per classification.
    fn retrying<T>(
        &self,
        con: &mut redis::Connection,
        cmd: &mut impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let result = match cmd(con) {
            Err(e) if !e.is_timeout() && (e.is_connection_dropped() || e.is_io_error()) => {
                *con = self.fresh_connection()?;
                cmd(con)
            }
            r => r,
        };
        result.map_err(|e| {
            if e.is_timeout() {
                let why = format!("no answer within {:?}: {e}", self.options.timeout);
                self.mark_down(why.clone());
                return self.error(why);
            }
            self.error(e)
        })
    }

    /// Makes the store fail at once, without trying, for [`RETRY_AFTER`].
    fn mark_down(&self, why: String) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if down.is_none() {
            tracing::warn!(store = %self.name, "{why}");
        }
        *down = Some((Instant::now() + RETRY_AFTER, why));
    }

    /// Warns when the server would lose acknowledged updates on a restart.
    fn check_durability(&self, con: &mut redis::Connection) {
        let got: redis::RedisResult<Vec<String>> =
            redis::cmd("CONFIG").arg("GET").arg("append*").query(con);
        match got {
            Ok(pairs) => {
                let get = |k: &str| {
                    pairs
                        .chunks(2)
                        .find(|p| p[0] == k)
                        .and_then(|p| p.get(1))
                        .map(String::as_str)
                };
                if get("appendonly") != Some("yes") || get("appendfsync") != Some("always") {
                    tracing::warn!(
                        store = %self.name,
                        appendonly = get("appendonly").unwrap_or("?"),
                        appendfsync = get("appendfsync").unwrap_or("?"),
                        "Redis is not configured with appendonly yes + appendfsync always: \
                         acknowledged reports can be lost when it restarts"
                    );
                }
            }
            // Managed services often disable CONFIG.
            Err(e) => tracing::debug!(store = %self.name, "cannot check durability: {e}"),
        }
    }
}

/// Whether reads of `key` may be served from the cache: user records only. The engine keeps
/// its own copy of the installation-wide keys and reads them once per `global_ttl`, so caching
/// them here would save nothing and only add staleness.
fn cacheable(key: &Key) -> bool {
    matches!(key, Key::User(_))
}

/// The per-process read cache.
struct Cache {
    ttl: Duration,
    max_bytes: usize,
    state: RwLock<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// Bumped by every invalidation: a read started before one must not fill the cache, since
    /// its values may predate the write.
    generation: u64,
    map: HashMap<String, CacheEntry>,
    bytes: usize,
}

struct CacheEntry {
    expires: Instant,
    value: Option<Vec<u8>>,
}

fn entry_bytes(name: &str, value: &Option<Vec<u8>>) -> usize {
    name.len() + value.as_ref().map_or(0, Vec::len) + 64
}

impl Cache {
    fn new(ttl: Duration, max_bytes: usize) -> Cache {
        Cache {
            ttl,
            max_bytes,
            state: RwLock::new(CacheState::default()),
        }
    }

    fn insert(&self, generation: u64, names: &[&str], values: &[Option<Vec<u8>>]) {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        if s.generation != generation {
            return;
        }
        let now = Instant::now();
        let add: usize = names
            .iter()
            .zip(values)
            .map(|(n, v)| entry_bytes(n, v))
            .sum();
        if s.bytes + add > self.max_bytes {
            s.map.retain(|_, e| e.expires > now);
            s.bytes = s.map.iter().map(|(n, e)| entry_bytes(n, &e.value)).sum();
            if s.bytes + add > self.max_bytes {
                s.map.clear();
                s.bytes = 0;
            }
        }
        let expires = now + self.ttl;
        for (n, v) in names.iter().zip(values) {
            s.bytes += entry_bytes(n, v);
            let entry = CacheEntry {
                expires,
                value: v.clone(),
            };
            if let Some(old) = s.map.insert((*n).to_string(), entry) {
                s.bytes -= entry_bytes(n, &old.value);
            }
        }
    }

    fn invalidate<'a>(&self, names: impl Iterator<Item = &'a str>) {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        s.generation += 1;
        for n in names {
            if let Some(old) = s.map.remove(n) {
                s.bytes -= entry_bytes(n, &old.value);
            }
        }
    }

    fn clear(&self) {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        s.generation += 1;
        s.map.clear();
        s.bytes = 0;
    }
}

/// Starts the thread that applies other nodes' invalidation messages to the cache. It holds
/// only a weak reference and ends once the store is dropped.
fn spawn_subscriber(inner: &Arc<Inner>) -> Result<()> {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let client = inner.client.clone();
    let channel = inner.channel.clone();
    let name = inner.name.clone();
    let timeout = inner.options.timeout;
    std::thread::Builder::new()
        .name("chaff-redis-invalidate".into())
        .spawn(move || subscriber(weak, client, channel, name, timeout))
        .map(|_| ())
        .map_err(|e| Error::Store {
            store: inner.name.clone(),
            reason: format!("cannot start the invalidation thread: {e}"),
        })
}

fn subscriber(
    weak: Weak<Inner>,
    client: redis::Client,
    channel: String,
    name: String,
    timeout: Duration,
) {
    // How often an idle subscriber checks whether its store is gone.
    const POLL: Duration = Duration::from_millis(500);
    let mut backoff = Duration::from_millis(50);
    let mut failed_before = false;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        drop(inner);
        let con = client.get_connection_with_timeout(timeout).and_then(|c| {
            c.set_write_timeout(Some(timeout))?;
            Ok(c)
        });
        let mut con = match con {
            Ok(c) => c,
            Err(e) => {
                if !failed_before {
                    tracing::warn!(store = %name, "invalidation subscriber cannot connect: {e}");
                    failed_before = true;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let mut pubsub = con.as_pubsub();
        let ready = pubsub
            .set_read_timeout(Some(timeout))
            .and_then(|()| pubsub.subscribe(&channel))
            .and_then(|()| pubsub.set_read_timeout(Some(POLL)));
        if let Err(e) = ready {
            tracing::warn!(store = %name, "cannot subscribe to {channel}: {e}");
            std::thread::sleep(backoff);
            continue;
        }
        {
            let Some(inner) = weak.upgrade() else { return };
            // Messages sent while unsubscribed are lost: start from an empty cache.
            inner.cache.clear();
            inner.subscribed.store(true, Ordering::Release);
        }
        if failed_before {
            tracing::info!(store = %name, "invalidation subscriber connected again");
        }
        backoff = Duration::from_millis(50);
        loop {
            let msg = pubsub.get_message();
            let Some(inner) = weak.upgrade() else { return };
            match msg {
                Ok(m) => {
                    let names = m.get_payload_bytes();
                    inner.cache.invalidate(
                        names
                            .split(|&b| b == b'\n')
                            .filter_map(|n| std::str::from_utf8(n).ok()),
                    );
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => {
                    inner.subscribed.store(false, Ordering::Release);
                    inner.cache.clear();
                    tracing::warn!(
                        store = %name,
                        "invalidation subscriber lost its connection ({e}); cache off until it \
                         reconnects"
                    );
                    failed_before = true;
                    break;
                }
            }
        }
    }
}

/// Splits Chaff's options off a spec's query string.
fn parse_spec(spec: &str) -> Result<(String, RedisOptions)> {
    let mut options = RedisOptions::default();
    let (base, query) = match spec.split_once('?') {
        Some((b, q)) => (b, q),
        None => (spec, ""),
    };
    let mut passed = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let ms = |v: &str| -> Result<Duration> {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| Error::Config {
                    field: "store",
                    reason: format!("{}: {k}={v}: expected milliseconds", redact(base)),
                })
        };
        match k {
            "prefix" => options.prefix = v.to_string(),
            "cache_ms" => options.cache_ttl = ms(v)?,
            "timeout_ms" => options.timeout = ms(v)?,
            "protocol" => passed.push(pair),
            _ => {
                return Err(Error::Config {
                    field: "store",
                    reason: format!(
                        "{}: unknown option {k} (known: prefix, cache_ms, timeout_ms, protocol)",
                        redact(base)
                    ),
                });
            }
        }
    }
    let url = if passed.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", passed.join("&"))
    };
    Ok((url, options))
}

/// `url` without its password and query (for logs and errors).
fn redact(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_string(),
    }
}

fn sha1_hex(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
}

/// Escapes Redis glob characters.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A numeric `field:value` line of `INFO` output.
fn info_field(info: &str, field: &str) -> Option<u64> {
    info.lines().find_map(|l| {
        l.strip_prefix(field)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[cfg(test)]
#[path = "../../tests/common/redis_server.rs"]
mod redis_server;

#[cfg(test)]
mod tests;
