//! Protection: STOP and TP as reduce-only conditional orders for the position's full size, placed
//! concurrently, each with one retry for a provably retryable failure. A leg that cannot be placed
//! hands over to the failure path (`exec::failsafe`).

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::money::PriceRounding;
use crate::core::order::{OrderEvent, OrderRole, OrderState};
use crate::core::plan::take_profit_price;
use crate::core::protection;
use crate::core::types::PositionSide;
use crate::error::{Error, Result};
use crate::exchange::{
    ConditionalKind, ConditionalOrderRequest, ErrorClass, ExConditional, Exchange, ExchangeError, WorkingType,
};
use crate::exec::outcome::{
    Cover, LegFailure, LegFailureKind, ProtectOutcome, Protection, ProtectionFailed, ProtectionFailure,
};
use crate::exec::position::{adopt, finalise_flat, journal_plan_id};
use crate::exec::record::OrderRef;
use crate::exec::{ambiguity, failsafe, snapshot, Engine};
use crate::store::journal::Severity;
use crate::store::positions::PositionRecord;
use rust_decimal::Decimal;
use serde_json::json;

/// What protection must look like for a position.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    pub side: PositionSide,
    pub qty: Decimal,
    pub stop: Decimal,
    pub tp: Decimal,
}

/// Result of one placement attempt, measured on the engine's clock.
pub(crate) enum Leg {
    Acked(ExConditional, i64),
    Ambiguous(ExchangeError, Result<Option<ExConditional>, ExchangeError>, i64),
    Failed(ExchangeError),
}

/// The verdict on one leg after (at most) two attempts.
#[derive(Debug, Clone)]
pub enum LegVerdict {
    Placed { client_id: String, ack_ms: i64 },
    Failed(LegFailure),
}

fn failed(o: &OrderRef, kind: LegFailureKind, detail: String) -> LegVerdict {
    LegVerdict::Failed(LegFailure { role: o.role, client_id: o.client_id.clone(), kind, detail })
}

pub(crate) fn kind_of(role: OrderRole) -> ConditionalKind {
    if role == OrderRole::Stop {
        ConditionalKind::StopMarket
    } else {
        ConditionalKind::TakeProfitMarket
    }
}

pub(crate) fn place_once(
    ex: &dyn Exchange,
    clock: &dyn crate::clock::Clock,
    budget: ambiguity::Budget,
    req: &ConditionalOrderRequest,
) -> Leg {
    let t0 = clock.now_ms();
    match ex.place_conditional(req) {
        Ok(c) => Leg::Acked(c, clock.now_ms() - t0),
        Err(e) if ambiguity::is_unknown_outcome(&e) => {
            // Look it up by client id before anything else is sent (CONTRACT §5, the one rule).
            let placed = || ex.query_conditional_placed(&req.symbol, &req.client_id, t0);
            let found = match ambiguity::resolve(clock, budget, placed) {
                ambiguity::Resolved::Found(c) => Ok(Some(c)),
                ambiguity::Resolved::Absent => Ok(None),
                ambiguity::Resolved::Unknown(last) => Err(last.unwrap_or_else(|| e.clone())),
            };
            Leg::Ambiguous(e, found, clock.now_ms() - t0)
        }
        Err(e) => Leg::Failed(e),
    }
}

