//! `doctor --round-trip`: the smallest protected position the filters allow, opened and closed
//! through the same code as a real trade (`exec::entry::enter` for ENTRY → STOP + TP,
//! `exec::exit::exit_position` for the CLOSE), so its client ids, journal and failure paths are
//! the real ones and `replay --all` stays valid. Only the plan is made here instead of by
//! `evaluate`: a LONG at the mark, stop 1 % under it, valid for one minute.
//!
//! Exit reason journaled: `manual` (the operator asked for the close; `trades` can tell the
//! round trip apart by its `doctor_round_trip` audit event and plan decision).

use crate::cmd::render;
use crate::cmd::Ctx;
use crate::config::{Config, ExchangeKind};
use crate::core::doctor::{
    classify_venue, protection_seen, round_trip_allowed, round_trip_stop, smallest_order_qty, SeenConditional,
};
use crate::core::plan::{plan_id, PlanStatus, TradePlan};
use crate::core::position::ExitReason;
use crate::core::types::PositionSide;
use crate::error::{Error, Result};
use crate::exchange::timed::{Timed, Timing};
use crate::exchange::Exchange;
use crate::exec::{entry, exit, reconcile, Engine};
use crate::outcome::{ExitCode, Report};
use crate::store::journal::Severity;
use rust_decimal::Decimal;
use serde_json::json;

/// The stop distance of the round trip's plan (percent under the mark).
const STOP_PCT: Decimal = Decimal::from_parts(1, 0, 0, false, 0);
/// How long the plan may be entered (ms): it is entered right away or not at all.
const PLAN_VALID_MS: i64 = 60_000;
/// The exit reason the round trip's CLOSE records.
pub(super) const EXIT_REASON: ExitReason = ExitReason::Manual;

/// Exit 2 unless `exchange.base_url` is a demo/test endpoint (paper always is), or the operator
/// said `--i-know-this-is-live`. Nothing has been read or sent yet.
pub(super) fn refuse_unless_test_venue(cfg: &Config, live_ok: bool) -> Result<()> {
    if cfg.exchange.kind == ExchangeKind::Paper || live_ok || round_trip_allowed(classify_venue(&cfg.exchange.base_url))
    {
        return Ok(());
    }
    Err(super::usage(format!(
        "doctor --round-trip opens a real position: exchange.base_url {} is not a demo/test endpoint \
         (the demo is {}); run it on the demo, or pass --i-know-this-is-live to trade real money",
        cfg.exchange.base_url,
        crate::config::validate::DEMO_BASE_URL
    )))
}

/// The bot must be idle: not HALTED, no cooldown, no position, no plan in flight.
fn refuse_unless_idle(e: &mut Engine<'_>) -> Result<()> {
    let sys = e.store.system()?;
    if sys.is_halted() {
        return Err(Error::Halted(sys.halt_reason.unwrap_or_default()));
    }
    if let Some(until) = sys.cooldown_until_ms.filter(|t| e.now() < *t) {
        let why = format!(
            "the cooldown after the last closed trade runs until {} (strategy.cooldown_candles); \
             `enter` would refuse the round trip's plan until then",
            crate::clock::rfc3339(until)
        );
        return Err(refused(e, why));
    }
    if let Some(p) = e.store.active_position(&e.cfg.symbol)? {
        return Err(refused(e, format!("a position is open ({} {}); the round trip needs a flat bot", p.side, p.qty)));
    }
    let busy = e.store.plans_with_statuses(&[PlanStatus::Planned, PlanStatus::Entering, PlanStatus::Partial])?;
    if let Some(p) = busy.first() {
        return Err(refused(e, format!("plan {} is {}; the round trip needs no open plan", p.id, p.status.as_str())));
    }
    Ok(())
}

/// Exit 5 with the audit event that says why (CONTRACT §2); nothing was sent.
fn refused(e: &mut Engine<'_>, message: String) -> Error {
    const CHECK: &str = "round_trip_idle";
    let audited = e.audit(
        Severity::Warn,
        crate::core::audit::PREFLIGHT_FAILED,
        None,
        format!("doctor round trip refused: {message}"),
        json!({"check": CHECK, "message": message}),
    );
    match audited {
        Ok(()) => Error::Preflight { check: CHECK.into(), message },
        Err(x) => x.into(),
    }
}

