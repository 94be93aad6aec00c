//! Hand-built journals, one per rule, and the clean paths the live code takes.

use super::*;
use crate::core::order::OrderState;
use rust_decimal_macros::dec;
use OrderEvent as E;
use OrderRole as R;

const PLAN: &str = "abc123";

/// A hand-built journal: seq counts up, ts = seq × 100 ms.
#[derive(Default)]
struct J {
    rows: Vec<JournalFact>,
}

impl J {
    fn next(&self) -> i64 {
        i64::try_from(self.rows.len()).unwrap() + 1
    }
    fn order_in(&mut self, plan: &str, cid: &str, role: R, attempt: u32, event: E, px: Option<Decimal>) -> i64 {
        let seq = self.next();
        let fact = OrderFact {
            seq,
            ts_ms: seq * 100,
            plan_id: Some(plan.into()),
            client_id: cid.into(),
            role,
            attempt,
            event,
            exchange_order_id: None,
            price: px,
            qty: Some(dec!(0.010)),
        };
        self.rows.push(JournalFact::Order { fact, detail: None });
        seq
    }
    fn order(&mut self, role: R, attempt: u32, event: E) -> i64 {
        let cid = format!("mc_{PLAN}_{role}_{attempt}");
        let px = matches!(event, E::Submitting | E::Filled | E::PartiallyFilled).then_some(dec!(100));
        self.order_in(PLAN, &cid, role, attempt, event, px)
    }
    fn audit_in(&mut self, plan: Option<&str>, kind: &str, data: Option<&str>) -> i64 {
        let seq = self.next();
        self.rows.push(JournalFact::Audit(AuditFact {
            seq,
            ts_ms: seq * 100,
            severity: "INFO".into(),
            kind: kind.into(),
            plan_id: plan.map(str::to_string),
            message: kind.into(),
            data: data.map(str::to_string),
        }));
        seq
    }
    fn audit(&mut self, kind: &str, data: Option<&str>) -> i64 {
        self.audit_in(Some(PLAN), kind, data)
    }
    fn closed(&mut self, reason: &str) -> i64 {
        self.audit(audit::POSITION_CLOSED, Some(&format!(r#"{{"exit_reason":"{reason}"}}"#)))
    }
    /// ENTRY_1 submitted and filled.
    fn entered(&mut self) -> i64 {
        self.audit(audit::ENTRY_SUBMITTED, Some("{}"));
        self.order(R::Entry, 1, E::Submitting);
        self.order(R::Entry, 1, E::Filled)
    }
    /// STOP_1 and TP_1 submitted and acknowledged.
    fn protected(&mut self) {
        self.order(R::Stop, 1, E::Submitting);
        self.order(R::Stop, 1, E::Acked);
        self.order(R::Tp, 1, E::Submitting);
        self.order(R::Tp, 1, E::Acked);
    }
    fn replay(&self) -> PlanReplay {
        replay_plan(PLAN, &self.rows)
    }
}

fn rules(r: &PlanReplay) -> Vec<(&'static str, i64)> {
    r.violations.iter().map(|v| (v.rule, v.seq)).collect()
}

#[test]
fn happy_path_to_tp_is_clean() {
    let mut j = J::default();
    let fill = j.entered();
    j.protected();
    j.order(R::Tp, 1, E::Triggered);
    j.order(R::Tp, 1, E::Filled);
    j.order(R::Stop, 1, E::Cancelled);
    j.closed("tp_hit");
    let r = j.replay();
    assert!(r.is_clean(), "{:?}", r.violations);
    assert_eq!(r.summary.outcome, "closed:tp_hit");
    assert_eq!(r.summary.exit_reason.as_deref(), Some("tp_hit"));
    assert_eq!(r.summary.entry_client_id.as_deref(), Some("mc_abc123_ENTRY_1"));
    assert_eq!(r.summary.entry_fill_price, Some(dec!(100)));
    assert_eq!(r.summary.entry_fill_qty, Some(dec!(0.010)));
    // STOP ACKED is two rows after the fill.
    assert_eq!(r.summary.unprotected_window_ms, Some(200));
    assert_eq!(r.timeline.len(), j.rows.len());
    assert_eq!(r.timeline[usize::try_from(fill).unwrap() - 1].state, Some(OrderState::Filled));
    assert!(!r.summary.forced_close);
}

#[test]
fn lost_ack_then_lookup_found_is_clean_and_open() {
    let mut j = J::default();
    j.order(R::Entry, 1, E::Submitting);
    j.order(R::Entry, 1, E::Unknown);
    j.order(R::Entry, 1, E::Filled); // the look-up by client id found it filled
    j.protected();
    let r = j.replay();
    assert!(r.is_clean(), "{:?}", r.violations);
    assert_eq!(r.summary.outcome, "open");
}

#[test]
fn forced_close_path_is_clean() {
    let mut j = J::default();
    j.entered();
    j.order(R::Stop, 1, E::Submitting);
    j.order(R::Stop, 1, E::Rejected);
    j.audit(audit::PROTECTION_FAILED, Some(r#"{"role":"STOP"}"#));
    j.audit(audit::FORCED_CLOSE, Some(r#"{"why":"stop_rejected"}"#));
    j.order(R::Close, 1, E::Submitting);
    j.order(R::Close, 1, E::Filled);
    j.audit(audit::HALT, None);
    j.closed("forced_close:stop_rejected");
    let r = j.replay();
    assert!(r.is_clean(), "{:?}", r.violations);
    assert_eq!(r.summary.outcome, "closed:forced_close:stop_rejected");
    assert!(r.summary.forced_close);
    assert_eq!(r.summary.unprotected_window_ms, None);
}

#[test]
fn second_entry_while_first_may_fill_is_a_duplicate() {
    let mut j = J::default();
    j.order(R::Entry, 1, E::Submitting);
    j.order(R::Entry, 1, E::Unknown);
    let second = j.order(R::Entry, 2, E::Submitting); // no look-up first: F-001
    j.order(R::Entry, 2, E::Filled);
    j.order(R::Entry, 1, E::Filled);
    j.protected();
    let r = j.replay();
    // One report for the one duplicate, at the send that caused it.
    assert_eq!(rules(&r), vec![(rule::DUPLICATE_ENTRY, second)]);
}

#[test]
fn two_filled_entries_are_a_duplicate_even_if_sent_in_order() {
    let mut j = J::default();
    j.entered();
    j.protected();
    j.order(R::Entry, 2, E::Submitting);
    let fill2 = j.order(R::Entry, 2, E::Filled);
    let r = j.replay();
    let dup: Vec<_> = r.violations.iter().filter(|v| v.rule == rule::DUPLICATE_ENTRY).collect();
    assert_eq!(dup.len(), 1, "{:?}", r.violations);
    assert!(dup[0].seq < fill2, "reported when sent, not again when filled");
}

#[test]
fn retry_after_proven_rejection_is_not_a_duplicate() {
    let mut j = J::default();
    j.order(R::Entry, 1, E::Submitting);
    j.order(R::Entry, 1, E::Unknown);
    j.order(R::Entry, 1, E::NotFound);
    j.order(R::Entry, 2, E::Submitting);
    j.order(R::Entry, 2, E::Filled);
    j.protected();
    let r = j.replay();
    assert!(r.is_clean(), "{:?}", r.violations);
    assert_eq!(r.summary.entry_client_id.as_deref(), Some("mc_abc123_ENTRY_2"));
}

#[test]
fn fill_without_stop_ack_is_unprotected() {
    let mut j = J::default();
    let fill = j.entered();
    j.order(R::Stop, 1, E::Submitting);
    j.order(R::Stop, 1, E::Unknown);
    j.order(R::Tp, 1, E::Submitting);
    j.order(R::Tp, 1, E::Acked); // a TP is no protection
    let r = j.replay();
    assert_eq!(rules(&r), vec![(rule::UNPROTECTED_FILL, fill)]);
    assert_eq!(r.summary.unprotected_window_ms, None);
    assert_eq!(r.summary.outcome, "open");
}

#[test]
fn forced_close_before_the_fill_does_not_cover_it() {
    let mut j = J::default();
    j.audit(audit::FORCED_CLOSE, None);
    let fill = j.entered();
    assert_eq!(rules(&j.replay()), vec![(rule::UNPROTECTED_FILL, fill)]);
}

#[test]
fn stop_found_triggered_by_lookup_counts_as_protection() {
    let mut j = J::default();
    j.entered();
    j.order(R::Stop, 1, E::Submitting);
    j.order(R::Stop, 1, E::Unknown);
    j.order(R::Stop, 1, E::Triggered);
    j.order(R::Stop, 1, E::Filled);
    j.closed("stop_hit");
    let r = j.replay();
    assert!(r.is_clean(), "{:?}", r.violations);
    assert_eq!(r.summary.outcome, "closed:stop_hit");
}

#[test]
fn position_closed_needs_a_parseable_reason() {
    for data in [None, Some("{}"), Some("not json"), Some(r#"{"exit_reason":"because"}"#)] {
        let mut j = J::default();
        j.entered();
        j.protected();
        let at = j.audit(audit::POSITION_CLOSED, data);
        let r = j.replay();
        assert_eq!(rules(&r), vec![(rule::EXIT_WITHOUT_REASON, at)], "{data:?}");
        assert_eq!(r.summary.outcome, "closed:unknown");
    }
}

#[test]
fn closing_fill_without_position_closed_is_an_exit_without_reason() {
    let mut j = J::default();
    j.entered();
    j.protected();
    j.order(R::Close, 1, E::Submitting);
    let close = j.order(R::Close, 1, E::Filled);
    assert_eq!(rules(&j.replay()), vec![(rule::EXIT_WITHOUT_REASON, close)]);
    j.closed("regime:trend_invalidation");
    let r = j.replay();
    assert!(r.is_clean(), "{:?}", r.violations);
    assert_eq!(r.summary.outcome, "closed:regime:trend_invalidation");
}

#[test]
fn invalid_transitions_are_named_and_skipped() {
    let mut j = J::default();
    let orphan = j.order(R::Entry, 1, E::Filled); // no SUBMITTING first
    let again = j.order(R::Entry, 1, E::Observed);
    let r = j.replay();
    // Each refused row is named once; the order's attempt is not judged twice.
    assert_eq!(rules(&r), vec![(rule::INVALID_TRANSITION, orphan), (rule::INVALID_TRANSITION, again)]);
    assert!(r.violations[0].detail.contains("FILLED is not allowed from no history"));
    assert_eq!(r.timeline[0].state, None);

    let mut j = J::default();
    j.entered();
    j.protected();
    j.order(R::Stop, 1, E::Cancelled);
    let bad = j.order(R::Stop, 1, E::Filled);
    let r = j.replay();
    assert_eq!(rules(&r), vec![(rule::INVALID_TRANSITION, bad)]);
    assert!(r.violations[0].detail.contains("STOP mc_abc123_STOP_1: FILLED is not allowed from state CANCELLED"));
}

#[test]
fn entry_while_halted_uses_global_halts() {
    let mut j = J::default();
    let halt = j.audit_in(None, audit::HALT, None);
    j.audit_in(Some("zzz999"), "entry_submitted", None);
    let sent = j.order(R::Entry, 1, E::Submitting);
    let r = j.replay();
    assert_eq!(rules(&r), vec![(rule::ENTRY_WHILE_HALTED, sent)]);
    assert!(r.violations[0].detail.contains(&format!("halt at seq {halt}")));
    // The halt precedes the plan's own rows: it counts, but is not part of the timeline.
    assert_eq!(r.timeline.len(), 1);
    assert_eq!(r.summary.outcome, "entering");

    let mut j = J::default();
    j.audit_in(None, audit::HALT, None);
    j.audit_in(None, audit::RESUME, None);
    j.entered();
    j.protected();
    j.order(R::Close, 1, E::Submitting); // exits are never blocked
    j.audit_in(None, audit::HALT, None);
    j.order(R::Close, 1, E::Filled);
    j.closed("manual");
    let r = j.replay();
    assert!(r.is_clean(), "{:?}", r.violations);
    assert!(r.timeline.iter().any(|t| t.kind.as_deref() == Some("halt")), "halt inside the span is shown");
}

#[test]
fn attempts_start_at_one_and_step_by_one() {
    let mut j = J::default();
    j.entered();
    let skipped = j.order(R::Stop, 2, E::Submitting);
    j.order(R::Stop, 2, E::Acked);
    let r = j.replay();
    assert_eq!(rules(&r), vec![(rule::ATTEMPT_SEQUENCE, skipped)]);

    let mut j = J::default();
    j.entered();
    j.order(R::Stop, 1, E::Submitting);
    j.order(R::Stop, 1, E::Rejected);
    let gap = j.order(R::Stop, 3, E::Submitting);
    j.order(R::Stop, 3, E::Acked);
    assert_eq!(rules(&j.replay()), vec![(rule::ATTEMPT_SEQUENCE, gap)]);
}

#[test]
fn client_id_must_name_its_plan_role_and_attempt() {
    let mut j = J::default();
    let wrong = j.order_in(PLAN, "mc_other1_ENTRY_1", R::Entry, 1, E::Submitting, None);
    j.order_in(PLAN, "mc_other1_ENTRY_1", R::Entry, 1, E::Rejected, None);
    let r = j.replay();
    assert_eq!(rules(&r), vec![(rule::CLIENT_ID_MISMATCH, wrong)]);
    assert_eq!(r.summary.outcome, "not_filled");
}

#[test]
fn outcomes_without_a_position() {
    let outcome = |build: &dyn Fn(&mut J)| {
        let mut j = J::default();
        build(&mut j);
        let r = j.replay();
        assert!(r.is_clean(), "{:?}", r.violations);
        r.summary.outcome
    };
    assert_eq!(outcome(&|_| {}), "planned");
    assert_eq!(
        outcome(&|j| {
            j.audit(audit::PREFLIGHT_FAILED, None);
        }),
        "refused"
    );
    assert_eq!(
        outcome(&|j| {
            j.audit(audit::PLAN_EXPIRED, None);
        }),
        "expired"
    );
    assert_eq!(
        outcome(&|j| {
            j.order(R::Entry, 1, E::Submitting);
            j.order(R::Entry, 1, E::Rejected);
            j.audit(audit::ENTRY_NOT_FILLED, None);
        }),
        "not_filled"
    );
    assert_eq!(
        outcome(&|j| {
            j.order(R::Entry, 1, E::Submitting);
            j.order(R::Entry, 1, E::Unknown);
        }),
        "entering"
    );
}

#[test]
fn replay_journal_groups_plans_and_shares_halts() {
    let mut j = J::default();
    j.entered();
    j.protected();
    j.audit_in(None, audit::HALT, None);
    j.order_in("zzz999", "mc_zzz999_ENTRY_1", R::Entry, 1, E::Submitting, None);
    j.order_in("zzz999", "mc_zzz999_ENTRY_1", R::Entry, 1, E::Rejected, None);
    let all = replay_journal(&j.rows);
    let ids: Vec<&str> = all.iter().map(|p| p.plan_id.as_str()).collect();
    assert_eq!(ids, vec![PLAN, "zzz999"]);
    assert!(all[0].is_clean());
    assert_eq!(all[1].violations.len(), 1);
    assert_eq!(all[1].violations[0].rule, rule::ENTRY_WHILE_HALTED);
    assert_eq!(all[1], replay_plan("zzz999", &j.rows), "same verdict either way");
}

#[test]
fn rule_names_are_distinct_snake_case() {
    let set: BTreeSet<&str> = rule::ALL.into_iter().collect();
    assert_eq!(set.len(), rule::ALL.len());
    assert!(rule::ALL.iter().all(|r| r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
}

#[test]
fn entry_that_expired_part_filled_is_a_fill() {
    let mut j = J::default();
    j.order(R::Entry, 1, E::Submitting);
    j.order(R::Entry, 1, E::Unknown);
    // The look-up found it expired part-filled: order rows carry an average price only then.
    let fill = j.order_in(PLAN, "mc_abc123_ENTRY_1", R::Entry, 1, E::Expired, Some(dec!(101)));
    let r = j.replay();
    assert_eq!(rules(&r), vec![(rule::UNPROTECTED_FILL, fill)]);
    assert_eq!(r.summary.entry_fill_price, Some(dec!(101)));

    let mut j = J::default();
    j.order(R::Entry, 1, E::Submitting);
    j.order(R::Entry, 1, E::Acked);
    j.order(R::Entry, 1, E::Expired); // no price: nothing executed
    let r = j.replay();
    assert!(r.is_clean(), "{:?}", r.violations);
    assert_eq!(r.summary.outcome, "not_filled");
}

/// F-003: a position adopted by reconcile is exposure like a fill: protected afterwards → clean.
#[test]
fn adopted_position_then_protected_is_clean() {
    let mut j = J::default();
    j.audit(audit::POSITION_ADOPTED, Some(r#"{"qty":"0.01","entry_price":"100","plan_id":null}"#));
    j.protected();
    assert!(j.replay().violations.is_empty(), "{:?}", j.replay().violations);
}

/// An adopted position that never got a STOP, a forced close or a close is unprotected.
#[test]
fn adopted_position_left_naked_is_unprotected() {
    let mut j = J::default();
    let adopted = j.audit(audit::POSITION_ADOPTED, Some(r#"{"qty":"0.01","entry_price":"100","plan_id":null}"#));
    assert_eq!(rules(&j.replay()), vec![(rule::UNPROTECTED_FILL, adopted)]);
}