impl Engine<'_> {
    fn ack_timeout(&self, role: OrderRole) -> i64 {
        let ms = if role == OrderRole::Stop {
            self.cfg.execution.stop_ack_timeout_ms
        } else {
            self.cfg.execution.tp_ack_timeout_ms
        };
        ms.as_i64()
    }

    /// Places the given legs (STOP and/or TP) concurrently, one retry each for retryable failures.
    pub fn place_legs(
        &mut self,
        plan_id: &str,
        t: &Targets,
        roles: &[OrderRole],
    ) -> Result<Vec<(OrderRole, LegVerdict)>> {
        Ok(self.place_legs_alongside(plan_id, t, roles, None::<fn()>)?.0)
    }

    /// `place_legs`, with `alongside` — a read that must not delay the legs (the fill price of an
    /// ENTRY answered without one, issue 12 §1) — sent in the same round as their first attempt.
    /// Its answer is `Some` whenever `alongside` was given.
    pub fn place_legs_alongside<R: Send>(
        &mut self,
        plan_id: &str,
        t: &Targets,
        roles: &[OrderRole],
        mut alongside: Option<impl FnOnce() -> R + Send>,
    ) -> Result<(Verdicts, Option<R>)> {
        let mut side_result = None;
        let working_type =
            if self.cfg.execution.working_type_mark { WorkingType::MarkPrice } else { WorkingType::ContractPrice };
        let ledger = self.ledger(plan_id)?;
        let mut pending: Vec<(OrderRole, u32)> = roles.iter().map(|r| (*r, ledger.next_attempt(plan_id, *r))).collect();
        // Intents committed with the ENTRY intent, never sent yet: this placement is theirs.
        let mut prepared: Vec<String> = Vec::new();
        for (role, attempt) in pending.iter_mut() {
            if let Some(v) = ledger.of(plan_id, *role).last().filter(|v| v.state == OrderState::Intended) {
                *attempt = v.attempt;
                prepared.push(v.client_id.clone());
            }
        }
        let mut verdicts = Vec::new();
        for round in 0..2 {
            if pending.is_empty() {
                break;
            }
            let mut reqs = Vec::new();
            self.store.begin_batch()?;
            for (role, attempt) in &pending {
                let cid = ClientOrderId::new(&self.cfg.bot_id, plan_id, *role, *attempt)
                    .map_err(|e| Error::Failed(e.to_string()))?;
                let o = OrderRef {
                    plan_id: Some(plan_id.to_string()),
                    role: *role,
                    attempt: *attempt,
                    client_id: cid.to_string(),
                };
                let trigger = if *role == OrderRole::Stop { t.stop } else { t.tp };
                if !prepared.contains(&o.client_id) {
                    self.record_submitting(&o, Some(trigger), t.qty)?;
                }
                let req = ConditionalOrderRequest {
                    symbol: self.cfg.symbol.clone(),
                    side: t.side.exit_side(),
                    kind: kind_of(*role),
                    trigger_price: trigger,
                    qty: t.qty,
                    working_type,
                    client_id: o.client_id.clone(),
                };
                reqs.push((o, req));
            }
            // Persist before you act: every intent (and whatever the batch holds) is committed now.
            self.store.flush_batch()?;
            let (ex, clock) = (self.ex, self.clock);
            let budget = ambiguity::Budget { max_elapsed_ms: self.ack_timeout(OrderRole::Stop), pause_ms: 300 };
            let side_task = alongside.take();
            let results: Vec<Leg> = if !ex.concurrent_calls() {
                let legs = reqs.iter().map(|(_, req)| place_once(ex, clock, budget, req)).collect();
                // Only the first round runs it; a retry round must not forget its answer.
                if let Some(f) = side_task {
                    side_result = Some(f());
                }
                legs
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> =
                        reqs.iter().map(|(_, req)| s.spawn(move || place_once(ex, clock, budget, req))).collect();
                    let side = side_task.map(|f| s.spawn(f));
                    if let Some(h) = side {
                        side_result = Some(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
                    }
                    handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
                })
            };
            let mut retry = Vec::new();
            for ((o, _), leg) in reqs.iter().zip(results) {
                let timeout = self.ack_timeout(o.role);
                let verdict = match leg {
                    Leg::Acked(c, ms) => {
                        self.record_conditional(o, &c, Some(format!("ack in {ms} ms")))?;
                        if ms > timeout {
                            Some(failed(o, LegFailureKind::AckTimeout, format!("{ms} ms > {timeout} ms")))
                        } else {
                            Some(LegVerdict::Placed { client_id: o.client_id.clone(), ack_ms: self.now() })
                        }
                    }
                    Leg::Ambiguous(e, found, ms) => {
                        self.record_error(o, OrderEvent::Unknown, &e)?;
                        match found {
                            Ok(Some(c)) => {
                                self.record_conditional(
                                    o,
                                    &c,
                                    Some("found by client id after an ambiguous send".into()),
                                )?;
                                if !c.status.is_open() {
                                    Some(failed(o, LegFailureKind::EndedAfterAmbiguousSend, format!("{:?}", c.status)))
                                } else if ms > timeout {
                                    Some(failed(o, LegFailureKind::AckTimeout, format!("{ms} ms > {timeout} ms")))
                                } else {
                                    Some(LegVerdict::Placed { client_id: o.client_id.clone(), ack_ms: self.now() })
                                }
                            }
                            Ok(None) => {
                                self.record_not_found(o, "proven absent after ambiguous send")?;
                                if round == 0 {
                                    retry.push((o.role, o.attempt + 1));
                                    None
                                } else {
                                    Some(failed(o, LegFailureKind::Unavailable, format!("retry failed: {e}")))
                                }
                            }
                            Err(e2) => Some(failed(o, LegFailureKind::LookupFailed, e2.to_string())),
                        }
                    }
                    Leg::Failed(e) => {
                        self.record_error(o, OrderEvent::Rejected, &e)?;
                        if e.class == ErrorClass::Retryable && round == 0 && !e.is_would_trigger() {
                            retry.push((o.role, o.attempt + 1));
                            None
                        } else if e.is_would_trigger() {
                            Some(failed(o, LegFailureKind::WouldTrigger, e.to_string()))
                        } else {
                            // A retryable failure here is the second one in a row: the exchange was
                            // unavailable, which the audit trail must not call a rejection.
                            let kind = if e.class == ErrorClass::Retryable {
                                LegFailureKind::Unavailable
                            } else {
                                LegFailureKind::Rejected
                            };
                            Some(failed(o, kind, e.to_string()))
                        }
                    }
                };
                if let Some(v) = verdict {
                    verdicts.push((o.role, v));
                }
            }
            if !retry.is_empty() {
                // A short pause before attempt 2: rate limits and 5xx clear in hundreds of ms.
                self.clock.sleep_ms(200);
            }
            pending = retry;
        }
        // No leg was asked for: the read still runs.
        let side = side_result.or_else(|| alongside.take().map(|f| f()));
        Ok((verdicts, side))
    }

    /// Audits each placed leg and records the STOP acknowledgement (the unprotected window).
    pub fn note_placed(
        &mut self,
        pos: &PositionRecord,
        t: &Targets,
        verdicts: &[(OrderRole, LegVerdict)],
    ) -> Result<()> {
        let plan_id = journal_plan_id(pos);
        for (role, v) in verdicts {
            if let LegVerdict::Placed { client_id, ack_ms } = v {
                if *role == OrderRole::Stop {
                    self.store.set_stop_acked(pos.id, *ack_ms)?;
                }
                let trigger = if *role == OrderRole::Stop { t.stop } else { t.tp };
                self.audit(
                    Severity::Info,
                    audit::PROTECTION_PLACED,
                    Some(&plan_id),
                    format!("{role} {client_id} placed: trigger {trigger} qty {}", t.qty),
                    json!({"role": role.as_str(), "client_id": client_id, "trigger_price": trigger.to_string(), "qty": t.qty.to_string()}),
                )?;
            }
        }
        self.store.set_position_protection(pos.id, Some(t.stop), Some(t.tp))?;
        Ok(())
    }

    /// The targets for a position: the plan's stop (or the recorded one, or the adopted fallback),
    /// and the TP at exactly `tp_r_multiple` R from the actual average fill, both on the tick grid.
    ///
    /// When the filters cannot be read, a position that was protected before keeps its recorded
    /// STOP and TP prices (already on the tick grid): exchangeInfo failing must not leave it naked.
    pub fn targets_for(&self, pos: &PositionRecord, qty: Decimal) -> Result<Targets> {
        let filters = match self.read("filters", |_| self.ex.filters(&self.cfg.symbol)) {
            Ok(f) => f,
            // Read by this command's pre-flight moments ago: a fresh fill's STOP must not wait
            // for exchangeInfo to answer again (found by `sim --faults 0.05 --seed 42`).
            Err(err) if self.filters_seen.is_some() => {
                tracing::warn!(event = "protect.filters_seen", error = %err, "filters unreadable: using the ones pre-flight read");
                self.filters_seen.clone().ok_or(err)?
            }
            Err(err) => {
                return match (pos.stop_price, pos.tp_price) {
                    (Some(stop), Some(tp)) => {
                        tracing::warn!(event = "protect.recorded_targets", error = %err, "filters unreadable: using the recorded STOP/TP prices");
                        Ok(Targets { side: pos.side, qty, stop, tp })
                    }
                    _ => Err(err.into()),
                };
            }
        };
        let plan_stop = match &pos.trade_plan_id {
            Some(id) => self.store.plan(id)?.map(|p| p.stop_price),
            None => None,
        };
        let fallback_pct = self.cfg.execution.adopted_stop_pct;
        let tp_r = self.cfg.strategy.tp_r_multiple;
        Targets::compute(&filters, pos.side, pos.entry_price, pos.stop_price.or(plan_stop), fallback_pct, tp_r, qty)
    }
}