/// Runs the round trip over `ex` (timed). Returns a report whose exit is the trade's own.
pub(super) fn run(ctx: &mut Ctx, ex: &dyn Exchange) -> Result<Report> {
    let timed = Timed::new(ex);
    let mut e = Engine::new(&ctx.config, &mut ctx.store, &timed, ctx.clock.as_ref());
    refuse_unless_idle(&mut e)?;
    let rec = render::reconcile(&reconcile::reconcile(&mut e)?);
    if rec.exit != ExitCode::Ok {
        return Ok(finish(rec, "reconcile", &timed, None));
    }
    if !e.ex.position(e.symbol())?.is_flat() {
        let why = format!("the exchange holds a {} position; the round trip needs it flat", e.symbol());
        return Err(refused(&mut e, why));
    }
    let plan = make_plan(&mut e)?;
    let entered = match entry::enter(&mut e) {
        Ok(o) => o,
        Err(x) => {
            // A plan enter refused stays refused: a later `tick` must never enter the doctor's plan.
            retire_if_planned(&mut e, &plan)?;
            return Err(x);
        }
    };
    let entered_ok = entered.entered();
    let entered = render::entry(&entered);
    if !entered_ok {
        // enter already ended in its safe close / halt; report what it said.
        retire_if_planned(&mut e, &plan)?;
        return Ok(finish(entered, "enter", &timed, Some(&plan)));
    }
    // A read-back that fails leaves the position protected; it is closed all the same.
    let seen = verify_protection(&e, &plan);
    let closed = render::close(&exit::exit_position(&mut e, &EXIT_REASON)?);
    let flat = e.ex.position(e.symbol()).map(|p| p.is_flat());
    let mut r = finish(closed, "close", &timed, Some(&plan));
    r.set("entry", entered.to_json());
    r.set("flat_after", flat.as_ref().ok().copied());
    if r.exit != ExitCode::Ok {
        return Ok(r); // the close's own failure path (close_failed, HALT) has spoken
    }
    let failure = match (&seen, &flat) {
        (Ok((Some(_), Some(_), _)), Ok(true)) => None,
        (Ok((Some(_), Some(_), _)), Ok(false)) => {
            Some((ExitCode::Failed, "the position is not flat after the close; run `mcbot reconcile`".to_string()))
        }
        (Ok((Some(_), Some(_), _)), Err(x)) => {
            Some((ExitCode::Failed, format!("the position could not be read after the close ({x})")))
        }
        (Ok((_, _, qty)), _) if qty.is_zero() => Some((
            ExitCode::Failed,
            "the position was already closed by its STOP or TP before the read-back (the mark moved): \
             protection worked but was not seen open; run the round trip again"
                .to_string(),
        )),
        (Ok(_), _) => {
            let why = "doctor round trip: the STOP or TP was acknowledged but not found open on the exchange";
            e.halt(why, Some(&plan.id))?;
            Some((ExitCode::Critical, format!("{why}; HALTED")))
        }
        (Err(x), _) => Some((ExitCode::Failed, format!("the STOP/TP read-back failed ({x}); the position was closed"))),
    };
    if let Ok((stop, tp, qty)) = &seen {
        r.set("protection_seen", json!({"stop": stop, "tp": tp, "position_qty": qty.to_string()}));
    }
    if let Some((code, why)) = failure {
        r.exit = code;
        r.outcome = "fail".into();
        r.set("error", why.clone());
        r.push_line(format!("round trip FAILED: {why}"));
    }
    Ok(r)
}

/// Marks the round trip's plan REFUSED when enter left it PLANNED (refused by a pre-flight check).
fn retire_if_planned(e: &mut Engine<'_>, plan: &TradePlan) -> Result<()> {
    if e.store.plan(&plan.id)?.is_some_and(|p| p.status == PlanStatus::Planned) {
        e.store.set_plan_status(&plan.id, PlanStatus::Refused, e.now())?;
    }
    Ok(())
}

