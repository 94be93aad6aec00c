//! Execution under the protection guarantee (seed 000 §3–8, CONTRACT §5 and §7), against a
//! scripted in-memory exchange: each test asserts what was sent, in which order, with which
//! client ids, and the DB afterwards. Acceptance criteria (seed 000 §12) are named per test:
//! AC1 no position without a STOP, AC2 no duplicate ENTRY, AC3 every failure ends in a safe close
//! or a HALT, AC4 restart reconciles, AC5 every exit has an auditable reason.

use crate::support::bot::Bot;
use crate::support::fault::Fault;
use crate::support::rig::{Rig, T0};
use crate::support::steps;
use mcbot::clock::Clock;
use mcbot::core::order::OrderRole;
use mcbot::core::plan::PlanStatus;
use mcbot::outcome::ExitCode;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const ENTRY1: &str = "mc_a1b2c3d4e5f6_ENTRY_1";
const STOP1: &str = "mc_a1b2c3d4e5f6_STOP_1";
const TP1: &str = "mc_a1b2c3d4e5f6_TP_1";

/// AC1: ENTRY, then STOP and TP for the filled quantity; TP at exactly 2R from the actual fill.
#[test]
fn happy_path_enters_and_protects_with_tp_at_exactly_2r() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.set_mark(dec!(40050)); // fill 50 above the reference: R = 40050 - 39000 = 1050
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    let sent = r.ex.sent();
    assert_eq!(sent[0], "place_market:ENTRY");
    let mut rest = sent[1..].to_vec();
    rest.sort();
    assert_eq!(rest, vec!["place_conditional:STOP", "place_conditional:TP"]);
    let conds = r.ex.open_conds();
    let stop = conds.iter().find(|c| c.client_id == STOP1).unwrap();
    let tp = conds.iter().find(|c| c.client_id == TP1).unwrap();
    assert_eq!((stop.trigger_price, stop.qty), (dec!(39000), dec!(0.010)));
    assert_eq!(tp.trigger_price, dec!(42150)); // 40050 + 2 x 1050
    assert_eq!(r.events(ENTRY1), ["SUBMITTING", "FILLED"]);
    assert_eq!(r.events(STOP1), ["SUBMITTING", "ACKED"]);
    let pos = r.store.active_position("BTCUSDT").unwrap().unwrap();
    assert_eq!((pos.qty, pos.entry_price), (dec!(0.010), dec!(40050)));
    assert!(pos.unprotected_window_ms.is_some());
    assert_eq!(r.store.plan("a1b2c3d4e5f6").unwrap().unwrap().status, PlanStatus::Filled);
    assert!(!r.halted());
    r.assert_replay_clean();
}

/// F-001 / AC2: the ENTRY executes but its acknowledgement is lost; the look-up by client id finds
/// it, so no second ENTRY is ever sent.
#[test]
fn f001_lost_ack_is_resolved_by_lookup_never_double_enters() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_market:ENTRY", Fault::ExecuteThenDrop, 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok);
    assert_eq!(r.sent_count("place_market:ENTRY"), 1, "{:?}", r.ex.sent());
    assert!(r.ex.calls().contains(&"query_order:ENTRY".to_string()));
    assert_eq!(r.events(ENTRY1), ["SUBMITTING", "UNKNOWN", "FILLED"]);
    assert_eq!(r.ex.position(), dec!(0.010));
    assert_eq!(r.ex.open_conds().len(), 2);
    r.assert_replay_clean();
}

/// AC2: a lost ENTRY that really never reached the exchange is proven absent by two look-ups;
/// only then attempt 2 goes out, with a new client id.
#[test]
fn ambiguous_entry_proven_absent_allows_attempt_2() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_market:ENTRY", Fault::Drop, 1);
    r.enter().unwrap();
    assert_eq!(r.sent_count("place_market:ENTRY"), 2);
    assert_eq!(r.events(ENTRY1), ["SUBMITTING", "UNKNOWN", "NOT_FOUND"]);
    assert_eq!(r.events("mc_a1b2c3d4e5f6_ENTRY_2"), ["SUBMITTING", "FILLED"]);
    assert_eq!(r.ex.position(), dec!(0.010), "exactly one ENTRY filled");
    r.assert_replay_clean();
}

