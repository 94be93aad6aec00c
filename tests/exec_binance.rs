//! The execution failure modes of seed 000 (§4–10) end to end: the real `mcbot` binary, its real
//! Binance adapter, over HTTP, against a stateful mock of Binance (`support/mock_binance.rs`).
//! Each test asserts the exchange-side truth — which orders were sent, in what order, with which
//! client ids — and the DB afterwards, and that `replay --all` accepts the journal (issue 4).
//!
//! Acceptance criteria (seed 000 §12): AC1 no position without a STOP, AC2 no duplicate ENTRY,
//! AC3 every failure ends in a safe close or a HALT, AC4 restart reconciles, AC5 every exit has an
//! auditable reason. Failure modes (§10): F-001 duplicate ENTRY, F-002 naked position, F-003
//! phantom position, F-004 partial fill drift, F-005 exchange outage mid-trade.

use crate::support::bot::Bot;
use crate::support::fault::Fault;
use crate::support::mock_binance::{now_ms, Request, API_KEY, API_SECRET};
use crate::support::scenario::{cid, lines, Scenario, ALGO, ORDER, PLAN};
use crate::support::Outcome;
use mcbot::core::plan::PlanStatus;
use mcbot::exchange::paper::db::kind_str;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;

/// The happy path the failure modes deviate from (seed 000 §4): ENTRY, then STOP and TP for the
/// filled quantity, TP at exactly 2R, both reduce-only on the Algo Order API.
#[test]
fn happy_path_entry_then_stop_and_tp_over_http() {
    let s = Scenario::new();
    let out = s.run(&["enter"]);
    out.code(0);
    let j = out.json();
    assert_eq!(j["entered"], true, "{j}");
    let writes = s.mock.writes();
    assert_eq!(writes[0], format!("POST {ORDER} {}", cid("ENTRY", 1)), "{writes:?}");
    assert_eq!(writes.len(), 3, "{writes:?}");
    let entry = s.request("POST", ORDER, &cid("ENTRY", 1));
    assert_eq!(
        (entry.param("side"), entry.param("type"), entry.param("quantity"), entry.param("newOrderRespType")),
        (Some("BUY"), Some("MARKET"), Some("0.01"), Some("RESULT"))
    );
    let stop = s.request("POST", ALGO, &cid("STOP", 1));
    assert_eq!(
        (stop.param("type"), stop.param("side"), stop.param("triggerPrice"), stop.param("quantity")),
        (Some("STOP_MARKET"), Some("SELL"), Some("39000"), Some("0.01"))
    );
    assert_eq!((stop.param("reduceOnly"), stop.param("algoType")), (Some("true"), Some("CONDITIONAL")));
    let tp = s.request("POST", ALGO, &cid("TP", 1));
    assert_eq!((tp.param("type"), tp.param("triggerPrice")), (Some("TAKE_PROFIT_MARKET"), Some("42000")));
    assert_eq!(s.mock.position(), dec!(0.010));
    assert_eq!(s.mock.open_algos().len(), 2);
    let time_syncs = s.mock.requests().iter().filter(|r| r.path == "/fapi/v1/time").count();
    assert_eq!(time_syncs, 1, "one clock sync per process");
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "FILLED"]);
    assert_eq!(s.events(&cid("STOP", 1)), ["SUBMITTING", "ACKED"]);
    assert_eq!(s.plan_status(), "FILLED");
    let status = s.run(&["status"]);
    let st = status.json();
    assert_eq!(st["mode"], "RUNNING");
    assert_eq!(st["protection"]["stop"]["client_id"], Value::from(cid("STOP", 1)));
    assert_eq!(st["position"]["qty"], "0.010");
    s.finish();
}

impl Scenario {
    /// Asserts that request `a` arrived before request `b` (indices into the request log).
    #[track_caller]
    fn before(&self, a: usize, b: usize) {
        assert!(a < b, "request {a} should precede request {b}:\n{}", lines(&self.mock.requests()));
    }

    /// How many requests `method path` carried a client id of `role`.
    fn count_role(&self, method: &str, path: &str, role: &str) -> usize {
        self.mock.requests().iter().filter(|r| r.method == method && r.path == path && r.role() == Some(role)).count()
    }

    /// Seed 000 §5's mandatory response, as the exchange and the DB show it: CLOSE (reduce-only,
    /// the opposite side, the filled quantity) before the cancel of the protective order that did
    /// land; flat and nothing open on the exchange; HALTED with CRITICAL audits; exit 10; the
    /// position finalised as `forced_close:<why>`.
    #[track_caller]
    fn assert_forced_close_and_halt(&self, out: &Outcome, landed: &str, why: &str) {
        out.code(10);
        let j = out.json();
        assert_eq!((j["command"].as_str(), j["outcome"].as_str()), (Some("enter"), Some("forced_close")), "{j}");
        let close = self.at("POST", ORDER, &cid("CLOSE", 1));
        let cancel = self.at("DELETE", ALGO, landed);
        self.before(self.at("POST", ALGO, landed), close);
        self.before(close, cancel);
        let c = &self.mock.requests()[close];
        assert_eq!(
            (c.param("side"), c.param("type"), c.param("quantity"), c.param("reduceOnly")),
            (Some("SELL"), Some("MARKET"), Some("0.01"), Some("true"))
        );
        assert_eq!(self.mock.position(), Decimal::ZERO, "flat on the exchange");
        assert!(self.mock.open_algos().is_empty(), "no protective order left: {:?}", self.mock.open_algos());
        assert_eq!(self.count_role("POST", ORDER, "ENTRY"), 1, "never a second ENTRY");
        assert_eq!(self.mode(), "HALTED");
        let audit = self.audit();
        for kind in ["CRITICAL:protection_failed", "CRITICAL:forced_close", "CRITICAL:halt"] {
            assert!(audit.iter().any(|a| a == kind), "{kind} missing from {audit:?}");
        }
        assert_eq!(self.events(&cid("CLOSE", 1)), ["SUBMITTING", "FILLED"]);
        assert_eq!(self.events(landed).last().map(String::as_str), Some("CANCELLED"));
        let (state, _, reason) = self.position();
        assert_eq!((state.as_str(), reason.as_deref()), ("CLOSED", Some(why)));
        assert_eq!(self.plan_status(), "CLOSED");
        let st = self.run(&["status"]).json();
        assert_eq!(st["mode"], "HALTED");
        assert!(st["halt_reason"].as_str().is_some_and(|r| r.starts_with("protection failed")), "{st}");
        assert_eq!(st["position"], Value::Null);
    }

    /// Something that has to be true of every successful entry: one ENTRY, the position on the
    /// exchange, STOP and TP open for its full size.
    #[track_caller]
    pub(crate) fn assert_entered_and_protected(&self, stop: &str, tp: &str) {
        assert_eq!(self.count_role("POST", ORDER, "ENTRY"), 1, "exactly one ENTRY request");
        self.assert_protected(stop, tp);
    }

    /// The position 0.010 on the exchange with `stop` and `tp` open for its full size, nothing else.
    #[track_caller]
    pub(crate) fn assert_protected(&self, stop: &str, tp: &str) {
        assert_eq!(self.mock.position(), dec!(0.010));
        let open = self.mock.open_algos();
        let find = |id: &str| open.iter().find(|a| a.client_id == id).cloned();
        let (s, t) = (find(stop).expect("STOP open"), find(tp).expect("TP open"));
        assert_eq!((kind_str(s.kind), s.qty, s.trigger), ("STOP_MARKET", dec!(0.010), dec!(39000)));
        assert_eq!((kind_str(t.kind), t.qty, t.trigger), ("TAKE_PROFIT_MARKET", dec!(0.010), dec!(42000)));
        assert_eq!(open.len(), 2, "{open:?}");
    }
}

/// F-001 / AC2: the ENTRY executes but its answer never arrives (the connection drops). mcbot
/// looks it up by `origClientOrderId` before sending anything else, finds it FILLED and protects
/// it: exactly one POST with `_ENTRY_1`, no `_ENTRY_2`.
#[test]
fn f001_lost_entry_response_is_looked_up_by_client_id_never_resent() {
    let s = Scenario::new();
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::ExecuteThenDrop, 1);
    let out = s.run(&["enter"]);
    out.code(0);
    assert_eq!(out.json()["entered"], true);
    assert_eq!(s.mock.count("POST", ORDER, &cid("ENTRY", 1)), 1);
    assert_eq!(s.mock.count("POST", ORDER, &cid("ENTRY", 2)), 0);
    let (sent, lookup) = (s.at("POST", ORDER, &cid("ENTRY", 1)), s.at("GET", ORDER, &cid("ENTRY", 1)));
    s.before(sent, lookup);
    // Nothing was sent between the lost ENTRY and its look-up.
    assert!(s.mock.requests()[sent + 1..lookup].iter().all(|r| !r.is_write()));
    s.before(lookup, s.at("POST", ALGO, &cid("STOP", 1)));
    s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "UNKNOWN", "FILLED"]);
    assert_eq!(s.plan_status(), "FILLED");
    s.finish();
}

/// F-001 / AC2: the other two "executed, outcome unknown" answers Binance gives — 503 "Unknown
/// error…" (variant A) and -1007 — are resolved the same way: look-up, never a resend.
#[test]
fn f001_unknown_outcome_answers_are_resolved_by_lookup() {
    for action in [Fault::executed_then_unknown_error(), Fault::executed_then_1007()] {
        let s = Scenario::new();
        s.mock.on("POST", ORDER, Some("ENTRY"), action.clone(), 1);
        s.run(&["enter"]).code(0);
        assert_eq!(s.lookups_after_send(&cid("ENTRY", 1)), 1, "{action:?}");
        s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
        assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "UNKNOWN", "FILLED"], "{action:?}");
        s.finish();
    }
}

/// Issue 10 item 1 / F-001 / F-002: an ENTRY the exchange applied but answered with a code mcbot
/// does not know (HTTP 400 -1199) is an unknown outcome: looked up by client id before anything
/// else is sent, found FILLED, protected — never taken as "not accepted" and left naked.
#[test]
fn unknown_code_on_an_applied_entry_is_looked_up_and_protected() {
    let s = Scenario::new();
    let body = r#"{"code":-1199,"msg":"An unexpected new error occurred."}"#.to_string();
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::ExecuteThen { status: 400, body }, 1);
    s.run(&["enter"]).code(0);
    let (sent, lookup) = (s.at("POST", ORDER, &cid("ENTRY", 1)), s.at("GET", ORDER, &cid("ENTRY", 1)));
    s.before(sent, lookup);
    assert!(s.mock.requests()[sent + 1..lookup].iter().all(|r| !r.is_write()), "nothing sent before the look-up");
    s.before(lookup, s.at("POST", ALGO, &cid("STOP", 1)));
    s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "UNKNOWN", "FILLED"]);
    s.finish();
}

