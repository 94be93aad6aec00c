//! When the state DB cannot be written while exposure may exist (issue 11 item 2): protection
//! comes before bookkeeping. From the exchange and the journal's committed rows (reads still
//! work), the position is protected — STOP and TP under the intents already journaled — or closed;
//! then the space reserve is freed so the HALT and a CRITICAL audit can still land; exit 10 says
//! the state cannot be written. Nothing here needs a journal write to succeed.

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::order::OrderRole;
use crate::core::plan::{PlanStatus, TradePlan};
use crate::core::types::PositionSide;
use crate::error::{Error, Result};
use crate::exchange::{ConditionalOrderRequest, ErrorClass, ExPosition, MarketOrderRequest, WorkingType};
use crate::exec::ambiguity;
use crate::exec::outcome::Unwritable;
use crate::exec::protect::{kind_of, place_once, Leg, Targets};
use crate::exec::record::OrderRef;
use crate::exec::{snapshot, Engine};
use crate::store::journal::Severity;
use crate::store::StoreError;
use rust_decimal::Decimal;
use serde_json::json;

/// Runs `op`; when it fails because the state DB cannot be written, runs the failsafe instead.
/// `as_outcome` wraps what the failsafe did into the command's own outcome type.
pub(crate) fn guarded<T>(
    e: &mut Engine<'_>,
    as_outcome: impl FnOnce(Unwritable) -> T,
    op: impl FnOnce(&mut Engine<'_>) -> Result<T>,
) -> Result<T> {
    match op(e) {
        Err(Error::Store(cause)) if cause.is_write_failure() => after_write_failure(e, &cause).map(as_outcome),
        other => other,
    }
}

/// What the failsafe found and did, in the order it happened.
#[derive(Default)]
struct Done {
    lines: Vec<String>,
    exposed: bool,
    protected: bool,
    closed: bool,
}

/// The failsafe proper: protect or close from exchange truth, then HALT if the DB lets it.
pub(crate) fn after_write_failure(e: &mut Engine<'_>, cause: &StoreError) -> Result<Unwritable> {
    e.store.abandon_batch();
    let freed = e.store.release_reserve();
    tracing::error!(event = "state.unwritable", error = %cause, reserve_freed = freed, "state DB cannot be written: protecting from exchange truth");
    // Reads of the DB may fail too (an I/O error): then the exchange alone decides.
    let plan = relevant_plan(e).ok().flatten();
    let mut done = Done::default();
    if let Some(p) = &plan {
        cancel_live_entries(e, p, &mut done);
    }
    match e.read_persistent("snapshot", |_| snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id)) {
        Ok(snap) if snap.position.is_flat() => {
            if !done.exposed {
                done.lines.push("the exchange holds no position".into());
            }
        }
        Ok(snap) => {
            done.exposed = true;
            protect_or_close(e, plan.as_ref(), &snap, &mut done);
        }
        Err(x) => {
            done.exposed = true;
            done.lines
                .push(format!("the exchange could not be read ({x}): whether a position is protected is unknown"));
        }
    }
    finish(e, cause, freed, done)
}

/// The plan whose exposure this may be: the DB position's, else the newest plan being entered
/// or held.
fn relevant_plan(e: &Engine<'_>) -> Result<Option<TradePlan>> {
    if let Some(id) = e.store.active_position(&e.cfg.symbol)?.and_then(|p| p.trade_plan_id.or(p.owner_plan_id)) {
        if let Some(p) = e.store.plan(&id)? {
            return Ok(Some(p));
        }
    }
    let mut held = e.store.plans_with_statuses(&[PlanStatus::Entering, PlanStatus::Partial, PlanStatus::Filled])?;
    held.sort_by_key(|p| p.candle_close_ms);
    Ok(held.pop())
}

