//! THE rule for order writes (issue 10 item 1, CONTRACT §5): an answer that is not a known,
//! definite refusal is an unknown outcome, resolved by client-id look-up before anything else is
//! sent — for every role (ENTRY, STOP, TP, CLOSE) and for cancels. Which answers are known
//! refusals is the exchange port's table (`ExchangeError::is_known_refusal`); this module is the
//! only place that decides "unknown → look up" and what a look-up proves.

use crate::clock::Clock;
use crate::exchange::{ExResult, ExchangeError};

/// Is the outcome of an order write answered with `err` unknown? Only a known, definite refusal
/// means "not accepted"; an unknown code, an unreadable body, a timeout or a 5xx do not.
pub(crate) fn is_unknown_outcome(err: &ExchangeError) -> bool {
    !err.is_known_refusal()
}

/// What the client-id look-up after an unknown outcome proved.
#[derive(Debug)]
pub(crate) enum Resolved<T> {
    /// The exchange has the order: the write was applied.
    Found(T),
    /// Two look-ups apart in time agree the exchange does not know the client id: not applied.
    Absent,
    /// The look-ups could not tell within the budget; the last error, if any.
    Unknown(Option<ExchangeError>),
}

/// How hard a look-up tries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Give up after this long (engine clock).
    pub max_elapsed_ms: i64,
    /// Pause between look-ups.
    pub pause_ms: u64,
}

/// Looks an order up by client id until the answer is proof: found once, or not found by two
/// look-ups apart in time (the matching engine may still be working on the order when the first
/// one asks). Errors and a single "not found" are not proof; after `budget` it is `Unknown`.
pub(crate) fn resolve<T>(
    clock: &dyn Clock,
    budget: Budget,
    mut look: impl FnMut() -> ExResult<Option<T>>,
) -> Resolved<T> {
    let deadline = clock.now_ms().saturating_add(budget.max_elapsed_ms);
    let mut not_found = 0;
    let mut last_err = None;
    loop {
        match look() {
            Ok(Some(x)) => return Resolved::Found(x),
            Ok(None) => {
                not_found += 1;
                if not_found >= 2 {
                    return Resolved::Absent;
                }
            }
            Err(e) => last_err = Some(e),
        }
        if clock.now_ms() >= deadline {
            return Resolved::Unknown(last_err);
        }
        clock.sleep_ms(budget.pause_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::exchange::{ErrorClass, ExchangeErrorKind};

    fn api(code: i64, class: ErrorClass) -> ExchangeError {
        ExchangeError::new(ExchangeErrorKind::Api { code }, class, "x")
    }

    const BUDGET: Budget = Budget { max_elapsed_ms: 1_000, pause_ms: 300 };

    /// Issue 10 item 1: an unlisted code is never a refusal, whatever class it fell back to.
    #[test]
    fn only_a_known_definite_refusal_is_not_unknown() {
        assert!(!is_unknown_outcome(&api(-2010, ErrorClass::Fatal)));
        assert!(!is_unknown_outcome(&api(-1004, ErrorClass::Retryable)));
        assert!(is_unknown_outcome(&api(-1199, ErrorClass::Fatal).with_unknown_code()));
        assert!(is_unknown_outcome(&api(-1007, ErrorClass::Ambiguous)));
        assert!(is_unknown_outcome(&api(-4046, ErrorClass::IdempotentSafe)));
        let parse = ExchangeError::new(ExchangeErrorKind::Parse, ErrorClass::Ambiguous, "truncated");
        assert!(is_unknown_outcome(&parse));
    }

    #[test]
    fn one_not_found_is_not_proof_two_are() {
        let clock = ManualClock::new(0);
        let mut answers = vec![Ok(None), Ok(None)].into_iter();
        let r: Resolved<u8> = resolve(&clock, BUDGET, || answers.next().unwrap_or(Ok(None)));
        assert!(matches!(r, Resolved::Absent));
        let mut answers = vec![Ok(None), Ok(Some(7u8))].into_iter();
        let r = resolve(&clock, BUDGET, || answers.next().unwrap_or(Ok(None)));
        assert!(matches!(r, Resolved::Found(7)));
    }

    #[test]
    fn failing_look_ups_end_unknown_after_the_budget_never_absent() {
        let clock = ManualClock::new(0);
        let mut calls = 0;
        let r: Resolved<u8> = resolve(&clock, BUDGET, || {
            calls += 1;
            Err(api(-1001, ErrorClass::Ambiguous))
        });
        assert!(matches!(r, Resolved::Unknown(Some(_))));
        assert!(calls >= 2);
    }
}
