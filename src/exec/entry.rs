//! The ENTRY sequence (seed 000 §4–6, CONTRACT §5): current plan → concurrent pre-read →
//! pre-flight → mode re-read → two-phase submit (intent committed before the request; an ambiguous
//! outcome is resolved by client-id look-up before anything else) → fill window → protection.
//! Never two ENTRY orders that can fill for one plan (F-001).

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::money::SymbolFilters;
use crate::core::order::{OrderEvent, OrderRole, OrderState};
use crate::core::plan::{PlanStatus, TradePlan};
use crate::core::position::PositionState;
use crate::core::preflight::{self, PreflightInput};
use crate::error::{Error, Result};
use crate::exchange::{
    AccountSettings, ErrorClass, ExOrder, ExOrderStatus, ExResult, Exchange, MarkInfo, MarketOrderRequest,
};
use crate::exec::ambiguity::{self, Resolved};
use crate::exec::outcome::{
    EntryOutcome, ForcedClose, LegFailure, NotFilledWhy, Protection, ProtectionFailed, ProtectionFailure,
};
use crate::exec::position::adopt;
use crate::exec::protect::{protect_new_fill, LegVerdict, Targets};
use crate::exec::record::OrderRef;
use crate::exec::snapshot::{self, Snapshot};
use crate::exec::{failsafe, Engine};
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
pub fn enter(e: &mut Engine<'_>) -> Result<EntryOutcome> {
    crate::exec::unwritable::guarded(e, EntryOutcome::Unwritable, enter_unguarded)
}