/// Nothing more may fill: every ENTRY of the plan the journal believes live is cancelled.
fn cancel_live_entries(e: &mut Engine<'_>, plan: &TradePlan, done: &mut Done) {
    let Ok(ledger) = e.ledger(&plan.id) else { return };
    let live: Vec<String> = ledger
        .of(&plan.id, OrderRole::Entry)
        .into_iter()
        .filter(|v| v.state.may_be_live())
        .map(|v| v.client_id.clone())
        .collect();
    for cid in live {
        match e.ex.query_order(&e.cfg.symbol, &cid) {
            Ok(Some(o)) if o.status.is_open() => {
                done.exposed = true;
                let what = match e.ex.cancel_order(&e.cfg.symbol, &cid) {
                    Ok(_) => "cancelled".to_string(),
                    Err(x) => format!("cancel failed ({x})"),
                };
                done.lines.push(format!("ENTRY {cid} was still working: {what}"));
            }
            Ok(Some(o)) if o.executed_qty > Decimal::ZERO => done.exposed = true,
            _ => {}
        }
    }
}

fn protect_or_close(e: &mut Engine<'_>, plan: Option<&TradePlan>, snap: &snapshot::Snapshot, done: &mut Done) {
    let p = &snap.position;
    let side = if p.qty > Decimal::ZERO { PositionSide::Long } else { PositionSide::Short };
    let qty = p.qty.abs();
    let covers = |role: OrderRole| {
        snap.our_conditionals.iter().any(|c| {
            c.status.is_open()
                && c.side == side.exit_side()
                && c.qty >= qty
                && ClientOrderId::parse(&c.client_id).is_ok_and(|id| id.role == role)
        })
    };
    let missing: Vec<OrderRole> = [OrderRole::Stop, OrderRole::Tp].into_iter().filter(|r| !covers(*r)).collect();
    let undersized: Vec<Undersized> = snap
        .our_conditionals
        .iter()
        .filter(|c| c.status.is_open() && c.side == side.exit_side() && c.qty < qty)
        .filter_map(|c| {
            ClientOrderId::parse(&c.client_id)
                .ok()
                .map(|id| Undersized { role: id.role, client_id: c.client_id.clone() })
        })
        .collect();
    if missing.is_empty() {
        done.protected = true;
        done.lines.push(format!("the {side} {qty} is protected: STOP and TP are on the exchange"));
        return;
    }
    let plan_id = plan.map(|p| p.id.clone()).or_else(|| {
        snap.our_conditionals.iter().find_map(|c| ClientOrderId::parse(&c.client_id).ok().map(|id| id.plan_id))
    });
    let placed = match (&plan_id, plan.filter(|p| p.side == side)) {
        (Some(id), known) => {
            let legs = Legs { missing: &missing, undersized: &undersized };
            place_missing(e, id, known.map(|p| p.stop_price), p, side, &legs, done)
        }
        (None, _) => false,
    };
    if placed {
        done.protected = true;
        return;
    }
    close_without_journal(e, plan_id.as_deref().unwrap_or("failsafe"), side, done);
}

/// An own protective order smaller than the position.
struct Undersized {
    role: OrderRole,
    client_id: String,
}

/// Which legs to place, and which undersized ones they replace.
struct Legs<'a> {
    missing: &'a [OrderRole],
    undersized: &'a [Undersized],
}