/// ENTRY 5xx (a definite "service unavailable", not executed): attempt 2 is allowed once.
#[test]
fn entry_5xx_retries_once_with_incremented_attempt() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_market:ENTRY", Fault::service_unavailable(), 1);
    r.enter().unwrap();
    assert_eq!(r.events(ENTRY1), ["SUBMITTING", "REJECTED"]);
    assert_eq!(r.events("mc_a1b2c3d4e5f6_ENTRY_2"), ["SUBMITTING", "FILLED"]);
    assert_eq!(r.ex.position(), dec!(0.010));
    r.assert_replay_clean();
}

/// A fatal ENTRY rejection (margin insufficient): no retry, no position, plan NOT_FILLED.
#[test]
fn fatal_entry_rejection_does_not_retry() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_market:ENTRY", Fault::api_error(400, -2019, "Margin is insufficient."), 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Failed);
    assert_eq!(r.sent_count("place_market:ENTRY"), 1);
    assert_eq!(r.store.plan("a1b2c3d4e5f6").unwrap().unwrap().status, PlanStatus::NotFilled);
    assert!(r.store.active_position("BTCUSDT").unwrap().is_none());
    r.assert_replay_clean();
}

fn assert_forced_close_and_halt(r: &Rig, cancel_label: &str) {
    let sent = r.ex.sent();
    let close_at = sent.iter().position(|c| c == "place_market:CLOSE").expect("CLOSE sent");
    let cancel_at = sent.iter().position(|c| c == cancel_label).unwrap_or_else(|| panic!("{cancel_label} in {sent:?}"));
    assert!(close_at < cancel_at, "CLOSE first, then cancel the other protective order: {sent:?}");
    assert_eq!(r.ex.position(), Decimal::ZERO, "flat on the exchange");
    assert!(r.ex.open_conds().is_empty(), "no protective order left: {:?}", r.ex.open_conds());
    assert!(r.halted());
    let kinds = r.audit_kinds();
    assert!(kinds.contains(&"CRITICAL:protection_failed".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"CRITICAL:forced_close".to_string()));
    assert!(kinds.contains(&"CRITICAL:halt".to_string()));
    let pos = r.store.all_positions().unwrap().pop().unwrap();
    assert!(pos.exit_reason.as_deref().unwrap().starts_with("forced_close:"), "{:?}", pos.exit_reason);
    assert_eq!(pos.state.as_str(), "CLOSED");
}

/// F-002 / seed 000 §5 / AC1+AC3: STOP rejected → CLOSE, cancel TP, HALT, CRITICAL, exit 10.
#[test]
fn f002_stop_rejected_forces_close_cancel_halt_exit_10() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_conditional:STOP", Fault::api_error(400, -2022, "ReduceOnly Order is rejected."), 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Critical);
    assert_forced_close_and_halt(&r, "cancel_conditional:TP");
    assert_eq!(r.sent_count("place_conditional:STOP"), 1, "a rejection is not retried");
    r.assert_replay_clean();
}

/// Seed 000 §5: -2021 (would immediately trigger) on the STOP is a placement failure.
#[test]
fn stop_would_trigger_2021_forces_close_and_halt() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_conditional:STOP", Fault::api_error(400, -2021, "Order would immediately trigger."), 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Critical);
    assert_forced_close_and_halt(&r, "cancel_conditional:TP");
    let pos = r.store.all_positions().unwrap().pop().unwrap();
    assert_eq!(pos.exit_reason.as_deref(), Some("forced_close:stop_would_trigger"));
    r.assert_replay_clean();
}

/// Seed 000 §5: STOP acknowledged later than stop_ack_timeout_ms is a failure; the late STOP
/// that did land is cancelled too.
#[test]
fn stop_ack_timeout_forces_close_and_cancels_the_late_stop() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_conditional:STOP", Fault::Delay(6_000), 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Critical);
    assert_forced_close_and_halt(&r, "cancel_conditional:STOP");
    assert!(r.ex.sent().contains(&"cancel_conditional:TP".to_string()));
    r.assert_replay_clean();
}

