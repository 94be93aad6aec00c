//! The bounded retry executor (seed 001 §3): attempts and elapsed time both capped, exponential
//! backoff with jitter, `Retry-After` honoured, one structured tracing event per retry.
//!
//! Only `Retryable` failures are retried here. Ambiguous outcomes are never blindly re-sent: order
//! placement uses role-specific logic in `exec`, which looks the order up by client id first.

use crate::clock::Clock;
use crate::core::rng::SplitMix64;
use crate::exchange::error::{ErrorClass, ExResult};
use std::sync::Mutex;

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first.
    pub max_attempts: u32,
    /// Stop retrying once this much time has passed since the first attempt.
    pub max_elapsed_ms: u64,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl RetryPolicy {
    /// Reads (positions, orders, market data): a few quick tries.
    pub const READ: RetryPolicy =
        RetryPolicy { max_attempts: 4, max_elapsed_ms: 10_000, base_delay_ms: 200, max_delay_ms: 2_000 };
    /// No retry at all.
    pub const ONCE: RetryPolicy = RetryPolicy { max_attempts: 1, max_elapsed_ms: 0, base_delay_ms: 0, max_delay_ms: 0 };

    /// Backoff before attempt `attempt + 1` (attempt counts from 1): base·2^(attempt-1), capped,
    /// with "equal jitter" (half fixed, half random) so concurrent bots do not retry in lockstep.
    pub fn backoff_ms(&self, attempt: u32, rng: &mut SplitMix64) -> u64 {
        let exp = self.base_delay_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        let capped = exp.min(self.max_delay_ms);
        let half = capped / 2;
        half + rng.below(half + 1)
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable class, or the policy is exhausted.
pub struct Retrier<'a> {
    pub clock: &'a dyn Clock,
    pub policy: RetryPolicy,
    rng: Mutex<SplitMix64>,
}

impl<'a> Retrier<'a> {
    pub fn new(clock: &'a dyn Clock, policy: RetryPolicy, seed: u64) -> Self {
        Retrier { clock, policy, rng: Mutex::new(SplitMix64::new(seed)) }
    }

    /// `what` and `correlation_id` name the operation in the retry events.
    pub fn run<T>(&self, what: &str, correlation_id: &str, mut op: impl FnMut(u32) -> ExResult<T>) -> ExResult<T> {
        let start = self.clock.now_ms();
        let mut attempt = 1;
        loop {
            let err = match op(attempt) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let elapsed = u64::try_from(self.clock.now_ms() - start).unwrap_or(0);
            if err.class != ErrorClass::Retryable
                || attempt >= self.policy.max_attempts
                || elapsed >= self.policy.max_elapsed_ms
            {
                return Err(err);
            }
            let jittered = match self.rng.lock() {
                Ok(mut rng) => self.policy.backoff_ms(attempt, &mut rng),
                Err(_) => self.policy.base_delay_ms,
            };
            // Retry-After is a floor: never come back sooner than the exchange asked.
            let delay = jittered.max(err.retry_after_ms.unwrap_or(0));
            if elapsed + delay > self.policy.max_elapsed_ms {
                return Err(err);
            }
            tracing::warn!(
                event = "exchange.retry",
                what,
                correlation_id,
                attempt,
                next_attempt = attempt + 1,
                class = %err.class,
                code = err.code(),
                delay_ms = delay,
                error = %err,
                "retrying"
            );
            self.clock.sleep_ms(delay);
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::exchange::error::{ExchangeError, ExchangeErrorKind};

    fn err(class: ErrorClass) -> ExchangeError {
        ExchangeError::new(ExchangeErrorKind::Http { status: 503 }, class, "x")
    }

    #[test]
    fn retries_retryable_up_to_max_attempts() {
        let clock = ManualClock::new(0);
        let r = Retrier::new(&clock, RetryPolicy::READ, 1);
        let mut calls = 0;
        let res: ExResult<()> = r.run("t", "c", |_| {
            calls += 1;
            Err(err(ErrorClass::Retryable))
        });
        assert!(res.is_err());
        assert_eq!(calls, RetryPolicy::READ.max_attempts);
    }

    #[test]
    fn never_retries_ambiguous_or_fatal() {
        let clock = ManualClock::new(0);
        let r = Retrier::new(&clock, RetryPolicy::READ, 1);
        for class in [ErrorClass::Ambiguous, ErrorClass::Fatal, ErrorClass::RetryableWithModification] {
            let mut calls = 0;
            let _: ExResult<()> = r.run("t", "c", |_| {
                calls += 1;
                Err(err(class))
            });
            assert_eq!(calls, 1, "{class}");
        }
    }

    #[test]
    fn honours_retry_after_as_a_floor() {
        let clock = ManualClock::new(0);
        let policy = RetryPolicy { max_attempts: 2, max_elapsed_ms: 60_000, base_delay_ms: 10, max_delay_ms: 10 };
        let r = Retrier::new(&clock, policy, 1);
        let mut times = vec![];
        let _: ExResult<()> = r.run("t", "c", |_| {
            times.push(clock.now_ms());
            Err(err(ErrorClass::Retryable).with_retry_after(Some(5_000)))
        });
        assert_eq!(times.len(), 2);
        assert!(times[1] - times[0] >= 5_000, "{times:?}");
    }

    #[test]
    fn elapsed_cap_stops_retries() {
        let clock = ManualClock::new(0);
        let policy = RetryPolicy { max_attempts: 100, max_elapsed_ms: 1_000, base_delay_ms: 400, max_delay_ms: 400 };
        let r = Retrier::new(&clock, policy, 1);
        let mut calls = 0;
        let _: ExResult<()> = r.run("t", "c", |_| {
            calls += 1;
            Err(err(ErrorClass::Retryable))
        });
        assert!(calls < 10, "{calls}");
        assert!(clock.now_ms() <= 1_000);
    }
}