/// Issue 10 item 1 / AC2: the same unknown code on an ENTRY that was NOT applied: two look-ups
/// apart in time prove it absent before attempt 2 goes out; exactly one ENTRY fills.
#[test]
fn unknown_code_on_a_refused_entry_is_proven_absent_before_attempt_2() {
    let s = Scenario::new();
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::api_error(400, -1199, "An unexpected new error occurred."), 1);
    s.run(&["enter"]).code(0);
    assert_eq!(s.lookups_after_send(&cid("ENTRY", 1)), 2, "two agreeing look-ups");
    let second_lookup =
        s.mock.requests().iter().rposition(|r| r.method == "GET" && r.client_id() == Some(&cid("ENTRY", 1)));
    s.before(second_lookup.unwrap(), s.at("POST", ORDER, &cid("ENTRY", 2)));
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 2);
    assert_eq!(s.mock.position(), dec!(0.010), "exactly one ENTRY filled");
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "UNKNOWN", "NOT_FOUND"]);
    s.assert_protected(&cid("STOP", 1), &cid("TP", 1));
    s.finish();
}

/// Issue 10 item 1 / AC1: a STOP applied but answered with an unknown code is looked up and found
/// working — never journaled REJECTED (which made `replay --all` fail with invalid_transition
/// after the forced close); the position stays protected by it, exit 0, no HALT.
#[test]
fn unknown_code_on_an_applied_stop_is_found_not_journaled_rejected() {
    let s = Scenario::new();
    let body = r#"{"code":-1199,"msg":"An unexpected new error occurred."}"#.to_string();
    s.mock.on("POST", ALGO, Some("STOP"), Fault::ExecuteThen { status: 400, body }, 1);
    s.run(&["enter"]).code(0);
    assert_eq!(s.count_role("POST", ALGO, "STOP"), 1, "found, so never re-sent");
    s.before(s.at("POST", ALGO, &cid("STOP", 1)), s.at("GET", ALGO, &cid("STOP", 1)));
    s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
    let events = s.events(&cid("STOP", 1));
    assert!(!events.iter().any(|x| x == "REJECTED"), "{events:?}");
    assert_eq!(events[..2], ["SUBMITTING", "UNKNOWN"]);
    s.finish();
}

/// AC2 / seed 000 §8.2: a definite 503 "Service Unavailable." (nothing executed) allows one more
/// attempt, with the attempt number incremented, after the position is seen still flat.
#[test]
fn entry_503_service_unavailable_is_retried_once_as_entry_2() {
    let s = Scenario::new();
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::service_unavailable(), 1);
    s.run(&["enter"]).code(0);
    let (first, second) = (s.at("POST", ORDER, &cid("ENTRY", 1)), s.at("POST", ORDER, &cid("ENTRY", 2)));
    s.before(first, second);
    let flat_check = s.mock.requests()[first..second].iter().any(|r| r.path == "/fapi/v3/positionRisk");
    assert!(flat_check, "the position is read before attempt 2:\n{}", lines(&s.mock.requests()));
    assert_eq!(s.lookups_after_send(&cid("ENTRY", 1)), 0, "a definite failure needs no look-up");
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 2);
    assert_eq!(s.mock.position(), dec!(0.010), "exactly one ENTRY filled");
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "REJECTED"]);
    assert_eq!(s.events(&cid("ENTRY", 2)), ["SUBMITTING", "FILLED"]);
    assert_eq!(s.mock.open_algos().len(), 2);
    s.finish();
}

/// F-002 / seed 000 §5 / AC1+AC3: the STOP is rejected → CLOSE at market (reduce-only), cancel the
/// TP that did land, HALT, CRITICAL audit, exit 10.
#[test]
fn f002_stop_rejected_closes_cancels_tp_and_halts_exit_10() {
    let s = Scenario::new();
    s.mock.on("POST", ALGO, Some("STOP"), Fault::api_error(400, -4045, "Reach max stop order limit."), 1);
    let out = s.run(&["enter"]);
    s.assert_forced_close_and_halt(&out, &cid("TP", 1), "forced_close:stop_rejected");
    assert_eq!(s.count_role("POST", ALGO, "STOP"), 1, "a rejection is not retried");
    assert_eq!(s.events(&cid("STOP", 1)), ["SUBMITTING", "REJECTED"]);
    s.finish();
}

/// Seed 000 §5 "STOP not acknowledged within timeout": the STOP lands at once but its answer comes
/// after `stop_ack_timeout_ms` → CLOSE, then the late STOP (and the TP) are cancelled, HALT, 10.
#[test]
fn stop_ack_timeout_closes_then_cancels_the_late_stop_exit_10() {
    let s = Bot::new()
        .set("execution.stop_ack_timeout_ms", "300")
        .set("exchange.http_timeout_ms", "3000")
        .planned_long()
        .mock();
    s.mock.on("POST", ALGO, Some("STOP"), Fault::Delay(900), 1);
    let out = s.run(&["enter"]);
    s.assert_forced_close_and_halt(&out, &cid("STOP", 1), "forced_close:stop_ack_timeout");
    s.before(s.at("POST", ORDER, &cid("CLOSE", 1)), s.at("DELETE", ALGO, &cid("TP", 1)));
    assert_eq!(s.events(&cid("STOP", 1)), ["SUBMITTING", "ACKED", "CANCELLED"]);
    s.finish();
}

/// Seed 000 §5 "TP rejected": the same response, and the STOP that did land is cancelled.
#[test]
fn tp_rejected_closes_cancels_stop_and_halts_exit_10() {
    let s = Scenario::new();
    s.mock.on("POST", ALGO, Some("TP"), Fault::api_error(400, -2022, "ReduceOnly Order is rejected."), 1);
    let out = s.run(&["enter"]);
    s.assert_forced_close_and_halt(&out, &cid("STOP", 1), "forced_close:tp_rejected");
    assert_eq!(s.events(&cid("TP", 1)), ["SUBMITTING", "REJECTED"]);
    s.finish();
}

/// Seed 000 §5 / BINANCE.md §4.5: the market falls through the stop between the ENTRY fill and the
/// STOP request, so the exchange itself answers -2021 "Order would immediately trigger." (the
/// mock's trigger rule, not a scripted error) → CLOSE at the new mark, HALT, exit 10.
#[test]
fn stop_2021_would_trigger_after_a_fast_move_closes_and_halts() {
    let s = Scenario::new();
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::MoveMarkAfter(dec!(38900)), 1);
    let out = s.run(&["enter"]);
    s.assert_forced_close_and_halt(&out, &cid("TP", 1), "forced_close:stop_would_trigger");
    let stop = s.request("POST", ALGO, &cid("STOP", 1));
    assert_eq!((stop.status, stop.body.contains("-2021")), (400, true), "{stop:?}");
    let price: String =
        s.env.db().query_row("SELECT exit_price FROM position ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_eq!(price.parse::<Decimal>().unwrap(), dec!(38900), "closed at the mark it fell to");
    s.finish();
}

/// F-004 / seed 000 §6: the ENTRY fills 0.004 of 0.010 at first; that part is protected at once
/// (STOP/TP for 0.004); the rest fills inside the window, so full-size STOP_2/TP_2 are placed
/// before the small ones are cancelled (never unprotected).
#[test]
fn f004_partial_fill_completed_in_window_resizes_protection() {
    let s = Bot::new().set("execution.entry_fill_window_ms", "2000").planned_long().mock();
    s.mock.on(
        "POST",
        ORDER,
        Some("ENTRY"),
        Fault::PartialFill { qty: dec!(0.004), complete_after_ms: Some(300), rest_price: None },
        1,
    );
    let out = s.run(&["enter"]);
    out.code(0);
    assert_eq!(out.json()["entered"], true);
    assert_eq!(s.request("POST", ALGO, &cid("STOP", 1)).param("quantity"), Some("0.004"));
    assert_eq!(s.request("POST", ALGO, &cid("STOP", 2)).param("quantity"), Some("0.01"));
    s.before(s.at("POST", ALGO, &cid("STOP", 1)), s.at("GET", ORDER, &cid("ENTRY", 1)));
    s.before(s.at("POST", ALGO, &cid("STOP", 2)), s.at("DELETE", ALGO, &cid("STOP", 1)));
    s.before(s.at("POST", ALGO, &cid("TP", 2)), s.at("DELETE", ALGO, &cid("TP", 1)));
    s.assert_entered_and_protected(&cid("STOP", 2), &cid("TP", 2));
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "PARTIALLY_FILLED", "FILLED"]);
    assert_eq!(s.events(&cid("STOP", 1)), ["SUBMITTING", "ACKED", "CANCELLED"]);
    assert_eq!(s.plan_status(), "FILLED");
    let (state, qty, _) = s.position();
    assert_eq!((state.as_str(), qty.parse::<Decimal>().unwrap()), ("OPEN", dec!(0.010)));
    assert_eq!(s.mode(), "RUNNING");
    s.finish();
}

/// F-004: the ENTRY stays partly filled past `entry_fill_window_ms` → the remainder is cancelled,
/// the filled part closed (reduce-only, its own quantity), STOP/TP cancelled; a safe close, so no
/// HALT; exit 1.
#[test]
fn f004_partial_fill_timed_out_cancels_remainder_and_closes() {
    let s = Bot::new().set("execution.entry_fill_window_ms", "600").planned_long().mock();
    s.mock.on(
        "POST",
        ORDER,
        Some("ENTRY"),
        Fault::PartialFill { qty: dec!(0.004), complete_after_ms: None, rest_price: None },
        1,
    );
    let out = s.run(&["enter"]);
    out.code(1);
    assert_eq!(out.json()["outcome"], "partial_fill_closed");
    let (cancel, close) = (s.at("DELETE", ORDER, &cid("ENTRY", 1)), s.at("POST", ORDER, &cid("CLOSE", 1)));
    s.before(s.at("POST", ALGO, &cid("STOP", 1)), cancel);
    s.before(cancel, close);
    s.before(close, s.at("DELETE", ALGO, &cid("STOP", 1)));
    s.before(close, s.at("DELETE", ALGO, &cid("TP", 1)));
    let c = s.request("POST", ORDER, &cid("CLOSE", 1));
    assert_eq!((c.param("quantity"), c.param("reduceOnly")), (Some("0.004"), Some("true")));
    assert_eq!(s.request("POST", ALGO, &cid("STOP", 1)).param("quantity"), Some("0.004"));
    assert_eq!(s.mock.position(), Decimal::ZERO);
    assert!(s.mock.open_algos().is_empty());
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1);
    let (_, _, reason) = s.position();
    assert_eq!(reason.as_deref(), Some("forced_close:partial_fill_timeout"));
    assert!(s.audit().contains(&"WARN:forced_close".to_string()));
    assert_eq!(s.mode(), "RUNNING", "a safe close needs no halt");
    s.finish();
}