/// Seed 000 §5: TP rejected → CLOSE, cancel the STOP, HALT.
#[test]
fn tp_rejected_forces_close_cancels_stop_and_halts() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_conditional:TP", Fault::api_error(400, -4045, "Reach max stop order limit."), 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Critical);
    assert_forced_close_and_halt(&r, "cancel_conditional:STOP");
    r.assert_replay_clean();
}

/// Seed 000 §8.2: STOP/TP get one retry for a retryable failure (here a 503).
#[test]
fn stop_503_gets_exactly_one_retry_then_protects() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_conditional:STOP", Fault::service_unavailable(), 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    assert_eq!(r.events(STOP1), ["SUBMITTING", "REJECTED"]);
    assert_eq!(r.events("mc_a1b2c3d4e5f6_STOP_2"), ["SUBMITTING", "ACKED"]);
    assert!(!r.halted());
    r.assert_replay_clean();
}

/// The same retry on an exchange whose calls go one after the other (the paper exchange, `sim`):
/// the second round of legs must still protect. (Found by `sim --faults 0.05 --seed 7`: a retry
/// round forgot the first round's side read and `enter` failed with the position unprotected.)
#[test]
fn stop_retry_on_a_sequential_exchange_still_protects() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.state.lock().unwrap().sequential = true;
    r.ex.on("place_conditional:STOP", Fault::service_unavailable(), 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    assert_eq!(r.events("mc_a1b2c3d4e5f6_STOP_2"), ["SUBMITTING", "ACKED"]);
    assert!(r.ex.open_conds().iter().any(|c| c.client_id.ends_with("_STOP_2")));
    assert!(!r.halted());
    r.assert_replay_clean();
}

/// AC1: exchangeInfo read fine for pre-flight, then stops answering right after the fill. The
/// STOP is placed with the filters pre-flight read, not left unplaced until a later run. (Found by
/// `sim --faults 0.05 --seed 42`: a position without a STOP at the candle close.)
#[test]
fn a_filters_outage_after_the_fill_does_not_keep_the_stop_back() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("filters", Fault::Delay(0), 1);
    r.ex.on("filters", Fault::service_unavailable(), 1000);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    assert_eq!(r.events(STOP1), ["SUBMITTING", "ACKED"]);
    let conds = r.ex.open_conds();
    assert!(conds.iter().any(|c| c.client_id == STOP1 && c.qty == dec!(0.010)), "{conds:?}");
    assert!(!r.halted());
    r.assert_replay_clean();
}

/// A failed retry is a placement failure: CLOSE + HALT.
#[test]
fn stop_retry_that_fails_again_forces_close() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_conditional:STOP", Fault::service_unavailable(), 2);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Critical);
    assert_eq!(r.sent_count("place_conditional:STOP"), 2);
    assert_forced_close_and_halt(&r, "cancel_conditional:TP");
    r.assert_replay_clean();
}

/// A STOP whose send timed out but which the exchange did accept is found by look-up: no
/// duplicate STOP, no retry.
#[test]
fn stop_ambiguous_found_by_lookup_is_not_resent() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_conditional:STOP", Fault::ExecuteThenDrop, 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok);
    assert_eq!(r.sent_count("place_conditional:STOP"), 1);
    assert_eq!(r.events(STOP1), ["SUBMITTING", "UNKNOWN", "ACKED"]);
    r.assert_replay_clean();
}

/// F-004: a partial ENTRY is protected for the filled quantity at once; when it completes inside
/// the window the protection is resized to the full quantity (new STOP/TP first, then the small
/// ones cancelled).
#[test]
fn f004_partial_fill_completed_protection_resized() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_market:ENTRY", Fault::partial(dec!(0.004)), 1);
    r.ex.on("query_order:ENTRY", Fault::CompletePartial, 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    let sent = r.ex.sent();
    let stop2 = sent.iter().rposition(|c| c == "place_conditional:STOP").unwrap();
    let cancel = sent.iter().position(|c| c == "cancel_conditional:STOP").unwrap();
    assert!(stop2 < cancel, "place the full-size STOP before cancelling the small one: {sent:?}");
    let conds = r.ex.open_conds();
    assert_eq!(conds.len(), 2);
    assert!(conds.iter().all(|c| c.qty == dec!(0.010)), "{conds:?}");
    assert_eq!(r.store.active_position("BTCUSDT").unwrap().unwrap().qty, dec!(0.010));
    assert_eq!(r.store.plan("a1b2c3d4e5f6").unwrap().unwrap().status, PlanStatus::Filled);
    r.assert_replay_clean();
}