impl Targets {
    /// STOP at `stop` (or `adopted_stop_pct` from the entry when no stop is known), TP at
    /// `tp_r` R from `entry_price`; both quantised to the tick grid, the STOP away from the market.
    pub fn compute(
        filters: &crate::core::money::SymbolFilters,
        side: PositionSide,
        entry_price: Decimal,
        stop: Option<Decimal>,
        adopted_stop_pct: Decimal,
        tp_r: Decimal,
        qty: Decimal,
    ) -> Result<Targets> {
        let stop = match stop {
            Some(s) => s,
            None => {
                let d = entry_price * adopted_stop_pct / Decimal::from(100);
                entry_price - side.sign() * d
            }
        };
        let stop_rounding = if side == PositionSide::Long { PriceRounding::Down } else { PriceRounding::Up };
        let stop =
            filters.quantize_price(stop, stop_rounding).map_err(|e| Error::Failed(format!("stop price: {e}")))?;
        let tp_raw = take_profit_price(side, entry_price, stop, tp_r);
        // Always from the position's current average fill: after a partial fill completes, the
        // TP moves with the average (exactly 2R from the actual fill, seed 000 §4).
        let tp = filters
            .quantize_price(tp_raw, PriceRounding::Nearest)
            .map_err(|e| Error::Failed(format!("tp price: {e}")))?;
        Ok(Targets { side, qty, stop, tp })
    }
}