fn enter_unguarded(e: &mut Engine<'_>) -> Result<EntryOutcome> {
    // Reconcile's reads serve this ENTRY at most: never a later one.
    let prefetched = e.prefetched.take();
    let now = e.now();
    let Some(plan) = e.store.latest_plan_with_status(PlanStatus::Planned)? else {
        return Ok(EntryOutcome::NoPlan);
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
        return Ok(EntryOutcome::Expired { plan_id: plan.id });
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
    e.filters_seen = Some(pre.inputs.filters.clone());
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
fn submit(e: &mut Engine<'_>, planned: &TradePlan, filters: &SymbolFilters) -> Result<EntryOutcome> {
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
                return Ok(EntryOutcome::NotFilled { plan_id: plan.id.clone(), why: NotFilledWhy::NotAccepted(why) });
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
    let budget = ambiguity::Budget { max_elapsed_ms: e.cfg.execution.entry_ack_timeout_ms.as_i64(), pause_ms: 300 };
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
fn unresolved(e: &mut Engine<'_>, plan: &TradePlan, why: &str) -> Result<EntryOutcome> {
    if let Ok(p) = e.read_position() {
        if !p.is_flat() {
            let pos = adopt(e, &p, Some(plan.id.clone()), "ENTRY outcome unknown; position found")?;
            e.store.set_plan_status(&plan.id, PlanStatus::Filled, e.now())?;
            if let Some(f) = protect_new_fill(e, &pos, p.qty.abs())? {
                return Ok(EntryOutcome::ProtectionFailed(f));
            }
            return Ok(EntryOutcome::FoundAndProtected { plan_id: plan.id.clone() });
        }
    }
    let msg = format!("ENTRY outcome unknown ({why}); exchange cannot confirm; HALTED until reconcile");
    e.audit(Severity::Critical, audit::ENTRY_NOT_FILLED, Some(&plan.id), msg.clone(), json!({"why": why}))?;
    e.halt(&msg, Some(&plan.id))?;
    Ok(EntryOutcome::Unresolved { plan_id: plan.id.clone(), msg })
}

/// Opens the position for the filled quantity and protects it at once; then handles a partial fill.
fn after_ack(e: &mut Engine<'_>, plan: &TradePlan, o: &OrderRef, mut order: ExOrder) -> Result<EntryOutcome> {
    if order.executed_qty.is_zero() && !order.status.is_open() {
        e.store.set_plan_status(&plan.id, PlanStatus::NotFilled, e.now())?;
        e.audit(
            Severity::Warn,
            audit::ENTRY_NOT_FILLED,
            Some(&plan.id),
            format!("ENTRY ended {:?} with nothing filled", order.status),
            json!({"client_id": o.client_id, "why": format!("{:?}", order.status)}),
        )?;
        return Ok(EntryOutcome::NotFilled { plan_id: plan.id.clone(), why: NotFilledWhy::NothingFilled });
    }
    let mut pos: Option<PositionRecord> = None;
    if order.executed_qty > Decimal::ZERO {
        let (p, failed) = if order.fill_price().is_some() {
            let p = open_position(e, plan, o, &order, e.now())?;
            let failed = protect_new_fill(e, &p, order.executed_qty)?;
            (p, failed)
        } else {
            protect_before_the_price(e, plan, o, &mut order)?
        };
        if let Some(f) = failed {
            return Ok(EntryOutcome::ProtectionFailed(f));
        }
        pos = Some(p);
    }
    if order.status == ExOrderStatus::Filled {
        return done(e, plan, pos.as_ref(), &order);
    }
    fill_window(e, plan, o, order, pos)
}

/// `filled_ms`: when the ENTRY's answer said it filled (the start of the unprotected window).
fn open_position(
    e: &mut Engine<'_>,
    plan: &TradePlan,
    o: &OrderRef,
    order: &ExOrder,
    filled_ms: i64,
) -> Result<PositionRecord> {
    let now = filled_ms;
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

/// An ENTRY that filled, answered without a price (Binance's official `NewOrderResponse` carries
/// no avgPrice, issue 12 §1): the STOP goes out at once — its trigger is the plan's, committed
/// with the ENTRY intent — and the price is looked up by client id in the STOP's own round. The
/// TP (exactly 2R from the actual fill) follows once the price is known. Never a guessed price:
/// when the look-up cannot say, the exchange position's entry price is read; only when that fails
/// too is the plan's reference price used, with a WARN audit.
fn protect_before_the_price(
    e: &mut Engine<'_>,
    plan: &TradePlan,
    o: &OrderRef,
    order: &mut ExOrder,
) -> Result<(PositionRecord, Option<ProtectionFailed>)> {
    let filled_ms = e.now();
    let qty = order.executed_qty;
    let prepared = e
        .ledger(&plan.id)?
        .of(&plan.id, OrderRole::Stop)
        .last()
        .filter(|v| v.state == OrderState::Intended)
        .and_then(|v| v.order_price);
    let (ex, clock, symbol, cid) = (e.ex, e.clock, e.cfg.symbol.clone(), o.client_id.clone());
    let budget = ambiguity::Budget { max_elapsed_ms: e.cfg.execution.entry_ack_timeout_ms.as_i64(), pause_ms: 300 };
    let priced = move || {
        ambiguity::resolve(clock, budget, || {
            ex.query_order(&symbol, &cid).map(|q| q.filter(|q| q.fill_price().is_some()))
        })
    };
    let (verdicts, looked_up) = match prepared {
        Some(stop) => {
            let t = Targets { side: plan.side, qty, stop, tp: stop };
            let (verdicts, looked_up) = e.place_legs_alongside(&plan.id, &t, &[OrderRole::Stop], Some(priced))?;
            (Some((t, verdicts)), looked_up.unwrap_or(Resolved::Unknown(None)))
        }
        // No STOP intent to place (cannot happen after `submit`): the price first, then both legs.
        None => (None, priced()),
    };
    let price = match looked_up {
        Resolved::Found(q) => {
            let detail = Some("fill price looked up by client id (the answer carried none)".to_string());
            if q.status != order.status || q.executed_qty != order.executed_qty {
                e.record_order(o, &q, detail)?;
            } else {
                let status = Some(format!("{:?}", q.status).to_uppercase());
                let (id, raw) = (Some(q.order_id.clone()), Some(q.raw.clone()));
                e.record(o, OrderEvent::Observed, id, status, q.fill_price(), Some(q.executed_qty), detail, raw)?;
            }
            let price = q.avg_price;
            *order = ExOrder { raw: String::new(), ..q };
            price
        }
        Resolved::Absent | Resolved::Unknown(_) => price_from_position(e, plan, o)?,
    };
    order.avg_price = price;
    let p = open_position(e, plan, o, order, filled_ms)?;
    let Some((t, verdicts)) = verdicts else {
        return Ok((p.clone(), protect_new_fill(e, &p, qty)?));
    };
    e.note_placed(&p, &t, &verdicts)?;
    let legs: Vec<LegFailure> = verdicts
        .into_iter()
        .filter_map(|(_, v)| match v {
            LegVerdict::Failed(f) => Some(f),
            LegVerdict::Placed { .. } => None,
        })
        .collect();
    if !legs.is_empty() {
        return Ok((p.clone(), Some(failsafe::protection_failed(e, &p, ProtectionFailure { legs })?)));
    }
    if let Some(f) = crate::exec::protect::protect_legs(e, &p, qty, &[OrderRole::Tp])? {
        return Ok((p, Some(f)));
    }
    // The look-up may have seen more of the order filled than the answer did.
    let p = e.store.position(p.id)?.unwrap_or(p);
    if order.executed_qty > qty {
        if let Some(f) = resize(e, Some(&p))? {
            return Ok((p, Some(f)));
        }
    }
    Ok((p, None))
}

/// The fill's price when the order look-up could not give it: the exchange position's entry
/// price (a fresh position's is the fill's), else the plan's reference, said in a WARN audit.
fn price_from_position(e: &mut Engine<'_>, plan: &TradePlan, o: &OrderRef) -> Result<Decimal> {
    if let Ok(p) = e.read_position() {
        if p.entry_price > Decimal::ZERO && p.qty.abs() > Decimal::ZERO {
            return Ok(p.entry_price);
        }
    }
    e.audit(
        Severity::Warn,
        audit::FILL_PRICE_UNKNOWN,
        Some(&plan.id),
        format!(
            "ENTRY {} filled but no read gave its price: the plan's reference {} stands in",
            o.client_id, plan.entry_ref
        ),
        json!({"client_id": o.client_id, "entry_ref": plan.entry_ref.to_string()}),
    )?;
    Ok(plan.entry_ref)
}

fn done(e: &mut Engine<'_>, plan: &TradePlan, pos: Option<&PositionRecord>, order: &ExOrder) -> Result<EntryOutcome> {
    let unprotected_window_ms = match pos {
        Some(p) => e.store.position(p.id)?.and_then(|p| p.unprotected_window_ms),
        None => None,
    };
    Ok(EntryOutcome::Entered {
        plan_id: plan.id.clone(),
        side: plan.side,
        qty: order.executed_qty,
        avg_price: order.avg_price,
        unprotected_window_ms,
    })
}

/// A partial fill: within `entry_fill_window_ms` either it completes (protection resized) or the
/// remainder is cancelled and the position closed (seed 000 §6, F-004).
fn fill_window(
    e: &mut Engine<'_>,
    plan: &TradePlan,
    o: &OrderRef,
    mut order: ExOrder,
    mut pos: Option<PositionRecord>,
) -> Result<EntryOutcome> {
    let symbol = e.cfg.symbol.clone();
    let deadline = e.cfg.execution.entry_fill_window_ms.after(e.now());
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
            pos = match sync_fill(e, plan, o, &order, pos)? {
                Ok(p) => Some(p),
                Err(f) => return Ok(EntryOutcome::ProtectionFailed(f)),
            };
            if let Some(f) = resize(e, pos.as_ref())? {
                return Ok(EntryOutcome::ProtectionFailed(f));
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
                pos = match sync_fill(e, plan, o, &order, pos)? {
                    Ok(p) => Some(p),
                    Err(f) => return Ok(EntryOutcome::ProtectionFailed(f)),
                };
            }
        }
    }
    if order.status == ExOrderStatus::Filled {
        if let Some(f) = resize(e, pos.as_ref())? {
            return Ok(EntryOutcome::ProtectionFailed(f));
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
            Ok(EntryOutcome::NotFilled { plan_id: plan.id.clone(), why: NotFilledWhy::FillWindow })
        }
        Some(p) => Ok(match failsafe::close_partial(e, &plan.id, &p)? {
            ForcedClose::Closed { reason } => EntryOutcome::PartialClosed { plan_id: plan.id.clone(), reason },
            ForcedClose::NotConfirmed { .. } => EntryOutcome::PartialCloseFailed,
        }),
    }
}

/// Keeps the position row in step with the ENTRY's filled quantity; a first fill is protected at
/// once (`Err`: its protection failed and the failure path ran).
fn sync_fill(
    e: &mut Engine<'_>,
    plan: &TradePlan,
    o: &OrderRef,
    order: &ExOrder,
    pos: Option<PositionRecord>,
) -> Result<std::result::Result<PositionRecord, ProtectionFailed>> {
    match pos {
        None => {
            let p = open_position(e, plan, o, order, e.now())?;
            if let Some(f) = protect_new_fill(e, &p, order.executed_qty)? {
                return Ok(Err(f));
            }
            Ok(Ok(p))
        }
        Some(p) => {
            e.store.set_position_fill(p.id, order.executed_qty, order.avg_price, None)?;
            if order.status == ExOrderStatus::Filled {
                e.store.set_plan_status(&plan.id, PlanStatus::Filled, e.now())?;
            }
            Ok(Ok(e.store.position(p.id)?.unwrap_or(p)))
        }
    }
}

/// Resizes protection to the exchange position (bounded: one place-then-cancel round).
/// `Some`: the resize could not be placed and the failure path ran.
fn resize(e: &mut Engine<'_>, pos: Option<&PositionRecord>) -> Result<Option<ProtectionFailed>> {
    let Some(p) = pos else { return Ok(None) };
    let snap = snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id)?;
    Ok(match crate::exec::protect::ensure_protection(e, p, &snap)? {
        Protection::Failed(f) => Some(f),
        Protection::Covered { .. } | Protection::Placed { .. } => None,
    })
}
