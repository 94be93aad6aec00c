//! Reconcile (seed 000 §9, CONTRACT §7.5) and crash safety: restart recovery against the scripted
//! exchange, asserting what was sent and the DB afterwards. AC4: restart always leads to a
//! reconciled, deterministic state.

use crate::support::bot::Bot;
use crate::support::fake_exchange::{CrashingExchange, FakeExchange};
use crate::support::fault::Fault;
use crate::support::rig::{Rig, T0};
use crate::support::steps;
use mcbot::clock::Clock;
use mcbot::core::order::OrderRole;
use mcbot::core::plan::PlanStatus;
use mcbot::exchange::*;
use mcbot::exec::Engine;
use mcbot::outcome::ExitCode;
use mcbot::store::Store;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn reconcile(r: &mut Rig) -> mcbot::outcome::Report {
    r.reconcile().unwrap()
}

fn cancel_all_on_exchange(ex: &FakeExchange) {
    for c in ex.open_conds() {
        ex.cancel_conditional("BTCUSDT", &c.client_id).unwrap();
    }
}

/// Seed 000 §9.3: exchange shows an open position without a STOP → a STOP is placed at once.
#[test]
fn restart_with_naked_position_places_stop_and_tp() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    cancel_all_on_exchange(&r.ex);
    let rep = reconcile(&mut r);
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    let conds = r.ex.open_conds();
    assert!(conds
        .iter()
        .any(|c| c.client_id == "mc_a1b2c3d4e5f6_STOP_2" && c.qty == dec!(0.010) && c.trigger_price == dec!(39000)));
    assert!(conds.iter().any(|c| c.client_id == "mc_a1b2c3d4e5f6_TP_2"));
    assert_eq!(rep.fields["clean"], false);
    assert_eq!(rep.fields["mismatch_streak"], 1);
    // The next reconcile finds agreement: clean, streak back to 0.
    let rep = reconcile(&mut r);
    assert_eq!(rep.fields["clean"], true);
    assert_eq!(r.store.system().unwrap().mismatch_streak, 0);
    r.assert_replay_clean();
}

/// Seed 000 §9.3: "If STOP cannot be placed → CLOSE position and HALT".
#[test]
fn restart_with_naked_position_whose_stop_fails_closes_and_halts() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    cancel_all_on_exchange(&r.ex);
    r.ex.on("place_conditional:STOP", Fault::api_error(400, -2021, "Order would immediately trigger."), 5);
    let rep = reconcile(&mut r);
    assert_eq!(rep.exit, ExitCode::Critical);
    assert_eq!(r.ex.position(), Decimal::ZERO);
    assert!(r.ex.open_conds().is_empty());
    assert!(r.halted());
    r.assert_replay_clean();
}

/// F-003: the ENTRY filled but its response was lost and the process died before recording it.
/// Reconcile looks the ENTRY up by client id, adopts the position into its plan and protects it.
#[test]
fn f003_phantom_position_after_lost_entry_and_crash_is_adopted_and_protected() {
    let mut r = Bot::new().planned_long().fake();
    // What the dead process had done: intent committed, order sent (and filled), nothing else.
    r.store.set_plan_status("a1b2c3d4e5f6", PlanStatus::Entering, T0).unwrap();
    {
        let mut e = r.engine();
        let o = mcbot::exec::record::OrderRef {
            plan_id: Some("a1b2c3d4e5f6".into()),
            role: OrderRole::Entry,
            attempt: 1,
            client_id: "mc_a1b2c3d4e5f6_ENTRY_1".into(),
        };
        e.record_submitting(&o, Some(dec!(40000)), dec!(0.010)).unwrap();
    }
    r.ex.place_market(&MarketOrderRequest {
        symbol: "BTCUSDT".into(),
        side: mcbot::core::types::OrderSide::Buy,
        qty: dec!(0.010),
        reduce_only: false,
        client_id: "mc_a1b2c3d4e5f6_ENTRY_1".into(),
    })
    .unwrap();
    let rep = reconcile(&mut r);
    assert_eq!(rep.exit, ExitCode::Ok, "{:?}", rep.lines);
    let pos = r.store.active_position("BTCUSDT").unwrap().unwrap();
    assert_eq!(pos.trade_plan_id.as_deref(), Some("a1b2c3d4e5f6"));
    assert_eq!(pos.qty, dec!(0.010));
    assert_eq!(r.store.plan("a1b2c3d4e5f6").unwrap().unwrap().status, PlanStatus::Filled);
    assert_eq!(r.events("mc_a1b2c3d4e5f6_ENTRY_1"), ["SUBMITTING", "FILLED"]);
    assert_eq!(r.ex.open_conds().len(), 2, "protected");
    assert_eq!(r.sent_count("place_market:ENTRY"), 1, "no second ENTRY");
    assert!(r.audit_kinds().contains(&"WARN:position_adopted".to_string()));
    r.assert_replay_clean();
}

