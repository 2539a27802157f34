//! Rate limits: where the state of each limited key lives (this process's memory, or a store all
//! processes share), and the one GCRA step every store applies.
//!
//! GCRA (the generic cell rate algorithm) keeps a token bucket as one timestamp per key, its
//! "theoretical arrival time" (TAT): when the bucket would be full again. A request is allowed
//! when the TAT, pushed one interval further, is at most one window ahead of now; then the pushed
//! time is stored. A TAT in the past means the same as no entry, which is what lets idle keys
//! expire.

use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// At most `count` requests per `window`: all of them in a burst, then one more every
/// `window / count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub count: u32,
    pub window: Duration,
}

impl Quota {
    /// `window / count`, in `unit`s (at least one): the cost of one request.
    pub fn interval(&self, unit: Duration) -> u64 {
        let window = self.window.as_nanos() / unit.as_nanos().max(1);
        let window = u64::try_from(window).unwrap_or(u64::MAX);
        (window / u64::from(self.count.max(1))).max(1)
    }

    /// `interval * count`, in `unit`s: how far ahead of now a key's TAT may run.
    pub fn tolerance(&self, unit: Duration) -> u64 {
        self.interval(unit)
            .saturating_mul(u64::from(self.count.max(1)))
    }
}

/// The outcome of one request against its key's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Requests still allowed right now after this one.
    pub remaining: u32,
    /// How long until the whole quota is available again.
    pub reset: Duration,
    /// How long until the next request is allowed (zero when this one was).
    pub retry_after: Duration,
}

impl RateDecision {
    /// The GCRA step for a key whose stored TAT is `tat` (at least `now`), all three in the same
    /// unit (`unit` long). When allowed, the key's new TAT is `tat + interval`.
    pub fn gcra(quota: Quota, unit: Duration, tat: u64, now: u64) -> Self {
        let (interval, tolerance) = (quota.interval(unit), quota.tolerance(unit));
        let span = |units: u64| {
            let nanos = u128::from(units) * unit.as_nanos();
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        };
        let next = tat.max(now).saturating_add(interval);
        let ahead = next - now;
        if ahead <= tolerance {
            Self {
                allowed: true,
                remaining: u32::try_from((tolerance - ahead) / interval).unwrap_or(u32::MAX),
                reset: span(ahead),
                retry_after: Duration::ZERO,
            }
        } else {
            Self {
                allowed: false,
                remaining: 0,
                reset: span(tat.max(now) - now),
                retry_after: span(ahead - tolerance),
            }
        }
    }
}

/// Where the GCRA state lives.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// One GCRA step under `quota` for the key `subject` of `class` (a client's address block
    /// among logins, a token among writes), atomically: of two requests of one key at once,
    /// whichever process they reach, each sees the other's step. Stores keep subjects only as
    /// keyed hashes or digests, never as they are: tokens are secrets.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be reached within its timeout (the caller decides
    /// whether the request goes on).
    async fn check(&self, class: &'static str, subject: &str, quota: Quota)
    -> Result<RateDecision>;

    /// Whether the store answers now (`/readyz`); a store in this process always does.
    async fn ready(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_count_then_one_per_interval() {
        let quota = Quota {
            count: 3,
            window: Duration::from_secs(3),
        };
        let unit = Duration::from_nanos(1);
        let interval = quota.interval(unit);
        assert_eq!(interval, 1_000_000_000);
        let mut tat = 0;
        for remaining in [2, 1, 0] {
            let d = RateDecision::gcra(quota, unit, tat, 0);
            assert!(d.allowed);
            assert_eq!(d.remaining, remaining);
            tat += interval;
        }
        let denied = RateDecision::gcra(quota, unit, tat, 0);
        assert!(!denied.allowed);
        assert_eq!(denied.retry_after, Duration::from_secs(1));
        assert_eq!(denied.reset, Duration::from_secs(3));
        // One interval later exactly one more request fits.
        let d = RateDecision::gcra(quota, unit, tat, interval);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        // The same in microseconds, the unit of the shared store.
        let micros = Duration::from_micros(1);
        assert_eq!(quota.interval(micros), 1_000_000);
        let d = RateDecision::gcra(quota, micros, 3_000_000, 0);
        assert_eq!(d.retry_after, Duration::from_secs(1));
    }

    #[test]
    fn a_stale_tat_counts_as_none() {
        let quota = Quota {
            count: 2,
            window: Duration::from_secs(2),
        };
        let unit = Duration::from_nanos(1);
        let d = RateDecision::gcra(quota, unit, 5, 10_000_000_000);
        assert!(d.allowed);
        assert_eq!(d.remaining, 1);
    }
}