/// F-005 / CONTRACT §7.7 / AC3: the exchange refuses every CLOSE (503) during `exit`. STOP and TP
/// are cancelled first (seed 000 §7), then CLOSE is retried with `_CLOSE_1`, `_CLOSE_2`, … until
/// `close_retry_max_elapsed_ms`; then HALT, CRITICAL, exit 10, and the STOP is put back (AC1).
/// When the exchange recovers, `exit` (never blocked by HALTED) closes the position.
#[test]
fn f005_outage_during_close_retries_new_attempts_then_halts_exit_10() {
    let s = Bot::new().set("execution.close_retry_max_elapsed_ms", "1500").planned_long().mock();
    s.run(&["enter"]).code(0);
    s.mock.on("POST", ORDER, Some("CLOSE"), Fault::service_unavailable(), usize::MAX);
    let out = s.run(&["exit"]);
    out.code(10);
    assert_eq!(out.json()["outcome"], "close_failed");
    let reqs = s.mock.requests();
    let closes: Vec<&Request> = reqs.iter().filter(|r| r.path == ORDER && r.role() == Some("CLOSE")).collect();
    assert!(closes.len() >= 3, "CLOSE retried:\n{}", lines(&reqs));
    for (i, c) in closes.iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap();
        assert_eq!(c.client_id(), Some(cid("CLOSE", n).as_str()), "attempts increment by one");
        assert_eq!((c.method.as_str(), c.param("reduceOnly"), c.status), ("POST", Some("true"), 503));
    }
    let span = closes.last().unwrap().arrived - closes[0].arrived;
    assert!(span.as_millis() <= 1500, "bounded by close_retry_max_elapsed_ms: {span:?}");
    // The TP goes before the CLOSE; the STOP is never cancelled while the CLOSE keeps failing.
    s.before(s.at("DELETE", ALGO, &cid("TP", 1)), s.at("POST", ORDER, &cid("CLOSE", 1)));
    assert!(!reqs.iter().any(|r| r.method == "DELETE" && r.client_id() == Some(cid("STOP", 1).as_str())), "STOP kept");
    assert_eq!(s.mode(), "HALTED");
    assert!(s.audit().contains(&"CRITICAL:close_failed".to_string()));
    let (state, _, reason) = s.position();
    assert_eq!((state.as_str(), reason), ("OPEN", None));
    assert_eq!(s.mock.position(), dec!(0.010));
    let stop_back = s.mock.open_algos().into_iter().any(|a| kind_str(a.kind) == "STOP_MARKET" && a.qty == dec!(0.010));
    assert!(stop_back, "the open position is not left without a STOP: {:?}", s.mock.open_algos());

    s.mock.clear_faults();
    let out = s.run(&["exit"]);
    out.code(0);
    assert_eq!(out.json()["exit_reason"], "manual");
    assert_eq!(s.mock.position(), Decimal::ZERO);
    assert!(s.mock.open_algos().is_empty());
    assert_eq!(s.position().2.as_deref(), Some("manual"));
    s.finish();
}

/// Issue 10 item 1 / AC2 / AC5: a CLOSE the exchange applied but answered with an unknown code
/// (-1199) is looked up by client id and found FILLED: exactly one CLOSE, flat, exit reason
/// `manual`, no second CLOSE sent, and the journal replays.
#[test]
fn unknown_code_on_an_applied_close_is_looked_up_not_resent() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let body = r#"{"code":-1199,"msg":"An unexpected new error occurred."}"#.to_string();
    s.mock.on("POST", ORDER, Some("CLOSE"), Fault::ExecuteThen { status: 400, body }, 1);
    let out = s.run(&["exit"]);
    out.code(0);
    assert_eq!(out.json()["exit_reason"], "manual");
    assert_eq!(s.count_role("POST", ORDER, "CLOSE"), 1, "found, so never re-sent");
    s.before(s.at("POST", ORDER, &cid("CLOSE", 1)), s.at("GET", ORDER, &cid("CLOSE", 1)));
    assert_eq!(s.events(&cid("CLOSE", 1)), ["SUBMITTING", "UNKNOWN", "FILLED"]);
    assert_eq!(s.mock.position(), Decimal::ZERO);
    assert!(s.mock.open_algos().is_empty());
    s.finish();
}

/// CONTRACT §7.6 / seed 000 §4.1: HALTED refuses `enter` with exit 3 and not one order request
/// (nor a margin or leverage change) reaches the exchange.
#[test]
fn halted_enter_refuses_with_exit_3_and_sends_no_order() {
    let s = Scenario::new();
    s.store().set_halted("operator", now_ms()).unwrap();
    let out = s.run(&["enter"]);
    out.code(3);
    assert_eq!(out.json()["command"], "enter");
    assert!(s.mock.writes().is_empty(), "{:?}", s.mock.writes());
    assert!(s.audit().contains(&"WARN:preflight_failed".to_string()));
    assert_eq!(s.plan_status(), "PLANNED");
    assert_eq!(s.mock.position(), Decimal::ZERO);
    s.finish();
}

/// Two `mcbot enter` started at once against one state DB (CONTRACT §7.10, AC2), each round trip
/// 100 ms so the first holds the lock for most of a second: exactly one ENTRY request reaches the
/// exchange.
fn concurrent_enters(lock_timeout_ms: &str) -> (Scenario, Vec<Outcome>) {
    let s = Bot::new().set("lock_timeout_ms", lock_timeout_ms).planned_long().mock();
    s.mock.set_latency_ms(100);
    let (a, b) = (s.spawn(&["enter"]), s.spawn(&["enter"]));
    let mut outs = vec![Outcome::of(&a.wait_with_output().unwrap()), Outcome::of(&b.wait_with_output().unwrap())];
    // The process that entered first, the other one second (both may exit 0).
    let entered = |o: &Outcome| {
        serde_json::from_str::<Value>(o.stdout.trim()).ok().and_then(|v| v["entered"].as_bool()).unwrap_or(false)
    };
    outs.sort_by_key(|o| (o.code, !entered(o)));
    s.mock.set_latency_ms(0);
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1, "exactly one ENTRY:\n{}", lines(&s.mock.requests()));
    assert_eq!(outs[0].code, 0, "{outs:?}");
    assert_eq!(outs[0].json()["entered"], true);
    s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
    (s, outs)
}

/// The second process gives up on the lock after `lock_timeout_ms` (exit 4).
#[test]
fn concurrent_enters_the_loser_exits_4_and_one_entry_is_sent() {
    let (s, outs) = concurrent_enters("300");
    outs[1].code(4);
    assert_eq!(outs[1].json()["command"], "enter");
    s.finish();
}

/// With a long lock timeout the second process waits, reconciles and finds nothing to do.
#[test]
fn concurrent_enters_the_waiting_one_finds_nothing_to_do() {
    let (s, outs) = concurrent_enters("10000");
    outs[1].code(0);
    assert_eq!(outs[1].json()["entered"], false, "{}", outs[1].stdout);
    s.finish();
}

/// Seed 000 §9.3 / AC1+AC4: the protective orders vanished while mcbot was not running (cancelled
/// by hand, expired): `reconcile` finds the open position naked and places STOP_2 and TP_2 for its
/// full size at the plan's prices.
#[test]
fn restart_with_naked_position_reconcile_places_stop_and_tp() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.cancel_all_algos();
    let mark = s.mock.request_count();
    let out = s.run(&["reconcile"]);
    out.code(0);
    let j = out.json();
    assert_eq!((j["clean"].as_bool(), j["mismatch_streak"].as_i64()), (Some(false), Some(1)), "{j}");
    let writes = s.mock.writes_since(mark);
    assert_eq!(writes.len(), 2, "only STOP and TP are sent: {writes:?}");
    s.assert_entered_and_protected(&cid("STOP", 2), &cid("TP", 2));
    assert_eq!(s.events(&cid("STOP", 1)).last().map(String::as_str), Some("CANCELLED"));
    assert_eq!(s.events(&cid("STOP", 2)), ["SUBMITTING", "ACKED"]);
    assert!(s.audit().contains(&"WARN:reconcile_repair".to_string()));
    let st = s.run(&["status"]).json();
    assert_eq!(st["protection"]["stop"]["client_id"], Value::from(cid("STOP", 2)));
    // Agreement now: the next reconcile repairs nothing and sends nothing.
    let mark = s.mock.request_count();
    let j = s.run(&["reconcile"]).json();
    assert_eq!(j["clean"], true, "{j}");
    assert!(s.mock.writes_since(mark).is_empty());
    s.finish();
}

/// `protect` (CONTRACT §1): only the missing STOP is placed; the TP that is still open stays.
#[test]
fn protect_places_only_the_missing_stop() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    {
        s.mock.cancel_algos(|a| kind_str(a.kind) == "STOP_MARKET");
    }
    let mark = s.mock.request_count();
    s.run(&["protect"]).code(0);
    assert_eq!(s.mock.writes_since(mark), [format!("POST {ALGO} {}", cid("STOP", 2))]);
    s.assert_entered_and_protected(&cid("STOP", 2), &cid("TP", 1));
    s.finish();
}