/// F-004: not fully filled within entry_fill_window_ms → remainder cancelled, position closed.
#[test]
fn f004_partial_fill_timed_out_is_cancelled_and_closed() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_market:ENTRY", Fault::partial(dec!(0.004)), 1);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Failed);
    let sent = r.ex.sent();
    assert!(sent.contains(&"cancel_order:ENTRY".to_string()), "{sent:?}");
    assert!(sent.contains(&"place_market:CLOSE".to_string()));
    assert_eq!(r.ex.position(), Decimal::ZERO);
    assert!(r.ex.open_conds().is_empty());
    let pos = r.store.all_positions().unwrap().pop().unwrap();
    assert_eq!(pos.exit_reason.as_deref(), Some("forced_close:partial_fill_timeout"));
    assert!(!r.halted(), "a safe close; no halt needed");
    r.assert_replay_clean();
}

/// CONTRACT §7.6: HALTED refuses the ENTRY (exit 3) and sends nothing.
#[test]
fn halted_refuses_entry_and_sends_nothing() {
    let mut r = Bot::new().planned_long().fake();
    r.store.set_halted("operator", T0).unwrap();
    let e = r.enter().unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Halted);
    assert!(r.ex.sent().is_empty());
    assert!(r.audit_kinds().contains(&"WARN:preflight_failed".to_string()));
    r.assert_replay_clean();
}

/// Pre-flight (seed 003 slippage guard): mark too far from the reference → exit 5, audit, no order.
#[test]
fn preflight_slippage_refuses_with_exit_5() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.set_mark(dec!(40400)); // 1 % > 0.5 %
    let e = r.enter().unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Preflight);
    assert!(e.to_string().contains("slippage"));
    assert!(r.ex.sent().is_empty());
    assert_eq!(r.count("SELECT count(*) FROM audit_event WHERE kind = 'preflight_failed'"), 1);
    r.assert_replay_clean();
}

/// Pre-flight sets ISOLATED and 1x when needed (they are idempotent on the exchange).
#[test]
fn preflight_fixes_margin_and_leverage_when_flat() {
    let mut r = Bot::new().planned_long().fake();
    {
        let mut s = r.ex.state.lock().unwrap();
        s.book.isolated = false;
        s.book.leverage = 20;
    }
    r.enter().unwrap();
    let mut sent = r.ex.sent();
    // Both settings go out together (issue 16 item 6), in either order, before the ENTRY.
    sent[..2].sort();
    assert_eq!(&sent[..3], ["set_isolated_margin", "set_leverage", "place_market:ENTRY"]);
    r.assert_replay_clean();
}

/// A stale plan is EXPIRED and never entered late.
#[test]
fn stale_plan_expires_and_is_never_entered() {
    let mut r = Bot::new().planned_long().fake();
    r.clock.set_ms(T0 + 14_400_000);
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok);
    assert!(r.ex.sent().is_empty());
    assert_eq!(r.store.plan("a1b2c3d4e5f6").unwrap().unwrap().status, PlanStatus::Expired);
    r.assert_replay_clean();
}

/// AC2: entering twice for one plan is impossible: the second run finds no PLANNED plan.
#[test]
fn second_enter_for_the_same_plan_sends_nothing() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    let before = r.ex.sent().len();
    let rep = r.enter().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok);
    assert_eq!(r.ex.sent().len(), before);
    assert_eq!(r.sent_count("place_market:ENTRY"), 1);
    r.assert_replay_clean();
}

