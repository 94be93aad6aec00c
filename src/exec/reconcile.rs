//! `reconcile`: rebuild local state from the exchange and repair (seed 000 §9). Resolves in-flight
//! ENTRY intents by client-id look-up, asks `core::reconcile::decide` for the repairs, carries them
//! out with the same protection and close code as execution, and keeps the mismatch streak that
//! halts entries when the belief keeps being wrong (seeds 001 §6–7, 004).

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::order::{OrderRole, OrderState};
use crate::core::plan::PlanStatus;
use crate::core::position::ExitReason;
use crate::core::reconcile::{
    cooldown_from_history, decide, plan_from_history, LocalPosition, OpenProtective, PastOrder, ReconcileInput, Repair,
};
use crate::error::Result;
use crate::exchange::{ConditionalStatus, ExOrder, Exchange};
use crate::exec::outcome::{Note, Protection, ReconcileOutcome, ReconcileVerdict, Reconciled, RepairProtection};
use crate::exec::position::{adopt_covered, finalise_flat, journal_plan_id};
use crate::exec::record::{event_target, OrderRef};
use crate::exec::{protect, snapshot, Engine};
use crate::store::journal::Severity;
use rust_decimal::Decimal;
use serde_json::json;

/// Resolves ENTRY orders the journal left in flight (a crash or a lost answer): looks each up by
/// client id, records what the exchange says, cancels a stale remainder, and returns the plan whose
/// ENTRY filled (the owner of a position the DB may not know).
fn resolve_inflight_entries(e: &mut Engine<'_>, active_plans: &[String]) -> Result<Option<String>> {
    resolve_entries_of(e, active_plans.to_vec())
}

/// Plans that can still have live orders (ENTERING, PARTIAL, FILLED).
fn active_plans(e: &Engine<'_>) -> Result<Vec<String>> {
    Ok(e.store
        .plans_with_statuses(&[PlanStatus::Entering, PlanStatus::Partial, PlanStatus::Filled])?
        .into_iter()
        .map(|p| p.id)
        .collect())
}

/// Looks up the ENTRY orders of `plans` that the journal leaves in flight (see above).
fn resolve_entries_of(e: &mut Engine<'_>, plans: Vec<String>) -> Result<Option<String>> {
    let symbol = e.cfg.symbol.clone();
    let window = e.cfg.execution.entry_fill_window_ms.as_i64();
    let mut owner = None;
    for plan_id in plans {
        let ledger = e.ledger(&plan_id)?;
        let entries: Vec<_> = ledger.of(&plan_id, OrderRole::Entry).into_iter().cloned().collect();
        for v in entries {
            let o = OrderRef {
                plan_id: Some(plan_id.clone()),
                role: OrderRole::Entry,
                attempt: v.attempt,
                client_id: v.client_id.clone(),
            };
            let state = v.state;
            let mut executed = v.filled_qty.unwrap_or_default();
            if matches!(
                state,
                OrderState::Intended | OrderState::Unknown | OrderState::Acked | OrderState::PartiallyFilled
            ) {
                match e.read_persistent("query_order", |_| e.ex.query_order(&symbol, &o.client_id)) {
                    Ok(Some(order)) => {
                        let ev = crate::exec::record::order_status_event(order.status);
                        if crate::core::order::transition(Some(state), ev).is_ok_and(|s| s != state)
                            || order.executed_qty != executed
                        {
                            e.record_order(&o, &order, Some("reconcile: found by client id".into()))?;
                        }
                        executed = order.executed_qty;
                        if order.status.is_open() && e.now() - v.first_ts_ms > window {
                            // Past its fill window: cancel the remainder; what filled is the position.
                            if e.ex.cancel_order(&symbol, &o.client_id).is_ok() {
                                if let Ok(Some(q)) = e.ex.query_order(&symbol, &o.client_id) {
                                    e.record_order(
                                        &o,
                                        &q,
                                        Some("reconcile: remainder cancelled after the fill window".into()),
                                    )?;
                                    executed = q.executed_qty;
                                }
                            }
                            e.audit(
                                Severity::Warn,
                                audit::RECONCILE_REPAIR,
                                Some(&plan_id),
                                "stale ENTRY remainder cancelled",
                                json!({"mismatch": "entry_open_past_window", "repair": "cancel_remainder"}),
                            )?;
                        }
                    }
                    Ok(None) if matches!(state, OrderState::Intended | OrderState::Unknown) => {
                        e.record_not_found(&o, "reconcile: the exchange never accepted it")?;
                    }
                    Ok(None) => {}
                    Err(err) => return Err(err.into()),
                }
            }
            if executed > Decimal::ZERO {
                owner = Some(plan_id.clone());
            }
        }
        // A plan still ENTERING whose every ENTRY is proven absent or ended unfilled: NOT_FILLED.
        let plan = e.store.plan(&plan_id)?;
        let ledger = e.ledger(&plan_id)?;
        let entries = ledger.of(&plan_id, OrderRole::Entry);
        let none_live = entries.iter().all(|x| x.state.is_terminal() && x.filled_qty.unwrap_or_default().is_zero());
        if plan.is_some_and(|p| p.status == PlanStatus::Entering)
            && none_live
            && owner.as_deref() != Some(plan_id.as_str())
        {
            e.store.set_plan_status(&plan_id, PlanStatus::NotFilled, e.now())?;
            e.audit(
                Severity::Info,
                audit::ENTRY_NOT_FILLED,
                Some(&plan_id),
                "reconcile: ENTRY was never filled",
                json!({"why": "not_accepted"}),
            )?;
        }
    }
    Ok(owner)
}

