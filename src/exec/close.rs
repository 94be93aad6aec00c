//! Closing: idempotent cancels of protective orders, CLOSE at market until the exchange shows the
//! position flat (or `close_retry_max_elapsed_ms` passes, then HALT), and finalisation of the
//! position with its exit reason, fills, PnL and the cooldown.

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::fees::{FeeLine, Fees};
use crate::core::ledger::Ledger;
use crate::core::order::{OrderEvent, OrderRole};
use crate::core::plan::PlanStatus;
use crate::core::position::{ExitReason, PositionState};
use crate::core::types::PositionSide;
use crate::error::Result;
use crate::exchange::retry::{Retrier, RetryPolicy};
use crate::exchange::{CancelOutcome, ExConditional, ExPosition, ExResult, MarketOrderRequest};
use crate::exec::ambiguity;
use crate::exec::evaluate::QUOTE_ASSET;
use crate::exec::record::OrderRef;
use crate::exec::{snapshot, Engine};
use crate::outcome::{ExitCode, Report};
use crate::store::journal::Severity;
use crate::store::positions::{NewPosition, PositionClose, PositionRecord};
use rust_decimal::Decimal;
use serde_json::json;

/// The state an event leads to when it is a state report (not a request or a failure).
fn event_target(e: OrderEvent) -> Option<crate::core::order::OrderState> {
    use crate::core::order::OrderState as S;
    match e {
        OrderEvent::Acked => Some(S::Acked),
        OrderEvent::Triggered => Some(S::Triggered),
        OrderEvent::PartiallyFilled => Some(S::PartiallyFilled),
        OrderEvent::Filled => Some(S::Filled),
        OrderEvent::Rejected => Some(S::Rejected),
        OrderEvent::Cancelled => Some(S::Cancelled),
        OrderEvent::Expired => Some(S::Expired),
        _ => None,
    }
}

/// The plan id used in client ids and journal rows of a position. Adopted positions without a plan
/// get a synthetic one derived from their row id, so their orders still carry our prefix.
pub fn journal_plan_id(pos: &PositionRecord) -> String {
    pos.trade_plan_id.clone().or_else(|| pos.owner_plan_id.clone()).unwrap_or_else(|| format!("adopt{:06}", pos.id))
}

