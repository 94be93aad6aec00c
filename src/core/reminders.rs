//! The alerts that come from a run's outcome rather than from one event (issue 13 §1): a halted
//! bot keeps saying so, and a command that keeps failing says so. Pure: the shell records the
//! run and appends the audit event (WARN, so the outbox carries it) when these say it is due.

/// A run refused while HALTED reminds at most once per this (12 h: on a 4h schedule, about two
/// reminders a day besides the halt's own alert, which counts as the first).
pub(crate) const STILL_HALTED_EVERY_MS: i64 = 12 * 60 * 60 * 1000;

/// Consecutive failed runs of one command that raise a warning; it repeats every this many more
/// (3 failed ticks = 12 h without a completed cycle on a 4h schedule).
pub(crate) const FAILED_RUNS_ALERT_AT: u32 = 3;

/// Audit kind of the "still HALTED" reminder. data: {command, halted_since, halt_reason}
pub(crate) const STILL_HALTED: &str = "still_halted";
/// Audit kind of the repeated failure warning. data: {command, streak, exit_code, error}
pub(crate) const REPEATED_FAILURE: &str = "repeated_failure";

/// Does this exit code count as a failed run? 1 (failed, state safe), 4 (lock busy) and 10
/// (critical). Not 0, not 3 (halted: the reminder above), not 5 (a refusal, audited on its own),
/// not 2 (usage: nothing ran).
pub(crate) fn is_failure(exit_code: u8) -> bool {
    matches!(exit_code, 1 | 4 | 10)
}

/// Is a "still HALTED" reminder due now? The halt itself alerted at `halted_since_ms`; the last
/// reminder (if any) at `last_reminder_ms`. Due when the later of the two is at least
/// [`STILL_HALTED_EVERY_MS`] ago.
pub(crate) fn still_halted_due(now_ms: i64, halted_since_ms: i64, last_reminder_ms: Option<i64>) -> bool {
    let last = last_reminder_ms.map_or(halted_since_ms, |r| r.max(halted_since_ms));
    now_ms.saturating_sub(last) >= STILL_HALTED_EVERY_MS
}

/// Does a failure streak of `streak` runs raise the warning? At [`FAILED_RUNS_ALERT_AT`], then
/// every as many runs more (3, 6, 9, ...): repeated, but not on every run.
pub(crate) fn repeated_failure_due(streak: u32) -> bool {
    streak >= FAILED_RUNS_ALERT_AT && streak % FAILED_RUNS_ALERT_AT == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 60 * 60 * 1000;

    #[test]
    fn still_halted_reminds_at_most_every_12_hours_from_the_halt() {
        assert!(!still_halted_due(11 * H, 0, None), "the halt's own alert is 11 h old");
        assert!(still_halted_due(12 * H, 0, None));
        assert!(!still_halted_due(20 * H, 0, Some(12 * H)));
        assert!(still_halted_due(24 * H, 0, Some(12 * H)));
        // A reminder from an earlier halt does not silence a new one, nor hurry it.
        assert!(!still_halted_due(30 * H, 20 * H, Some(10 * H)));
        assert!(still_halted_due(32 * H, 20 * H, Some(10 * H)));
    }

    #[test]
    fn repeated_failure_at_3_then_every_3() {
        let due: Vec<u32> = (0..10).filter(|n| repeated_failure_due(*n)).collect();
        assert_eq!(due, vec![3, 6, 9]);
    }

    #[test]
    fn which_exits_are_failures() {
        let failed: Vec<u8> = (0..=10).filter(|c| is_failure(*c)).collect();
        assert_eq!(failed, vec![1, 4, 10]);
    }
}