/// How far back the order history is read: Binance answers at most 7 days.
const HISTORY_WINDOW_MS: i64 = 7 * 24 * 3_600_000 - 60_000;

/// The plan whose own ENTRY the exchange's order history shows built this position. A history
/// that cannot be read is no evidence (the position then stays foreign, as before).
/// `read_already`: the same 7 days of history when this reconcile has read them (a fresh journal).
fn plan_in_history(
    e: &Engine<'_>,
    p: &crate::exchange::ExPosition,
    read_already: Option<&[ExOrder]>,
) -> Option<String> {
    let since = e.now() - HISTORY_WINDOW_MS;
    let symbol = e.symbol().to_string();
    let read = match read_already {
        Some(orders) => Ok(orders.to_vec()),
        None => e.read("order_history", |_| e.ex.order_history(&symbol, since)),
    };
    match read {
        Ok(orders) => {
            let past: Vec<PastOrder> = orders
                .iter()
                .map(|o| PastOrder {
                    client_id: o.client_id.clone(),
                    side: o.side,
                    executed_qty: o.executed_qty,
                    reduce_only: o.reduce_only,
                    time_ms: o.update_time_ms,
                })
                .collect();
            plan_from_history(&past, &e.cfg.bot_id, p.qty)
        }
        Err(err) => {
            tracing::warn!(event = "reconcile.history_unreadable", error = %err, "order history not read: the position stays unexplained");
            None
        }
    }
}

/// A journal without a single order row may be a lost one (issue 10 item 3): the cooldown the old
/// journal held is read back from the exchange's history of our STOP/TP/CLOSE fills, so a lost
/// DB never lets a re-entry follow a stop-out at once. A history that cannot be read is logged
/// and no cooldown is invented.
fn recover_cooldown(e: &mut Engine<'_>, exits: &[(String, i64)]) -> Result<Option<String>> {
    let Some(cooldown) = cooldown_ms(e) else { return Ok(None) };
    let now = e.now();
    let Some(until) = cooldown_from_history(exits, &e.cfg.bot_id, cooldown) else { return Ok(None) };
    if until <= now || e.store.system()?.cooldown_until_ms.is_some_and(|c| c >= until) {
        return Ok(None);
    }
    e.store.set_cooldown_until(until)?;
    let line = format!("cooldown recovered from the exchange's history: entries wait until {until}");
    e.audit(
        Severity::Warn,
        audit::RECONCILE_REPAIR,
        None,
        line.clone(),
        json!({"mismatch": "cooldown_lost", "repair": "cooldown_recovered", "until_ms": until}),
    )?;
    Ok(Some(line))
}