impl Engine<'_> {
    /// Reads with the bounded READ retry policy — unless the exchange retries its reads itself
    /// under the command's budget (Binance): then once, so retries never nest (issue 12 §4).
    pub fn read<T>(&self, what: &str, mut op: impl FnMut(u32) -> ExResult<T>) -> ExResult<T> {
        if self.ex.retries_reads() {
            return op(1);
        }
        let seed = u64::try_from(self.now()).unwrap_or(0);
        Retrier::new(self.clock, RetryPolicy::READ, seed).run(what, what, op)
    }

    /// Reads that guard a position's protection: retried (bounded by
    /// `close_retry_max_elapsed_ms`, like CLOSE) rather than given up after a short outage — by
    /// the exchange itself when it retries its reads (Binance: the command's one budget).
    pub fn read_persistent<T>(&self, what: &str, mut op: impl FnMut(u32) -> ExResult<T>) -> ExResult<T> {
        if self.ex.retries_reads() {
            return op(1);
        }
        let policy = RetryPolicy {
            max_attempts: 30,
            max_elapsed_ms: self.cfg.execution.close_retry_max_elapsed_ms.as_u64(),
            base_delay_ms: 250,
            max_delay_ms: 5_000,
        };
        let seed = u64::try_from(self.now()).unwrap_or(0);
        Retrier::new(self.clock, policy, seed).run(what, what, op)
    }

    /// The exchange position, read with retries.
    pub fn read_position(&self) -> ExResult<ExPosition> {
        let symbol = self.symbol().to_string();
        self.read("position", |_| self.ex.position(&symbol))
    }

    /// The journal ledger of one plan id.
    pub fn ledger(&self, plan_id: &str) -> Result<Ledger> {
        Ok(self.store.ledger_for_plan(plan_id)?)
    }

    /// Makes sure a client id seen on the exchange has an intent row, so its later events fold
    /// through the state machine (an order the journal never saw is recorded as discovered).
    pub fn ensure_known(&mut self, o: &OrderRef, price: Option<Decimal>, qty: Decimal) -> Result<()> {
        let plan = o.plan_id.clone().unwrap_or_default();
        if !self.ledger(&plan)?.orders.contains_key(&o.client_id) {
            // Found open on the exchange: the intent we never recorded, then what we saw.
            let note = Some("discovered on the exchange; not in the journal".to_string());
            self.record(o, OrderEvent::Submitting, None, None, price, Some(qty), note, None)?;
            self.record(
                o,
                OrderEvent::Acked,
                None,
                None,
                price,
                Some(qty),
                Some("discovered open on the exchange".into()),
                None,
            )?;
        }
        Ok(())
    }

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
                    Ok(None) => self.record(
                        &o,
                        OrderEvent::Expired,
                        None,
                        None,
                        None,
                        None,
                        Some("reconcile: gone from the exchange".into()),
                        None,
                    )?,
                    Err(_) => continue,
                }
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Cancels one of our conditional orders idempotently (seed 001 §4): "not open" counts as
    /// success only after a look-up shows it is not still open. Returns true when it is gone.
    pub fn cancel_conditional_idempotent(&mut self, client_id: &str, fallback_qty: Decimal) -> Result<bool> {
        let Ok(id) = ClientOrderId::parse(client_id) else { return Ok(false) };
        let o = OrderRef {
            plan_id: Some(id.plan_id.clone()),
            role: id.role,
            attempt: id.attempt,
            client_id: client_id.to_string(),
        };
        self.ensure_known(&o, None, fallback_qty)?;
        let symbol = self.symbol().to_string();
        for _ in 0..2 {
            match self.ex.cancel_conditional(&symbol, client_id) {
                Ok(CancelOutcome::Cancelled { raw }) => {
                    self.record(&o, OrderEvent::Cancelled, None, Some("CANCELED".into()), None, None, None, Some(raw))?;
                    return Ok(true);
                }
                Ok(CancelOutcome::NotOpen { raw }) => {
                    match self.read("query_conditional", |_| self.ex.query_conditional(&symbol, client_id)) {
                        Ok(Some(c)) if c.status.is_open() => {
                            self.record(
                                &o,
                                OrderEvent::CancelFailed,
                                None,
                                None,
                                None,
                                None,
                                Some("cancel said unknown but the order is still open".into()),
                                Some(raw),
                            )?;
                        }
                        Ok(Some(c)) => {
                            self.record_conditional_if_new(&o, &c)?;
                            return Ok(true);
                        }
                        Ok(None) => {
                            self.record(
                                &o,
                                OrderEvent::Expired,
                                None,
                                None,
                                None,
                                None,
                                Some("exchange does not know it (already gone)".into()),
                                Some(raw),
                            )?;
                            return Ok(true);
                        }
                        Err(e) => {
                            self.record_error(&o, OrderEvent::CancelFailed, &e)?;
                            return Ok(false);
                        }
                    }
                }
                Err(e) => {
                    self.record_error(&o, OrderEvent::CancelFailed, &e)?;
                    if !ambiguity::is_unknown_outcome(&e) && e.class != crate::exchange::ErrorClass::Retryable {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Records a conditional's exchange state unless the journal already shows that state.
    pub fn record_conditional_if_new(&mut self, o: &OrderRef, c: &ExConditional) -> Result<()> {
        let plan = o.plan_id.clone().unwrap_or_default();
        let current = self.ledger(&plan)?.orders.get(&o.client_id).map(|v| v.state);
        let event = crate::exec::record::conditional_status_event(c);
        if current.is_some() && current == event_target(event) {
            return Ok(()); // the journal already says so
        }
        match crate::core::order::transition(current, event) {
            Ok(_) => self.record_conditional(o, c, None)?,
            // Not a valid step from what we believed (e.g. we thought it cancelled): note what we saw.
            Err(_) => self.record(
                o,
                OrderEvent::Observed,
                Some(c.algo_id.clone()),
                Some(format!("{:?}", c.status).to_uppercase()),
                Some(c.trigger_price),
                Some(c.qty),
                Some("exchange reports a state the journal cannot reach; kept for audit".into()),
                Some(c.raw.clone()),
            )?,
        }
        Ok(())
    }

    /// Cancels every open protective order of ours on the symbol (any plan). Returns how many
    /// could not be confirmed gone.
    pub fn cancel_all_protection(&mut self, conditionals: &[ExConditional]) -> Result<usize> {
        let mut failed = 0;
        for c in conditionals {
            if !self.cancel_conditional_idempotent(&c.client_id, c.qty)? {
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// Sends CLOSE (reduce-only market) until the exchange shows the position flat, retrying with
    /// a new attempt number each time, for at most `close_retry_max_elapsed_ms` (seed 000 §8.2,
    /// CONTRACT §7.7). Returns the CLOSE fills' (qty, avg price) or None when it could not confirm.
    pub fn close_until_flat(&mut self, plan_id: &str, side: PositionSide) -> Result<Option<(Decimal, Decimal)>> {
        let start = self.now();
        let deadline = self.cfg.execution.close_retry_max_elapsed_ms.after(start);
        let symbol = self.symbol().to_string();
        let mut filled_qty = Decimal::ZERO;
        let mut filled_notional = Decimal::ZERO;
        let mut backoff_ms: u64 = 250;
        loop {
            let position = match self.read_position() {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(event = "close.read_failed", error = %e, "cannot read position");
                    None
                }
            };
            if let Some(p) = &position {
                if p.is_flat() {
                    let avg = if filled_qty > Decimal::ZERO { filled_notional / filled_qty } else { Decimal::ZERO };
                    return Ok(Some((filled_qty, avg)));
                }
                let attempt = self.ledger(plan_id)?.next_attempt(plan_id, OrderRole::Close);
                let cid = ClientOrderId::new(&self.cfg.bot_id, plan_id, OrderRole::Close, attempt)
                    .map_err(|e| crate::error::Error::Failed(e.to_string()))?;
                let o = OrderRef {
                    plan_id: Some(plan_id.to_string()),
                    role: OrderRole::Close,
                    attempt,
                    client_id: cid.to_string(),
                };
                let qty = p.qty.abs();
                self.record_submitting(&o, Some(p.mark_price), qty)?;
                let req = MarketOrderRequest {
                    symbol: symbol.clone(),
                    side: side.exit_side(),
                    qty,
                    reduce_only: true,
                    client_id: o.client_id.clone(),
                };
                match self.ex.place_market(&req) {
                    Ok(order) => {
                        self.record_order(&o, &order, None)?;
                        filled_qty += order.executed_qty;
                        filled_notional += order.executed_qty * order.avg_price;
                    }
                    Err(e) if ambiguity::is_unknown_outcome(&e) => {
                        self.record_error(&o, OrderEvent::Unknown, &e)?;
                        let budget = ambiguity::Budget {
                            max_elapsed_ms: self.cfg.execution.entry_ack_timeout_ms.as_i64(),
                            pause_ms: 300,
                        };
                        let ex = self.ex;
                        match ambiguity::resolve(self.clock, budget, || ex.query_order(&symbol, &o.client_id)) {
                            ambiguity::Resolved::Found(order) => {
                                self.record_order(
                                    &o,
                                    &order,
                                    Some("found by client id after an ambiguous send".into()),
                                )?;
                                filled_qty += order.executed_qty;
                                filled_notional += order.executed_qty * order.avg_price;
                            }
                            ambiguity::Resolved::Absent => self.record_not_found(&o, "not accepted")?,
                            ambiguity::Resolved::Unknown(e2) => {
                                let e2 = e2.map_or_else(|| "look-up timed out".into(), |x| x.to_string());
                                tracing::warn!(event = "close.lookup_failed", error = %e2, "CLOSE outcome unknown")
                            }
                        }
                    }
                    Err(e) => self.record_error(&o, OrderEvent::Rejected, &e)?,
                }
                // Confirm right away: a filled CLOSE should leave the position flat now.
                if let Ok(p2) = self.read_position() {
                    if p2.is_flat() {
                        let avg = if filled_qty > Decimal::ZERO { filled_notional / filled_qty } else { Decimal::ZERO };
                        return Ok(Some((filled_qty, avg)));
                    }
                }
            }
            if self.now() + i64::try_from(backoff_ms).unwrap_or(0) > deadline {
                return Ok(None);
            }
            self.clock.sleep_ms(backoff_ms);
            backoff_ms = (backoff_ms * 2).min(5_000);
        }
    }

    /// Finalises a position: CLOSED with its reason, plan CLOSED, cooldown started, audited.
    pub fn finalise_position(
        &mut self,
        pos: &PositionRecord,
        reason: &ExitReason,
        exit_price: Option<Decimal>,
        fees: Option<&Fees>,
        exit_time_ms: Option<i64>,
    ) -> Result<()> {
        let now = self.now();
        // The position's column holds the quote-asset total only when it is the whole of the fees.
        let quote_fees = fees.and_then(|f| f.quote_total(QUOTE_ASSET));
        // The exchange's own time of the fill that closed it, when known; else this moment. Its
        // clock may run a little ahead of ours; a time far ahead is not a fill time.
        let exit_time_ms = exit_time_ms.filter(|t| *t > 0 && *t <= now + EXIT_TIME_AHEAD_MS);
        let funding = close_funding(self, pos, exit_time_ms.unwrap_or(now));
        let pnl = exit_price
            .filter(|p| *p > Decimal::ZERO)
            .map(|x| crate::core::trades::price_pnl(pos.side, pos.entry_price, x, pos.qty));
        self.store.close_position(
            pos.id,
            &PositionClose {
                exit_reason: reason.to_string(),
                exit_price,
                realized_pnl: pnl,
                fees: quote_fees,
                closed_ms: now,
            },
        )?;
        if let Some(plan_id) = &pos.trade_plan_id {
            if let Some(plan) = self.store.plan(plan_id)? {
                if plan.status.can_become(PlanStatus::Closed) {
                    self.store.set_plan_status(plan_id, PlanStatus::Closed, now)?;
                }
            }
        }
        let cooldown = self.cfg.strategy.cooldown_ms();
        self.store.set_cooldown_until(now + cooldown)?;
        let plan = journal_plan_id(pos);
        self.audit(
            Severity::Info,
            audit::POSITION_CLOSED,
            Some(&plan),
            format!("position closed: {reason}"),
            json!({"exit_reason": reason.to_string(), "exit_price": exit_price.map(|d| d.to_string()),
                   "realized_pnl": pnl.map(|d| d.to_string()), "fees": quote_fees.map(|d| d.to_string()), "qty": pos.qty.to_string(),
                   "funding": funding.map(|d| d.to_string()), "exit_time_ms": exit_time_ms,
                   "side": pos.side.to_string(), "entry_price": pos.entry_price.to_string(),
                   "fees_by_asset": fees.map(Fees::by_asset_json), "fees_complete": fees.map(Fees::complete),
                   "fees_unknown_orders": fees.map(|f| f.unknown_orders.clone())}),
        )?;
        Ok(())
    }
}

/// Adopts an exchange position the DB does not know (F-003), with a WARN audit.
pub fn adopt(e: &mut Engine<'_>, p: &ExPosition, plan_id: Option<String>, why: &str) -> Result<PositionRecord> {
    adopt_covered(e, p, plan_id, None, why)
}

/// `adopt`, for a position whose covering STOP/TP name the plan `covered_by` although the DB has
/// no such plan (a lost state): the position is journaled under that id so its working orders
/// stay its protection (issue 10 item 4).
pub fn adopt_covered(
    e: &mut Engine<'_>,
    p: &ExPosition,
    plan_id: Option<String>,
    covered_by: Option<&str>,
    why: &str,
) -> Result<PositionRecord> {
    let side = if p.qty > Decimal::ZERO { PositionSide::Long } else { PositionSide::Short };
    let now = e.now();
    let rec = e.store.insert_position(&NewPosition {
        trade_plan_id: plan_id.clone(),
        symbol: e.symbol().to_string(),
        side,
        state: PositionState::Open,
        qty: p.qty.abs(),
        entry_price: p.entry_price,
        opened_ms: now,
        adopted: plan_id.is_none(),
    })?;
    e.store.set_position_fill(rec.id, p.qty.abs(), p.entry_price, Some(now))?;
    if let Some(owner) = covered_by {
        e.store.set_position_owner_plan(rec.id, owner)?;
    }
    let rec = e.store.position(rec.id)?.unwrap_or(rec);
    let jp = journal_plan_id(&rec);
    e.audit(
        Severity::Warn,
        audit::POSITION_ADOPTED,
        Some(&jp),
        format!("adopted exchange position {} {} @ {} ({why})", side, p.qty.abs(), p.entry_price),
        json!({"qty": p.qty.abs().to_string(), "entry_price": p.entry_price.to_string(), "plan_id": plan_id}),
    )?;
    Ok(e.store.position(rec.id)?.unwrap_or(rec))
}

/// `exit`: cancel STOP/TP, CLOSE at market until flat, record the exit reason (seed 000 §7).
/// Never blocked by HALTED (CONTRACT §7.6).
pub fn exit_position(e: &mut Engine<'_>, reason: &ExitReason) -> Result<Report> {
    let snap = snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id)?;
    let db_pos = e.store.active_position(&e.cfg.symbol)?;
    if snap.position.is_flat() {
        if let Some(pos) = db_pos {
            // Already flat on the exchange: reconcile's finalisation decides the real reason.
            let r = crate::exec::close::finalise_flat(e, &pos, &snap)?;
            return Ok(Report::ok("exit")
                .field("outcome_detail", "already_flat")
                .field("exit_reason", r.to_string())
                .line(format!("already flat; finalised as {r}")));
        }
        let failed = e.cancel_all_protection(&snap.our_conditionals)?;
        return Ok(Report::ok("exit")
            .field("position", serde_json::Value::Null)
            .field("orphans_cancel_failed", failed)
            .line("no position; nothing to do"));
    }
    let pos = match db_pos {
        Some(p) => p,
        None => adopt(e, &snap.position, None, "found during exit")?,
    };
    let plan_id = journal_plan_id(&pos);
    e.store.set_position_state(pos.id, PositionState::Closing)?;
    // Seed 000 §7 cancels STOP and TP, then closes. The TP goes first; the STOP stays until the
    // CLOSE is confirmed, so the position is never without a STOP while a CLOSE may keep failing
    // (seed 000 §12 AC1, CONTRACT §7.1). Both are reduce-only: a STOP that fires during the CLOSE
    // cannot open a position.
    let (stops, others): (Vec<ExConditional>, Vec<ExConditional>) = snap
        .our_conditionals
        .iter()
        .cloned()
        .partition(|c| ClientOrderId::parse(&c.client_id).is_ok_and(|id| id.role == OrderRole::Stop));
    let mut cancel_failed = e.cancel_all_protection(&others)?;
    let closed = e.close_until_flat(&plan_id, pos.side)?;
    if closed.is_some() {
        cancel_failed += e.cancel_all_protection(&stops)?;
    }
    match closed {
        Some((qty, avg)) => {
            let fees = position_fees(e, &plan_id);
            let exit_price = if qty > Decimal::ZERO { Some(avg) } else { None };
            let reason = if qty > Decimal::ZERO { reason.clone() } else { evidence_reason(e, &pos)? };
            e.finalise_position(&pos, &reason, exit_price, Some(&fees), None)?;
            // Anything that appeared meanwhile (a late STOP) must not outlive the position.
            if let Ok(s2) = snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id) {
                e.cancel_all_protection(&s2.our_conditionals)?;
            }
            Ok(Report::ok("exit")
                .field("exit_reason", reason.to_string())
                .field("exit_price", exit_price.map(|d| d.to_string()))
                .field("qty", qty.to_string())
                .field("protection_cancel_failed", cancel_failed)
                .field("fees", fees.quote_total(QUOTE_ASSET).map(|d| d.to_string()))
                .field("fees_by_asset", fees.by_asset_json())
                .field("fees_complete", fees.complete())
                .line(format!("closed {} {} @ {} ({reason})", pos.side, qty, avg.round_dp(2))))
        }
        None => {
            e.store.set_position_state(pos.id, PositionState::Open)?;
            let why = format!("CLOSE not confirmed within {} ms", e.cfg.execution.close_retry_max_elapsed_ms);
            e.audit(Severity::Critical, audit::CLOSE_FAILED, Some(&plan_id), why.clone(), json!({"why": why}))?;
            e.halt(&format!("close failed: {why}"), Some(&plan_id))?;
            // The STOP was cancelled for the close; a position that stays open must not stay naked.
            let restored = restore_protection(e, &pos);
            Ok(Report::new("exit", "close_failed", ExitCode::Critical)
                .field("error", why.clone())
                .field("protection_restored", restored)
                .line(format!(
                    "CRITICAL: {why}; system HALTED; protection {}",
                    if restored { "restored" } else { "NOT restored" }
                )))
        }
    }
}

/// Re-places STOP/TP for a position whose CLOSE failed (best effort: during an outage it may fail
/// too, and then the HALT and the CRITICAL audit are all that is left).
fn restore_protection(e: &mut Engine<'_>, pos: &PositionRecord) -> bool {
    let Ok(snap) = snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id) else { return false };
    if snap.position.is_flat() {
        return true;
    }
    let Ok(Some(p)) = e.store.position(pos.id) else { return false };
    crate::exec::protect::ensure_protection(e, &p, &snap).is_ok_and(|r| r.exit == ExitCode::Ok)
}

/// Commission of every filled order of the plan, by asset. An order whose trades cannot be read,
/// or do not cover its fill, is unknown (never zero). A filled STOP/TP's trades are its child
/// MARKET order's (`actualOrderId`, looked up), read around its trigger time, not its placement.
/// Each read is bounded around the order's own time.
pub(crate) fn position_fees(e: &Engine<'_>, plan_id: &str) -> Fees {
    let mut fees = Fees::default();
    let Ok(ledger) = e.ledger(plan_id) else {
        fees.unknown_orders.push(format!("plan {plan_id}: journal unreadable"));
        return fees;
    };
    for o in OrderRole::ALL.into_iter().flat_map(|role| ledger.of(plan_id, role)) {
        let Some(filled) = o.filled_qty.filter(|q| *q > Decimal::ZERO) else { continue };
        let target = if o.role.is_conditional() {
            match e.ex.query_conditional_placed(e.symbol(), &o.client_id, o.first_ts_ms) {
                Ok(Some(c)) => c.actual_order_id.map(|child| (child, c.update_time_ms)),
                _ => None,
            }
        } else {
            o.exchange_order_id.clone().map(|id| (id, o.first_ts_ms))
        };
        let Some((id, around_ms)) = target else {
            fees.unknown_orders.push(o.client_id.clone());
            continue;
        };
        let lines = match e.ex.order_fills(e.symbol(), &id, around_ms) {
            Ok(fills) => Some(
                fills
                    .into_iter()
                    .map(|f| FeeLine { qty: f.qty, commission: f.commission, asset: f.commission_asset })
                    .collect::<Vec<_>>(),
            ),
            Err(err) => {
                tracing::warn!(event = "fees.unknown", order_id = %id, error = %err, "fills not read: fees unknown");
                None
            }
        };
        if lines.as_ref().is_some_and(Vec::is_empty) {
            tracing::warn!(event = "fees.unknown", order_id = %id, %filled, "filled but no trades found: fees unknown");
        }
        fees.add_order(&id, filled, lines.as_deref());
    }
    fees
}

/// How far ahead of our clock an exchange fill time may be and still be taken as the exit time
/// (the server clock's offset from ours, which signed requests measure and correct for).
const EXIT_TIME_AHEAD_MS: i64 = 60_000;

/// Funding the exchange settled on the position from its entry fill to `exit_ms`, summed. `None`
/// when the exchange does not answer or answers in another asset: unknown is not zero. Read after
/// the close, like the fees, so it never delays it.
fn close_funding(e: &Engine<'_>, pos: &PositionRecord, exit_ms: i64) -> Option<Decimal> {
    let start = pos.entry_filled_ms.unwrap_or(pos.opened_ms);
    let paid = e.ex.funding_history(e.symbol(), start, exit_ms.max(start)).ok()?;
    paid.iter().all(|p| p.asset == crate::exec::evaluate::QUOTE_ASSET).then(|| paid.iter().map(|p| p.amount).sum())
}

/// The exit reason the evidence supports when the exchange is flat and we did not close it now:
/// a filled STOP → stop_hit, a filled TP → tp_hit, our filled CLOSE → the recorded pending reason,
/// otherwise external.
pub fn evidence_reason(e: &Engine<'_>, pos: &PositionRecord) -> Result<ExitReason> {
    let plan_id = journal_plan_id(pos);
    let ledger = e.ledger(&plan_id)?;
    let filled = |role| {
        ledger.of(&plan_id, role).iter().any(|o| {
            o.filled_qty.is_some_and(|q| q > Decimal::ZERO) && o.state == crate::core::order::OrderState::Filled
        })
    };
    if filled(OrderRole::Stop) {
        return Ok(ExitReason::StopHit);
    }
    if filled(OrderRole::Tp) {
        return Ok(ExitReason::TpHit);
    }
    if filled(OrderRole::Close) {
        if let Some(r) = pos.pending_exit_reason.as_deref().and_then(|r| r.parse().ok()) {
            return Ok(r);
        }
        // A forced close audits its reason before its CLOSE is sent: that row survives a crash
        // that lost the CLOSE's answer.
        let forced = e.store.journal_for_plan(&plan_id)?.into_iter().rev().find_map(|j| match j {
            crate::store::journal::JournalEntry::AuditEvent(a) if a.event.kind == crate::core::audit::FORCED_CLOSE => {
                let why = a.event.data.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())?;
                Some(crate::exec::protect::why_word(why["why"].as_str().unwrap_or("forced")))
            }
            _ => None,
        });
        return Ok(forced.map_or(ExitReason::Manual, ExitReason::ForcedClose));
    }
    Ok(ExitReason::External)
}

/// The exchange is flat but the DB holds a position: look up our protective orders to learn what
/// closed it, record that, finalise, and cancel the leftover sibling.
pub fn finalise_flat(e: &mut Engine<'_>, pos: &PositionRecord, snap: &snapshot::Snapshot) -> Result<ExitReason> {
    let plan_id = journal_plan_id(pos);
    let symbol = e.symbol().to_string();
    let ledger = e.ledger(&plan_id)?;
    let mut exit_price = None;
    let mut exit_time = None;
    // Refresh every protective order that may still be live in our belief.
    let candidates: Vec<(OrderRole, u32, String, i64)> = ledger
        .orders
        .values()
        .filter(|o| o.role.is_conditional() && o.state.may_be_live())
        .map(|o| (o.role, o.attempt, o.client_id.clone(), o.first_ts_ms))
        .collect();
    for (role, attempt, cid, placed) in candidates {
        let o = OrderRef { plan_id: Some(plan_id.clone()), role, attempt, client_id: cid.clone() };
        // The evidence decides the exit reason: a look-up that fails defers finalisation (the
        // reconcile fails, the next run tries again) rather than guessing `external`.
        if let Some(c) =
            e.read_persistent("query_conditional", |_| e.ex.query_conditional_placed(&symbol, &cid, placed))?
        {
            e.record_conditional_if_new(&o, &c)?;
            if crate::exec::record::conditional_status_event(&c) == OrderEvent::Filled {
                exit_price = c.actual_price.or(Some(c.trigger_price));
                exit_time = Some(c.update_time_ms);
            }
        }
    }
    // A CLOSE whose answer was lost (a crash right after sending it) is looked up by client id:
    // its fill is the evidence for the exit reason.
    let inflight: Vec<(u32, String, crate::core::order::OrderState)> = e
        .ledger(&plan_id)?
        .of(&plan_id, OrderRole::Close)
        .into_iter()
        .filter(|o| o.state.may_be_live())
        .map(|o| (o.attempt, o.client_id.clone(), o.state))
        .collect();
    for (attempt, cid, state) in inflight {
        let o = OrderRef { plan_id: Some(plan_id.clone()), role: OrderRole::Close, attempt, client_id: cid.clone() };
        match e.read_persistent("query_order", |_| e.ex.query_order(&symbol, &cid)) {
            Ok(Some(order)) => {
                if order.executed_qty > Decimal::ZERO {
                    exit_time = exit_time.or(Some(order.update_time_ms));
                }
                e.record_order(&o, &order, Some("found by client id after the answer was lost".into()))?
            }
            Ok(None)
                if matches!(
                    state,
                    crate::core::order::OrderState::Intended | crate::core::order::OrderState::Unknown
                ) =>
            {
                e.record_not_found(&o, "never accepted")?
            }
            Ok(None) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let reason = evidence_reason(e, pos)?;
    if exit_price.is_none() {
        exit_price = filled_exit_price(e, &plan_id)?;
    }
    if exit_time.is_none() {
        exit_time = filled_exit_time(e, &plan_id);
    }
    let fees = position_fees(e, &plan_id);
    e.finalise_position(pos, &reason, exit_price, Some(&fees), exit_time)?;
    e.cancel_all_protection(&snap.our_conditionals)?;
    Ok(reason)
}

/// The exchange's time of the fill that closed the position, when an earlier reconcile already
/// journaled it FILLED (the journal keeps its own time, not the exchange's): the filled STOP/TP's
/// update time, else the filled CLOSE's. Best effort: a failed look-up leaves the journal's time.
fn filled_exit_time(e: &Engine<'_>, plan_id: &str) -> Option<i64> {
    use crate::core::order::OrderState;
    let ledger = e.ledger(plan_id).ok()?;
    let last_filled = |role| ledger.of(plan_id, role).into_iter().rev().find(|o| o.state == OrderState::Filled);
    if let Some(o) = last_filled(OrderRole::Stop).or_else(|| last_filled(OrderRole::Tp)) {
        return e.ex.query_conditional(e.symbol(), &o.client_id).ok()?.map(|c| c.update_time_ms);
    }
    let o = last_filled(OrderRole::Close)?;
    e.ex.query_order(e.symbol(), &o.client_id).ok()?.map(|c| c.update_time_ms)
}

/// The fill price of whatever closed the position: a filled STOP or TP, else the last CLOSE fill.
fn filled_exit_price(e: &Engine<'_>, plan_id: &str) -> Result<Option<Decimal>> {
    let ledger = e.ledger(plan_id)?;
    let filled = |role| {
        ledger
            .of(plan_id, role)
            .into_iter()
            .rev()
            .find(|o| o.state == crate::core::order::OrderState::Filled)
            .and_then(|o| o.fill_price)
    };
    Ok(filled(OrderRole::Stop)
        .or_else(|| filled(OrderRole::Tp))
        .or_else(|| ledger.of(plan_id, OrderRole::Close).iter().rev().find_map(|o| o.fill_price)))
}
