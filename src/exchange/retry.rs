//! Bounded retries (seed 001 §3, issue 12 §4): one [`RetryBudget`] per command — a count of
//! retries and a wall-clock deadline shared by every read the command makes — and the per-call
//! [`Retrier`] for exchanges that do not retry themselves. Exponential backoff with jitter,
//! `Retry-After` honoured (never past the deadline), at most one WARN line per retried request.
//!
//! Only `Retryable` failures are retried here. Ambiguous outcomes are never blindly re-sent: order
//! placement uses role-specific logic in `exec`, which looks the order up by client id first.

use crate::clock::Clock;
use crate::core::rng::SplitMix64;
use crate::exchange::error::{ErrorClass, ExResult, ExchangeError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// The limits of one command's [`RetryBudget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    /// Retries (sends after the first) allowed across the whole command, all reads together.
    pub max_retries: u32,
    /// No retry starts later than this long after the command connected.
    pub max_elapsed_ms: u64,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl BudgetLimits {
    /// Every command's budget (documented in docs/binance.md, "Retries"): 12 retries within 20 s,
    /// backoff 250 ms doubling to 4 s. With the exchange unreachable a command gives up after a
    /// few seconds instead of a minute; a blip of a few seconds is ridden out.
    pub const COMMAND: BudgetLimits =
        BudgetLimits { max_retries: 12, max_elapsed_ms: 20_000, base_delay_ms: 250, max_delay_ms: 4_000 };
}

/// One command's retry budget, shared by every layer and thread that reads the exchange: the
/// total number of retries and the time they may take are bounded whatever the call graph does.
#[derive(Debug)]
pub struct RetryBudget {
    limits: BudgetLimits,
    deadline_ms: i64,
    used: AtomicU32,
    rng: Mutex<SplitMix64>,
}

impl RetryBudget {
    /// A budget starting now (`now_ms` on the clock its users sleep on).
    pub fn new(limits: BudgetLimits, now_ms: i64) -> RetryBudget {
        let deadline_ms = now_ms.saturating_add(i64::try_from(limits.max_elapsed_ms).unwrap_or(i64::MAX));
        let seed = u64::try_from(now_ms).unwrap_or(0);
        RetryBudget { limits, deadline_ms, used: AtomicU32::new(0), rng: Mutex::new(SplitMix64::new(seed)) }
    }

    pub fn limits(&self) -> BudgetLimits {
        self.limits
    }

    /// How long until the deadline, at `now_ms` (0 once it passed).
    pub fn left_ms(&self, now_ms: i64) -> u64 {
        u64::try_from(self.deadline_ms - now_ms).unwrap_or(0)
    }

    /// Retries spent so far.
    pub fn used(&self) -> u32 {
        self.used.load(Ordering::SeqCst)
    }

    /// Takes one retry, if any is left.
    fn take(&self) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < self.limits.max_retries).then_some(n + 1))
            .is_ok()
    }

    fn give_back(&self) {
        let _ = self.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    fn backoff_ms(&self, attempt: u32) -> u64 {
        let policy = RetryPolicy {
            max_attempts: 0,
            max_elapsed_ms: 0,
            base_delay_ms: self.limits.base_delay_ms,
            max_delay_ms: self.limits.max_delay_ms,
        };
        match self.rng.lock() {
            Ok(mut rng) => policy.backoff_ms(attempt, &mut rng),
            Err(_) => self.limits.base_delay_ms,
        }
    }

    /// Runs `op` until it succeeds, fails with a class other than `Retryable`, or the budget is
    /// spent. The error given up on says why the retries stopped and how many this request had.
    pub fn run<T>(
        &self,
        clock: &dyn Clock,
        what: &str,
        correlation_id: &str,
        mut op: impl FnMut(u32) -> ExResult<T>,
    ) -> ExResult<T> {
        let mut attempt = 1;
        loop {
            let err = match op(attempt) {
                Ok(v) => {
                    if attempt > 1 {
                        tracing::info!(event = "exchange.retry_recovered", what, correlation_id, attempts = attempt);
                    }
                    return Ok(v);
                }
                Err(e) => e,
            };
            if err.class != ErrorClass::Retryable {
                return Err(err);
            }
            let left = self.deadline_ms - clock.now_ms();
            let tries = |n: u32| if n == 1 { "1 try".to_string() } else { format!("{n} tries") };
            if left <= 0 {
                return Err(gave_up(
                    err,
                    format!(
                        "gave up after {}: the command's retry budget of {} ms has run out",
                        tries(attempt),
                        self.limits.max_elapsed_ms
                    ),
                ));
            }
            let left = u64::try_from(left).unwrap_or(0);
            if let Some(asked) = err.retry_after_ms.filter(|ms| *ms > left) {
                return Err(gave_up(
                    err,
                    format!(
                        "gave up after {}: the exchange asked to wait {asked} ms (Retry-After), more than the {left} ms left in the command's retry budget",
                        tries(attempt)
                    ),
                ));
            }
            if !self.take() {
                return Err(gave_up(
                    err,
                    format!(
                        "gave up after {}: the command's {} retries are spent",
                        tries(attempt),
                        self.limits.max_retries
                    ),
                ));
            }
            // Retry-After is a floor: never come back sooner than the exchange asked.
            let delay = self.backoff_ms(attempt).max(err.retry_after_ms.unwrap_or(0)).min(left);
            if delay >= left {
                self.give_back();
                return Err(gave_up(
                    err,
                    format!("gave up after {}: the command's retry budget has {left} ms left", tries(attempt)),
                ));
            }
            log_retry(what, correlation_id, attempt, delay, &err, Some(self.limits.max_retries - self.used()));
            clock.sleep_ms(delay);
            attempt += 1;
        }
    }
}

