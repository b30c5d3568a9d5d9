//! Counters and latency histograms, shared by all sessions without locks, reported as one
//! `stats` log line (periodically and at shutdown).
//!
//! Two times per message are recorded:
//! - **eom**: from the end-of-message packet being read to the last reply being written
//!   (classification, decision, replies): what Postfix waits for after the client's final `.`.
//! - **busy**: the milter's whole work on the message, the sum over all its commands (MAIL to
//!   end of message) of packet read → replies written; time spent waiting for the MTA is not
//!   in it. With no-reply stages most commands cost the MTA no wait at all, so this is an upper
//!   bound of the delay the milter adds to a message.
//! - **eom_cpu**: the CPU time of the end-of-message work on its thread (without the time the
//!   thread waited for a core). On a busy machine wall-clock tails are mostly waiting; this
//!   separates what the milter costs from what the machine's load adds.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::policy::Action;

/// Log-linear buckets: exact below 64 µs, then 32 per power of two (≤ 3.2 % relative error).
const SUB: u32 = 32;
const BUCKETS: usize = 64 + 40 * SUB as usize;

/// A latency histogram in microseconds, safe to update from any thread.
#[derive(Debug)]
pub struct Histogram {
    counts: Box<[AtomicU64]>,
    max: AtomicU64,
    total: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }
}

fn bucket(us: u64) -> usize {
    if us < 64 {
        return us as usize;
    }
    let e = 63 - us.leading_zeros(); // >= 6
    let sub = (us >> (e - 5)) & u64::from(SUB - 1);
    (64 + (e - 6) as usize * SUB as usize + sub as usize).min(BUCKETS - 1)
}

/// The largest value that falls in bucket `i`.
fn bucket_high(i: usize) -> u64 {
    if i < 64 {
        return i as u64;
    }
    let e = (i - 64) / SUB as usize + 6;
    let sub = ((i - 64) % SUB as usize) as u64;
    ((u64::from(SUB) + sub + 1) << (e - 5)) - 1
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(us)].fetch_add(1, Relaxed);
        self.max.fetch_max(us, Relaxed);
        self.total.fetch_add(1, Relaxed);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.total.load(Relaxed)
    }

    /// The largest value recorded, in µs.
    pub fn max_us(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// The `q`-quantile (0..=1) in µs: the upper bound of its bucket, never above the maximum.
    pub fn quantile_us(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Relaxed);
            if seen >= rank {
                return bucket_high(i).min(self.max_us());
            }
        }
        self.max_us()
    }
}

/// Everything the server counts.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections ended by a protocol or I/O error.
    pub connection_errors: AtomicU64,
    /// Messages decided, by action.
    pub accepted: AtomicU64,
    /// Quarantined (hold queue).
    pub quarantined: AtomicU64,
    /// Rejected.
    pub rejected: AtomicU64,
    /// Discarded.
    pub discarded: AtomicU64,
    /// Tempfailed.
    pub tempfailed: AtomicU64,
    /// Messages whose classification failed.
    pub classify_errors: AtomicU64,
    /// Messages aborted by the MTA.
    pub aborted: AtomicU64,
    /// End-of-message latency.
    pub eom: Histogram,
    /// Whole-message milter time.
    pub busy: Histogram,
    /// End-of-message CPU time.
    pub eom_cpu: Histogram,
}

impl Stats {
    /// Counts a decided message.
    pub fn count_action(&self, a: Action) {
        match a {
            Action::Accept => &self.accepted,
            Action::Quarantine => &self.quarantined,
            Action::Reject => &self.rejected,
            Action::Discard => &self.discarded,
            Action::Tempfail => &self.tempfailed,
        }
        .fetch_add(1, Relaxed);
    }

    /// Messages decided.
    pub fn messages(&self) -> u64 {
        [
            &self.accepted,
            &self.quarantined,
            &self.rejected,
            &self.discarded,
            &self.tempfailed,
        ]
        .iter()
        .map(|c| c.load(Relaxed))
        .sum()
    }

    /// The `stats` line's fields, `name=value` separated by spaces (times in ms).
    pub fn summary(&self) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        format!(
            "connections={} open={} connection_errors={} messages={} accepted={} quarantined={} \
             rejected={} discarded={} tempfailed={} classify_errors={} aborted={} \
             eom_p50_ms={:.3} eom_p99_ms={:.3} eom_max_ms={:.3} \
             busy_p50_ms={:.3} busy_p99_ms={:.3} busy_max_ms={:.3} \
             eom_cpu_p50_ms={:.3} eom_cpu_p99_ms={:.3} eom_cpu_max_ms={:.3}",
            self.connections.load(Relaxed),
            self.open.load(Relaxed),
            self.connection_errors.load(Relaxed),
            self.messages(),
            self.accepted.load(Relaxed),
            self.quarantined.load(Relaxed),
            self.rejected.load(Relaxed),
            self.discarded.load(Relaxed),
            self.tempfailed.load(Relaxed),
            self.classify_errors.load(Relaxed),
            self.aborted.load(Relaxed),
            ms(self.eom.quantile_us(0.5)),
            ms(self.eom.quantile_us(0.99)),
            ms(self.eom.max_us()),
            ms(self.busy.quantile_us(0.5)),
            ms(self.busy.quantile_us(0.99)),
            ms(self.busy.max_us()),
            ms(self.eom_cpu.quantile_us(0.5)),
            ms(self.eom_cpu.quantile_us(0.99)),
            ms(self.eom_cpu.max_us()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values() {
        for us in (0..5000).chain([65_535, 1 << 20, 123_456_789, u64::MAX >> 30]) {
            let b = bucket(us);
            assert!(bucket_high(b) >= us, "{us}");
            if b > 0 {
                assert!(bucket_high(b - 1) < us, "{us}");
            }
            assert!(bucket_high(b) as f64 <= us as f64 * 1.032 + 1.0, "{us}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max_us(), 1000);
        let p50 = h.quantile_us(0.5);
        let p99 = h.quantile_us(0.99);
        assert!((500..=516).contains(&p50), "{p50}");
        assert!((990..=1000).contains(&p99), "{p99}");
        assert_eq!(h.quantile_us(1.0), 1000);
        assert_eq!(Histogram::default().quantile_us(0.5), 0);
    }
}
