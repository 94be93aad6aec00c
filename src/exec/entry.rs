//! The ENTRY sequence (seed 000 §4–6, CONTRACT §5): current plan → concurrent pre-read →
//! pre-flight → mode re-read → two-phase submit (intent committed before the request; an ambiguous
//! outcome is resolved by client-id look-up before anything else) → fill window → protection.
//! Never two ENTRY orders that can fill for one plan (F-001).

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::money::SymbolFilters;
use crate::core::order::{OrderEvent, OrderRole, OrderState};
use crate::core::plan::{PlanStatus, TradePlan};
use crate::core::position::{ExitReason, PositionState};
use crate::core::preflight::{self, PreflightInput};
use crate::error::{Error, Result};
use crate::exchange::{
    AccountSettings, ErrorClass, ExOrder, ExOrderStatus, ExResult, Exchange, MarkInfo, MarketOrderRequest,
};
use crate::exec::ambiguity::{self, Resolved};
use crate::exec::protect::protect_new_fill;
use crate::exec::record::OrderRef;
use crate::exec::snapshot::{self, Snapshot};
use crate::exec::Engine;
use crate::outcome::{ExitCode, Report};
use crate::store::journal::Severity;
use crate::store::positions::{NewPosition, PositionRecord};
use rust_decimal::Decimal;
use serde_json::json;

/// How one ENTRY attempt ended.
enum Sent {
    /// The exchange has the order (filled, partly filled, or resting).
    Accepted(ExOrder),
    /// Definitely not accepted; `retry` when another attempt is allowed.
    NotAccepted { retry: bool, why: String },
    /// Neither the send nor the look-up could tell.
    Unresolved(String),
}

/// Everything read before the ENTRY, in one concurrent round.
pub(crate) struct PreRead {
    snap: Snapshot,
    inputs: EntryInputs,
}

/// What pre-flight reads besides the snapshot.
pub(crate) struct EntryInputs {
    settings: AccountSettings,
    filters: SymbolFilters,
    mark: MarkInfo,
    /// What the exchange knows of the client id about to be sent, in any status (issue 10 item
    /// 3): Binance accepts a client id again once no *open* order carries it, so after a lost or
    /// older state DB the same plan would otherwise be entered a second time (F-001).
    known_entry: Option<ExOrder>,
}

/// Pre-flight's reads made in the read round of the reconcile right before `enter` (issue 16
/// item 6), kept only when that reconcile sent nothing and repaired nothing.
pub(crate) struct Prefetched {
    /// The ENTRY client id `known_entry` was looked up for.
    client_id: String,
    /// Local time the round started: the reads are at most this old.
    read_ms: i64,
    pre: PreRead,
}

impl Prefetched {
    pub(crate) fn new(client_id: String, read_ms: i64, snap: Snapshot, inputs: EntryInputs) -> Prefetched {
        Prefetched { client_id, read_ms, pre: PreRead { snap, inputs } }
    }
}

/// How old reads made in reconcile's round may be and still stand for pre-flight's own: the few
/// milliseconds between that round and the ENTRY, with room for a snapshot read that was retried.
/// Anything older is read again.
const PREFETCH_MAX_AGE_MS: i64 = 2_000;

/// The client id the next `enter` would send its ENTRY under, when a fresh PLANNED plan waits:
/// what reconcile looks up in its own read round ahead of `enter`.
pub(crate) fn upcoming_entry(e: &Engine<'_>) -> Result<Option<String>> {
    let Some(plan) = e.store.latest_plan_with_status(PlanStatus::Planned)? else { return Ok(None) };
    if plan.is_stale(e.now()) {
        return Ok(None);
    }
    let attempt = e.ledger(&plan.id)?.next_attempt(&plan.id, OrderRole::Entry);
    Ok(ClientOrderId::new(&e.cfg.bot_id, &plan.id, OrderRole::Entry, attempt).ok().map(|c| c.to_string()))
}

