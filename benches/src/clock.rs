//! What the benches time with: wall time by default, or the bench thread's CPU time when
//! [`ENV`] is `cpu`.
//!
//! Every timed loop runs on the bench thread alone, so its CPU time (user and system, page faults
//! of a model `mmap` included) is the cost of the work. On a machine shared with builds it stays
//! close to the idle-machine wall time, where wall time counts the turns the thread waited for a
//! core. Contention for caches and memory bandwidth still shows in both.

use std::sync::Once;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// `wall` (the default) or `cpu`.
pub const ENV: &str = "CHAFF_BENCH_CLOCK";

/// A criterion measurement: elapsed wall time or CPU time of the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `Instant` differences, criterion's default.
    Wall,
    /// `CLOCK_THREAD_CPUTIME_ID` differences.
    ThreadCpu,
}

impl Clock {
    /// The clock [`ENV`] asks for; says once on stderr which one it is.
    ///
    /// # Panics
    /// On a value other than `wall` or `cpu`, and on `cpu` where there is no thread CPU clock.
    pub fn from_env() -> Clock {
        let clock = match std::env::var(ENV).as_deref() {
            Err(_) | Ok("" | "wall") => Clock::Wall,
            Ok("cpu") if thread_cpu_time().is_some() => Clock::ThreadCpu,
            Ok("cpu") => panic!("{ENV}=cpu: this platform has no per-thread CPU clock"),
            Ok(other) => panic!("{ENV}={other}: expected `wall` or `cpu`"),
        };
        static SAID: Once = Once::new();
        SAID.call_once(|| match clock {
            Clock::Wall => {
                eprintln!("clock: wall time ({ENV}=cpu times the bench thread's CPU time instead)")
            }
            Clock::ThreadCpu => eprintln!("clock: bench thread CPU time ({ENV}=cpu)"),
        });
        clock
    }
}

/// A clock reading.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    /// Wall time.
    Wall(Instant),
    /// Thread CPU time since the thread started.
    Cpu(Duration),
}

impl Measurement for Clock {
    type Intermediate = Mark;
    type Value = Duration;

    fn start(&self) -> Mark {
        match self {
            Clock::Wall => Mark::Wall(Instant::now()),
            Clock::ThreadCpu => Mark::Cpu(thread_cpu_time().unwrap_or_default()),
        }
    }

    fn end(&self, m: Mark) -> Duration {
        match m {
            Mark::Wall(t) => t.elapsed(),
            Mark::Cpu(t) => thread_cpu_time().unwrap_or_default().saturating_sub(t),
        }
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Both are durations: criterion's own formatter prints them and their throughputs.
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}
