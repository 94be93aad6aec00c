//! Replay: rebuilds one trade plan's lifecycle from its journal rows alone and checks it against
//! the invariants of CONTRACT §7 (invariant 9). Pure: the shell reads the rows, this judges them,
//! so `replay`, `sim` and tests all apply the very same rules.
//!
//! Order rows are folded through [`Ledger::apply`] — the fold live code uses — so a lifecycle the
//! live state machine would refuse is refused here too. Rules (see `docs/replay.md`):
//!
//! * `invalid_transition`: an order row the state machine refuses (the row is then skipped).
//! * `duplicate_entry`: an ENTRY sent while an earlier ENTRY of the plan may still be live or has
//!   filled, or a second ENTRY with a fill (F-001).
//! * `unprotected_fill`: the first ENTRY fill (see [`is_entry_fill`]), or a `position_adopted`
//!   audit when no fill of this plan precedes it, is not followed by a STOP
//!   the exchange held (ACKED, or a later STOP state that implies it was accepted) nor by a
//!   `forced_close` audit. A journal that simply ends after the fill counts: replay holds the
//!   state lock, so a journal that ends there means the command died and the position was naked
//!   as far as the journal can prove (invariant 1).
//! * `exit_without_reason`: a `position_closed` audit without a parseable `data.exit_reason`, or a
//!   closing fill (CLOSE, STOP or TP `FILLED` after the entry fill) never finalised by one.
//! * `entry_while_halted`: ENTRY `SUBMITTING` after a `halt` audit and before a `resume` audit.
//!   Halts are global, so callers pass every halt/resume row, whatever its plan id.
//! * `attempt_sequence`: per role, each new client id's attempt is the previous one + 1, from 1.
//! * `client_id_mismatch`: the row's client id is not `<bot>_<plan>_<ROLE>_<attempt>` of its
//!   own plan, role and attempt (CONTRACT §5).
//!
//! Deliberately not checked (the live code may legitimately do these): how many STOP/TP attempts
//! a protection episode uses (reconcile re-protects in new episodes), whether the STOP quantity
//! follows later partial fills, and which command acknowledged the STOP (the unprotected window in
//! the summary shows how long the position was naked).

mod types;

pub(crate) use types::{rule, AuditFact, JournalFact, PlanReplay, Source, Summary, TimelineRow, Violation};

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::ledger::{Ledger, OrderFact};
use crate::core::order::{OrderEvent, OrderRole};
use crate::core::position::ExitReason;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// Replays one plan. `facts` may be the whole journal: only the plan's own rows and the halt/resume
/// rows (of any plan, or none) are used. Global halt/resume rows appear in the timeline only when
/// they fall inside the plan's own span of rows.
pub(crate) fn replay_plan(plan_id: &str, facts: &[JournalFact]) -> PlanReplay {
    let mut rows: Vec<&JournalFact> =
        facts.iter().filter(|f| f.plan_id() == Some(plan_id) || f.is_mode_change()).collect();
    rows.sort_by_key(|f| f.seq());
    rows.dedup_by_key(|f| f.seq());
    run(plan_id, &rows)
}

/// Replays every plan that has journal rows, in order of each plan's first row.
pub(crate) fn replay_journal(facts: &[JournalFact]) -> Vec<PlanReplay> {
    let mode: Vec<&JournalFact> = facts.iter().filter(|f| f.is_mode_change()).collect();
    let mut plans: BTreeMap<&str, (i64, Vec<&JournalFact>)> = BTreeMap::new();
    for f in facts {
        if let Some(p) = f.plan_id() {
            let e = plans.entry(p).or_insert_with(|| (f.seq(), Vec::new()));
            e.0 = e.0.min(f.seq());
            e.1.push(f);
        }
    }
    let mut plans: Vec<(&str, (i64, Vec<&JournalFact>))> = plans.into_iter().collect();
    plans.sort_by_key(|(_, (first, _))| *first);
    plans
        .into_iter()
        .map(|(id, (_, mut rows))| {
            rows.extend(mode.iter().copied());
            rows.sort_by_key(|f| f.seq());
            rows.dedup_by_key(|f| f.seq());
            run(id, &rows)
        })
        .collect()
}

/// Replays `rows`, which are sorted by seq and deduplicated.
fn run(plan_id: &str, rows: &[&JournalFact]) -> PlanReplay {
    let own_seqs = rows.iter().filter(|f| f.plan_id() == Some(plan_id)).map(|f| f.seq());
    let span = own_seqs.clone().min().zip(own_seqs.max());
    let mut r = Replayer::new(plan_id);
    for f in rows {
        let own = f.plan_id() == Some(plan_id);
        match f {
            JournalFact::Order { fact, detail } if own => r.order(fact, detail.as_deref()),
            JournalFact::Audit(a) => {
                let shown = own || span.is_some_and(|(lo, hi)| (lo..=hi).contains(&a.seq));
                r.audit(a, own, shown);
            }
            JournalFact::Order { .. } => {}
        }
    }
    r.finish()
}

