//! Time comes from a clock so that expiry, leases and backoff are testable.
use std::sync::Mutex;

use chrono::{DateTime, Duration, SubsecRound, Utc};

pub trait Clock: Send + Sync + 'static {
    /// Now, truncated to microseconds: what PostgreSQL stores, so values round-trip unchanged.
    fn now(&self) -> DateTime<Utc>;

    /// How many clock seconds pass in one real second: work paced in real time (a lease's
    /// heartbeat) divides by it.
    fn speed(&self) -> u32 {
        1
    }
}

/// A clock that runs `speed` times faster than real time from `origin` on (the same origin
/// and speed give every process the same time): for trying a day of jobs in minutes, never for
/// a shop that sells.
#[derive(Debug, Clone, Copy)]
pub struct FastClock {
    origin: DateTime<Utc>,
    speed: u32,
}

impl FastClock {
    pub fn new(origin: DateTime<Utc>, speed: u32) -> Self {
        FastClock {
            origin,
            speed: speed.max(1),
        }
    }
}

impl Clock for FastClock {
    fn now(&self) -> DateTime<Utc> {
        let real = Utc::now() - self.origin;
        (self.origin + real * self.speed as i32).trunc_subsecs(6)
    }

    fn speed(&self) -> u32 {
        self.speed
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(start.trunc_subsecs(6)))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}