/// The error a retry loop stops on, with why it stopped.
fn gave_up(mut err: ExchangeError, why: String) -> ExchangeError {
    err.message = format!("{} ({why})", err.message);
    err
}

/// One WARN line for the first retry of a request; the later ones of the same request are DEBUG,
/// so an outage costs one line per request, not one per try (issue 12 §4).
fn log_retry(what: &str, correlation_id: &str, attempt: u32, delay: u64, err: &ExchangeError, left: Option<u32>) {
    if attempt == 1 {
        tracing::warn!(
            event = "exchange.retry",
            what,
            correlation_id,
            attempt,
            class = %err.class,
            code = err.code(),
            delay_ms = delay,
            retries_left = left,
            error = %err,
            "retrying"
        );
    } else {
        tracing::debug!(event = "exchange.retry", what, correlation_id, attempt, delay_ms = delay, error = %err);
    }
}

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
            log_retry(what, correlation_id, attempt, delay, &err, None);
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

    const LIMITS: BudgetLimits =
        BudgetLimits { max_retries: 5, max_elapsed_ms: 10_000, base_delay_ms: 100, max_delay_ms: 800 };

    /// Issue 12 §4: the budget is the command's, not the request's — two reads share five retries.
    #[test]
    fn one_budget_bounds_every_read_of_the_command() {
        let clock = ManualClock::new(0);
        let b = RetryBudget::new(LIMITS, 0);
        let mut calls = 0;
        for what in ["a", "b", "c"] {
            let _: ExResult<()> = b.run(&clock, what, "c", |_| {
                calls += 1;
                Err(err(ErrorClass::Retryable))
            });
        }
        // Three first tries plus the five retries, however they were spread.
        assert_eq!(calls, 3 + LIMITS.max_retries);
        assert_eq!(b.used(), LIMITS.max_retries);
        let e = b.run(&clock, "d", "c", |_| -> ExResult<()> { Err(err(ErrorClass::Retryable)) }).unwrap_err();
        assert!(e.message.contains("5 retries are spent"), "{e}");
    }

    /// Shared across threads (the snapshot's three concurrent reads): never more than the limit.
    #[test]
    fn concurrent_reads_share_the_count() {
        let clock = ManualClock::new(0);
        let b = RetryBudget::new(LIMITS, 0);
        let calls = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let _: ExResult<()> = b.run(&clock, "r", "c", |_| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        Err(err(ErrorClass::Retryable))
                    });
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 4 + LIMITS.max_retries);
    }

    #[test]
    fn recovers_within_the_budget_and_keeps_the_rest() {
        let clock = ManualClock::new(0);
        let b = RetryBudget::new(LIMITS, 0);
        let r = b.run(&clock, "r", "c", |n| if n < 3 { Err(err(ErrorClass::Retryable)) } else { Ok(n) });
        assert_eq!(r, Ok(3));
        assert_eq!(b.used(), 2);
    }

    /// Retry-After longer than what is left of the deadline: give up at once, saying so, without
    /// spending a retry or sleeping.
    #[test]
    fn retry_after_past_the_deadline_gives_up_at_once() {
        let clock = ManualClock::new(0);
        let b = RetryBudget::new(LIMITS, 0);
        let mut calls = 0;
        let e = b
            .run(&clock, "r", "c", |_| -> ExResult<()> {
                calls += 1;
                Err(err(ErrorClass::Retryable).with_retry_after(Some(30_000)))
            })
            .unwrap_err();
        assert_eq!((calls, b.used(), clock.now_ms()), (1, 0, 0));
        assert!(e.message.contains("Retry-After") && e.message.contains("30000 ms"), "{e}");
    }

    /// Retry-After within the deadline is a floor for the wait.
    #[test]
    fn retry_after_within_the_deadline_is_waited_out() {
        let clock = ManualClock::new(0);
        let b = RetryBudget::new(LIMITS, 0);
        let mut times = vec![];
        let _ = b.run(&clock, "r", "c", |n| {
            times.push(clock.now_ms());
            if n == 1 {
                Err(err(ErrorClass::Retryable).with_retry_after(Some(3_000)))
            } else {
                Ok(())
            }
        });
        assert_eq!(times.len(), 2);
        assert!(times[1] - times[0] >= 3_000, "{times:?}");
    }

    /// No retry starts after the deadline, whatever is left of the count.
    #[test]
    fn the_deadline_ends_retries() {
        let clock = ManualClock::new(0);
        let b = RetryBudget::new(BudgetLimits { max_retries: 1_000, ..LIMITS }, 0);
        let e = b
            .run(&clock, "r", "c", |_| -> ExResult<()> {
                clock.sleep_ms(1_500);
                Err(err(ErrorClass::Retryable))
            })
            .unwrap_err();
        assert!(clock.now_ms() <= 10_000 + 1_500, "{}", clock.now_ms());
        assert!(e.message.contains("budget"), "{e}");
    }

    #[test]
    fn only_retryable_failures_spend_the_budget() {
        let clock = ManualClock::new(0);
        let b = RetryBudget::new(LIMITS, 0);
        for class in [ErrorClass::Ambiguous, ErrorClass::Fatal, ErrorClass::RetryableWithModification] {
            let _ = b.run(&clock, "r", "c", |_| -> ExResult<()> { Err(err(class)) });
        }
        assert_eq!(b.used(), 0);
    }
}