/// An ENTRY fill as last reported for one client id.
#[derive(Debug, Clone)]
struct Fill {
    price: Option<Decimal>,
    qty: Option<Decimal>,
}

/// The state carried through one plan's rows.
struct Replayer {
    plan_id: String,
    ledger: Ledger,
    timeline: Vec<TimelineRow>,
    violations: Vec<Violation>,
    /// seq of the `halt` in force, if any.
    halted_at: Option<i64>,
    /// Client ids with at least one row so far.
    seen: BTreeSet<String>,
    last_attempt: BTreeMap<OrderRole, u32>,
    entry_fills: BTreeMap<String, Fill>,
    /// ENTRY client ids already reported as duplicates.
    duplicates: BTreeSet<String>,
    first_fill: Option<(i64, i64, String)>,
    stop_live: Option<(i64, i64)>,
    /// STOP client ids acknowledged and not yet ended: a position adopted under one of them (a
    /// lost state that kept its working STOP, issue 10 item 4) is protected from its adoption on.
    stops_working: BTreeSet<String>,
    forced_close_after_fill: bool,
    forced_close: bool,
    /// seq of the first `position_adopted`: exposure that did not start with an ENTRY fill here.
    adopted_at: Option<i64>,
    closing_fill: Option<(i64, String)>,
    closed: Option<Option<String>>,
    kinds: BTreeSet<String>,
}

impl Replayer {
    fn new(plan_id: &str) -> Self {
        Replayer {
            plan_id: plan_id.to_string(),
            ledger: Ledger::default(),
            timeline: Vec::new(),
            violations: Vec::new(),
            halted_at: None,
            seen: BTreeSet::new(),
            last_attempt: BTreeMap::new(),
            entry_fills: BTreeMap::new(),
            duplicates: BTreeSet::new(),
            first_fill: None,
            stop_live: None,
            stops_working: BTreeSet::new(),
            forced_close_after_fill: false,
            forced_close: false,
            adopted_at: None,
            closing_fill: None,
            closed: None,
            kinds: BTreeSet::new(),
        }
    }

    fn violate(&mut self, rule: &'static str, seq: i64, detail: String) {
        self.violations.push(Violation { rule, seq, detail });
    }

    fn order(&mut self, f: &OrderFact, detail: Option<&str>) {
        let cid = f.client_id.as_str();
        let name = format!("{} {cid}", f.role);
        // Tracked apart from the ledger, which never learns an order whose first row it refused.
        if self.seen.insert(f.client_id.clone()) {
            self.first_row_of_order(f, &name);
        }
        if f.role == OrderRole::Entry && f.event == OrderEvent::Submitting {
            self.entry_sent(f, &name);
        }
        let state = match self.ledger.apply(f) {
            Ok(()) => self.ledger.orders.get(cid).map(|v| v.state),
            Err(e) => {
                let from = e.error.from.map_or("no history".to_string(), |s| format!("state {s}"));
                self.violate(
                    rule::INVALID_TRANSITION,
                    f.seq,
                    format!("{name}: {} is not allowed from {from}", f.event),
                );
                None
            }
        };
        self.timeline.push(TimelineRow {
            seq: f.seq,
            ts_ms: f.ts_ms,
            source: Source::Order,
            role: Some(f.role),
            attempt: Some(f.attempt),
            client_id: Some(f.client_id.clone()),
            event: Some(f.event),
            state,
            price: f.price,
            qty: f.qty,
            severity: None,
            kind: None,
            message: None,
            detail: detail.map(str::to_string),
        });
        if state.is_some() {
            self.track_exposure(f, &name);
        }
    }

    /// Checks a client id's first row: its id and its place in the role's attempt sequence.
    fn first_row_of_order(&mut self, f: &OrderFact, name: &str) {
        let id_ok = ClientOrderId::parse(&f.client_id)
            .is_ok_and(|id| id.plan_id == self.plan_id && id.role == f.role && id.attempt == f.attempt);
        if !id_ok {
            let want = format!("<bot>_{}_{}_{}", self.plan_id, f.role, f.attempt);
            self.violate(rule::CLIENT_ID_MISMATCH, f.seq, format!("{name}: expected a client id {want}"));
        }
        let last = self.last_attempt.get(&f.role).copied().unwrap_or(0);
        if f.attempt != last + 1 {
            let detail = format!("{name}: attempt {} follows attempt {last} (expected {})", f.attempt, last + 1);
            self.violate(rule::ATTEMPT_SEQUENCE, f.seq, detail);
        }
        self.last_attempt.insert(f.role, last.max(f.attempt));
    }