/// The cooldown `finalise_position` starts, when there is one.
fn cooldown_ms(e: &Engine<'_>) -> Option<i64> {
    let ms = e.cfg.strategy.cooldown_ms();
    (ms > 0).then_some(ms)
}

/// What a fresh journal reads of the exchange's history, in the snapshot's round.
#[derive(Default)]
struct History {
    /// Regular orders of the last 7 days (also what `plan_in_history` needs), when read.
    orders: Option<Vec<ExOrder>>,
    /// Our exit fills (client id, time): regular orders that filled, algo orders that finished.
    exits: Vec<(String, i64)>,
}

/// Regular orders over the whole history window and algo orders since `conds_since`, both at once;
/// a read that fails is logged and no cooldown is invented from it.
fn read_history(ex: &dyn Exchange, symbol: &str, now: i64, conds_since: i64) -> History {
    let orders = || ex.order_history(symbol, now - HISTORY_WINDOW_MS);
    let conds = || ex.conditional_history(symbol, conds_since);
    let (orders, conds) = if ex.concurrent_calls() {
        std::thread::scope(|s| {
            let o = s.spawn(orders);
            let c = conds();
            (o.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), c)
        })
    } else {
        (orders(), conds())
    };
    let mut h = History::default();
    match orders {
        Ok(orders) => {
            h.exits.extend(
                orders
                    .iter()
                    .filter(|o| o.executed_qty > Decimal::ZERO)
                    .map(|o| (o.client_id.clone(), o.update_time_ms)),
            );
            h.orders = Some(orders);
        }
        Err(err) => tracing::warn!(event = "reconcile.history_unreadable", error = %err, "order history not read"),
    }
    match conds {
        Ok(conds) => h.exits.extend(
            conds
                .into_iter()
                .filter(|c| c.status == ConditionalStatus::Finished || c.actual_qty.is_some_and(|q| q > Decimal::ZERO))
                .map(|c| (c.client_id, c.update_time_ms)),
        ),
        Err(err) => tracing::warn!(event = "reconcile.history_unreadable", error = %err, "algo order history not read"),
    }
    h
}

