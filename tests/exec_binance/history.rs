//! Issue 10 item 2, client ids are proof of ownership: a position the journal does not know and
//! no STOP/TP of ours covers — the process died between the ENTRY and the STOP, and the state DB
//! was lost — is attributed from the exchange's order history: our ENTRY built exactly it, so it
//! is adopted and protected, never left naked as foreign. A position the history does not prove
//! is ours (a hand trade after our plan closed) is still left alone.

use super::*;

/// The ENTRY filled, the process died before the STOP, and the state DB was lost with it.
fn naked_after_a_crash_and_a_lost_db(s: &Scenario) {
    s.mock.fill_market_order(&cid("ENTRY", 1), true, dec!(0.010));
    s.lose_state(StateLoss::Deleted, &[]);
}

#[test]
fn a_lost_db_under_a_naked_own_position_adopts_and_protects_it_from_the_order_history() {
    let s = Scenario::new();
    naked_after_a_crash_and_a_lost_db(&s);
    let mark = s.mock.request_count();
    let out = s.run(&["reconcile"]);
    assert!(matches!(out.code, 0), "{}", out.stdout);
    // The history was read, then STOP and TP placed under the plan the ENTRY's id names.
    let reqs = s.mock.requests();
    let history = reqs.iter().skip(mark).position(|r| r.path == "/fapi/v1/allOrders").expect("history read") + mark;
    let stop = s.at("POST", ALGO, &cid("STOP", 1));
    s.before(history, stop);
    assert!(s.mock.open_algos().iter().any(|a| kind_str(a.kind) == "STOP_MARKET" && a.qty == dec!(0.010)));
    assert!(s.mock.open_algos().iter().any(|a| kind_str(a.kind) == "TAKE_PROFIT_MARKET" && a.qty == dec!(0.010)));
    let (state, qty, _) = s.position();
    assert_eq!((state.as_str(), qty.as_str()), ("OPEN", "0.010"));
    assert!(s.audit().contains(&"WARN:position_adopted".to_string()), "{:?}", s.audit());
    assert!(!s.audit().contains(&"WARN:foreign_exposure".to_string()), "{:?}", s.audit());
    s.finish();
}

#[test]
fn a_hand_position_after_our_plan_closed_is_not_ours_by_history() {
    let s = Scenario::new();
    s.mock.fill_market_order(&cid("ENTRY", 1), true, dec!(0.010));
    s.mock.fill_market_order(&cid("CLOSE", 1), false, dec!(0.010));
    s.mock.fill_market_order("web_hand_buy", true, dec!(0.010));
    s.lose_state(StateLoss::Deleted, &[]);
    let mark = s.mock.request_count();
    s.run(&["reconcile"]);
    assert!(
        s.mock.writes_since(mark).is_empty(),
        "touched a position it cannot prove: {:?}",
        s.mock.writes_since(mark)
    );
    assert!(s.audit().contains(&"WARN:foreign_exposure".to_string()), "{:?}", s.audit());
}

/// Issue 10 item 3: the STOP filled, then the state DB was lost. The cooldown the old journal
/// held comes back from the exchange's history of our exits, so the next candle's plan is
/// refused by pre-flight `cooldown` instead of re-entering right after the stop-out.
#[test]
fn a_lost_db_after_a_stop_out_keeps_the_cooldown() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(38900));
    assert_eq!(s.mock.position(), Decimal::ZERO, "the STOP filled");
    s.lose_state(StateLoss::Deleted, &[]);
    let now = now_ms();
    s.add_plan_at("b1b2c3d4e5f6", dec!(38900), dec!(37900));
    let out = s.run(&["enter"]);
    out.code(5);
    assert!(out.stdout.contains("cooldown"), "{}", out.stdout);
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1, "no re-entry after the stop-out");
    let until: Option<i64> =
        s.env.db().query_row("SELECT cooldown_until_ms FROM system_state", [], |r| r.get(0)).unwrap();
    assert!(until.is_some_and(|u| u > now), "{until:?}");
    assert!(s.audit().contains(&"WARN:reconcile_repair".to_string()), "{:?}", s.audit());
}