/// Places protection for a fresh fill; on any failure runs the failure path.
/// `None` when protected, `Some(what the failure path did)` otherwise.
pub fn protect_new_fill(e: &mut Engine<'_>, pos: &PositionRecord, qty: Decimal) -> Result<Option<ProtectionFailed>> {
    protect_legs(e, pos, qty, &[OrderRole::Stop, OrderRole::Tp])
}

/// Places `roles` for a fresh fill (the TP alone once the STOP went out before the fill's price
/// was known); on any failure runs the failure path.
pub fn protect_legs(
    e: &mut Engine<'_>,
    pos: &PositionRecord,
    qty: Decimal,
    roles: &[OrderRole],
) -> Result<Option<ProtectionFailed>> {
    let t = e.targets_for(pos, qty)?;
    let (_, legs) = place_and_note(e, pos, &t, roles)?;
    if legs.is_empty() {
        return Ok(None);
    }
    Ok(Some(failsafe::protection_failed(e, pos, ProtectionFailure { legs })?))
}

/// Each leg's verdict.
type Verdicts = Vec<(OrderRole, LegVerdict)>;

/// Places the legs, audits what was placed, and returns the verdicts plus the failed legs.
fn place_and_note(
    e: &mut Engine<'_>,
    pos: &PositionRecord,
    t: &Targets,
    roles: &[OrderRole],
) -> Result<(Verdicts, Vec<LegFailure>)> {
    let verdicts = e.place_legs(&journal_plan_id(pos), t, roles)?;
    e.note_placed(pos, t, &verdicts)?;
    let failed = verdicts
        .iter()
        .filter_map(|(_, v)| match v {
            LegVerdict::Failed(f) => Some(f.clone()),
            LegVerdict::Placed { .. } => None,
        })
        .collect();
    Ok((verdicts, failed))
}

