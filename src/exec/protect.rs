//! Protection: STOP and TP as reduce-only conditional orders for the position's full size, placed
//! concurrently, each with one retry for a provably retryable failure — and the failure path of the
//! protection guarantee (seed 000 §5): CLOSE at market, cancel every protective order, HALT,
//! CRITICAL audit, exit 10. Non-negotiable.

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::money::PriceRounding;
use crate::core::order::{OrderEvent, OrderRole, OrderState};
use crate::core::plan::take_profit_price;
use crate::core::position::ExitReason;
use crate::core::types::PositionSide;
use crate::error::{Error, Result};
use crate::exchange::{
    ConditionalKind, ConditionalOrderRequest, ErrorClass, ExConditional, Exchange, ExchangeError, WorkingType,
};
use crate::exec::ambiguity;
use crate::exec::close::journal_plan_id;
use crate::exec::record::OrderRef;
use crate::exec::{snapshot, Engine};
use crate::outcome::{ExitCode, Report};
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
    Failed { client_id: String, why: String },
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
            let results: Vec<Leg> = if !ex.concurrent_calls() {
                reqs.iter().map(|(_, req)| place_once(ex, clock, budget, req)).collect()
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> =
                        reqs.iter().map(|(_, req)| s.spawn(move || place_once(ex, clock, budget, req))).collect();
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
                            Some(LegVerdict::Failed {
                                client_id: o.client_id.clone(),
                                why: format!("ack_timeout ({ms} ms > {timeout} ms)"),
                            })
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
                                    Some(LegVerdict::Failed {
                                        client_id: o.client_id.clone(),
                                        why: format!("found {:?} after ambiguous send", c.status),
                                    })
                                } else if ms > timeout {
                                    Some(LegVerdict::Failed {
                                        client_id: o.client_id.clone(),
                                        why: format!("ack_timeout ({ms} ms > {timeout} ms)"),
                                    })
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
                                    Some(LegVerdict::Failed {
                                        client_id: o.client_id.clone(),
                                        why: format!("unavailable: retry failed: {e}"),
                                    })
                                }
                            }
                            Err(e2) => Some(LegVerdict::Failed {
                                client_id: o.client_id.clone(),
                                why: format!("outcome unknown and look-up failed: {e2}"),
                            }),
                        }
                    }
                    Leg::Failed(e) => {
                        self.record_error(o, OrderEvent::Rejected, &e)?;
                        if e.class == ErrorClass::Retryable && round == 0 && !e.is_would_trigger() {
                            retry.push((o.role, o.attempt + 1));
                            None
                        } else if e.is_would_trigger() {
                            Some(LegVerdict::Failed {
                                client_id: o.client_id.clone(),
                                why: format!("would_trigger: {e}"),
                            })
                        } else {
                            // A retryable failure here is the second one in a row: the exchange was
                            // unavailable, which the audit trail must not call a rejection.
                            let word = if e.class == ErrorClass::Retryable { "unavailable" } else { "rejected" };
                            Some(LegVerdict::Failed { client_id: o.client_id.clone(), why: format!("{word}: {e}") })
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
        Ok(verdicts)
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

    /// The protection guarantee's failure path: CLOSE, cancel every protective order of the plan
    /// that may exist, HALT, CRITICAL audit, exit 10.
    pub fn protection_failed(
        &mut self,
        pos: &PositionRecord,
        why: &str,
        failed: &[(OrderRole, String, String)],
    ) -> Result<Report> {
        let plan_id = journal_plan_id(pos);
        for (role, cid, reason) in failed {
            self.audit(
                Severity::Critical,
                audit::PROTECTION_FAILED,
                Some(&plan_id),
                format!("{role} {cid} failed: {reason}"),
                json!({"role": role.as_str(), "client_id": cid, "why": reason}),
            )?;
        }
        self.audit(
            Severity::Critical,
            audit::FORCED_CLOSE,
            Some(&plan_id),
            format!("forced close: {why}"),
            json!({"why": why}),
        )?;
        // 0. An ENTRY still working (a partial fill) must not add to the position being closed.
        self.cancel_open_entries(&plan_id)?;
        // 1. CLOSE at market immediately.
        let closed = self.close_until_flat(&plan_id, pos.side)?;
        // 2. Cancel every protective order of the plan that may exist: a late STOP may have landed.
        self.cancel_plan_protection(&plan_id)?;
        // 3. HALT.
        self.halt(&format!("protection failed: {why}"), Some(&plan_id))?;
        let reason = ExitReason::ForcedClose(why_word(why));
        match closed {
            Some((qty, avg)) => {
                let price = if qty > Decimal::ZERO { Some(avg) } else { None };
                let pos_now = self.store.position(pos.id)?.unwrap_or_else(|| pos.clone());
                // Flat and HALTED already: reading the fills' commission delays no safety step.
                let fees = crate::exec::close::position_fees(self, &plan_id);
                self.finalise_position(&pos_now, &reason, price, Some(&fees), None)?;
                Ok(Report::new("protect", "forced_close", ExitCode::Critical)
                    .field("error", format!("protection failed: {why}; position force-closed; system HALTED"))
                    .field("exit_reason", reason.to_string())
                    .line(format!("CRITICAL: protection failed ({why}); position force-closed; system HALTED")))
            }
            None => {
                let msg = format!(
                    "protection failed ({why}) and CLOSE was not confirmed within {} ms",
                    self.cfg.execution.close_retry_max_elapsed_ms
                );
                self.audit(Severity::Critical, audit::CLOSE_FAILED, Some(&plan_id), msg.clone(), json!({"why": msg}))?;
                Ok(Report::new("protect", "close_failed", ExitCode::Critical)
                    .field("error", msg.clone())
                    .line(format!("CRITICAL: {msg}; system HALTED")))
            }
        }
    }

    /// Cancels every ENTRY of the plan that may still be working on the exchange, and records
    /// what it finally filled.
    pub fn cancel_open_entries(&mut self, plan_id: &str) -> Result<()> {
        let symbol = self.cfg.symbol.clone();
        let live: Vec<_> = self
            .ledger(plan_id)?
            .of(plan_id, OrderRole::Entry)
            .into_iter()
            .filter(|o| o.state.may_be_live())
            .cloned()
            .collect();
        for v in live {
            let o = OrderRef {
                plan_id: Some(plan_id.to_string()),
                role: OrderRole::Entry,
                attempt: v.attempt,
                client_id: v.client_id.clone(),
            };
            if let Err(err) = self.ex.cancel_order(&symbol, &v.client_id) {
                self.record_error(&o, OrderEvent::CancelFailed, &err)?;
            }
            if let Ok(Some(q)) = self.read_persistent("query_order", |_| self.ex.query_order(&symbol, &v.client_id)) {
                let event = crate::exec::record::order_status_event(q.status);
                let changed = v.filled_qty != Some(q.executed_qty)
                    || crate::core::order::transition(Some(v.state), event).is_ok_and(|s| s != v.state);
                if changed && crate::core::order::transition(Some(v.state), event).is_ok() {
                    self.record_order(&o, &q, Some("ENTRY remainder cancelled".into()))?;
                }
            }
        }
        Ok(())
    }

    /// Cancels every STOP/TP of a plan the journal knows plus any still open on the exchange.
    pub fn cancel_plan_protection(&mut self, plan_id: &str) -> Result<usize> {
        let ledger = self.ledger(plan_id)?;
        let known: Vec<(String, Decimal)> = ledger
            .orders
            .values()
            .filter(|o| o.role.is_conditional() && o.state.may_be_live())
            .map(|o| (o.client_id.clone(), o.order_qty.unwrap_or_default()))
            .collect();
        let mut failed = 0;
        for (cid, qty) in known {
            if !self.cancel_conditional_idempotent(&cid, qty)? {
                failed += 1;
            }
        }
        if let Ok(snap) = snapshot::read(self.ex, &self.cfg.symbol, &self.cfg.bot_id) {
            let open: Vec<ExConditional> = snap.conditionals_of_plan(plan_id).cloned().collect();
            failed += self.cancel_all_protection(&open)?;
        }
        Ok(failed)
    }

    /// The targets for a position: the plan's stop (or the recorded one, or the adopted fallback),
    /// and the TP at exactly `tp_r_multiple` R from the actual average fill, both on the tick grid.
    ///
    /// When the filters cannot be read, a position that was protected before keeps its recorded
    /// STOP and TP prices (already on the tick grid): exchangeInfo failing must not leave it naked.
    pub fn targets_for(&self, pos: &PositionRecord, qty: Decimal) -> Result<Targets> {
        let filters = match self.read("filters", |_| self.ex.filters(&self.cfg.symbol)) {
            Ok(f) => f,
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

/// A short snake_case word for `forced_close:<why>`.
pub(crate) fn why_word(why: &str) -> String {
    let w: String = why
        .split([' ', ':', '(', ','])
        .next()
        .unwrap_or("protection_failed")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_lowercase();
    if w.is_empty() {
        "protection_failed".into()
    } else {
        w
    }
}

/// Places protection for a fresh fill; on any failure runs the failure path.
/// Returns Ok(None) when protected, Ok(Some(report)) when the failure path ran.
pub fn protect_new_fill(e: &mut Engine<'_>, pos: &PositionRecord, qty: Decimal) -> Result<Option<Report>> {
    let t = e.targets_for(pos, qty)?;
    let (_, failed) = place_and_note(e, pos, &t, &[OrderRole::Stop, OrderRole::Tp])?;
    if failed.is_empty() {
        return Ok(None);
    }
    Ok(Some(e.protection_failed(pos, &failure_reason(&failed), &failed)?))
}

/// A leg that could not be placed: (role, client id, why).
type FailedLeg = (OrderRole, String, String);
/// Each leg's verdict.
type Verdicts = Vec<(OrderRole, LegVerdict)>;

/// Places the legs, audits what was placed, and returns the verdicts plus the failed legs.
fn place_and_note(
    e: &mut Engine<'_>,
    pos: &PositionRecord,
    t: &Targets,
    roles: &[OrderRole],
) -> Result<(Verdicts, Vec<FailedLeg>)> {
    let verdicts = e.place_legs(&journal_plan_id(pos), t, roles)?;
    e.note_placed(pos, t, &verdicts)?;
    let failed = verdicts
        .iter()
        .filter_map(|(r, v)| match v {
            LegVerdict::Failed { client_id, why } => Some((*r, client_id.clone(), why.clone())),
            LegVerdict::Placed { .. } => None,
        })
        .collect();
    Ok((verdicts, failed))
}

/// `<role>_<what>: <details>`, e.g. `stop_would_trigger: …`; its first word becomes the
/// `forced_close:<why>` exit reason.
fn failure_reason(failed: &[(OrderRole, String, String)]) -> String {
    let details =
        failed.iter().map(|(r, _, w)| format!("{} {w}", r.as_str().to_lowercase())).collect::<Vec<_>>().join("; ");
    match failed.first() {
        Some((role, _, why)) => format!("{}_{}: {details}", role.as_str().to_lowercase(), why_word(why)),
        None => "protection_failed".into(),
    }
}

/// `protect`: the open position has a STOP and a TP covering its full size? Nothing to do.
/// Missing or undersized: place (then cancel the undersized one). Cannot: the failure path.
pub fn ensure_protection(e: &mut Engine<'_>, pos: &PositionRecord, snap: &snapshot::Snapshot) -> Result<Report> {
    let qty = snap.position.qty.abs();
    let mut missing = Vec::new();
    let mut undersized: Vec<ExConditional> = Vec::new();
    let mut present = serde_json::Map::new();
    for role in [OrderRole::Stop, OrderRole::Tp] {
        let open: Vec<&ExConditional> = snap
            .our_conditionals
            .iter()
            .filter(|c| c.status.is_open() && ClientOrderId::parse(&c.client_id).is_ok_and(|id| id.role == role))
            .collect();
        match open.iter().find(|c| c.qty >= qty) {
            Some(c) => {
                present.insert(role.as_str().to_lowercase(), json!({"client_id": c.client_id, "trigger_price": c.trigger_price.to_string(), "qty": c.qty.to_string()}));
            }
            None => {
                missing.push(role);
                undersized.extend(open.into_iter().cloned());
            }
        }
    }
    if missing.is_empty() {
        return Ok(Report::ok("protect")
            .field("protection", serde_json::Value::Object(present))
            .line(format!("protected: STOP and TP cover {qty}")));
    }
    let t = e.targets_for(pos, qty)?;
    let (verdicts, failed) = place_and_note(e, pos, &t, &missing)?;
    if !failed.is_empty() {
        return e.protection_failed(pos, &failure_reason(&failed), &failed);
    }
    // The new orders cover the position: only now remove the undersized ones (never unprotected).
    let cancel_failed = e.cancel_all_protection(&undersized)?;
    let placed: Vec<String> = verdicts
        .iter()
        .filter_map(|(_, v)| if let LegVerdict::Placed { client_id, .. } = v { Some(client_id.clone()) } else { None })
        .collect();
    Ok(Report::ok("protect")
        .field("placed", placed.clone())
        .field("replaced_undersized", undersized.len())
        .field("cancel_failed", cancel_failed)
        .line(format!(
            "placed {} for {qty}{}",
            placed.join(", "),
            if undersized.is_empty() { String::new() } else { format!(" (replaced {} undersized)", undersized.len()) }
        )))
}

/// `protect` as a command: read the exchange, adopt or finalise as needed, then ensure protection.
pub fn protect_command(e: &mut Engine<'_>) -> Result<Report> {
    crate::exec::failsafe::guarded(e, "protect", protect_unguarded)
}

fn protect_unguarded(e: &mut Engine<'_>) -> Result<Report> {
    let snap = match e.read_persistent("snapshot", |_| snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id)) {
        Ok(s) => s,
        Err(err) => return crate::exec::unreadable::protect_despite(e, "protect", err),
    };
    let db_pos = e.store.active_position(&e.cfg.symbol)?;
    if snap.position.is_flat() {
        return match db_pos {
            Some(pos) => {
                let r = crate::exec::close::finalise_flat(e, &pos, &snap)?;
                Ok(Report::ok("protect")
                    .field("position", serde_json::Value::Null)
                    .field("finalised", r.to_string())
                    .line(format!("exchange is flat; position finalised ({r})")))
            }
            None => Ok(Report::ok("protect")
                .field("position", serde_json::Value::Null)
                .line("no position; nothing to protect")),
        };
    }
    let pos = match db_pos {
        Some(p) => p,
        None => crate::exec::close::adopt(e, &snap.position, None, "found by protect")?,
    };
    ensure_protection(e, &pos, &snap)
}