/// Our open orders (regular and conditional) that this journal has no row for.
fn strangers(e: &Engine<'_>, snap: &snapshot::Snapshot) -> Result<Vec<String>> {
    let open = snap
        .our_conditionals
        .iter()
        .filter(|c| c.status.is_open())
        .map(|c| &c.client_id)
        .chain(snap.our_orders.iter().filter(|o| o.status.is_open()).map(|o| &o.client_id));
    let mut out = Vec::new();
    for id in open {
        if !e.store.knows_client_id(id)? {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// The reconcile use case; `command` names the report (reconcile, or the command that runs it first).
pub fn reconcile(e: &mut Engine<'_>) -> Result<ReconcileOutcome> {
    reconcile_with(e, false)
}

/// `reconcile`; `adopt` (`mcbot reconcile --adopt`) is the operator's word that own-prefix orders
/// this journal never wrote are its own to take over (issue 10 item 7, docs/recovery.md).
pub fn reconcile_with(e: &mut Engine<'_>, adopt: bool) -> Result<ReconcileOutcome> {
    // A naked position is protected even when no journal row can be written (issue 11 item 2).
    crate::exec::unwritable::guarded(e, ReconcileOutcome::Unwritable, |e| reconcile_unguarded(e, adopt, false))
}

/// `reconcile` right before `entry::enter` (`mcbot enter`): its read round also reads what
/// pre-flight needs — settings, filters, mark and the look-up of the ENTRY's client id — and
/// hands it to `enter` when it repaired nothing, so the ENTRY follows one round of reads, not
/// two (issue 16 item 6). A reconcile that sent or repaired anything hands nothing over.
pub fn reconcile_before_entry(e: &mut Engine<'_>) -> Result<ReconcileOutcome> {
    crate::exec::unwritable::guarded(e, ReconcileOutcome::Unwritable, |e| reconcile_unguarded(e, false, true))
}

fn reconcile_unguarded(e: &mut Engine<'_>, adopt: bool, before_entry: bool) -> Result<ReconcileOutcome> {
    e.prefetched = None;
    // Asked before anything below writes: has this journal ever written an order?
    let fresh_journal = !e.store.has_order_events()?;
    let established = !adopt && !fresh_journal;
    let active = active_plans(e)?;
    let owner = resolve_inflight_entries(e, &active)?;
    // A journal without order rows may be a lost one: the exchange's history of our exits is read
    // in the same round as the snapshot, so it costs no round trip (issue 10 item 3).
    let history_since = cooldown_ms(e).filter(|_| fresh_journal).map(|c| e.now() - c.min(HISTORY_WINDOW_MS));
    let now = e.now();
    let round_ms = now;
    // Ahead of an ENTRY (over a network port only: in-process reads cost no round trip).
    let entry_cid = if before_entry && e.ex.concurrent_calls() { crate::exec::entry::upcoming_entry(e)? } else { None };
    let (read, history, entry_inputs) = {
        let er: &Engine<'_> = e;
        let snapshot_read =
            || er.read_persistent("snapshot", |_| snapshot::read(er.ex, &er.cfg.symbol, &er.cfg.bot_id));
        if er.ex.concurrent_calls() {
            let (ex, symbol) = (er.ex, er.cfg.symbol.as_str());
            std::thread::scope(|s| {
                let h = history_since.map(|since| s.spawn(move || read_history(ex, symbol, now, since)));
                let k = entry_cid
                    .as_deref()
                    .map(|cid| s.spawn(move || crate::exec::entry::read_entry_inputs(ex, symbol, cid)));
                let snap = snapshot_read();
                let history = h.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
                (snap, history.unwrap_or_default(), k.map(snapshot::join))
            })
        } else {
            let history = history_since.map(|since| read_history(er.ex, &er.cfg.symbol, now, since));
            (snapshot_read(), history.unwrap_or_default(), None)
        }
    };
    // The offset measured before the round's first signed request starts the next process.
    e.keep_clock_sync();
    let entry_inputs = match entry_inputs {
        Some(Ok(inputs)) => entry_cid.zip(Some(inputs)),
        Some(Err(err)) => {
            tracing::debug!(event = "reconcile.entry_reads_failed", error = %err, "enter reads again");
            None
        }
        None => None,
    };
    let snap = match read {
        Ok(s) => s,
        // A read kept failing: a known position is protected from the journal, then we give up.
        Err(err) => return Ok(ReconcileOutcome::ReadFailed(crate::exec::unreadable::protect_despite(e, err)?)),
    };
    let strangers = if established { strangers(e, &snap)? } else { Vec::new() };
    let cooldown_line = if fresh_journal { recover_cooldown(e, &history.exits)? } else { None };
    // The journal learns what the exchange holds before anything is decided or repaired (but
    // never takes another instance's orders for its own). Plans may have changed status while
    // in-flight entries were resolved.
    let synced = if strangers.is_empty() { e.sync_protective_beliefs(&snap, &active_plans(e)?)? } else { 0 };
    let db_pos = e.store.active_position(&e.cfg.symbol)?;
    // Protection counts only on the side that closes the position the exchange holds: after a
    // hand flip the bot's old SELL STOP neither protects the short nor proves it is the bot's.
    let exit_side = if snap.position.qty > Decimal::ZERO {
        Some(crate::core::types::PositionSide::Long.exit_side())
    } else if snap.position.qty < Decimal::ZERO {
        Some(crate::core::types::PositionSide::Short.exit_side())
    } else {
        None
    };
    let protective: Vec<OpenProtective> = snap
        .our_conditionals
        .iter()
        .filter(|c| c.status.is_open())
        .filter(|c| exit_side.is_none_or(|s| c.side == s))
        .filter_map(|c| {
            ClientOrderId::parse(&c.client_id).ok().map(|id| OpenProtective {
                client_id: c.client_id.clone(),
                plan_id: id.plan_id,
                role: id.role,
                qty: c.qty,
            })
        })
        .collect();
    // An exchange position nobody explains: an ENTRY can outlive its plan's status (a remainder
    // that kept working after a forced close), so every ENTRY the journal believes live is
    // looked up before the position is called foreign.
    let owner = match owner {
        None if db_pos.is_none() && !snap.position.is_flat() => {
            resolve_entries_of(e, e.store.plans_with_live_entries()?)?
        }
        o => o,
    };
    // Nothing else explains the position: the exchange's order history may (issue 10 item 2).
    let history_plan = if db_pos.is_none() && !snap.position.is_flat() && owner.is_none() && protective.is_empty() {
        plan_in_history(e, &snap.position, history.orders.as_deref())
    } else {
        None
    };
    let phantom_owner = if db_pos.is_none() && !snap.position.is_flat() {
        match owner {
            Some(p) => Some(Some(p)),
            // Our own protective orders on the symbol are evidence the position is ours, and so
            // is our own ENTRY in the order history that built exactly this position.
            None if !protective.is_empty() || history_plan.is_some() => Some(None),
            None => None,
        }
    } else {
        None
    };
    let input = ReconcileInput {
        local: db_pos.as_ref().map(|p| LocalPosition {
            journal_plan_id: journal_plan_id(p),
            side: p.side,
            qty: p.qty,
            entry_price: p.entry_price,
        }),
        exchange_qty: snap.position.qty,
        exchange_entry_price: snap.position.entry_price,
        protective,
        open_regular: snap.our_orders.iter().filter(|o| o.status.is_open()).map(|o| o.client_id.clone()).collect(),
        foreign_orders: snap.foreign_orders.len() + snap.foreign_conditionals.len(),
        phantom_owner,
        strangers,
        history_plan,
    };
    let repairs = decide(&input);
    let mut block: Option<String> = None;
    let mut failures = 0usize;
    let mut lines: Vec<Note> = cooldown_line.into_iter().map(Note::Said).collect();
    let mut critical: Option<ReconcileVerdict> = None;
    let mut another_instance = false;
    let mut flipped = false;
    let mut pos = db_pos;
    for r in &repairs {
        let data = serde_json::to_value(r).unwrap_or_default();
        match r {
            Repair::CancelOpenOrder { client_id } => {
                // Our only resting regular order is an ENTRY remainder: cancel it and journal what
                // it finally filled (anything else of ours is cancelled and journaled alike).
                match ClientOrderId::parse(client_id) {
                    Ok(id) if id.role == OrderRole::Entry => e.cancel_open_entries(&id.plan_id)?,
                    Ok(id) => {
                        let o = OrderRef {
                            plan_id: Some(id.plan_id),
                            role: id.role,
                            attempt: id.attempt,
                            client_id: client_id.clone(),
                        };
                        match e.ex.cancel_order(&e.cfg.symbol, client_id) {
                            Ok(c) => e.record(
                                &o,
                                crate::core::order::OrderEvent::Cancelled,
                                None,
                                None,
                                None,
                                None,
                                None,
                                Some(c.raw().to_string()),
                            )?,
                            Err(err) => {
                                failures += 1;
                                e.record_error(&o, crate::core::order::OrderEvent::CancelFailed, &err)?;
                            }
                        }
                    }
                    Err(_) => failures += 1,
                }
                lines.push(Note::said(format!("cancelled open order {client_id}")));
            }
            Repair::ForeignOrders { count } => {
                block = Some(format!("{count} orders on {} are not mcbot's", e.cfg.symbol));
                e.audit(
                    Severity::Warn,
                    audit::FOREIGN_EXPOSURE,
                    None,
                    format!("{count} foreign orders on the symbol; entries refused; left untouched"),
                    json!({"what": "orders", "count": count}),
                )?;
                lines.push(Note::said(format!("foreign orders: {count} (left untouched; entries refused)")));
            }
            Repair::ForeignPosition { qty } => {
                block = Some(format!("a position of {qty} on {} is not mcbot's", e.cfg.symbol));
                e.audit(
                    Severity::Warn,
                    audit::FOREIGN_EXPOSURE,
                    None,
                    format!("position {qty} not mcbot's; entries refused; left untouched"),
                    json!({"what": "position", "qty": qty.to_string()}),
                )?;
                lines.push(Note::said(format!("foreign position {qty} (left untouched; entries refused)")));
            }
            Repair::FinaliseFlat => {
                if let Some(p) = pos.take() {
                    let reason = finalise_flat(e, &p, &snap)?;
                    e.audit(
                        Severity::Warn,
                        audit::RECONCILE_REPAIR,
                        Some(&journal_plan_id(&p)),
                        format!("exchange flat: position finalised ({reason})"),
                        data,
                    )?;
                    lines.push(Note::said(format!("position closed while away: finalised as {reason}")));
                }
            }
            Repair::Adopt { plan_id, covered_by } => {
                let why = "reconcile found it on the exchange";
                // The plan its covering orders name, when this DB still has it (an older copy):
                // the position is that plan's, so the plan ends FILLED and is never entered again.
                let known = match covered_by {
                    Some(c) if plan_id.is_none() && e.store.plan(c)?.is_some() => Some(c.clone()),
                    _ => None,
                };
                let plan_id = &plan_id.clone().or(known);
                // Its working STOP/TP stay: they are this position's protection from now on.
                let p = adopt_covered(e, &snap.position, plan_id.clone(), covered_by.as_deref(), why)?;
                if let Some(owner) = covered_by {
                    lines.push(Note::said(format!("kept the working protection of plan {owner}")));
                }
                if let Some(id) = plan_id {
                    if let Some(plan) = e.store.plan(id)? {
                        for to in [PlanStatus::Entering, PlanStatus::Filled] {
                            if plan.status != to && e.store.plan(id)?.is_some_and(|x| x.status.can_become(to)) {
                                e.store.set_plan_status(id, to, e.now())?;
                            }
                        }
                    }
                }
                lines.push(Note::said(format!(
                    "adopted exchange position {} (plan {})",
                    snap.position.qty,
                    plan_id.as_deref().unwrap_or("none")
                )));
                pos = Some(p);
            }
            Repair::CorrectRecord { side, qty, entry_price } => {
                if let Some(p) = &pos {
                    e.store.set_position_fill(p.id, *qty, *entry_price, None)?;
                    e.audit(
                        Severity::Warn,
                        audit::RECONCILE_REPAIR,
                        Some(&journal_plan_id(p)),
                        format!(
                            "drift corrected: {} {} @ {} (was {} {} @ {})",
                            side, qty, entry_price, p.side, p.qty, p.entry_price
                        ),
                        data,
                    )?;
                    lines.push(Note::said(format!("corrected local record to {qty} @ {entry_price}")));
                    pos = e.store.position(p.id)?;
                }
            }
            Repair::CancelOrphan { client_id } => {
                let qty =
                    snap.our_conditionals.iter().find(|c| &c.client_id == client_id).map_or(Decimal::ZERO, |c| c.qty);
                if !e.cancel_conditional_idempotent(client_id, qty)? {
                    failures += 1;
                }
                let plan = ClientOrderId::parse(client_id).ok().map(|id| id.plan_id);
                e.audit(
                    Severity::Warn,
                    audit::RECONCILE_REPAIR,
                    plan.as_deref(),
                    format!("orphan protective order {client_id} cancelled"),
                    data,
                )?;
                lines.push(Note::said(format!("cancelled orphan {client_id}")));
            }
            Repair::AnotherInstance { client_ids } => {
                let msg = format!(
                    "another mcbot with bot_id {} is active on this account, or this state DB is older than the exchange",
                    e.cfg.bot_id
                );
                e.audit(
                    Severity::Critical,
                    audit::ANOTHER_INSTANCE,
                    None,
                    format!(
                        "{msg}; {} orders this journal never wrote are kept: {}",
                        client_ids.len(),
                        client_ids.join(", ")
                    ),
                    data,
                )?;
                e.halt(&msg, None)?;
                block = Some(msg.clone());
                lines.push(Note::said(format!("HALTED: {msg}")));
                lines.push(Note::said(format!("kept (not mcbot's to cancel): {}", client_ids.join(", "))));
                lines.push(Note::said(
                    "after checking, `mcbot reconcile --adopt` takes them over (docs/recovery.md)".to_string(),
                ));
                another_instance = true;
            }
            Repair::SideFlipped { side, qty } => {
                if let Some(p) = pos.take() {
                    e.finalise_position(&p, &ExitReason::External, None, None, None)?;
                    let msg = format!(
                        "the exchange holds {side} {qty} {} where mcbot's {} {} was: changed by hand; \
                         mcbot's position ended (external); the {side} is not mcbot's and is left to you with its orders",
                        e.cfg.symbol, p.side, p.qty
                    );
                    e.audit(Severity::Critical, audit::SIDE_FLIPPED, Some(&journal_plan_id(&p)), msg.clone(), data)?;
                    e.halt(&msg, Some(&journal_plan_id(&p)))?;
                    block = Some(msg.clone());
                    lines.push(Note::said(format!("HALTED: {msg}")));
                    flipped = true;
                }
            }
            Repair::EnsureProtection { missing } => {
                let Some(p) = &pos else { continue };
                let done = match e.read_persistent("snapshot", |_| snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id)) {
                    Ok(fresh) => RepairProtection::Protection(protect::ensure_protection(e, p, &fresh)?),
                    Err(err) => RepairProtection::ReadFailed(crate::exec::unreadable::protect_despite(e, err)?),
                };
                e.audit(
                    Severity::Warn,
                    audit::RECONCILE_REPAIR,
                    Some(&journal_plan_id(p)),
                    format!("position lacked {}: {}", missing.join("+"), done.word()),
                    data,
                )?;
                let verdict = match &done {
                    RepairProtection::Protection(Protection::Failed(f)) => {
                        Some(ReconcileVerdict::ProtectionFailed(f.clone()))
                    }
                    RepairProtection::ReadFailed(x) => Some(ReconcileVerdict::ReadFailed(x.clone())),
                    RepairProtection::Protection(_) => None,
                };
                lines.push(Note::Protection(done));
                if verdict.is_some() {
                    critical = verdict;
                    break;
                }
            }
        }
    }
    let mismatches = repairs.iter().filter(|r| r.is_mismatch()).count() + usize::from(synced > 0);
    let sys = e.store.system()?;
    let streak = if mismatches > 0 { sys.mismatch_streak + 1 } else { 0 };
    let clean = mismatches == 0 && block.is_none() && failures == 0 && critical.is_none();
    let now = e.now();
    e.store.record_reconcile(now, clean, streak, block.as_deref())?;
    // A quiet reconcile leaves only `last_reconcile_at`; one that found something is audited.
    if !clean {
        e.audit(
            Severity::Info,
            audit::RECONCILE_DONE,
            None,
            format!("reconcile: {mismatches} mismatches repaired, streak {streak}"),
            json!({"clean": clean, "mismatches": mismatches, "streak": streak}),
        )?;
    }
    if streak >= e.cfg.execution.mismatch_halt_streak {
        e.halt(
            &format!("reconcile mismatch streak {streak} reached the limit {}", e.cfg.execution.mismatch_halt_streak),
            None,
        )?;
        lines.push(Note::said(format!("HALTED: {streak} consecutive reconciles needed repairs")));
    }
    let posture = crate::exec::posture::after_reconcile(e, &repairs, u32::try_from(failures).unwrap_or(u32::MAX))?;
    if let Some(tr) = &posture.transition {
        lines.push(Note::said(format!("posture {} -> {}: {}", tr.from.as_str(), tr.to.as_str(), tr.reason)));
    }
    if lines.is_empty() {
        lines.push(Note::said("exchange and local state agree; nothing to repair".to_string()));
    }
    let verdict = if let Some(v) = critical {
        v
    } else if another_instance {
        ReconcileVerdict::AnotherInstance
    } else if flipped {
        ReconcileVerdict::SideFlipped
    } else if failures > 0 {
        ReconcileVerdict::RepairsFailed
    } else {
        ReconcileVerdict::Ok
    };
    // Handed to `enter` only from a reconcile that sent nothing and changed nothing: any repair
    // makes the snapshot stale, and pre-flight must then read again.
    if let Some((cid, inputs)) = entry_inputs.filter(|_| clean && repairs.is_empty() && verdict == ReconcileVerdict::Ok)
    {
        e.prefetched = Some(crate::exec::entry::Prefetched::new(cid, round_ms, snap.clone(), inputs));
    }
    Ok(ReconcileOutcome::Done(Reconciled {
        verdict,
        notes: lines,
        clean,
        mismatches,
        streak,
        repairs,
        entry_block_reason: block,
        position_qty: snap.position.qty,
    }))
}

/// The journal's belief about protective orders, brought in line with the exchange.
impl Engine<'_> {
    /// Brings the journal in line with the protective orders the exchange shows (reconcile): an
    /// intent left INTENDED/UNKNOWN by a crash becomes ACKED when the order is there, NOT_FOUND
    /// when a look-up proves it never landed; a believed-live order that is gone gets its end state.
    pub fn sync_protective_beliefs(
        &mut self,
        snap: &crate::exec::snapshot::Snapshot,
        active_plans: &[String],
    ) -> Result<usize> {
        use crate::core::order::OrderState;
        let mut changed = 0;
        for c in &snap.our_conditionals {
            let Ok(id) = ClientOrderId::parse(&c.client_id) else { continue };
            // The common case on every tick: the journal already says what the exchange says.
            let believed = self.ledger(&id.plan_id)?.orders.get(&c.client_id).map(|v| v.state);
            if believed.is_some() && believed == event_target(crate::exec::record::conditional_status_event(c)) {
                continue;
            }
            let o = OrderRef {
                plan_id: Some(id.plan_id.clone()),
                role: id.role,
                attempt: id.attempt,
                client_id: c.client_id.clone(),
            };
            self.ensure_known(&o, Some(c.trigger_price), c.qty)?;
            self.record_conditional_if_new(&o, c)?;
            changed += 1;
        }
        let open: std::collections::HashSet<&str> =
            snap.our_conditionals.iter().map(|c| c.client_id.as_str()).collect();
        let symbol = self.symbol().to_string();
        // Only plans that can still have live orders: closed plans had their protection cancelled.
        for plan in active_plans.iter() {
            let ledger = self.ledger(plan)?;
            let stale: Vec<_> = ledger
                .orders
                .values()
                .filter(|v| v.role.is_conditional() && v.state.may_be_live() && !open.contains(v.client_id.as_str()))
                .cloned()
                .collect();
            for v in stale {
                let o = OrderRef {
                    plan_id: Some(plan.clone()),
                    role: v.role,
                    attempt: v.attempt,
                    client_id: v.client_id.clone(),
                };
                match self.read("query_conditional", |_| {
                    self.ex.query_conditional_placed(&symbol, &v.client_id, v.first_ts_ms)
                }) {
                    Ok(Some(c)) => self.record_conditional_if_new(&o, &c)?,
                    Ok(None) if matches!(v.state, OrderState::Intended | OrderState::Unknown) => {
                        self.record_not_found(&o, "reconcile: never landed")?
                    }
                    Ok(None) => self.record_gone(&o, "reconcile: gone from the exchange", None)?,
                    Err(_) => continue,
                }
                changed += 1;
            }
        }
        Ok(changed)
    }
}