/// Places the missing STOP/TP; true when the STOP is on the exchange afterwards.
fn place_missing(
    e: &mut Engine<'_>,
    plan_id: &str,
    stop: Option<Decimal>,
    p: &ExPosition,
    side: PositionSide,
    legs: &Legs<'_>,
    done: &mut Done,
) -> bool {
    let (missing, undersized) = (legs.missing, legs.undersized);
    let qty = p.qty.abs();
    let targets = e.read("filters", |_| e.ex.filters(&e.cfg.symbol)).map_err(Error::from).and_then(|f| {
        Targets::compute(
            &f,
            side,
            p.entry_price,
            stop,
            e.cfg.execution.adopted_stop_pct,
            e.cfg.strategy.tp_r_multiple,
            qty,
        )
    });
    let t = match targets {
        Ok(t) => t,
        Err(x) => {
            done.lines.push(format!("STOP price unknown ({x})"));
            return false;
        }
    };
    let Ok(ledger) = e.ledger(plan_id) else { return false };
    let working_type =
        if e.cfg.execution.working_type_mark { WorkingType::MarkPrice } else { WorkingType::ContractPrice };
    let budget = ambiguity::Budget { max_elapsed_ms: e.cfg.execution.stop_ack_timeout_ms.as_i64(), pause_ms: 300 };
    let mut stop_ok = !missing.contains(&OrderRole::Stop);
    for role in missing {
        if *role == OrderRole::Tp && !stop_ok {
            // No STOP: the position is closed, a TP alone would only have to be cancelled again.
            break;
        }
        // An id the journal already holds (the intent committed with the ENTRY, or the order a
        // person cancelled) is reused: Binance refuses a client id only while an order carrying
        // it is open, and a later reconcile then knows the order as its own. Otherwise the next
        // attempt, which a reconcile on a still-full disk will not find in the journal.
        let (mut attempt, mut journaled) = match ledger.of(plan_id, *role).last() {
            Some(v) if v.state.may_be_live() => (v.attempt, true),
            _ => (ledger.next_attempt(plan_id, *role), false),
        };
        for _ in 0..2 {
            let Ok(cid) = ClientOrderId::new(&e.cfg.bot_id, plan_id, *role, attempt) else { break };
            let o = OrderRef { plan_id: Some(plan_id.to_string()), role: *role, attempt, client_id: cid.to_string() };
            let req = ConditionalOrderRequest {
                symbol: e.cfg.symbol.clone(),
                side: side.exit_side(),
                kind: kind_of(*role),
                trigger_price: if *role == OrderRole::Stop { t.stop } else { t.tp },
                qty,
                working_type,
                client_id: o.client_id.clone(),
            };
            let (placed, retry, why) = match place_once(e.ex, e.clock, budget, &req) {
                Leg::Acked(c, _) => (Some(c), false, String::new()),
                // Found by client id: ours only if it covers the position (an undersized order
                // carrying the same id was already open: -4116, resolved to the old order).
                Leg::Ambiguous(_, Ok(Some(c)), _) if c.status.is_open() && c.qty >= qty => {
                    (Some(c), false, String::new())
                }
                Leg::Ambiguous(x, Ok(Some(_)), _) => (None, true, x.to_string()),
                Leg::Ambiguous(x, Ok(None), _) => (None, true, x.to_string()),
                Leg::Ambiguous(x, _, _) => (None, false, x.to_string()),
                Leg::Failed(x) => {
                    (None, !x.is_would_trigger() && (journaled || x.class == ErrorClass::Retryable), x.to_string())
                }
            };
            if let Some(c) = placed {
                done.lines.push(format!("{role} {} placed at {} for {qty}", req.client_id, req.trigger_price));
                stop_ok |= *role == OrderRole::Stop;
                // Written if the freed reserve lets it; the exchange already holds the order.
                if !journaled {
                    let _ = e.record_submitting(&o, Some(req.trigger_price), qty);
                }
                let _ = e.record_conditional(
                    &o,
                    &c,
                    Some("placed by the failsafe: the state DB could not be written".into()),
                );
                // Only now, with the replacement acknowledged, the undersized ones go.
                for old in undersized.iter().filter(|u| u.role == *role && u.client_id != o.client_id) {
                    if let Err(x) = e.ex.cancel_conditional(&e.cfg.symbol, &old.client_id) {
                        done.lines.push(format!("undersized {} left working: cancel failed ({x})", old.client_id));
                    }
                }
                break;
            }
            done.lines.push(format!("{role} {} not placed: {why}", req.client_id));
            if !retry {
                break;
            }
            attempt = if journaled { ledger.next_attempt(plan_id, *role) } else { attempt + 1 };
            journaled = false;
        }
    }
    stop_ok
}