/// F-003 / AC4: the process died right after sending the ENTRY (intent committed, the order filled
/// on the exchange, nothing else recorded). `reconcile` looks the ENTRY up by client id, adopts
/// the position into its plan and protects it — without sending any ENTRY.
#[test]
fn f003_phantom_position_after_a_crash_is_adopted_and_protected() {
    use mcbot::core::order::{OrderEvent, OrderRole};
    use mcbot::store::journal::NewOrderEvent;
    let s = Scenario::new();
    {
        let mut store = s.store();
        let now = now_ms();
        store.set_plan_status(PLAN, PlanStatus::Entering, now).unwrap();
        store
            .append_order_event(&NewOrderEvent {
                ts_ms: now,
                trade_plan_id: Some(PLAN.into()),
                role: OrderRole::Entry,
                attempt: 1,
                client_id: cid("ENTRY", 1),
                correlation_id: Some(format!("{PLAN}-entry")),
                event: OrderEvent::Submitting,
                exchange_order_id: None,
                status: None,
                price: Some(dec!(40000)),
                qty: Some(dec!(0.010)),
                detail: None,
                raw: None,
            })
            .unwrap();
    }
    s.mock.fill_market_order(&cid("ENTRY", 1), true, dec!(0.010));
    let out = s.run(&["reconcile"]);
    out.code(0);
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 0, "the ENTRY is never sent again");
    s.before(s.at("GET", ORDER, &cid("ENTRY", 1)), s.at("POST", ALGO, &cid("STOP", 1)));
    assert_eq!(s.mock.position(), dec!(0.010));
    assert_eq!(s.mock.open_algos().len(), 2);
    let time_syncs = s.mock.requests().iter().filter(|r| r.path == "/fapi/v1/time").count();
    assert_eq!(time_syncs, 1, "one clock sync per process");
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "FILLED"]);
    assert!(s.audit().contains(&"WARN:position_adopted".to_string()));
    let trade_plan: Option<String> =
        s.env.db().query_row("SELECT trade_plan_id FROM position WHERE state = 'OPEN'", [], |r| r.get(0)).unwrap();
    assert_eq!(trade_plan.as_deref(), Some(PLAN));
    assert_eq!(s.plan_status(), "FILLED");
    s.finish();
}

/// AC5: the STOP fires while mcbot is not running (the mock's trigger engine fills it); the next
/// `reconcile` finalises the position as `stop_hit` at the trigger and cancels the TP.
#[test]
fn stop_hit_while_down_is_finalised_as_stop_hit_and_tp_cancelled() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(38950));
    assert_eq!(s.mock.position(), Decimal::ZERO, "the STOP fired");
    s.run(&["reconcile"]).code(0);
    assert_eq!(s.mock.count("DELETE", ALGO, &cid("TP", 1)), 1);
    assert!(s.mock.open_algos().is_empty());
    let (state, _, reason) = s.position();
    assert_eq!((state.as_str(), reason.as_deref()), ("CLOSED", Some("stop_hit")));
    assert_eq!(s.events(&cid("STOP", 1)).last().map(String::as_str), Some("FILLED"));
    assert_eq!(s.plan_status(), "CLOSED");
    s.finish();
}

/// Seed 000 §7 / AC5: a regime exit cancels the TP, CLOSEs, then cancels the STOP (kept until the
/// CLOSE is confirmed: AC1), and records the reason.
#[test]
fn regime_exit_cancels_protection_then_closes_and_records_the_reason() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(40500));
    let out = s.run(&["exit", "--reason", "regime:trend_invalidation"]);
    out.code(0);
    assert_eq!(out.json()["exit_reason"], "regime:trend_invalidation");
    let close = s.at("POST", ORDER, &cid("CLOSE", 1));
    s.before(s.at("DELETE", ALGO, &cid("TP", 1)), close);
    s.before(close, s.at("DELETE", ALGO, &cid("STOP", 1)));
    assert_eq!(s.mock.position(), Decimal::ZERO);
    assert!(s.mock.open_algos().is_empty());
    let (state, _, reason) = s.position();
    assert_eq!((state.as_str(), reason.as_deref()), ("CLOSED", Some("regime:trend_invalidation")));
    let pnl: String =
        s.env.db().query_row("SELECT realized_pnl FROM position ORDER BY id DESC", [], |r| r.get(0)).unwrap();
    assert_eq!(pnl.parse::<Decimal>().unwrap(), dec!(5), "(40500 - 40000) x 0.010");
    s.finish();
}

/// AC2: the ENTRY is lost on the way in (connection dropped, nothing executed). Two look-ups by
/// client id, apart in time, prove it absent (-2013); only then attempt 2 goes out.
#[test]
fn ambiguous_entry_that_never_landed_is_proven_absent_then_entry_2() {
    let s = Scenario::new();
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::Drop, 1);
    s.run(&["enter"]).code(0);
    assert_eq!(s.lookups_after_send(&cid("ENTRY", 1)), 2, "two look-ups before attempt 2");
    s.before(s.at("GET", ORDER, &cid("ENTRY", 1)), s.at("POST", ORDER, &cid("ENTRY", 2)));
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 2);
    assert_eq!(s.mock.position(), dec!(0.010), "exactly one ENTRY filled");
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "UNKNOWN", "NOT_FOUND"]);
    assert_eq!(s.events(&cid("ENTRY", 2)), ["SUBMITTING", "FILLED"]);
    s.finish();
}

/// AC1+AC3: the ENTRY's answer is lost and every look-up fails too (503), so its fate stays
/// unknown past `entry_ack_timeout_ms`; the position the exchange shows is adopted into the plan
/// and protected, and nothing is sent twice.
#[test]
fn unresolvable_entry_with_a_position_found_is_protected() {
    let s = Bot::new().set("execution.entry_ack_timeout_ms", "300").planned_long().mock();
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::ExecuteThenDrop, 1);
    s.mock.on("GET", ORDER, Some("ENTRY"), Fault::service_unavailable(), usize::MAX);
    let out = s.run(&["enter"]);
    out.code(0);
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1);
    s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
    assert!(s.audit().contains(&"WARN:position_adopted".to_string()), "{:?}", s.audit());
    assert_eq!(s.mode(), "RUNNING");
    s.finish();
}

/// AC3: the ENTRY's fate stays unknown and the exchange shows no position: mcbot cannot prove
/// either way, so it HALTs (exit 10) rather than guess; the next `reconcile` settles it.
#[test]
fn unresolvable_entry_while_flat_halts_exit_10() {
    let s = Bot::new().set("execution.entry_ack_timeout_ms", "300").planned_long().mock();
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::Drop, 1);
    s.mock.on("GET", ORDER, Some("ENTRY"), Fault::service_unavailable(), 4);
    let out = s.run(&["enter"]);
    out.code(10);
    assert_eq!(out.json()["outcome"], "unresolved");
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1, "never a second ENTRY while unresolved");
    assert_eq!(s.mode(), "HALTED");
    assert_eq!(s.mock.position(), Decimal::ZERO);
    // The exchange answers again: reconcile proves the ENTRY absent and closes the plan.
    s.mock.clear_faults();
    s.run(&["reconcile"]).code(0);
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "UNKNOWN", "NOT_FOUND"]);
    assert_eq!(s.plan_status(), "NOT_FILLED");
    s.finish();
}

/// Seed 000 §8.2 "STOP / TP: one retry": the STOP request is lost on the way in; the look-up by
/// clientAlgoId proves it absent, so STOP_2 goes out, and the position is protected.
#[test]
fn lost_stop_that_never_landed_is_retried_once_as_stop_2() {
    let s = Scenario::new();
    s.mock.on("POST", ALGO, Some("STOP"), Fault::Drop, 1);
    s.run(&["enter"]).code(0);
    s.before(s.at("GET", ALGO, &cid("STOP", 1)), s.at("POST", ALGO, &cid("STOP", 2)));
    s.assert_entered_and_protected(&cid("STOP", 2), &cid("TP", 1));
    assert_eq!(s.events(&cid("STOP", 1)), ["SUBMITTING", "UNKNOWN", "NOT_FOUND"]);
    assert_eq!(s.mode(), "RUNNING");
    s.finish();
}

/// A lost STOP answer whose order did land is found by the look-up and not sent again.
#[test]
fn lost_stop_answer_is_found_by_lookup_and_not_resent() {
    let s = Scenario::new();
    s.mock.on("POST", ALGO, Some("STOP"), Fault::ExecuteThenDrop, 1);
    s.run(&["enter"]).code(0);
    assert_eq!(s.count_role("POST", ALGO, "STOP"), 1);
    s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
    assert_eq!(s.events(&cid("STOP", 1)), ["SUBMITTING", "UNKNOWN", "ACKED"]);
    s.finish();
}

/// CONTRACT §7.2 "transport error after one retry": both STOP attempts are lost → CLOSE, cancel
/// the TP, HALT, exit 10.
#[test]
fn stop_lost_twice_forces_close_and_halt_exit_10() {
    let s = Scenario::new();
    s.mock.on("POST", ALGO, Some("STOP"), Fault::Drop, 2);
    let out = s.run(&["enter"]);
    s.assert_forced_close_and_halt(&out, &cid("TP", 1), "forced_close:stop_unavailable");
    assert_eq!(s.count_role("POST", ALGO, "STOP"), 2);
    s.finish();
}

/// CONTRACT §6: a -1021 (timestamp outside recvWindow) is refused before execution, so the adapter
/// resyncs its clock with /fapi/v1/time and sends the same order once more; one fill.
#[test]
fn entry_1021_resyncs_the_clock_and_sends_once_more() {
    let s = Scenario::new();
    let msg = "Timestamp for this request is outside of the recvWindow.";
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::api_error(400, -1021, msg), 1);
    s.run(&["enter"]).code(0);
    let reqs = s.mock.requests();
    let entries: Vec<&Request> = reqs.iter().filter(|r| r.method == "POST" && r.role() == Some("ENTRY")).collect();
    assert_eq!(entries.len(), 2, "{}", lines(&reqs));
    assert_eq!((entries[0].status, entries[1].status), (400, 200));
    assert_eq!(entries[1].client_id(), Some(cid("ENTRY", 1).as_str()), "the same order, not a new attempt");
    let resync = reqs[entries[0].seq..entries[1].seq].iter().any(|r| r.path == "/fapi/v1/time");
    assert!(resync, "clock resynced in between:\n{}", lines(&reqs));
    s.assert_protected(&cid("STOP", 1), &cid("TP", 1));
    s.finish();
}

/// CONTRACT §8 puts the TP "at exactly 2R from the actual average fill". When a partial ENTRY
/// (0.004 @ 40000) completes at another price (0.006 @ 40100, average 40060, R = 1060), the resized
/// TP_2 is at 42180. (Found as a bug: the TP of the first partial fill, 42000, used to be kept.)
#[test]
fn resized_tp_is_2r_from_the_actual_average_fill() {
    let s = Bot::new().set("execution.entry_fill_window_ms", "2000").planned_long().mock();
    let partial = Fault::PartialFill { qty: dec!(0.004), complete_after_ms: Some(300), rest_price: Some(dec!(40100)) };
    s.mock.on("POST", ORDER, Some("ENTRY"), partial, 1);
    s.run(&["enter"]).code(0);
    let entry_price: String =
        s.env.db().query_row("SELECT entry_price FROM position WHERE state = 'OPEN'", [], |r| r.get(0)).unwrap();
    assert_eq!(entry_price.parse::<Decimal>().unwrap(), dec!(40060));
    assert_eq!(s.request("POST", ALGO, &cid("TP", 2)).param("triggerPrice"), Some("42180"));
}