/// The open position has a STOP and a TP covering its full size? Nothing to do. Missing or
/// undersized: place the missing legs, and only once they are acknowledged cancel the undersized
/// ones (never unprotected). Cannot place: the failure path.
pub fn ensure_protection(e: &mut Engine<'_>, pos: &PositionRecord, snap: &snapshot::Snapshot) -> Result<Protection> {
    let qty = snap.position.qty.abs();
    if qty.is_zero() {
        // Flat meanwhile (a STOP fired during a resize): nothing to protect, and no side to compare.
        return Ok(Protection::Covered { qty, covers: Vec::new() });
    }
    let held = if snap.position.qty > Decimal::ZERO { PositionSide::Long } else { PositionSide::Short };
    if held != pos.side {
        // A hand flip: the exchange's position is not the one mcbot holds; reconcile ends mcbot's
        // (external) and halts. Nothing is placed for a position that is not mcbot's (item 6).
        return Err(Error::Failed(format!(
            "the exchange holds {held} {qty} {} where mcbot's position is {}: changed by hand; run `mcbot reconcile`",
            snap.position.symbol, pos.side
        )));
    }
    let ours: Vec<&ExConditional> = snap
        .our_conditionals
        .iter()
        .filter(|c| c.status.is_open() && ClientOrderId::parse(&c.client_id).is_ok_and(|id| id.role.is_conditional()))
        .collect();
    let legs: Vec<protection::Leg> = ours
        .iter()
        .filter_map(|c| {
            let id = ClientOrderId::parse(&c.client_id).ok()?;
            Some(protection::Leg { client_id: c.client_id.clone(), role: id.role, side: c.side, qty: c.qty })
        })
        .collect();
    let verdict = protection::coverage(held, qty, &legs);
    let missing = verdict.missing;
    let covers: Vec<Cover> = ours
        .iter()
        .filter(|c| verdict.covering.contains(&c.client_id))
        .filter_map(|c| {
            let role = ClientOrderId::parse(&c.client_id).ok()?.role;
            Some(Cover { role, client_id: c.client_id.clone(), trigger_price: c.trigger_price, qty: c.qty })
        })
        .collect();
    let undersized: Vec<ExConditional> =
        ours.iter().filter(|c| verdict.not_covering.contains(&c.client_id)).map(|c| (*c).clone()).collect();
    if missing.is_empty() {
        return Ok(Protection::Covered { qty, covers });
    }
    let t = e.targets_for(pos, qty)?;
    let (verdicts, legs) = place_and_note(e, pos, &t, &missing)?;
    if !legs.is_empty() {
        return Ok(Protection::Failed(failsafe::protection_failed(e, pos, ProtectionFailure { legs })?));
    }
    // The new orders cover the position: only now remove the undersized ones (never unprotected).
    let cancel_failed = e.cancel_all_protection(&undersized)?;
    let placed: Vec<String> = verdicts
        .iter()
        .filter_map(|(_, v)| if let LegVerdict::Placed { client_id, .. } = v { Some(client_id.clone()) } else { None })
        .collect();
    Ok(Protection::Placed { qty, placed, replaced_undersized: undersized.len(), cancel_failed })
}

/// `protect` as a command: read the exchange, adopt or finalise as needed, then ensure protection.
pub fn protect_command(e: &mut Engine<'_>) -> Result<ProtectOutcome> {
    crate::exec::unwritable::guarded(e, ProtectOutcome::Unwritable, protect_unguarded)
}

fn protect_unguarded(e: &mut Engine<'_>) -> Result<ProtectOutcome> {
    let snap = match e.read_persistent("snapshot", |_| snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id)) {
        Ok(s) => s,
        Err(err) => return Ok(ProtectOutcome::ReadFailed(crate::exec::unreadable::protect_despite(e, err)?)),
    };
    let db_pos = e.store.active_position(&e.cfg.symbol)?;
    if snap.position.is_flat() {
        return match db_pos {
            Some(pos) => Ok(ProtectOutcome::Finalised(finalise_flat(e, &pos, &snap)?)),
            None => Ok(ProtectOutcome::NoPosition),
        };
    }
    let pos = match db_pos {
        Some(p) => p,
        None => adopt(e, &snap.position, None, "found by protect")?,
    };
    Ok(ProtectOutcome::Protection(ensure_protection(e, &pos, &snap)?))
}