/// CLOSE at market until flat, bounded by `close_retry_max_elapsed_ms`, with no journal write.
fn close_without_journal(e: &mut Engine<'_>, plan_id: &str, side: PositionSide, done: &mut Done) {
    let deadline = e.cfg.execution.close_retry_max_elapsed_ms.after(e.now());
    let first = e.ledger(plan_id).map_or(1, |l| l.next_attempt(plan_id, OrderRole::Close));
    let budget = ambiguity::Budget { max_elapsed_ms: 3_000, pause_ms: 300 };
    for attempt in first..first + 10 {
        let pos = match e.read_position() {
            Ok(p) => p,
            Err(_) if e.now() < deadline => {
                e.clock.sleep_ms(500);
                continue;
            }
            Err(x) => {
                done.lines.push(format!("CLOSE not confirmed: the position cannot be read ({x})"));
                return;
            }
        };
        if pos.is_flat() {
            done.closed = true;
            done.lines.push("closed: the exchange is flat".into());
            cancel_protection_left(e, plan_id, done);
            return;
        }
        if e.now() >= deadline {
            break;
        }
        let Ok(cid) = ClientOrderId::new(&e.cfg.bot_id, plan_id, OrderRole::Close, attempt) else { break };
        let req = MarketOrderRequest {
            symbol: e.cfg.symbol.clone(),
            side: side.exit_side(),
            qty: pos.qty.abs(),
            reduce_only: true,
            client_id: cid.to_string(),
        };
        match e.ex.place_market(&req) {
            Ok(_) => {}
            Err(x) if ambiguity::is_unknown_outcome(&x) => {
                let ex = e.ex;
                let _ = ambiguity::resolve(e.clock, budget, || ex.query_order(&req.symbol, &req.client_id));
            }
            Err(x) => done.lines.push(format!("CLOSE {} refused: {x}", req.client_id)),
        }
        e.clock.sleep_ms(300);
    }
    done.lines.push("CLOSE not confirmed within close_retry_max_elapsed_ms".into());
}

/// After a close: a STOP/TP of the plan left on the exchange must not open a new position.
fn cancel_protection_left(e: &mut Engine<'_>, plan_id: &str, done: &mut Done) {
    let Ok(snap) = snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id) else { return };
    for c in snap.conditionals_of_plan(plan_id).filter(|c| c.status.is_open()) {
        if let Err(x) = e.ex.cancel_conditional(&e.cfg.symbol, &c.client_id) {
            done.lines.push(format!("{} left working: cancel failed ({x})", c.client_id));
        }
    }
}

/// Writes what still can be written (HALT, a CRITICAL audit), then the report.
fn finish(e: &mut Engine<'_>, cause: &StoreError, freed: u64, done: Done) -> Result<Unwritable> {
    let state = if done.closed {
        "position closed"
    } else if done.protected {
        "position protected"
    } else if done.exposed {
        "position NOT confirmed protected or closed"
    } else {
        "nothing exposed"
    };
    let reason = format!("state DB cannot be written ({cause}); {state}");
    let halted = e.halt(&reason, None).is_ok();
    let _ = e.audit(
        Severity::Critical,
        audit::STATE_UNWRITABLE,
        None,
        reason.clone(),
        json!({"cause": cause.to_string(), "done": done.lines, "halted": halted, "reserve_freed": freed}),
    );
    if !done.exposed {
        // Nothing was at risk: a configuration-class failure, so the unit does not restart into it.
        return Err(Error::Unwritable(format!(
            "{reason}; {}free disk space (or fix the file), then run `mcbot reconcile`",
            if halted { "HALTED; " } else { "" }
        )));
    }
    let halt_word = if halted { "HALTED" } else { "the HALT could not be recorded either" };
    let msg = format!(
        "{reason}: {}; {halt_word}. Free disk space (or fix the state DB's file), then run `mcbot reconcile`",
        done.lines.join("; ")
    );
    Ok(Unwritable {
        msg,
        cause: cause.to_string(),
        protected: done.protected,
        closed: done.closed,
        halted,
        actions: done.lines,
    })
}