/// Issue 12 §1 (AC1): Binance's official `NewOrderResponse` model has neither `avgPrice` nor
/// `cumQuote`. A FILLED ENTRY answered that way is a known fill of unknown price: the STOP (whose
/// trigger is the plan's) goes out at once, and the price is looked up by client id in the STOP's
/// own round — the STOP request reaches the exchange before the look-up is answered. The TP follows
/// at exactly 2R from the looked-up fill (40040 → 42120), and the position carries that price.
#[test]
fn a_fill_answered_without_a_price_does_not_delay_the_stop() {
    let s = Scenario::new();
    s.mock.set_mark(dec!(40040));
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::WithoutPrice, 1);
    // Every answer 100 ms late: a STOP sent only after the price look-up would arrive after it.
    s.mock.set_latency_ms(100);
    let out = s.run(&["enter"]);
    out.code(0);
    assert_eq!(out.json()["entered"], true);
    let entry = s.request("POST", ORDER, &cid("ENTRY", 1));
    assert!(!entry.body.contains("avgPrice") && !entry.body.contains("cumQuote"), "{}", entry.body);
    let lookup = s.request("GET", ORDER, &cid("ENTRY", 1));
    let stop = s.request("POST", ALGO, &cid("STOP", 1));
    assert!(lookup.seq > entry.seq && stop.seq > entry.seq);
    let answered = lookup.answered.expect("the look-up was answered");
    assert!(stop.arrived < answered, "STOP {:?} waited for the look-up answered at {answered:?}", stop.arrived);
    assert_eq!(stop.param("triggerPrice"), Some("39000"));
    let tp = s.request("POST", ALGO, &cid("TP", 1));
    assert!(tp.arrived > answered, "the TP needs the price");
    assert_eq!(tp.param("triggerPrice"), Some("42120"));
    let entry_price: String =
        s.env.db().query_row("SELECT entry_price FROM position WHERE state = 'OPEN'", [], |r| r.get(0)).unwrap();
    assert_eq!(entry_price.parse::<Decimal>().unwrap(), dec!(40040));
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "FILLED", "OBSERVED"]);
    let open = s.mock.open_algos();
    assert_eq!(open.len(), 2, "{open:?}");
    assert!(open.iter().all(|a| a.qty == dec!(0.010)), "{open:?}");
    s.finish();
}

/// Issue 12 §1: when the look-up cannot give the price either (every `GET /fapi/v1/order`
/// refused), the exchange position's entry price is the fill's — never a guess, never zero.
#[test]
fn a_fill_without_a_price_whose_look_up_fails_takes_the_position_price() {
    let s = Scenario::new();
    s.mock.set_mark(dec!(40040));
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::WithoutPrice, 1);
    // Every look-up after the send fails (the mock spares the pre-send check of the client id).
    let refused = Fault::api_error(400, -1102, "Mandatory parameter 'symbol' was not sent.");
    s.mock.on("GET", ORDER, Some("ENTRY"), refused, 1000);
    s.run(&["enter"]).code(0);
    let failed = s.mock.requests().iter().filter(|r| r.method == "GET" && r.path == ORDER && r.status == 400).count();
    assert!(failed >= 2, "the price was looked up and refused:\n{}", lines(&s.mock.requests()));
    let entry_price: String =
        s.env.db().query_row("SELECT entry_price FROM position WHERE state = 'OPEN'", [], |r| r.get(0)).unwrap();
    assert_eq!(entry_price.parse::<Decimal>().unwrap(), dec!(40040));
    assert_eq!(s.request("POST", ALGO, &cid("TP", 1)).param("triggerPrice"), Some("42120"));
    s.finish();
}

/// AC1: when protection fails for a *partial* ENTRY, the failure path cancels the ENTRY's open
/// remainder before it closes what filled. (Found as a bug: the remainder used to keep working and
/// could fill into a naked position while mcbot believed it was flat and HALTED.)
#[test]
fn failed_protection_of_a_partial_entry_cancels_the_remainder() {
    let s = Scenario::new();
    let partial = Fault::PartialFill { qty: dec!(0.004), complete_after_ms: Some(1500), rest_price: None };
    s.mock.on("POST", ORDER, Some("ENTRY"), partial, 1);
    s.mock.on("POST", ALGO, Some("STOP"), Fault::api_error(400, -4045, "Reach max stop order limit."), 1);
    s.run(&["enter"]).code(10);
    assert_eq!(s.mock.position(), Decimal::ZERO, "flat right after the forced close");
    std::thread::sleep(std::time::Duration::from_millis(1600));
    s.mock.state().advance_now(); // the remainder's fill falls due
    assert_eq!(
        (s.mock.position(), s.mock.open_algos().len()),
        (Decimal::ZERO, 0),
        "a naked position appeared after the forced close (ENTRY remainder never cancelled):\n{}",
        lines(&s.mock.requests())
    );
}

/// CONTRACT §7.1 / AC1 during F-005: `exit` keeps the STOP until the CLOSE is confirmed, so while
/// the CLOSE keeps failing the position is never without a STOP (sampled on the mock while `exit`
/// runs). (Found: seed 000 §7's "cancel STOP and TP, then CLOSE" left it naked for most of
/// `close_retry_max_elapsed_ms`.)
#[test]
fn exit_during_an_outage_never_leaves_the_position_without_a_stop() {
    let s = Bot::new().set("execution.close_retry_max_elapsed_ms", "1500").planned_long().mock();
    s.run(&["enter"]).code(0);
    s.mock.on("POST", ORDER, Some("CLOSE"), Fault::service_unavailable(), usize::MAX);
    let mut c = s.env.std_command();
    c.args(["--json", "exit"]).env("MCBOT_API_KEY", API_KEY).env("MCBOT_API_SECRET", API_SECRET);
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let (mut naked_since, mut longest) = (None::<std::time::Instant>, std::time::Duration::ZERO);
    while child.try_wait().unwrap().is_none() {
        let covered = s.mock.open_algos().iter().any(|a| kind_str(a.kind) == "STOP_MARKET" && a.qty >= dec!(0.010));
        match (covered || s.mock.position().is_zero(), naked_since) {
            (false, None) => naked_since = Some(std::time::Instant::now()),
            (true, Some(t)) => {
                longest = longest.max(t.elapsed());
                naked_since = None;
            }
            _ => {}
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(longest.as_millis() < 200, "the position was without a STOP for {longest:?} during exit");
}

/// `halt --flatten` (CONTRACT §1): HALTED at once, then the position is closed like `exit`
/// (TP cancelled, CLOSE, STOP cancelled) with the exit reason `manual`; new entries stay refused.
#[test]
fn halt_flatten_halts_then_closes_the_position() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let out = s.run(&["halt", "--flatten", "--reason", "news risk"]);
    out.code(0);
    assert_eq!(s.mode(), "HALTED");
    assert_eq!(s.mock.position(), Decimal::ZERO);
    assert!(s.mock.open_algos().is_empty(), "{:?}", s.mock.open_algos());
    let (state, _, reason) = s.position();
    assert_eq!((state.as_str(), reason.as_deref()), ("CLOSED", Some("manual")));
    let close = s.at("POST", ORDER, &cid("CLOSE", 1));
    s.before(s.at("DELETE", ALGO, &cid("TP", 1)), close);
    s.before(close, s.at("DELETE", ALGO, &cid("STOP", 1)));
    s.finish();
}

/// How the state DB can be lost under an open, protected position (issue 10 item 4, issue 11's
/// "a zero-byte or garbled WAL is a lost state").
#[derive(Debug, Clone, Copy)]
enum StateLoss {
    Deleted,
    ZeroBytes,
    /// The WAL (with every row since the last checkpoint) is lost: the DB as it was before.
    WalLost,
    /// As `WalLost`, with garbage where the WAL was.
    WalGarbled,
    /// A copy taken before the trade (the plan PLANNED, no order rows) is restored.
    OlderCopy,
}

impl Scenario {
    /// The DB as `seed` left it, saved before `enter` for `StateLoss::OlderCopy`/`WalLost`.
    fn save_copy(&self) -> Vec<u8> {
        let db = self.env.db();
        db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        drop(db);
        std::fs::read(self.env.db_path()).unwrap()
    }

    fn lose_state(&self, how: StateLoss, copy: &[u8]) {
        let db = self.env.db_path();
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
        match how {
            StateLoss::Deleted => std::fs::remove_file(&db).unwrap(),
            StateLoss::ZeroBytes => std::fs::write(&db, b"").unwrap(),
            StateLoss::WalLost | StateLoss::OlderCopy => std::fs::write(&db, copy).unwrap(),
            StateLoss::WalGarbled => {
                std::fs::write(&db, copy).unwrap();
                let junk: Vec<u8> = (0..9000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
                std::fs::write(format!("{}-wal", db.display()), junk).unwrap();
            }
        }
    }
}

/// Item 4 / AC1 / AC4: after the state DB is lost under a protected position, reconcile adopts the
/// position into the plan its covering STOP/TP name, keeps those working orders (no cancel, no
/// replacement), and the next runs leave them alone too. `status` shows the working STOP.
#[test]
fn lost_state_adoption_keeps_the_working_stop_and_tp() {
    for how in
        [StateLoss::Deleted, StateLoss::ZeroBytes, StateLoss::WalLost, StateLoss::WalGarbled, StateLoss::OlderCopy]
    {
        let s = Scenario::new();
        let copy = s.save_copy();
        s.run(&["enter"]).code(0);
        s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
        s.lose_state(how, &copy);
        let mark = s.mock.request_count();
        for _ in 0..3 {
            let out = s.run(&["reconcile"]);
            assert!(out.code == 0, "{how:?}: {}{}", out.stdout, out.stderr);
        }
        assert_eq!(s.mock.writes_since(mark), Vec::<String>::new(), "{how:?}: nothing cancelled or placed");
        s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
        let plan: Option<String> =
            s.env.db().query_row("SELECT owner_plan_id FROM position WHERE state = 'OPEN'", [], |r| r.get(0)).unwrap();
        assert_eq!(plan.as_deref(), Some(PLAN), "{how:?}: the plan id is read back from the covering orders");
        let st = s.run(&["status"]).json();
        assert_eq!(st["protection"]["stop"]["client_id"], Value::from(cid("STOP", 1)), "{how:?}: {st}");
        if matches!(how, StateLoss::WalLost | StateLoss::WalGarbled | StateLoss::OlderCopy) {
            // The plan is still in this DB: the position is its, so it is never entered again.
            assert_eq!(s.plan_status(), "FILLED", "{how:?}");
        }
        // AC2: a tick on the same candle sends no second ENTRY.
        let mark = s.mock.request_count();
        s.run(&["enter"]);
        assert!(s.mock.writes_since(mark).is_empty(), "{how:?}: {:?}", s.mock.writes_since(mark));
        s.finish();
    }
}

impl Scenario {
    /// Another mcbot with the same bot_id placed its own STOP and TP (plan `other`) on the account:
    /// copies of ours under its plan id, as the mock holds them.
    fn add_other_instance_protection(&self, other: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for a in self.mock.open_algos() {
            let role = if kind_str(a.kind) == "STOP_MARKET" { "STOP" } else { "TP" };
            let id = format!("mc_{other}_{role}_1");
            self.mock.add_algo_like(&a, &id, a.qty);
            ids.push(id);
        }
        ids
    }
}

/// Item 7: an established journal that finds own-prefix orders it never wrote (another mcbot with
/// this bot_id, or a state DB older than the exchange) cancels nothing and places nothing: it
/// HALTs with a CRITICAL audit naming the cause and exits 10. `reconcile --adopt` then takes the
/// orders over without cancelling any STOP before its replacement.
#[test]
fn second_instance_orders_are_kept_and_the_journal_halts() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let theirs = s.add_other_instance_protection("b2c3d4e5f6a1");
    let mark = s.mock.request_count();
    let out = s.run(&["reconcile"]);
    out.code(10);
    assert!(out.stdout.contains("another mcbot with bot_id mc is active on this account"), "{}", out.stdout);
    assert_eq!(s.mock.writes_since(mark), Vec::<String>::new(), "nothing of either instance is cancelled");
    assert_eq!(s.mode(), "HALTED");
    assert!(s.audit().contains(&"CRITICAL:another_instance".to_string()), "{:?}", s.audit());
    let open: Vec<String> = s.mock.open_algos().into_iter().map(|a| a.client_id).collect();
    for id in theirs.iter().chain([cid("STOP", 1), cid("TP", 1)].iter()) {
        assert!(open.contains(id), "{id} kept: {open:?}");
    }
    // Entries stay refused; a second plain reconcile still touches nothing.
    let mark = s.mock.request_count();
    s.run(&["reconcile"]).code(10);
    assert!(s.mock.writes_since(mark).is_empty());
    s.run(&["enter"]).code(10);
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1, "AC2: one ENTRY only");
    // The operator's explicit adoption: the other plan's orders are now ours to tidy; our
    // covering STOP/TP stay, so the extras go without a naked moment.
    let mark = s.mock.request_count();
    let out = s.run(&["reconcile", "--adopt"]);
    out.code(0);
    let mut writes = s.mock.writes_since(mark);
    writes.sort();
    let mut want: Vec<String> = theirs.iter().map(|c| format!("DELETE {ALGO} {c}")).collect();
    want.sort();
    assert_eq!(writes, want);
    s.assert_protected(&cid("STOP", 1), &cid("TP", 1));
    assert_eq!(s.run(&["reconcile"]).json()["clean"], true);
    s.finish();
}