/// Account settings, filters, mark and the look-up of `entry_cid`, concurrently.
pub(crate) fn read_entry_inputs(ex: &dyn Exchange, symbol: &str, entry_cid: &str) -> ExResult<EntryInputs> {
    if !ex.concurrent_calls() {
        return Ok(EntryInputs {
            settings: ex.account_settings(symbol)?,
            filters: ex.filters(symbol)?,
            mark: ex.mark_info(symbol)?,
            known_entry: ex.query_order(symbol, entry_cid)?,
        });
    }
    let (settings, filters, mark, known) = std::thread::scope(|s| {
        let b = s.spawn(|| ex.account_settings(symbol));
        let c = s.spawn(|| ex.filters(symbol));
        let k = s.spawn(|| ex.query_order(symbol, entry_cid));
        let d = ex.mark_info(symbol);
        (snapshot::join(b), snapshot::join(c), d, snapshot::join(k))
    });
    Ok(EntryInputs { settings: settings?, filters: filters?, mark: mark?, known_entry: known? })
}

/// Pre-flight's reads: those reconcile made for this very ENTRY moments ago when it handed them
/// over, else the snapshot and the rest in one concurrent round.
fn pre_read(e: &Engine<'_>, entry_cid: &str, prefetched: Option<Prefetched>) -> Result<PreRead> {
    let now = e.now();
    if let Some(p) = prefetched {
        if p.client_id == entry_cid && (0..=PREFETCH_MAX_AGE_MS).contains(&(now - p.read_ms)) {
            tracing::debug!(event = "entry.prefetched", age_ms = now - p.read_ms, "pre-flight uses reconcile's reads");
            return Ok(p.pre);
        }
    }
    let (ex, symbol, bot) = (e.ex, e.cfg.symbol.as_str(), e.cfg.bot_id.as_str());
    if !ex.concurrent_calls() {
        let snap = snapshot::read(ex, symbol, bot)?;
        return Ok(PreRead { snap, inputs: read_entry_inputs(ex, symbol, entry_cid)? });
    }
    let (snap, inputs) = std::thread::scope(|s| {
        let a = s.spawn(|| snapshot::read(ex, symbol, bot));
        let inputs = read_entry_inputs(ex, symbol, entry_cid);
        (snapshot::join(a), inputs)
    });
    Ok(PreRead { snap: snap?, inputs: inputs? })
}

/// Pre-flight `client_id_unused`: the exchange already knows the ENTRY's client id, so this plan
/// was entered before (the journal that would say so was lost or is older): nothing is sent.
fn refuse_if_known(e: &mut Engine<'_>, plan: &TradePlan, cid: &str, known: Option<&ExOrder>) -> Result<()> {
    let Some(o) = known else { return Ok(()) };
    let message = format!(
        "the exchange already knows ENTRY {cid} ({:?}, filled {}): plan {} was entered before; nothing sent \
         (was the state DB lost or replaced?)",
        o.status, o.executed_qty, plan.id
    );
    e.audit(
        Severity::Warn,
        audit::PREFLIGHT_FAILED,
        Some(&plan.id),
        format!("pre-flight `client_id_unused` failed: {message}"),
        json!({"check": "client_id_unused", "message": message, "client_id": cid}),
    )?;
    Err(Error::Preflight { check: "client_id_unused".into(), message })
}

/// `enter`: the whole sequence for the current PLANNED plan. A state DB that cannot be written
/// once the ENTRY may have filled ends in the failsafe (protect or close, then exit 10).
pub fn enter(e: &mut Engine<'_>) -> Result<Report> {
    crate::exec::failsafe::guarded(e, "enter", enter_unguarded)
}