/// The smallest LONG the filters allow at the mark, stop 1 % under it, journaled like any plan.
fn make_plan(e: &mut Engine<'_>) -> Result<TradePlan> {
    let sym = e.symbol().to_string();
    let filters = e.ex.filters(&sym)?;
    let mark = e.ex.mark_info(&sym)?.mark_price;
    let qty = smallest_order_qty(&filters, mark)
        .ok_or_else(|| Error::Failed(format!("no quantity meets {sym}'s filters at mark {mark}")))?;
    let stop = round_trip_stop(&filters, mark, STOP_PCT)
        .ok_or_else(|| Error::Failed(format!("no stop 1 % under mark {mark} fits {sym}'s price filter")))?;
    let now = e.now();
    let plan = TradePlan {
        id: plan_id(&e.cfg.bot_id, &sym, &e.cfg.strategy.interval, now),
        symbol: sym,
        interval: e.cfg.strategy.interval.clone(),
        candle_close_ms: now,
        side: PositionSide::Long,
        entry_ref: mark,
        stop_price: stop,
        qty,
        risk_usdt: qty * (mark - stop),
        valid_until_ms: now + PLAN_VALID_MS,
        status: PlanStatus::Planned,
    };
    let decision = json!({"source": "doctor --round-trip", "mark": mark.to_string()}).to_string();
    e.store.insert_plan(&plan, Some(&decision), now)?;
    e.audit(
        Severity::Info,
        crate::core::audit::DOCTOR_ROUND_TRIP,
        Some(&plan.id),
        format!("doctor round trip: LONG {qty} {} at mark {mark}, stop {stop}", plan.symbol),
        json!({"qty": qty.to_string(), "stop": stop.to_string(), "mark": mark.to_string(), "exit_reason": EXIT_REASON.to_string()}),
    )?;
    Ok(plan)
}

/// Reads the open algo orders back: the plan's STOP and TP found open for the whole position,
/// and that position's size.
fn verify_protection(
    e: &Engine<'_>,
    plan: &TradePlan,
) -> crate::exchange::ExResult<(Option<String>, Option<String>, Decimal)> {
    let sym = e.symbol();
    let qty = e.ex.position(sym)?.qty.abs();
    let open: Vec<SeenConditional> =
        e.ex.open_conditional_orders(sym)?
            .into_iter()
            .map(|c| SeenConditional { open: c.status.is_open(), qty: c.qty, client_id: c.client_id })
            .collect();
    let (stop, tp) = protection_seen(&e.cfg.bot_id, &plan.id, qty, &open);
    Ok((stop, tp, qty))
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// ENTRY ack → STOP ack, from the timed calls.
fn naked_window_ms(timings: &[Timing]) -> Option<u64> {
    let role_end = |call: &str, role: &str| {
        timings
            .iter()
            .find(|t| t.call == call && t.ok && t.client_id.as_deref().is_some_and(|c| c.contains(role)))
            .map(|t| t.ended)
    };
    let entry = role_end("place_market", "_ENTRY_")?;
    let stop = role_end("place_conditional", "_STOP_")?;
    Some(ms(stop.saturating_sub(entry)))
}

/// The round trip's report: the last step's outcome, the calls and their latencies.
fn finish(last: Report, step: &str, timed: &Timed<'_>, plan: Option<&TradePlan>) -> Report {
    let timings = timed.timings();
    let mut r = Report::new("doctor", if last.exit == ExitCode::Ok { "ok" } else { "fail" }, last.exit);
    r.set("step", step);
    r.set("plan_id", plan.map(|p| p.id.clone()));
    r.set("exit_reason", EXIT_REASON.to_string());
    r.set("naked_window_ms", naked_window_ms(&timings));
    r.set("last_step", last.to_json());
    r.set(
        "calls",
        timings
            .iter()
            .map(|t| json!({"call": t.call, "client_id": t.client_id, "ok": t.ok, "latency_ms": ms(t.latency())}))
            .collect::<Vec<_>>(),
    );
    match plan {
        Some(p) => {
            r.push_line(format!("round trip: plan {} LONG {} (stop {}), ended at {step}", p.id, p.qty, p.stop_price))
        }
        None => r.push_line(format!("round trip: ended at {step}")),
    }
    r.lines.extend(last.lines.iter().map(|l| format!("  {l}")));
    if let Some(w) = naked_window_ms(&timings) {
        r.push_line(format!("naked window (ENTRY ack → STOP ack): {w} ms"));
    }
    for t in &timings {
        r.push_line(format!(
            "  {:>6} ms  {}{}{}",
            ms(t.latency()),
            t.call,
            t.client_id.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
            if t.ok { "" } else { " (failed)" }
        ));
    }
    r
}