/// Item 5: a leftover, undersized STOP of the same plan beside the full-size one (what a kill
/// during a partial-fill resize leaves) is an extra: after the command one STOP and one TP remain,
/// the covering STOP was never touched, and the reconcile counts it as a mismatch.
#[test]
fn resize_leftover_stop_is_cancelled_once_coverage_is_confirmed() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let stop = s.mock.open_algos().into_iter().find(|a| kind_str(a.kind) == "STOP_MARKET").unwrap();
    s.mock.add_algo_like(&stop, &cid("STOP", 2), dec!(0.004));
    let mark = s.mock.request_count();
    // --adopt: the journal takes the leftover as its own (it would have its row after a real kill).
    let j = s.run(&["reconcile", "--adopt"]).json();
    assert_eq!(j["clean"], false, "{j}");
    assert_eq!(s.mock.writes_since(mark), [format!("DELETE {ALGO} {}", cid("STOP", 2))]);
    s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
    assert_eq!(s.run(&["reconcile"]).json()["clean"], true);
    s.finish();
}

/// Issue 15 / CONTRACT §13: STOPs cancelled by hand, again and again, raise the posture
/// (GREEN → YELLOW → ORANGE) while reconcile keeps re-protecting the position (protection is
/// never limited by the posture); every transition is an audit row with its inputs; clean runs
/// held for the recovery window bring it back to GREEN one mode at a time.
#[test]
fn posture_rises_on_hand_cancelled_stops_and_relaxes_after_clean_runs() {
    let s = Bot::new().set("execution.mismatch_halt_streak", "5").planned_long().mock();
    s.run(&["enter"]).code(0);
    let posture = |s: &Scenario| s.run(&["status"]).json()["posture"].clone();
    assert_eq!(posture(&s)["mode"], "GREEN");
    let mut modes = Vec::new();
    for attempt in [2, 3] {
        s.mock.cancel_all_algos();
        let j = s.run(&["reconcile"]).json();
        assert_eq!(j["clean"], false, "{j}");
        // Re-protected whatever the posture: STOP_n and TP_n are on the exchange.
        s.assert_entered_and_protected(&cid("STOP", attempt), &cid("TP", attempt));
        modes.push(posture(&s)["mode"].as_str().unwrap().to_string());
    }
    assert_eq!(modes, ["YELLOW", "ORANGE"]);
    let p = posture(&s);
    assert_eq!(p["knobs"]["allow_entries"], false, "{p}");
    assert_eq!(p["knobs"]["max_notional_usdt"], "0", "{p}");
    assert!(p["debt_score"].as_str().unwrap().parse::<u32>().unwrap() >= 50, "{p}");
    let audit = s.audit();
    assert_eq!(audit.iter().filter(|a| a.ends_with(":posture_changed")).count(), 2, "{audit:?}");
    let inputs: String = s
        .env
        .db()
        .query_row("SELECT evidence FROM posture_transition WHERE to_mode = 'ORANGE'", [], |r| r.get(0))
        .unwrap();
    let inputs: Value = serde_json::from_str(&inputs).unwrap();
    assert_eq!(inputs["mismatch_streak"], 2, "{inputs}");
    assert!(inputs["protection_missing_age_ms"].is_number(), "{inputs}");

    // Clean runs: the calm clock starts, and a recovery window later each mode steps down.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let j = s.run(&["reconcile"]).json();
        assert_eq!(j["clean"], true, "{j}");
        seen.push(posture(&s)["mode"].as_str().unwrap().to_string());
        // The next cron run is 9 h later: shift the calm clock back instead of sleeping.
        s.env.db().execute("UPDATE posture_state SET calm_since_ms = calm_since_ms - 32400000", []).unwrap();
    }
    assert_eq!(seen, ["ORANGE", "YELLOW", "YELLOW", "GREEN"]);
    assert_eq!(s.mode(), "RUNNING");
    s.finish();
}

/// Issue 15 item 6: the `[posture]` thresholds reach the controller. With YELLOW moved to 45, one
/// hand-cancelled STOP (protection 30 + streak 10 = 40) leaves the posture GREEN; the second
/// (50) goes straight to ORANGE. The STOP is re-placed each time, whatever the policy.
#[test]
fn posture_thresholds_come_from_the_config() {
    let s =
        Bot::new().set("execution.mismatch_halt_streak", "5").set("posture.yellow_enter", "45").planned_long().mock();
    s.run(&["enter"]).code(0);
    let mut modes = Vec::new();
    for attempt in [2, 3] {
        s.mock.cancel_all_algos();
        assert_eq!(s.run(&["reconcile"]).json()["clean"], false);
        s.assert_entered_and_protected(&cid("STOP", attempt), &cid("TP", attempt));
        modes.push(s.run(&["status"]).json()["posture"]["mode"].as_str().unwrap().to_string());
    }
    assert_eq!(modes, ["GREEN", "ORANGE"]);
    s.finish();
}

/// Issue 15 item 5: a foreign position is ORANGE at once (50), and how long it has been open weighs
/// in from its first-seen time (+1 per hour, at most 24): 30 h later the debt is 74. It is left
/// untouched throughout. Once it is gone the kind is closed, and clean runs bring the posture
/// back to GREEN one mode at a time.
#[test]
fn foreign_position_ages_in_the_debt_and_the_posture_relaxes_once_it_is_gone() {
    let s = Scenario::new();
    s.mock.set_position(dec!(0.020), dec!(39000));
    let posture = |s: &Scenario| s.run(&["status"]).json()["posture"].clone();
    s.run(&["reconcile"]).code(0);
    let p = posture(&s);
    assert_eq!((p["mode"].as_str(), p["debt_score"].as_str()), (Some("ORANGE"), Some("50")), "{p}");
    let since: Option<i64> =
        s.env.db().query_row("SELECT foreign_exposure_since_ms FROM posture_state", [], |r| r.get(0)).unwrap();
    assert!(since.is_some());
    // First seen 30 h ago (shift the stored time instead of waiting).
    s.env
        .db()
        .execute("UPDATE posture_state SET foreign_exposure_since_ms = foreign_exposure_since_ms - 108000000", [])
        .unwrap();
    s.run(&["reconcile"]).code(0);
    let p = posture(&s);
    assert_eq!((p["mode"].as_str(), p["debt_score"].as_str()), (Some("ORANGE"), Some("74")), "{p}");
    assert!(s.mock.writes().is_empty(), "a foreign position is never touched: {:?}", s.mock.writes());

    // The owner closed it: the kind is closed and the calm clock starts.
    s.mock.set_position(Decimal::ZERO, Decimal::ZERO);
    let mut seen = Vec::new();
    for _ in 0..4 {
        s.run(&["reconcile"]).code(0);
        seen.push(posture(&s)["mode"].as_str().unwrap().to_string());
        s.env.db().execute("UPDATE posture_state SET calm_since_ms = calm_since_ms - 32400000", []).unwrap();
    }
    assert_eq!(seen, ["ORANGE", "YELLOW", "YELLOW", "GREEN"]);
    let since: Option<i64> =
        s.env.db().query_row("SELECT foreign_exposure_since_ms FROM posture_state", [], |r| r.get(0)).unwrap();
    assert_eq!(since, None);
    s.finish();
}