fn enter_unguarded(e: &mut Engine<'_>) -> Result<Report> {
    // Reconcile's reads serve this ENTRY at most: never a later one.
    let prefetched = e.prefetched.take();
    let now = e.now();
    let Some(plan) = e.store.latest_plan_with_status(PlanStatus::Planned)? else {
        return Ok(Report::ok("enter").field("entered", false).line("no planned trade; nothing to do"));
    };
    if plan.is_stale(now) {
        e.store.set_plan_status(&plan.id, PlanStatus::Expired, now)?;
        e.audit(
            Severity::Info,
            audit::PLAN_EXPIRED,
            Some(&plan.id),
            format!("plan {} expired unentered", plan.id),
            json!({"valid_until": plan.valid_until_ms}),
        )?;
        return Ok(Report::ok("enter")
            .field("entered", false)
            .field("plan_id", plan.id.clone())
            .line(format!("plan {} expired; never entered late", plan.id)));
    }
    refuse_if_halted(e, &plan)?;
    let attempt = e.ledger(&plan.id)?.next_attempt(&plan.id, OrderRole::Entry);
    let entry_cid = ClientOrderId::new(&e.cfg.bot_id, &plan.id, OrderRole::Entry, attempt)
        .map_err(|x| Error::Failed(x.to_string()))?
        .to_string();
    let mut pre = pre_read(e, &entry_cid, prefetched)?;
    refuse_if_known(e, &plan, &entry_cid, pre.inputs.known_entry.as_ref())?;
    fix_margin_settings(e, &mut pre)?;
    let sys = e.store.system()?;
    let db_pos = e.store.active_position(&e.cfg.symbol)?;
    let input = PreflightInput {
        plan: &plan,
        now_ms: e.now(),
        reconciled: sys.last_reconcile_ms.is_some(),
        entry_block_reason: sys.entry_block_reason.as_deref(),
        cooldown_until_ms: sys.cooldown_until_ms,
        isolated: pre.inputs.settings.isolated,
        leverage: pre.inputs.settings.leverage,
        dual_side: pre.inputs.settings.dual_side,
        exchange_position_qty: pre.snap.position.qty,
        db_position_active: db_pos.is_some(),
        our_open_orders: pre.snap.our_orders.len() + pre.snap.our_conditionals.len(),
        foreign_orders: pre.snap.foreign_orders.len() + pre.snap.foreign_conditionals.len(),
        mark_price: pre.inputs.mark.mark_price,
        max_slippage_pct: e.cfg.execution.max_slippage_pct,
        filters: &pre.inputs.filters,
    };
    if let Err(f) = preflight::check(&input) {
        e.audit(
            Severity::Warn,
            audit::PREFLIGHT_FAILED,
            Some(&plan.id),
            format!("pre-flight `{}` failed: {}", f.check, f.message),
            json!({"check": f.check, "message": f.message}),
        )?;
        return Err(Error::Preflight { check: f.check.to_string(), message: f.message });
    }
    // The mode is re-read right before the ENTRY is sent (CONTRACT §7.10).
    refuse_if_halted(e, &plan)?;
    let result = submit(e, &plan, &pre.inputs.filters);
    e.store.flush_batch()?;
    if e.store.plan(&plan.id)?.is_some_and(|p| p.status == PlanStatus::NotFilled) {
        close_unused_protection_intents(e, &plan.id)?;
    }
    result
}

/// Protection before bookkeeping (issue 11 item 2): the STOP and TP intents are committed in the
/// same transaction as the ENTRY intent, so a journal that cannot be written after the fill cannot
/// keep the STOP from going out under an id the journal already holds. The STOP's trigger is the
/// plan's; the TP's follows from the fill and is recorded when it is placed.
fn record_protection_intents(e: &mut Engine<'_>, plan: &TradePlan, filters: &SymbolFilters) -> Result<()> {
    let t = crate::exec::protect::Targets::compute(
        filters,
        plan.side,
        plan.entry_ref,
        Some(plan.stop_price),
        e.cfg.execution.adopted_stop_pct,
        e.cfg.strategy.tp_r_multiple,
        plan.qty,
    )?;
    let ledger = e.ledger(&plan.id)?;
    for (role, trigger) in [(OrderRole::Stop, t.stop), (OrderRole::Tp, t.tp)] {
        if ledger.of(&plan.id, role).last().is_some_and(|v| v.state == OrderState::Intended) {
            continue;
        }
        let attempt = ledger.next_attempt(&plan.id, role);
        let cid = ClientOrderId::new(&e.cfg.bot_id, &plan.id, role, attempt)
            .map_err(|x| Error::Failed(x.to_string()))?
            .to_string();
        let o = OrderRef { plan_id: Some(plan.id.clone()), role, attempt, client_id: cid };
        e.record_submitting(&o, Some(trigger), plan.qty)?;
    }
    Ok(())
}