/// Seed 000 §7 / AC5: a regime exit cancels the TP, closes, then cancels the STOP — kept until the
/// CLOSE is confirmed so the position is never without a STOP (AC1) — and records the reason.
#[test]
fn regime_exit_cancels_protection_then_closes_and_records_reason() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    r.ex.set_mark(dec!(40500));
    let reason = "regime:trend_invalidation".parse().unwrap();
    let rep = r.exit(&reason).unwrap();
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    let sent = r.ex.sent();
    let close_at = sent.iter().position(|c| c == "place_market:CLOSE").unwrap();
    let tp_cancel = sent.iter().position(|c| c == "cancel_conditional:TP").unwrap();
    let stop_cancel = sent.iter().position(|c| c == "cancel_conditional:STOP").unwrap();
    assert!(tp_cancel < close_at && close_at < stop_cancel, "TP cancel, CLOSE, then STOP cancel: {sent:?}");
    let pos = r.store.all_positions().unwrap().pop().unwrap();
    assert_eq!(pos.exit_reason.as_deref(), Some("regime:trend_invalidation"));
    assert_eq!(pos.exit_price, Some(dec!(40500)));
    assert_eq!(pos.realized_pnl, Some(dec!(5.000)));
    let sys = r.store.system().unwrap();
    assert_eq!(sys.cooldown_until_ms, Some(T0 + 3 * 14_400_000), "cooldown of 3 candles starts at the exit");
    assert_eq!(r.ex.position(), Decimal::ZERO);
    r.assert_replay_clean();
}

/// F-005 / CONTRACT §7.7: an outage during CLOSE keeps retrying (new attempt each time) until
/// close_retry_max_elapsed_ms, then HALT, CRITICAL, exit 10.
#[test]
fn f005_outage_during_close_retries_then_halts_exit_10() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    r.ex.on("place_market:CLOSE", Fault::service_unavailable(), 1000);
    let rep = r.exit(&mcbot::core::position::ExitReason::Manual).unwrap();
    assert_eq!(rep.exit, ExitCode::Critical);
    let closes = r.sent_count("place_market:CLOSE");
    assert!(closes >= 3, "CLOSE retried: {closes}");
    assert!(r.events("mc_a1b2c3d4e5f6_CLOSE_3").first().is_some_and(|e| e == "SUBMITTING"), "attempts increment");
    assert!(r.clock.now_ms() - T0 <= 20_000 + 5_000, "bounded by close_retry_max_elapsed_ms");
    assert!(r.halted());
    assert!(r.audit_kinds().contains(&"CRITICAL:close_failed".to_string()));
    assert_eq!(r.store.active_position("BTCUSDT").unwrap().unwrap().state.as_str(), "OPEN");
    // AC1: the STOP cancelled for the close was restored; the open position is not left naked.
    let conds = r.ex.open_conds();
    assert!(conds.iter().any(|c| c.client_id.contains("_STOP_") && c.qty == dec!(0.010)), "{conds:?}");
    r.assert_replay_clean();
}

/// CONTRACT §7.6: exits are never blocked by HALTED.
#[test]
fn exit_works_while_halted() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    r.store.set_halted("operator", T0).unwrap();
    let rep = r.exit(&mcbot::core::position::ExitReason::Manual).unwrap();
    assert_eq!(rep.exit, ExitCode::Ok);
    assert_eq!(r.ex.position(), Decimal::ZERO);
    r.assert_replay_clean();
}

/// `protect` is idempotent: a fully protected position sends nothing.
#[test]
fn protect_is_idempotent_when_covered() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    let before = r.ex.sent().len();
    let rep = r.protect().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok);
    assert_eq!(r.ex.sent().len(), before);
    r.assert_replay_clean();
}

/// Undersized STOP (position grew): protect places full-size STOP/TP, then cancels the old ones.
#[test]
fn protect_resizes_undersized_protection() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    r.ex.set_position(dec!(0.015), dec!(40000));
    let rep = r.protect().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    let conds = r.ex.open_conds();
    assert_eq!(conds.len(), 2, "{conds:?}");
    assert!(conds.iter().all(|c| c.qty == dec!(0.015)));
    assert_eq!(r.events("mc_a1b2c3d4e5f6_STOP_2"), ["SUBMITTING", "ACKED"]);
    assert_eq!(r.events(STOP1).last().map(String::as_str), Some("CANCELLED"));
    r.assert_replay_clean();
}