    /// An ENTRY is about to be sent: the system must be running and no other ENTRY may fill.
    fn entry_sent(&mut self, f: &OrderFact, name: &str) {
        if let Some(h) = self.halted_at {
            self.violate(rule::ENTRY_WHILE_HALTED, f.seq, format!("{name} sent while HALTED (halt at seq {h})"));
        }
        let rival = self.ledger.orders.values().find(|o| {
            o.role == OrderRole::Entry
                && o.client_id != f.client_id
                && (o.state.may_be_live() || self.entry_fills.contains_key(&o.client_id))
        });
        if let Some(o) = rival {
            let detail = format!("{name} sent while {} is {} (it may fill)", o.client_id, o.state);
            self.duplicates.insert(f.client_id.clone());
            self.violate(rule::DUPLICATE_ENTRY, f.seq, detail);
        }
    }

    /// After a row the state machine accepted: fills, protection, closes.
    fn track_exposure(&mut self, f: &OrderFact, name: &str) {
        if f.role == OrderRole::Stop {
            match f.event {
                OrderEvent::Acked | OrderEvent::Triggered => {
                    self.stops_working.insert(f.client_id.clone());
                }
                OrderEvent::Filled
                | OrderEvent::Cancelled
                | OrderEvent::Expired
                | OrderEvent::Rejected
                | OrderEvent::NotFound => {
                    self.stops_working.remove(&f.client_id);
                }
                _ => {}
            }
        }
        match f.role {
            OrderRole::Entry if is_entry_fill(f) => {
                let other = self.entry_fills.keys().find(|c| **c != f.client_id).cloned();
                // Reported here only when no send was already reported: one duplicate, one report.
                if let Some(other) = other.filter(|_| self.duplicates.is_empty()) {
                    self.duplicates.insert(f.client_id.clone());
                    self.violate(rule::DUPLICATE_ENTRY, f.seq, format!("{name} filled after {other} filled"));
                }
                self.entry_fills.insert(f.client_id.clone(), Fill { price: f.price, qty: f.qty });
                if self.first_fill.is_none() {
                    self.first_fill = Some((f.seq, f.ts_ms, f.client_id.clone()));
                }
            }
            OrderRole::Stop
                if (self.first_fill.is_some() || self.adopted_at.is_some())
                    && self.stop_live.is_none()
                    && matches!(
                        f.event,
                        OrderEvent::Acked | OrderEvent::Triggered | OrderEvent::PartiallyFilled | OrderEvent::Filled
                    ) =>
            {
                self.stop_live = Some((f.seq, f.ts_ms));
            }
            _ => {}
        }
        let closes = f.role != OrderRole::Entry && f.event == OrderEvent::Filled;
        if closes && self.first_fill.is_some() && self.closing_fill.is_none() {
            self.closing_fill = Some((f.seq, name.to_string()));
        }
    }

    fn audit(&mut self, a: &AuditFact, own: bool, shown: bool) {
        if shown {
            self.timeline.push(TimelineRow {
                seq: a.seq,
                ts_ms: a.ts_ms,
                source: Source::Audit,
                role: None,
                attempt: None,
                client_id: None,
                event: None,
                state: None,
                price: None,
                qty: None,
                severity: Some(a.severity.clone()),
                kind: Some(a.kind.clone()),
                message: Some(a.message.clone()),
                detail: None,
            });
        }
        match a.kind.as_str() {
            audit::HALT => self.halted_at = Some(a.seq),
            audit::RESUME => self.halted_at = None,
            _ => {}
        }
        if !own {
            return;
        }
        self.kinds.insert(a.kind.clone());
        match a.kind.as_str() {
            audit::FORCED_CLOSE => {
                self.forced_close = true;
                self.forced_close_after_fill |= self.first_fill.is_some() || self.adopted_at.is_some();
            }
            audit::POSITION_ADOPTED => {
                self.adopted_at.get_or_insert(a.seq);
                if self.stop_live.is_none() && !self.stops_working.is_empty() {
                    // Adopted under a STOP that was already working: protected from this row on.
                    self.stop_live = Some((a.seq, a.ts_ms));
                }
            }
            audit::POSITION_CLOSED => {
                let reason = exit_reason(a.data.as_deref());
                if let Err(why) = &reason {
                    self.violate(rule::EXIT_WITHOUT_REASON, a.seq, format!("position_closed: {why}"));
                }
                self.closed = Some(reason.ok().map(|r| r.to_string()));
            }
            _ => {}
        }
    }