/// The ENTRY never filled: the protection intents prepared with it are closed as never sent.
fn close_unused_protection_intents(e: &mut Engine<'_>, plan_id: &str) -> Result<()> {
    let ledger = e.ledger(plan_id)?;
    let unused: Vec<_> = [OrderRole::Stop, OrderRole::Tp]
        .into_iter()
        .flat_map(|r| ledger.of(plan_id, r))
        .filter(|v| v.state == OrderState::Intended)
        .cloned()
        .collect();
    for v in unused {
        let o =
            OrderRef { plan_id: Some(plan_id.to_string()), role: v.role, attempt: v.attempt, client_id: v.client_id };
        e.record_not_found(&o, "never sent: the ENTRY did not fill")?;
    }
    Ok(())
}

fn refuse_if_halted(e: &mut Engine<'_>, plan: &TradePlan) -> Result<()> {
    let sys = e.store.system()?;
    if sys.is_halted() {
        let why = sys.halt_reason.unwrap_or_default();
        e.audit(
            Severity::Warn,
            audit::PREFLIGHT_FAILED,
            Some(&plan.id),
            format!("entry refused: HALTED ({why})"),
            json!({"check": "not_halted", "message": why}),
        )?;
        return Err(Error::Halted(why));
    }
    Ok(())
}

/// ISOLATED and 1x are set when they are not already (the exchange answers "no need to change"
/// as success); hedge mode is never switched automatically because it is account-wide. Only what
/// `symbolConfig` shows differs is sent, and both at once when both differ: neither depends on the
/// other while flat.
fn fix_margin_settings(e: &mut Engine<'_>, pre: &mut PreRead) -> Result<()> {
    let flat = pre.snap.position.is_flat() && pre.snap.our_orders.is_empty() && pre.snap.foreign_orders.is_empty();
    if !flat {
        return Ok(());
    }
    let settings = &mut pre.inputs.settings;
    let (ex, symbol) = (e.ex, e.cfg.symbol.as_str());
    let (isolate, lever) = (!settings.isolated, settings.leverage != 1);
    let (isolated, levered) = if isolate && lever && ex.concurrent_calls() {
        std::thread::scope(|s| {
            let m = s.spawn(|| ex.set_isolated_margin(symbol));
            let l = ex.set_leverage(symbol, 1);
            (snapshot::join(m), l)
        })
    } else {
        let m = if isolate { ex.set_isolated_margin(symbol) } else { Ok(()) };
        // One after the other (an in-process exchange): a refused margin change sends no more.
        let l = if lever && m.is_ok() { ex.set_leverage(symbol, 1) } else { Ok(()) };
        (m, l)
    };
    isolated?;
    levered?;
    settings.isolated = true;
    settings.leverage = 1;
    Ok(())
}