/// STOP triggered while the bot was down: finalised as stop_hit, TP cancelled, cooldown started.
#[test]
fn stop_hit_while_down_is_finalised_and_tp_cancelled() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    r.ex.move_mark_and_trigger(dec!(38900));
    assert_eq!(r.ex.position(), Decimal::ZERO);
    let rep = reconcile(&mut r);
    assert_eq!(rep.exit, ExitCode::Ok);
    let pos = r.store.all_positions().unwrap().pop().unwrap();
    assert_eq!(pos.exit_reason.as_deref(), Some("stop_hit"));
    assert_eq!(pos.exit_price, Some(dec!(39000)));
    assert_eq!(pos.realized_pnl, Some(dec!(-10.000)));
    assert!(r.ex.open_conds().is_empty(), "TP cancelled");
    assert!(r.ex.sent().contains(&"cancel_conditional:TP".to_string()));
    assert!(r.store.system().unwrap().cooldown_until_ms.is_some());
    assert_eq!(r.store.plan("a1b2c3d4e5f6").unwrap().unwrap().status, PlanStatus::Closed);
    r.assert_replay_clean();
}

/// TP triggered while down: tp_hit, STOP cancelled.
#[test]
fn tp_hit_while_down_is_finalised_and_stop_cancelled() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    r.ex.move_mark_and_trigger(dec!(42100));
    reconcile(&mut r);
    let pos = r.store.all_positions().unwrap().pop().unwrap();
    assert_eq!(pos.exit_reason.as_deref(), Some("tp_hit"));
    assert!(r.ex.sent().contains(&"cancel_conditional:STOP".to_string()));
    assert!(r.ex.open_conds().is_empty());
    r.assert_replay_clean();
}

/// A position closed by someone else (no STOP/TP/CLOSE of ours filled) is `external`.
#[test]
fn position_closed_elsewhere_is_external() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    r.ex.set_position(dec!(0), dec!(0));
    reconcile(&mut r);
    let pos = r.store.all_positions().unwrap().pop().unwrap();
    assert_eq!(pos.exit_reason.as_deref(), Some("external"));
    assert!(r.ex.open_conds().is_empty(), "both protective orders cancelled");
    r.assert_replay_clean();
}

/// Orphan STOP with no position: cancelled.
#[test]
fn orphan_stop_without_position_is_cancelled() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.place_conditional(&ConditionalOrderRequest {
        symbol: "BTCUSDT".into(),
        side: mcbot::core::types::OrderSide::Sell,
        kind: ConditionalKind::StopMarket,
        trigger_price: dec!(39000),
        qty: dec!(0.010),
        working_type: WorkingType::MarkPrice,
        client_id: "mc_0ld0ld0ld0ld_STOP_1".into(),
    })
    .unwrap();
    let rep = reconcile(&mut r);
    assert_eq!(rep.exit, ExitCode::Ok);
    assert!(r.ex.open_conds().is_empty());
    assert_eq!(r.events("mc_0ld0ld0ld0ld_STOP_1"), ["SUBMITTING", "ACKED", "CANCELLED"]);
    r.assert_replay_clean();
}

/// A position on the symbol that is not the bot's: entries refused, nothing touched.
#[test]
fn foreign_position_blocks_entries_and_is_left_untouched() {
    let mut r = Bot::new().planned_long().fake();
    r.ex.set_position(dec!(0.5), dec!(39000));
    let rep = reconcile(&mut r);
    assert_eq!(rep.exit, ExitCode::Ok);
    assert!(r.ex.sent().is_empty(), "nothing sent: {:?}", r.ex.sent());
    assert!(r.store.system().unwrap().entry_block_reason.is_some());
    assert!(r.audit_kinds().contains(&"WARN:foreign_exposure".to_string()));
    let e = r.enter().unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Preflight);
    assert!(r.ex.sent().is_empty());
    assert_eq!(r.ex.position(), dec!(0.5));
    r.assert_replay_clean();
}

/// Seed 001 §6–7: consecutive reconciles that keep finding mismatches halt entries.
#[test]
fn mismatch_streak_trips_the_halt() {
    let mut r = Bot::new().planned_long().fake();
    r.enter().unwrap();
    for i in 1..=3 {
        cancel_all_on_exchange(&r.ex);
        let rep = reconcile(&mut r);
        assert_eq!(rep.fields["mismatch_streak"], i);
        assert_eq!(r.halted(), i >= 3, "after {i}");
    }
    // Exits and protection keep working while halted: the position is still protected.
    assert_eq!(r.ex.open_conds().len(), 2);
    r.assert_replay_clean();
}