/// Issue 15 item 5, failing reads: a hand-cancelled STOP made the posture YELLOW (30 + streak 10);
/// then the exchange stops answering position reads. The failed read raises the debt (15, plus one
/// failed run 10), and the protection mismatch is *not* taken as resolved because nobody could
/// look: it stays open and weighs 30 more, so the posture goes ORANGE (65). Once reads work again a
/// clean reconcile closes the kind; ORANGE holds until its recovery window.
#[test]
fn failing_reads_keep_an_open_mismatch_open_and_raise_the_posture() {
    let s = Bot::new().set("execution.mismatch_halt_streak", "5").planned_long().mock();
    s.run(&["enter"]).code(0);
    let posture = |s: &Scenario| s.run(&["status"]).json()["posture"].clone();
    let since = |s: &Scenario| -> Option<i64> {
        s.env.db().query_row("SELECT protection_missing_since_ms FROM posture_state", [], |r| r.get(0)).unwrap()
    };
    s.mock.cancel_all_algos();
    s.run(&["reconcile"]).code(0);
    assert_eq!(posture(&s)["mode"], "YELLOW");
    let first_seen = since(&s);
    assert!(first_seen.is_some());

    s.mock.on("GET", "/fapi/v3/positionRisk", None, Fault::api_error(400, -1121, "Invalid symbol."), 100);
    let out = s.run(&["tick"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    let p = posture(&s);
    assert_eq!((p["mode"].as_str(), p["debt_score"].as_str()), (Some("ORANGE"), Some("65")), "{p}");
    assert_eq!(since(&s), first_seen, "kept open, from the first time it was seen");
    let inputs: String = s
        .env
        .db()
        .query_row("SELECT evidence FROM posture_transition WHERE to_mode = 'ORANGE'", [], |r| r.get(0))
        .unwrap();
    let inputs: Value = serde_json::from_str(&inputs).unwrap();
    assert_eq!((inputs["failed_reads"].as_u64(), inputs["failed_runs"].as_u64()), (Some(1), Some(1)), "{inputs}");
    assert!(inputs["protection_missing_age_ms"].is_number(), "{inputs}");

    s.mock.clear_faults();
    assert_eq!(s.run(&["reconcile"]).json()["clean"], true);
    assert_eq!(since(&s), None, "a clean reconcile closes it");
    assert_eq!(posture(&s)["mode"], "ORANGE", "hysteresis: ORANGE holds until its recovery window");
    s.finish();
}

/// Issue 15: RED asks for a halt, and the halt never limits exits: `close` still flattens the
/// position and `protect` still re-places a cancelled STOP. (RED is reached through the stored state a previous run left.)
#[test]
fn posture_red_halts_but_close_still_works() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    // A previous run ended RED; this run's reconcile is clean but RED holds (hysteresis) and halts.
    s.env
        .db()
        .execute(
            "INSERT OR REPLACE INTO posture_state (id, mode, since_ms, score, calm_since_ms, failed_runs, updated_ms)
             VALUES (1, 'RED', 0, 100, NULL, 0, 0)",
            [],
        )
        .unwrap();
    let j = s.run(&["reconcile"]).json();
    assert_eq!(j["clean"], true, "{j}");
    assert_eq!(s.run(&["status"]).json()["posture"]["mode"], "RED");
    assert_eq!(s.mode(), "HALTED");
    assert!(s.audit().contains(&"CRITICAL:halt".to_string()), "{:?}", s.audit());
    // Protection is not limited in RED: a cancelled STOP is re-placed.
    s.mock.cancel_all_algos();
    s.run(&["protect"]).code(0);
    s.assert_entered_and_protected(&cid("STOP", 2), &cid("TP", 2));
    // Nor are exits: the CLOSE goes out and the position is flat.
    s.run(&["exit", "--reason", "manual"]).code(0);
    s.at("POST", ORDER, &cid("CLOSE", 1));
    assert_eq!(s.mock.position(), Decimal::ZERO);
    assert_eq!(s.run(&["status"]).json()["posture"]["mode"], "RED");
    s.finish();
}

/// The state a previous run's posture left (issue 15): `mode` with `score`, calm clock not running.
fn set_posture(s: &Scenario, mode: &str, score: u32) {
    s.env
        .db()
        .execute(
            "INSERT OR REPLACE INTO posture_state (id, mode, since_ms, score, calm_since_ms, failed_runs, updated_ms)
             VALUES (1, ?1, 0, ?2, NULL, 0, 0)",
            rusqlite::params![mode, score],
        )
        .unwrap();
}

/// Issue 15 item 3: the plan was sized at evaluate time under GREEN; the posture rose to ORANGE
/// before `enter` (a previous run left it there). The re-check beside the HALTED check refuses it (pre-flight, exit 5) with
/// evaluate's reason and an audit row; no ENTRY reaches the exchange and the plan stays PLANNED.
#[test]
fn enter_rechecks_the_posture_and_refuses_when_it_rose_to_orange() {
    let s = Scenario::new();
    set_posture(&s, "ORANGE", 55);
    let out = s.run(&["enter"]);
    out.code(5);
    // `enter`'s own reconcile is clean (debt 0), but ORANGE holds until its recovery window passed.
    assert!(out.stdout.contains("posture ORANGE (debt 0) refuses new entries"), "{}", out.stdout);
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 0);
    assert!(s.mock.writes().is_empty(), "{:?}", s.mock.writes());
    assert!(s.audit().contains(&"WARN:posture_refused".to_string()), "{:?}", s.audit());
    let data: String =
        s.env.db().query_row("SELECT data FROM audit_event WHERE kind = 'posture_refused'", [], |r| r.get(0)).unwrap();
    let data: Value = serde_json::from_str(&data).unwrap();
    assert_eq!((data["mode"].as_str(), data["action"].as_str()), (Some("ORANGE"), Some("refused")), "{data}");
    assert_eq!(s.plan_status(), "PLANNED");
    assert_eq!(s.mock.position(), Decimal::ZERO);
    s.finish();
}

/// Issue 15 item 3: under YELLOW the cap is half of `risk.max_notional_usdt` (600 → 300 USDT);
/// the planned 0.010 at 40000 (400 USDT) goes out as 0.007 (floored to the step), audited with the
/// reason, and the STOP and TP cover exactly what filled.
#[test]
fn enter_rechecks_the_posture_and_sizes_down_under_yellow() {
    let s = Bot::new().set("risk.max_notional_usdt", "600").planned_long().mock();
    set_posture(&s, "YELLOW", 25);
    s.run(&["enter"]).code(0);
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1);
    assert_eq!(s.request("POST", ORDER, &cid("ENTRY", 1)).param("quantity"), Some("0.007"));
    assert_eq!(s.mock.position(), dec!(0.007));
    let stop = s.request("POST", ALGO, &cid("STOP", 1));
    assert_eq!(stop.param("quantity"), Some("0.007"), "{stop:?}");
    let audit = s.audit();
    assert!(audit.contains(&"WARN:posture_sized_down".to_string()), "{audit:?}");
    let msg: String = s
        .env
        .db()
        .query_row("SELECT message FROM audit_event WHERE kind = 'posture_sized_down'", [], |r| r.get(0))
        .unwrap();
    assert!(msg.contains("from 0.010 to 0.007") && msg.contains("caps notional at 0.5"), "{msg}");
    s.finish();
}

/// Issue 11 item 1 / invariant 10 (`halt` and `status` never wait; AC3): an ENTRY acknowledged
/// with nothing filled rests in its fill window (the default 10 s) without holding a DB write
/// transaction. `status` and `halt` answer while `enter` waits in the window, and `enter` sees
/// the halt before anything else: it cancels the resting ENTRY and sends nothing that opens
/// exposure. (How long `halt` took is printed for the note, never asserted.)
#[test]
fn halt_during_a_resting_entry_answers_at_once_and_cancels_the_remainder() {
    let s = Bot::new().set("execution.entry_fill_window_ms", "10000").planned_long().mock();
    s.mock.on(
        "POST",
        ORDER,
        Some("ENTRY"),
        Fault::PartialFill { qty: Decimal::ZERO, complete_after_ms: None, rest_price: None },
        1,
    );
    let child = s.spawn(&["enter"]);
    let waited = std::time::Instant::now();
    while s.mock.count("POST", ORDER, &cid("ENTRY", 1)) == 0 {
        assert!(waited.elapsed() < std::time::Duration::from_secs(30), "the ENTRY never reached the exchange");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t = std::time::Instant::now();
    let status = s.run(&["status"]);
    let status_ms = t.elapsed().as_millis();
    status.code(0);
    assert_eq!(status.json()["mode"], "RUNNING", "{}", status.stdout);
    // Taken before the halt: the resting enter may notice it and cancel before `halt` returns.
    let mark = s.mock.request_count();
    let t = std::time::Instant::now();
    let halt = s.run(&["halt", "--reason", "operator"]);
    let halt_ms = t.elapsed().as_millis();
    halt.code(0);
    eprintln!("measured while enter rests in its fill window: status {status_ms} ms, halt {halt_ms} ms");
    let out = Outcome::of(&child.wait_with_output().unwrap());
    out.code(1);
    assert_eq!(out.json()["outcome"], "not_filled", "{}", out.stdout);
    // After the halt: only the cancel of the resting ENTRY; no second ENTRY, no STOP/TP.
    let writes = s.mock.writes_since(mark);
    assert_eq!(writes, [format!("DELETE {ORDER} {}", cid("ENTRY", 1))], "{writes:?}");
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1);
    assert_eq!(s.mock.position(), Decimal::ZERO);
    assert!(s.audit().contains(&"WARN:entry_halted_in_window".to_string()), "{:?}", s.audit());
    assert_eq!(s.mode(), "HALTED");
    s.finish();
}