/// Sends the ENTRY (at most two attempts, the second only after a definite "not accepted").
fn submit(e: &mut Engine<'_>, planned: &TradePlan, filters: &SymbolFilters) -> Result<Report> {
    // The posture re-check may size the ENTRY down; everything after sends and records `plan`.
    let mut sized = planned.clone();
    let plan = &mut sized;
    let first_attempt = e.ledger(&plan.id)?.next_attempt(&plan.id, OrderRole::Entry);
    let mut attempt = first_attempt;
    loop {
        let cid = ClientOrderId::new(&e.cfg.bot_id, &plan.id, OrderRole::Entry, attempt)
            .map_err(|x| Error::Failed(x.to_string()))?;
        let o =
            OrderRef { plan_id: Some(plan.id.clone()), role: OrderRole::Entry, attempt, client_id: cid.to_string() };
        // The HALTED check and the intent are one IMMEDIATE transaction: a `halt` that lands in
        // between waits for it, so an ENTRY is never recorded (or sent) after a halt.
        e.store.begin_batch()?;
        if let Err(x) = refuse_if_halted(e, plan) {
            e.store.flush_batch()?;
            return Err(x);
        }
        // The posture is re-read in the same step (issue 15): it may have tightened since the plan
        // was sized at evaluate time.
        match crate::exec::posture::gate_entry(e, plan, filters) {
            Ok(Some(qty)) => plan.qty = qty,
            Ok(None) => {}
            Err(x) => {
                e.store.flush_batch()?;
                return Err(x);
            }
        }
        if attempt == first_attempt {
            e.store.set_plan_status(&plan.id, PlanStatus::Entering, e.now())?;
        }
        e.record_submitting(&o, Some(plan.entry_ref), plan.qty)?;
        record_protection_intents(e, plan, filters)?;
        e.audit(
            Severity::Info,
            audit::ENTRY_SUBMITTED,
            Some(&plan.id),
            format!("ENTRY {} {} {} (attempt {attempt})", plan.side, plan.qty, plan.symbol),
            json!({"client_id": o.client_id, "side": plan.side.as_str(), "qty": plan.qty.to_string(), "entry_ref": plan.entry_ref.to_string(), "stop": plan.stop_price.to_string()}),
        )?;
        e.store.flush_batch()?;
        match send_once(e, &o, plan)? {
            Sent::Accepted(order) => return after_ack(e, plan, &o, order),
            Sent::NotAccepted { retry, why } if retry && attempt == first_attempt => {
                // Before attempt 2: still flat (nothing of attempt 1 filled), still not halted.
                e.clock.sleep_ms(500);
                let p = e.read_position()?;
                if !p.is_flat() {
                    return Err(Error::Failed(format!(
                        "position appeared after ENTRY attempt {attempt} ({why}); run `mcbot reconcile`"
                    )));
                }
                refuse_if_halted(e, plan)?;
                attempt += 1;
            }
            Sent::NotAccepted { why, .. } => {
                e.store.set_plan_status(&plan.id, PlanStatus::NotFilled, e.now())?;
                e.audit(
                    Severity::Warn,
                    audit::ENTRY_NOT_FILLED,
                    Some(&plan.id),
                    format!("ENTRY not accepted: {why}"),
                    json!({"client_id": o.client_id, "why": why}),
                )?;
                return Ok(Report::new("enter", "not_filled", ExitCode::Failed)
                    .field("plan_id", plan.id.clone())
                    .field("error", format!("ENTRY not accepted: {why}"))
                    .line(format!("ENTRY not accepted: {why}; no position")));
            }
            Sent::Unresolved(why) => return unresolved(e, plan, &why),
        }
    }
}

/// One send, and for an ambiguous outcome the client-id look-up that decides it.
fn send_once(e: &mut Engine<'_>, o: &OrderRef, plan: &TradePlan) -> Result<Sent> {
    let req = MarketOrderRequest {
        symbol: e.cfg.symbol.clone(),
        side: plan.side.entry_side(),
        qty: plan.qty,
        reduce_only: false,
        client_id: o.client_id.clone(),
    };
    match e.ex.place_market(&req) {
        Ok(order) => {
            // From the fill to the STOP request every write shares one commit (flushed right
            // before the STOP/TP go out): the unprotected window is one round trip, not N fsyncs.
            // Nothing filled, nothing to protect: no batch, so none rests through the fill window.
            if order.executed_qty > Decimal::ZERO {
                e.store.begin_batch()?;
            }
            e.record_order(o, &order, None)?;
            Ok(Sent::Accepted(order))
        }
        Err(err) if ambiguity::is_unknown_outcome(&err) => {
            e.record_error(o, OrderEvent::Unknown, &err)?;
            lookup(e, o)
        }
        Err(err) => {
            e.record_error(o, OrderEvent::Rejected, &err)?;
            Ok(Sent::NotAccepted { retry: err.class == ErrorClass::Retryable, why: err.to_string() })
        }
    }
}