/// `halt --resume` only after a clean reconcile since the halt.
#[test]
fn resume_needs_a_clean_reconcile_after_the_halt() {
    let mut r = Bot::new().planned_long().fake();
    r.store.set_halted("operator", T0 + 10).unwrap();
    r.clock.set_ms(T0 + 20);
    let rep = reconcile(&mut r);
    assert_eq!(rep.fields["clean"], true);
    let sys = r.store.system().unwrap();
    assert!(sys.last_reconcile_clean && sys.last_reconcile_ms.unwrap() >= sys.mode_since_ms);
    r.assert_replay_clean();
}

fn invariants_after_restart(r: &mut Rig, label: &str) {
    // "Restart": a new process opens the same DB and reconciles against the plain exchange.
    let path = r.cfg.state_db.clone();
    let dead = std::mem::replace(&mut r.store, Store::open(&r.env.path().join("scratch.db"), 0).unwrap());
    dead.discard_after_crash();
    r.store = Store::open(&path, r.clock.now_ms()).unwrap();
    let rep = r.reconcile().unwrap();
    let pos = r.ex.position();
    if !pos.is_zero() {
        let stop = r.ex.open_conds().into_iter().find(|c| c.kind == ConditionalKind::StopMarket && c.qty >= pos.abs());
        assert!(stop.is_some(), "{label}: naked position {pos} after reconcile ({:?})", rep.lines);
        assert!(r.store.active_position("BTCUSDT").unwrap().is_some(), "{label}: DB knows the position");
        // Issue 10 item 5: at most one STOP and one TP per position once reconcile returned.
        for kind in [ConditionalKind::StopMarket, ConditionalKind::TakeProfitMarket] {
            let n = r.ex.open_conds().into_iter().filter(|c| c.kind == kind).count();
            assert!(n <= 1, "{label}: {n} open {kind:?} orders after reconcile: {:?}", r.ex.open_conds());
        }
    }
    assert!(r.sent_count("place_market:ENTRY") <= 1, "{label}: two ENTRY orders: {:?}", r.ex.sent());
    assert!(r.store.verify_chain().unwrap().is_ok(), "{label}: journal chain");
    r.store.ledger_for_plan("a1b2c3d4e5f6").unwrap_or_else(|e| panic!("{label}: journal does not fold: {e}"));
    // Replay is clean, or names only what a forced close explains (issue 5).
    let rep = mcbot::store::replay::replay_store(&r.store).unwrap();
    assert!(rep.is_clean(), "{label}: replay violations {:?}", rep.violations());
}

/// Issue 5 crash safety: kill `enter` between every pair of its exchange calls (and right after
/// each call, losing its answer), restart, reconcile: never a naked position, never two ENTRY
/// orders, and the journal still folds through the state machine.
#[test]
fn crash_between_every_pair_of_exchange_calls_of_enter_recovers() {
    crash_sweep(&|_| {});
}

/// Issue 10 item 5: the same kill at every call of an `enter` whose ENTRY fills partly and then
/// completes inside the window, so protection is resized (place the full-size legs, then cancel
/// the small ones). After the restart's reconcile: never naked, never a leftover STOP/TP beside
/// the full-size ones, one ENTRY.
#[test]
fn crash_at_every_call_of_a_partial_fill_resize_recovers() {
    crash_sweep(&|r| {
        r.ex.on("place_market:ENTRY", Fault::partial(dec!(0.004)), 1);
        r.ex.on("query_order:ENTRY", Fault::CompletePartial, 1);
    });
}

/// Kills `enter` (after a reconcile) at every exchange call, before and after executing it, with
/// the faults `script` sets on a fresh rig.
fn crash_sweep(script: &dyn Fn(&mut Rig)) {
    // Count the calls of a clean run.
    let mut clean = Bot::new().planned_long().fake();
    script(&mut clean);
    clean.reconcile().unwrap();
    clean.enter().unwrap();
    let total = clean.ex.calls().len();
    assert!(total >= 8, "{:?}", clean.ex.calls());
    for n in 1..=total + 1 {
        for after in [false, true] {
            let mut r = Bot::new().planned_long().fake();
            script(&mut r);
            let (outcome, crashed) = {
                let crashing = CrashingExchange::new(&r.ex, n, after);
                r.store.refuse_commits_while(crashing.dead());
                let mut e = Engine::new(&r.cfg, &mut r.store, &crashing, &r.clock);
                let outcome = steps::reconcile(&mut e).and_then(|_| steps::enter(&mut e));
                (outcome.map(drop), crashing.crashed())
            };
            let label = format!("crash at call {n} ({})", if after { "after executing" } else { "before sending" });
            match crashed {
                // What the dead process waited for after its death never happened.
                Some(crash) => r.clock.set_ms(crash.at_ms),
                None => {
                    assert!(n > total, "{label} should have crashed");
                    outcome.unwrap_or_else(|e| panic!("{label}: a run without a crash failed: {e}"));
                }
            }
            invariants_after_restart(&mut r, &label);
        }
    }
}