/// AC1 + journal: every exchange interaction left an order_event row with role, attempt, client id.
#[test]
fn every_interaction_is_journaled_and_chain_verifies() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("place_conditional:STOP", Fault::service_unavailable(), 1);
    r.enter().unwrap();
    let n_sent = r.ex.sent().len() as i64;
    let submitting = r.count("SELECT count(*) FROM order_event WHERE event = 'SUBMITTING'");
    assert_eq!(submitting, n_sent, "one intent row per order sent");
    assert!(r.store.verify_chain().unwrap().is_ok());
    let role_ok =
        r.count("SELECT count(*) FROM order_event WHERE role IN ('ENTRY','STOP','TP','CLOSE') AND attempt >= 1");
    assert_eq!(role_ok, r.count("SELECT count(*) FROM order_event"));
    let _ = OrderRole::Entry;
    r.assert_replay_clean();
}

/// `tick`: reconcile, evaluate, enter (the PLANNED plan), protect — one report with every step.
#[test]
fn tick_enters_a_planned_trade_and_protects_it() {
    let mut r = Bot::new().planned_long().fake();
    let rep = r.tick().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    let steps: Vec<String> =
        rep.fields["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap().to_string()).collect();
    assert_eq!(steps, ["reconcile", "evaluate", "enter", "protect"]);
    assert_eq!(r.sent_count("place_market:ENTRY"), 1);
    assert_eq!(r.ex.open_conds().len(), 2);
    r.assert_replay_clean();
}

/// `tick` carries out a regime exit that `evaluate` recorded (seed 000 §7: decisive).
#[test]
fn tick_carries_out_a_pending_regime_exit() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    let pos = r.store.active_position("BTCUSDT").unwrap().unwrap();
    r.store.set_pending_exit(pos.id, Some("regime:volatility_contraction")).unwrap();
    let rep = r.tick().unwrap();
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    assert_eq!(r.ex.position(), Decimal::ZERO);
    let closed = r.store.all_positions().unwrap().pop().unwrap();
    assert_eq!(closed.exit_reason.as_deref(), Some("regime:volatility_contraction"));
    r.assert_replay_clean();
}

/// Issue 16 item 6: `mcbot enter`'s reconcile reads what pre-flight needs in its own round; after
/// a reconcile that repaired nothing, `enter` sends the ENTRY without reading again. (The fake
/// logs no pre-send client-id look-up; `exec_binance::round_trips` asserts it over HTTP.)
#[test]
fn enter_after_a_clean_reconcile_reads_everything_once() {
    let mut r = Bot::new().planned_long().fake();
    {
        let mut e = r.engine();
        assert_eq!(steps::reconcile_before_entry(&mut e).unwrap().exit, ExitCode::Ok);
        assert_eq!(steps::enter(&mut e).unwrap().fields["entered"], true);
    }
    let calls = r.ex.calls();
    let entry = calls.iter().position(|c| c == "place_market:ENTRY").expect("ENTRY sent");
    let before = &calls[..entry];
    for read in ["position", "open_orders", "open_conditional_orders", "account_settings", "mark_info", "filters"] {
        assert_eq!(before.iter().filter(|c| *c == read).count(), 1, "{read}: {before:?}");
    }
    r.assert_replay_clean();
}

/// Reads older than the hand-over bound (2 s) are read again: here one of reconcile's reads took
/// that long.
#[test]
fn reconcile_reads_older_than_the_bound_are_read_again() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.on("mark_info", Fault::Delay(2_001), 1);
    {
        let mut e = r.engine();
        assert_eq!(steps::reconcile_before_entry(&mut e).unwrap().exit, ExitCode::Ok);
        assert_eq!(steps::enter(&mut e).unwrap().fields["entered"], true);
    }
    let calls = r.ex.calls();
    let entry = calls.iter().position(|c| c == "place_market:ENTRY").expect("ENTRY sent");
    for read in ["position", "account_settings"] {
        assert_eq!(calls[..entry].iter().filter(|c| *c == read).count(), 2, "{read}: {calls:?}");
    }
    r.assert_replay_clean();
}