/// Resolves an unknown ENTRY outcome by client id (the one rule: `exec::ambiguity`).
fn lookup(e: &mut Engine<'_>, o: &OrderRef) -> Result<Sent> {
    let symbol = e.cfg.symbol.clone();
    let budget = ambiguity::Budget {
        max_elapsed_ms: i64::try_from(e.cfg.execution.entry_ack_timeout_ms).unwrap_or(i64::MAX),
        pause_ms: 300,
    };
    let ex = e.ex;
    match ambiguity::resolve(e.clock, budget, || ex.query_order(&symbol, &o.client_id)) {
        Resolved::Found(order) => {
            e.record_order(o, &order, Some("found by client id after an ambiguous send".into()))?;
            Ok(Sent::Accepted(order))
        }
        Resolved::Absent => {
            e.record_not_found(o, "look-ups found no such order: not accepted")?;
            Ok(Sent::NotAccepted { retry: true, why: "lost acknowledgement; order proven absent".into() })
        }
        Resolved::Unknown(err) => {
            Ok(Sent::Unresolved(err.map_or_else(|| "look-up timed out".into(), |x| x.to_string())))
        }
    }
}

/// The ENTRY's fate is unknown and the exchange cannot tell: protect whatever exists, else HALT.
fn unresolved(e: &mut Engine<'_>, plan: &TradePlan, why: &str) -> Result<Report> {
    if let Ok(p) = e.read_position() {
        if !p.is_flat() {
            let pos = crate::exec::close::adopt(e, &p, Some(plan.id.clone()), "ENTRY outcome unknown; position found")?;
            e.store.set_plan_status(&plan.id, PlanStatus::Filled, e.now())?;
            if let Some(r) = protect_new_fill(e, &pos, p.qty.abs())? {
                return Ok(rename(r));
            }
            return Ok(Report::ok("enter")
                .field("plan_id", plan.id.clone())
                .line("ENTRY outcome was unknown; the position found is now protected"));
        }
    }
    let msg = format!("ENTRY outcome unknown ({why}); exchange cannot confirm; HALTED until reconcile");
    e.audit(Severity::Critical, audit::ENTRY_NOT_FILLED, Some(&plan.id), msg.clone(), json!({"why": why}))?;
    e.halt(&msg, Some(&plan.id))?;
    Ok(Report::new("enter", "unresolved", ExitCode::Critical)
        .field("plan_id", plan.id.clone())
        .field("error", msg.clone())
        .line(format!("CRITICAL: {msg}")))
}

fn rename(mut r: Report) -> Report {
    r.command = "enter".into();
    r
}

/// Opens the position for the filled quantity and protects it at once; then handles a partial fill.
fn after_ack(e: &mut Engine<'_>, plan: &TradePlan, o: &OrderRef, order: ExOrder) -> Result<Report> {
    if order.executed_qty.is_zero() && !order.status.is_open() {
        e.store.set_plan_status(&plan.id, PlanStatus::NotFilled, e.now())?;
        e.audit(
            Severity::Warn,
            audit::ENTRY_NOT_FILLED,
            Some(&plan.id),
            format!("ENTRY ended {:?} with nothing filled", order.status),
            json!({"client_id": o.client_id, "why": format!("{:?}", order.status)}),
        )?;
        return Ok(Report::new("enter", "not_filled", ExitCode::Failed)
            .field("plan_id", plan.id.clone())
            .field("error", "ENTRY ended with nothing filled")
            .line("ENTRY ended with nothing filled; no position"));
    }
    let mut pos: Option<PositionRecord> = None;
    if order.executed_qty > Decimal::ZERO {
        let p = open_position(e, plan, o, &order)?;
        if let Some(r) = protect_new_fill(e, &p, order.executed_qty)? {
            return Ok(rename(r));
        }
        pos = Some(p);
    }
    if order.status == ExOrderStatus::Filled {
        return done(e, plan, pos.as_ref(), &order);
    }
    fill_window(e, plan, o, order, pos)
}

fn open_position(e: &mut Engine<'_>, plan: &TradePlan, o: &OrderRef, order: &ExOrder) -> Result<PositionRecord> {
    let now = e.now();
    let p = e.store.insert_position(&NewPosition {
        trade_plan_id: Some(plan.id.clone()),
        symbol: e.cfg.symbol.clone(),
        side: plan.side,
        state: PositionState::Open,
        qty: order.executed_qty,
        entry_price: order.avg_price,
        opened_ms: now,
        adopted: false,
    })?;
    e.store.set_position_fill(p.id, order.executed_qty, order.avg_price, Some(now))?;
    let complete = order.status == ExOrderStatus::Filled;
    e.store.set_plan_status(&plan.id, if complete { PlanStatus::Filled } else { PlanStatus::Partial }, now)?;
    e.audit(
        Severity::Info,
        audit::ENTRY_FILLED,
        Some(&plan.id),
        format!("ENTRY filled {} @ {}{}", order.executed_qty, order.avg_price, if complete { "" } else { " (partial)" }),
        json!({"client_id": o.client_id, "filled_qty": order.executed_qty.to_string(), "avg_price": order.avg_price.to_string(), "complete": complete}),
    )?;
    Ok(e.store.position(p.id)?.unwrap_or(p))
}