/// Issue 10 item 6 (AC1, AC5; never touch what mcbot cannot prove is its own): a person sells
/// twice the long into it, so the exchange holds a SHORT. The bot's SELL STOP does not protect a
/// short. Reconcile ends the bot's position as `external`, HALTs with a CRITICAL audit, exits 10
/// and sends nothing: the short and the orders on it are left to the person. Later runs keep
/// refusing entries and still send nothing.
#[test]
fn hand_flip_ends_the_position_as_external_and_halts_touching_nothing() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let long = s.mock.position();
    assert!(long > Decimal::ZERO);
    s.mock.fill_market_order("web_hand_sell", false, long * dec!(2));
    assert_eq!(s.mock.position(), -long);
    let mark = s.mock.request_count();
    let out = s.run(&["reconcile"]);
    out.code(10);
    let j = out.json();
    assert_eq!(j["outcome"], "side_flipped", "{j}");
    assert!(j["entry_block_reason"].as_str().unwrap().contains("not mcbot's"), "{j}");
    assert!(s.mock.writes_since(mark).is_empty(), "{:?}", s.mock.writes_since(mark));
    // The bot's position ended with an explicit reason; the person's short is untouched.
    let (_, _, reason) = s.position();
    assert_eq!(reason.as_deref(), Some("external"));
    assert_eq!(s.mock.position(), -long);
    assert_eq!(s.mock.open_algos().len(), 2, "the orders on the position are left to the person");
    assert!(s.audit().contains(&"CRITICAL:side_flipped".to_string()), "{:?}", s.audit());
    assert_eq!(s.mode(), "HALTED");
    let status = s.run(&["status"]).json();
    assert_eq!(status["position"], Value::Null, "{status}");
    assert!(status["halt_reason"].as_str().unwrap().contains("changed by hand"), "{status}");
    // The next runs neither protect, adopt nor cancel around the short.
    s.run(&["reconcile"]);
    s.run(&["tick"]);
    assert!(s.mock.writes_since(mark).is_empty(), "{:?}", s.mock.writes_since(mark));
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1);
    s.finish();
}

/// Issue 10 item 6: `protect` run on its own after a hand flip (before any reconcile) does not take
/// the bot's SELL STOP for the short's protection, and places nothing for a position that is not
/// mcbot's: exit 1 naming reconcile, no write; the next reconcile ends mcbot's position (external).
#[test]
fn protect_alone_after_a_hand_flip_sends_nothing_and_names_reconcile() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let long = s.mock.position();
    s.mock.fill_market_order("web_hand_sell", false, long * dec!(2));
    let mark = s.mock.request_count();
    let out = s.run(&["protect"]);
    out.code(1);
    let j = out.json();
    assert!(j["error"].as_str().unwrap().contains("run `mcbot reconcile`"), "{j}");
    assert!(s.mock.writes_since(mark).is_empty(), "{:?}", s.mock.writes_since(mark));
    assert_eq!(s.mock.open_algos().len(), 2, "the bot's own orders stay as they were");
    s.run(&["reconcile"]).code(10);
    let (_, _, reason) = s.position();
    assert_eq!(reason.as_deref(), Some("external"));
    assert!(s.mock.writes_since(mark).is_empty(), "{:?}", s.mock.writes_since(mark));
    s.finish();
}

/// Issue 10 item 3 (AC2, F-001): with a protected position open the state DB is lost (deleted,
/// or replaced by a copy from before the trade); the STOP then fills, so the exchange is flat and
/// no *open* order carries `…_ENTRY_1` (Binance would accept it again). `evaluate` on the same
/// candle makes the same plan again. Right before sending, the ENTRY's client id is looked up in
/// any status: the exchange knows it, so nothing is sent (pre-flight `client_id_unused`, exit 5).
#[test]
fn lost_state_after_a_stop_out_never_sends_the_same_entry_again() {
    for how in [StateLoss::Deleted, StateLoss::ZeroBytes, StateLoss::OlderCopy] {
        let s = Scenario::new();
        let copy = s.save_copy();
        s.run(&["enter"]).code(0);
        s.assert_entered_and_protected(&cid("STOP", 1), &cid("TP", 1));
        s.lose_state(how, &copy);
        s.mock.set_mark(dec!(38000));
        assert_eq!(s.mock.position(), Decimal::ZERO, "{how:?}: the STOP filled");
        if !matches!(how, StateLoss::OlderCopy) {
            // A new DB: evaluate on the same candle makes the same plan id again.
            let _ = std::fs::remove_file(s.env.db_path());
            s.seed();
        }
        let mark = s.mock.request_count();
        let out = s.run(&["enter"]);
        assert_eq!(out.code, 5, "{how:?}: {}", out.stdout);
        assert!(out.json()["error"].as_str().unwrap().contains("client_id_unused"), "{how:?}: {}", out.stdout);
        let writes = s.mock.writes_since(mark);
        assert!(!writes.iter().any(|w| w.starts_with("POST") && w.contains("ENTRY")), "{how:?}: {writes:?}");
        assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1, "{how:?}: one ENTRY ever");
        // The look-up went out before anything that opens exposure could, after this run's
        // last write (its reconcile's repairs): a look-up from before a repair never decides.
        let reqs = s.mock.requests();
        let last_write = reqs[mark..].iter().filter(|r| r.is_write()).map(|r| r.seq).max().unwrap_or(mark);
        let looked_up = |r: &&Request| r.method == "GET" && r.path == ORDER && r.client_id() == Some(&cid("ENTRY", 1));
        assert!(reqs[mark..].iter().filter(looked_up).any(|r| r.seq >= last_write), "{how:?}:\n{}", lines(&reqs));
        assert!(s.audit().contains(&"WARN:preflight_failed".to_string()), "{how:?}");
        s.finish();
    }
}

/// Issue 16 item 1: the mock's trading rules are the paper book's.
mod book_rules;

/// Issue 11 item 2: the state DB stops taking writes mid-command.
mod disk_full;

/// Issue 11 item 1: halt hammered against enter on one state DB.
mod hammer;

/// Issue 10 item 1: a non-answer at every request position of enter, reconcile, protect, exit.
mod sweep;

/// Issue 10 item 2: a bare position attributed from the order history.
mod history;

/// Issue 10 item 5: status lists every working protective order; reconcile cancels extras.
mod leftovers;
/// Issue 12 §1 / seed 000 "every exit has an auditable reason": fees paid in BNB are reported in
/// BNB through `exit` (never added to USDT, never refused): the report and the position's audit
/// carry `fees_by_asset`, and the USDT total is null (unknown), not the USDT part alone.
#[test]
fn exit_reports_bnb_fees_in_bnb_and_no_usdt_total() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.state().commission_asset = "BNB";
    let out = s.run(&["exit"]);
    out.code(0);
    let j = out.json();
    assert_eq!(j["exit_reason"], "manual");
    assert!(j["fees"].is_null(), "{j}");
    assert_eq!(j["fees_complete"], true, "{j}");
    let bnb: Decimal = j["fees_by_asset"]["BNB"].as_str().unwrap().parse().unwrap();
    assert!(bnb > Decimal::ZERO && j["fees_by_asset"].get("USDT").is_none(), "{j}");
    let reqs = s.mock.requests();
    let trades: Vec<_> = reqs.iter().filter(|r| r.path == "/fapi/v1/userTrades").collect();
    assert_eq!(trades.len(), 2, "ENTRY and CLOSE fills");
    assert!(trades.iter().all(|r| r.params.iter().any(|(k, _)| k == "startTime")), "bounded by time");
    s.finish();
}

/// Issue 12 §1: an order that filled but whose trades the exchange does not return has unknown
/// fees — null with `fees_complete: false`, never 0.
#[test]
fn exit_whose_fills_have_no_trades_reports_fees_unknown_not_zero() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.state().hide_trades = true;
    let out = s.run(&["exit"]);
    out.code(0);
    let j = out.json();
    assert!(j["fees"].is_null(), "{j}");
    assert_eq!(j["fees_complete"], false, "{j}");
    assert_eq!(j["fees_by_asset"], serde_json::json!({}), "{j}");
    s.finish();
}

/// The same exit with USDT fees: a complete USDT total (the stateful mock charges 0.04 %).
#[test]
fn exit_reports_usdt_fees_as_a_total() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let j = s.run(&["exit"]).json();
    let total: Decimal = j["fees"].as_str().unwrap().parse().unwrap();
    assert!(total > Decimal::ZERO, "{j}");
    assert_eq!(j["fees_by_asset"]["USDT"].as_str().map(|v| v.parse::<Decimal>().unwrap()), Some(total));
    s.finish();
}

/// The `position_closed` audit's data, parsed.
fn closed_audit(s: &Scenario) -> serde_json::Value {
    let data: String = s
        .env
        .db()
        .query_row("SELECT data FROM audit_event WHERE kind = 'position_closed' ORDER BY seq DESC LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    serde_json::from_str(&data).unwrap()
}

/// Issue 12 §1 / AC5: a STOP that fired while mcbot was down — the common exit — has its fees
/// read too: the ENTRY's and the STOP's child MARKET order's (by `actualOrderId`, around its
/// trigger time), all in USDT, so the position's `fees` is their total and complete.
#[test]
fn stop_hit_records_entry_and_stop_fees() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(38950));
    s.run(&["reconcile"]).code(0);
    let a = closed_audit(&s);
    assert_eq!((a["exit_reason"].as_str(), a["fees_complete"].as_bool()), (Some("stop_hit"), Some(true)), "{a}");
    let usdt: Decimal = a["fees_by_asset"]["USDT"].as_str().unwrap().parse().unwrap();
    assert_eq!(a["fees"].as_str().map(|f| f.parse::<Decimal>().unwrap()), Some(usdt));
    let fees: Option<String> = s.env.db().query_row("SELECT fees FROM position", [], |r| r.get(0)).unwrap();
    assert_eq!(fees.map(|f| f.parse::<Decimal>().unwrap()), Some(usdt));
    let reqs = s.mock.requests();
    let trades: Vec<_> = reqs.iter().filter(|r| r.path == "/fapi/v1/userTrades").collect();
    assert_eq!(trades.len(), 2, "the ENTRY's fills and the STOP child's");
    assert!(trades.iter().all(|r| r.param("startTime").is_some() && r.param("endTime").is_some()));
    s.finish();
}

/// The same STOP exit with the BNB fee discount on: fees in BNB, the USDT column NULL (unknown),
/// never the BNB amount counted as USDT.
#[test]
fn stop_hit_with_bnb_fees_keeps_them_in_bnb() {
    let s = Scenario::new();
    s.mock.state().commission_asset = "BNB";
    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(38950));
    s.run(&["reconcile"]).code(0);
    let a = closed_audit(&s);
    assert!(a["fees"].is_null(), "{a}");
    assert!(a["fees_by_asset"]["BNB"].as_str().is_some() && a["fees_by_asset"].get("USDT").is_none(), "{a}");
    let fees: Option<String> = s.env.db().query_row("SELECT fees FROM position", [], |r| r.get(0)).unwrap();
    assert_eq!(fees, None);
    s.finish();
}

/// Issue 16 item 6: one round of reads before the ENTRY; the persisted clock offset.
mod round_trips;