    fn finish(mut self) -> PlanReplay {
        if let Some((seq, _, cid)) = self.first_fill.clone() {
            if self.stop_live.is_none() && !self.forced_close_after_fill {
                let detail = format!("ENTRY {cid} filled; no STOP was acknowledged and no forced_close followed");
                self.violate(rule::UNPROTECTED_FILL, seq, detail);
            }
        }
        // An adopted position (F-003) is exposure too: it must end up under a STOP, force-closed,
        // or closed — the same guarantee as a fill.
        if let (None, Some(seq)) = (&self.first_fill, self.adopted_at) {
            let stop_after = self.stop_live.is_some_and(|(s, _)| s >= seq);
            if !(stop_after || self.forced_close_after_fill || self.closed.is_some()) {
                let detail =
                    "position adopted; no STOP was acknowledged after it, no forced_close, no close".to_string();
                self.violate(rule::UNPROTECTED_FILL, seq, detail);
            }
        }
        if let (Some((seq, name)), None) = (self.closing_fill.clone(), &self.closed) {
            let detail = format!("{name} closed the position; no position_closed audit records why");
            self.violate(rule::EXIT_WITHOUT_REASON, seq, detail);
        }
        self.violations.sort_by_key(|v| v.seq);
        let summary = self.summary();
        PlanReplay { plan_id: self.plan_id, timeline: self.timeline, violations: self.violations, summary }
    }

    fn summary(&self) -> Summary {
        let entry = self.first_fill.as_ref().map(|(_, _, c)| c.clone());
        let fill = entry.as_ref().and_then(|c| self.entry_fills.get(c));
        let window = self.first_fill.as_ref().zip(self.stop_live).map(|((_, from, _), (_, to))| to - from);
        let adopted = self.kinds.contains(audit::POSITION_ADOPTED);
        let entries: Vec<_> = self.ledger.orders.values().filter(|o| o.role == OrderRole::Entry).collect();
        let outcome = match &self.closed {
            Some(reason) => format!("closed:{}", reason.as_deref().unwrap_or("unknown")),
            None if self.first_fill.is_some() || adopted => "open".into(),
            None if self.kinds.contains(audit::PLAN_EXPIRED) => "expired".into(),
            None if entries.is_empty() && self.kinds.contains(audit::PREFLIGHT_FAILED) => "refused".into(),
            None if self.kinds.contains(audit::ENTRY_NOT_FILLED) => "not_filled".into(),
            None if !entries.is_empty() && entries.iter().all(|o| o.state.is_terminal()) => "not_filled".into(),
            None if !entries.is_empty() => "entering".into(),
            None => "planned".into(),
        };
        Summary {
            outcome,
            entry_client_id: entry,
            entry_fill_price: fill.and_then(|f| f.price),
            entry_fill_qty: fill.and_then(|f| f.qty),
            unprotected_window_ms: window,
            exit_reason: self.closed.clone().flatten(),
            forced_close: self.forced_close,
            adopted,
            rows: self.timeline.len(),
            first_ts_ms: self.timeline.first().map(|r| r.ts_ms),
            last_ts_ms: self.timeline.last().map(|r| r.ts_ms),
        }
    }
}

/// Does this ENTRY row report filled quantity? FILLED / PARTIALLY_FILLED do; so does a CANCELLED
/// or EXPIRED row that carries a price, because order rows carry a price (the average fill) only
/// when something executed — a market order can expire part-filled without a PARTIALLY_FILLED row.
fn is_entry_fill(f: &OrderFact) -> bool {
    // A row without a quantity still counts: absence is not proof that nothing filled.
    let some_qty = !matches!(f.qty, Some(q) if q <= Decimal::ZERO);
    match f.event {
        OrderEvent::Filled | OrderEvent::PartiallyFilled => some_qty,
        OrderEvent::Cancelled | OrderEvent::Expired => f.price.is_some() && f.qty.is_some() && some_qty,
        _ => false,
    }
}

/// The exit reason of a `position_closed` audit's data, or why there is none.
fn exit_reason(data: Option<&str>) -> Result<ExitReason, String> {
    let data = data.ok_or("no data (exit_reason missing)")?;
    let v: serde_json::Value = serde_json::from_str(data).map_err(|e| format!("data is not JSON ({e})"))?;
    let s = v.get("exit_reason").and_then(|r| r.as_str()).ok_or("data has no exit_reason")?;
    s.parse::<ExitReason>()
}

#[cfg(test)]
mod tests;