fn done(e: &mut Engine<'_>, plan: &TradePlan, pos: Option<&PositionRecord>, order: &ExOrder) -> Result<Report> {
    let window = match pos {
        Some(p) => e.store.position(p.id)?.and_then(|p| p.unprotected_window_ms),
        None => None,
    };
    Ok(Report::ok("enter")
        .field("entered", true)
        .field("plan_id", plan.id.clone())
        .field("side", plan.side.as_str())
        .field("qty", order.executed_qty.to_string())
        .field("avg_price", order.avg_price.to_string())
        .field("unprotected_window_ms", window)
        .line(format!(
            "entered {} {} @ {} (plan {}); STOP and TP placed",
            plan.side, order.executed_qty, order.avg_price, plan.id
        )))
}

/// A partial fill: within `entry_fill_window_ms` either it completes (protection resized) or the
/// remainder is cancelled and the position closed (seed 000 §6, F-004).
fn fill_window(
    e: &mut Engine<'_>,
    plan: &TradePlan,
    o: &OrderRef,
    mut order: ExOrder,
    mut pos: Option<PositionRecord>,
) -> Result<Report> {
    let symbol = e.cfg.symbol.clone();
    let deadline = e.now() + i64::try_from(e.cfg.execution.entry_fill_window_ms).unwrap_or(i64::MAX);
    let mut halted_during_window = false;
    // No write transaction across a sleep or an exchange call: `halt` and `status` must never
    // wait for a resting ENTRY.
    e.store.flush_batch()?;
    while e.now() < deadline {
        e.clock.sleep_ms(250);
        // A halt that landed during the window stops the remainder at once; what filled is
        // protected (already) and then closed below like any partial fill.
        if e.store.system()?.is_halted() {
            halted_during_window = true;
            break;
        }
        let Ok(Some(q)) = e.ex.query_order(&symbol, &o.client_id) else { continue };
        if q.executed_qty != order.executed_qty || q.status != order.status {
            e.record_order(o, &q, None)?;
            order = q;
            pos = Some(sync_fill(e, plan, o, &order, pos)?);
            if let Some(r) = resize(e, pos.as_ref())? {
                return Ok(r);
            }
        }
        if order.status == ExOrderStatus::Filled {
            return done(e, plan, pos.as_ref(), &order);
        }
        if !order.status.is_open() {
            break;
        }
    }
    // Window over (or HALTED meanwhile): cancel the remainder, then look at what filled.
    if halted_during_window {
        e.audit(
            Severity::Warn,
            audit::ENTRY_HALTED_IN_WINDOW,
            Some(&plan.id),
            "HALTED during the ENTRY fill window: the remainder is cancelled",
            json!({"client_id": o.client_id}),
        )?;
    }
    if order.status.is_open() {
        match e.ex.cancel_order(&symbol, &o.client_id) {
            Ok(_) => {}
            Err(err) => e.record_error(o, OrderEvent::CancelFailed, &err)?,
        }
        if let Ok(Some(q)) = e.read("query_order", |_| e.ex.query_order(&symbol, &o.client_id)) {
            if q.status != order.status || q.executed_qty != order.executed_qty {
                e.record_order(o, &q, Some("after cancelling the remainder".into()))?;
            }
            order = q;
            if order.executed_qty > Decimal::ZERO {
                pos = Some(sync_fill(e, plan, o, &order, pos)?);
            }
        }
    }
    if order.status == ExOrderStatus::Filled {
        if let Some(r) = resize(e, pos.as_ref())? {
            return Ok(r);
        }
        return done(e, plan, pos.as_ref(), &order);
    }
    match pos {
        None => {
            e.store.set_plan_status(&plan.id, PlanStatus::NotFilled, e.now())?;
            e.audit(
                Severity::Warn,
                audit::ENTRY_NOT_FILLED,
                Some(&plan.id),
                "ENTRY did not fill within the fill window; cancelled",
                json!({"client_id": o.client_id, "why": "fill_window"}),
            )?;
            Ok(Report::new("enter", "not_filled", ExitCode::Failed)
                .field("plan_id", plan.id.clone())
                .field("error", "ENTRY did not fill within the fill window")
                .line("ENTRY did not fill in time; cancelled; no position"))
        }
        Some(p) => force_close_partial(e, plan, &p),
    }
}

/// Keeps the position row in step with the ENTRY's filled quantity.
fn sync_fill(
    e: &mut Engine<'_>,
    plan: &TradePlan,
    o: &OrderRef,
    order: &ExOrder,
    pos: Option<PositionRecord>,
) -> Result<PositionRecord> {
    match pos {
        None => {
            let p = open_position(e, plan, o, order)?;
            if let Some(r) = protect_new_fill(e, &p, order.executed_qty)? {
                return Err(Error::Critical(
                    r.fields.get("error").and_then(|v| v.as_str()).unwrap_or("protection failed").to_string(),
                ));
            }
            Ok(p)
        }
        Some(p) => {
            e.store.set_position_fill(p.id, order.executed_qty, order.avg_price, None)?;
            if order.status == ExOrderStatus::Filled {
                e.store.set_plan_status(&plan.id, PlanStatus::Filled, e.now())?;
            }
            Ok(e.store.position(p.id)?.unwrap_or(p))
        }
    }
}

/// Resizes protection to the exchange position (bounded: one place-then-cancel round).
fn resize(e: &mut Engine<'_>, pos: Option<&PositionRecord>) -> Result<Option<Report>> {
    let Some(p) = pos else { return Ok(None) };
    let snap = snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id)?;
    let r = crate::exec::protect::ensure_protection(e, p, &snap)?;
    Ok(if r.exit == ExitCode::Ok { None } else { Some(rename(r)) })
}

/// The ENTRY did not complete in time: close what filled (F-004). Not a protection failure, so
/// no HALT — unless the CLOSE itself cannot be confirmed.
fn force_close_partial(e: &mut Engine<'_>, plan: &TradePlan, pos: &PositionRecord) -> Result<Report> {
    e.audit(
        Severity::Warn,
        audit::FORCED_CLOSE,
        Some(&plan.id),
        "ENTRY not fully filled within the fill window: closing what filled",
        json!({"why": "partial_fill_timeout"}),
    )?;
    let closed = e.close_until_flat(&plan.id, pos.side)?;
    e.cancel_plan_protection(&plan.id)?;
    let reason = ExitReason::ForcedClose("partial_fill_timeout".into());
    match closed {
        Some((qty, avg)) => {
            let pos_now = e.store.position(pos.id)?.unwrap_or_else(|| pos.clone());
            // Flat already: reading the fills' commission delays no safety step.
            let fees = crate::exec::close::position_fees(e, &plan.id);
            e.finalise_position(
                &pos_now,
                &reason,
                if qty > Decimal::ZERO { Some(avg) } else { None },
                Some(&fees),
                None,
            )?;
            Ok(Report::new("enter", "partial_fill_closed", ExitCode::Failed)
                .field("plan_id", plan.id.clone())
                .field("exit_reason", reason.to_string())
                .field("error", "ENTRY not fully filled within the fill window; the filled part was closed")
                .line("ENTRY only partly filled in time: remainder cancelled, position closed"))
        }
        None => {
            let msg = "partial ENTRY could not be closed".to_string();
            e.audit(Severity::Critical, audit::CLOSE_FAILED, Some(&plan.id), msg.clone(), json!({"why": msg}))?;
            e.halt(&msg, Some(&plan.id))?;
            Ok(Report::new("enter", "close_failed", ExitCode::Critical)
                .field("error", msg.clone())
                .line(format!("CRITICAL: {msg}; HALTED")))
        }
    }
}
