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
//! * `unprotected_fill`: the first ENTRY fill is not followed by a STOP the exchange held (ACKED,
//!   or a later STOP state that implies it was accepted) nor by a `forced_close` audit. A journal
//!   that simply ends after the fill counts: replay holds the state lock, so a journal that ends
//!   there means the command died and the position was naked (invariant 1).
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

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::ledger::{Ledger, OrderFact};
use crate::core::order::{OrderEvent, OrderRole, OrderState};
use crate::core::position::ExitReason;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The rule names a [`Violation`] carries.
pub mod rule {
    pub const INVALID_TRANSITION: &str = "invalid_transition";
    pub const DUPLICATE_ENTRY: &str = "duplicate_entry";
    pub const UNPROTECTED_FILL: &str = "unprotected_fill";
    pub const EXIT_WITHOUT_REASON: &str = "exit_without_reason";
    pub const ENTRY_WHILE_HALTED: &str = "entry_while_halted";
    pub const ATTEMPT_SEQUENCE: &str = "attempt_sequence";
    pub const CLIENT_ID_MISMATCH: &str = "client_id_mismatch";
    /// Checked by the shell over the whole journal (the hash chain is not per plan).
    pub const JOURNAL_CHAIN: &str = "journal_chain";
    pub const ALL: [&str; 8] = [
        INVALID_TRANSITION,
        DUPLICATE_ENTRY,
        UNPROTECTED_FILL,
        EXIT_WITHOUT_REASON,
        ENTRY_WHILE_HALTED,
        ATTEMPT_SEQUENCE,
        CLIENT_ID_MISMATCH,
        JOURNAL_CHAIN,
    ];
}

/// One audit_event row, as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFact {
    pub seq: i64,
    pub ts_ms: i64,
    /// INFO, WARN or CRITICAL.
    pub severity: String,
    pub kind: String,
    pub plan_id: Option<String>,
    pub message: String,
    /// The JSON `data` text.
    pub data: Option<String>,
}

/// One journal row of either table.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalFact {
    Order { fact: OrderFact, detail: Option<String> },
    Audit(AuditFact),
}

impl JournalFact {
    pub fn seq(&self) -> i64 {
        match self {
            JournalFact::Order { fact, .. } => fact.seq,
            JournalFact::Audit(a) => a.seq,
        }
    }
    pub fn plan_id(&self) -> Option<&str> {
        match self {
            JournalFact::Order { fact, .. } => fact.plan_id.as_deref(),
            JournalFact::Audit(a) => a.plan_id.as_deref(),
        }
    }
    /// A `halt` or `resume` audit: it matters to every plan.
    pub fn is_mode_change(&self) -> bool {
        matches!(self, JournalFact::Audit(a) if a.kind == audit::HALT || a.kind == audit::RESUME)
    }
}

/// Which table a timeline row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Order,
    Audit,
}

/// One line of the rebuilt lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineRow {
    pub seq: i64,
    pub ts_ms: i64,
    pub source: Source,
    pub role: Option<OrderRole>,
    pub attempt: Option<u32>,
    pub client_id: Option<String>,
    pub event: Option<OrderEvent>,
    /// The order's state after this row; `None` when the state machine refused the row.
    pub state: Option<OrderState>,
    pub price: Option<Decimal>,
    pub qty: Option<Decimal>,
    pub severity: Option<String>,
    pub kind: Option<String>,
    pub message: Option<String>,
    /// Order row detail text (error, what a look-up found).
    pub detail: Option<String>,
}

/// A broken rule, named, at the row that shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: &'static str,
    pub seq: i64,
    pub detail: String,
}

/// What became of the plan, derived from the rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `closed:<exit_reason>`, `open`, `entering`, `not_filled`, `refused`, `expired`, `planned`.
    pub outcome: String,
    pub entry_client_id: Option<String>,
    pub entry_fill_price: Option<Decimal>,
    pub entry_fill_qty: Option<Decimal>,
    /// From the first ENTRY fill row to the first row proving a STOP was live; `None` without one.
    pub unprotected_window_ms: Option<i64>,
    pub exit_reason: Option<String>,
    pub forced_close: bool,
    pub adopted: bool,
    pub rows: usize,
    pub first_ts_ms: Option<i64>,
    pub last_ts_ms: Option<i64>,
}

/// The replay of one plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanReplay {
    pub plan_id: String,
    pub timeline: Vec<TimelineRow>,
    pub violations: Vec<Violation>,
    pub summary: Summary,
}

impl PlanReplay {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Replays one plan. `facts` may be the whole journal: only the plan's own rows and the halt/resume
/// rows (of any plan, or none) are used. Global halt/resume rows appear in the timeline only when
/// they fall inside the plan's own span of rows.
pub fn replay_plan(plan_id: &str, facts: &[JournalFact]) -> PlanReplay {
    let mut rows: Vec<&JournalFact> =
        facts.iter().filter(|f| f.plan_id() == Some(plan_id) || f.is_mode_change()).collect();
    rows.sort_by_key(|f| f.seq());
    rows.dedup_by_key(|f| f.seq());
    run(plan_id, &rows)
}

/// Replays every plan that has journal rows, in order of each plan's first row.
pub fn replay_journal(facts: &[JournalFact]) -> Vec<PlanReplay> {
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

/// Rows sorted by seq, deduplicated.
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
    last_attempt: BTreeMap<OrderRole, u32>,
    entry_fills: BTreeMap<String, Fill>,
    /// ENTRY client ids already reported as duplicates.
    duplicates: BTreeSet<String>,
    first_fill: Option<(i64, i64, String)>,
    stop_live: Option<(i64, i64)>,
    forced_close_after_fill: bool,
    forced_close: bool,
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
            last_attempt: BTreeMap::new(),
            entry_fills: BTreeMap::new(),
            duplicates: BTreeSet::new(),
            first_fill: None,
            stop_live: None,
            forced_close_after_fill: false,
            forced_close: false,
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
        if !self.ledger.orders.contains_key(cid) {
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
        let fill = matches!(f.event, OrderEvent::Filled | OrderEvent::PartiallyFilled);
        match f.role {
            OrderRole::Entry if fill && f.qty != Some(Decimal::ZERO) => {
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
                if self.first_fill.is_some()
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
                self.forced_close_after_fill |= self.first_fill.is_some();
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

/// The exit reason of a `position_closed` audit's data, or why there is none.
fn exit_reason(data: Option<&str>) -> Result<ExitReason, String> {
    let data = data.ok_or("no data (exit_reason missing)")?;
    let v: serde_json::Value = serde_json::from_str(data).map_err(|e| format!("data is not JSON ({e})"))?;
    let s = v.get("exit_reason").and_then(|r| r.as_str()).ok_or("data has no exit_reason")?;
    s.parse::<ExitReason>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use OrderEvent as E;
    use OrderRole as R;

    const PLAN: &str = "abc123";

    /// A hand-built journal: seq counts up, ts = seq × 100 ms.
    #[derive(Default)]
    struct J {
        rows: Vec<JournalFact>,
    }

    impl J {
        fn next(&self) -> i64 {
            i64::try_from(self.rows.len()).unwrap() + 1
        }
        fn order_in(&mut self, plan: &str, cid: &str, role: R, attempt: u32, event: E, px: Option<Decimal>) -> i64 {
            let seq = self.next();
            let fact = OrderFact {
                seq,
                ts_ms: seq * 100,
                plan_id: Some(plan.into()),
                client_id: cid.into(),
                role,
                attempt,
                event,
                exchange_order_id: None,
                price: px,
                qty: Some(dec!(0.010)),
            };
            self.rows.push(JournalFact::Order { fact, detail: None });
            seq
        }
        fn order(&mut self, role: R, attempt: u32, event: E) -> i64 {
            let cid = format!("mc_{PLAN}_{role}_{attempt}");
            let px = matches!(event, E::Submitting | E::Filled | E::PartiallyFilled).then_some(dec!(100));
            self.order_in(PLAN, &cid, role, attempt, event, px)
        }
        fn audit_in(&mut self, plan: Option<&str>, kind: &str, data: Option<&str>) -> i64 {
            let seq = self.next();
            self.rows.push(JournalFact::Audit(AuditFact {
                seq,
                ts_ms: seq * 100,
                severity: "INFO".into(),
                kind: kind.into(),
                plan_id: plan.map(str::to_string),
                message: kind.into(),
                data: data.map(str::to_string),
            }));
            seq
        }
        fn audit(&mut self, kind: &str, data: Option<&str>) -> i64 {
            self.audit_in(Some(PLAN), kind, data)
        }
        fn closed(&mut self, reason: &str) -> i64 {
            self.audit(audit::POSITION_CLOSED, Some(&format!(r#"{{"exit_reason":"{reason}"}}"#)))
        }
        /// ENTRY_1 submitted and filled.
        fn entered(&mut self) -> i64 {
            self.audit(audit::ENTRY_SUBMITTED, Some("{}"));
            self.order(R::Entry, 1, E::Submitting);
            self.order(R::Entry, 1, E::Filled)
        }
        /// STOP_1 and TP_1 submitted and acknowledged.
        fn protected(&mut self) {
            self.order(R::Stop, 1, E::Submitting);
            self.order(R::Stop, 1, E::Acked);
            self.order(R::Tp, 1, E::Submitting);
            self.order(R::Tp, 1, E::Acked);
        }
        fn replay(&self) -> PlanReplay {
            replay_plan(PLAN, &self.rows)
        }
    }

    fn rules(r: &PlanReplay) -> Vec<(&'static str, i64)> {
        r.violations.iter().map(|v| (v.rule, v.seq)).collect()
    }

    #[test]
    fn happy_path_to_tp_is_clean() {
        let mut j = J::default();
        let fill = j.entered();
        j.protected();
        j.order(R::Tp, 1, E::Triggered);
        j.order(R::Tp, 1, E::Filled);
        j.order(R::Stop, 1, E::Cancelled);
        j.closed("tp_hit");
        let r = j.replay();
        assert!(r.is_clean(), "{:?}", r.violations);
        assert_eq!(r.summary.outcome, "closed:tp_hit");
        assert_eq!(r.summary.exit_reason.as_deref(), Some("tp_hit"));
        assert_eq!(r.summary.entry_client_id.as_deref(), Some("mc_abc123_ENTRY_1"));
        assert_eq!(r.summary.entry_fill_price, Some(dec!(100)));
        assert_eq!(r.summary.entry_fill_qty, Some(dec!(0.010)));
        // STOP ACKED is two rows after the fill.
        assert_eq!(r.summary.unprotected_window_ms, Some(200));
        assert_eq!(r.timeline.len(), j.rows.len());
        assert_eq!(r.timeline[usize::try_from(fill).unwrap() - 1].state, Some(OrderState::Filled));
        assert!(!r.summary.forced_close);
    }

    #[test]
    fn lost_ack_then_lookup_found_is_clean_and_open() {
        let mut j = J::default();
        j.order(R::Entry, 1, E::Submitting);
        j.order(R::Entry, 1, E::Unknown);
        j.order(R::Entry, 1, E::Filled); // the look-up by client id found it filled
        j.protected();
        let r = j.replay();
        assert!(r.is_clean(), "{:?}", r.violations);
        assert_eq!(r.summary.outcome, "open");
    }

    #[test]
    fn forced_close_path_is_clean() {
        let mut j = J::default();
        j.entered();
        j.order(R::Stop, 1, E::Submitting);
        j.order(R::Stop, 1, E::Rejected);
        j.audit(audit::PROTECTION_FAILED, Some(r#"{"role":"STOP"}"#));
        j.audit(audit::FORCED_CLOSE, Some(r#"{"why":"stop_rejected"}"#));
        j.order(R::Close, 1, E::Submitting);
        j.order(R::Close, 1, E::Filled);
        j.audit(audit::HALT, None);
        j.closed("forced_close:stop_rejected");
        let r = j.replay();
        assert!(r.is_clean(), "{:?}", r.violations);
        assert_eq!(r.summary.outcome, "closed:forced_close:stop_rejected");
        assert!(r.summary.forced_close);
        assert_eq!(r.summary.unprotected_window_ms, None);
    }

    #[test]
    fn second_entry_while_first_may_fill_is_a_duplicate() {
        let mut j = J::default();
        j.order(R::Entry, 1, E::Submitting);
        j.order(R::Entry, 1, E::Unknown);
        let second = j.order(R::Entry, 2, E::Submitting); // no look-up first: F-001
        j.order(R::Entry, 2, E::Filled);
        j.order(R::Entry, 1, E::Filled);
        j.protected();
        let r = j.replay();
        // One report for the one duplicate, at the send that caused it.
        assert_eq!(rules(&r), vec![(rule::DUPLICATE_ENTRY, second)]);
    }

    #[test]
    fn two_filled_entries_are_a_duplicate_even_if_sent_in_order() {
        let mut j = J::default();
        j.entered();
        j.protected();
        j.order(R::Entry, 2, E::Submitting);
        let fill2 = j.order(R::Entry, 2, E::Filled);
        let r = j.replay();
        let dup: Vec<_> = r.violations.iter().filter(|v| v.rule == rule::DUPLICATE_ENTRY).collect();
        assert_eq!(dup.len(), 1, "{:?}", r.violations);
        assert!(dup[0].seq < fill2, "reported when sent, not again when filled");
    }

    #[test]
    fn retry_after_proven_rejection_is_not_a_duplicate() {
        let mut j = J::default();
        j.order(R::Entry, 1, E::Submitting);
        j.order(R::Entry, 1, E::Unknown);
        j.order(R::Entry, 1, E::NotFound);
        j.order(R::Entry, 2, E::Submitting);
        j.order(R::Entry, 2, E::Filled);
        j.protected();
        let r = j.replay();
        assert!(r.is_clean(), "{:?}", r.violations);
        assert_eq!(r.summary.entry_client_id.as_deref(), Some("mc_abc123_ENTRY_2"));
    }

    #[test]
    fn fill_without_stop_ack_is_unprotected() {
        let mut j = J::default();
        let fill = j.entered();
        j.order(R::Stop, 1, E::Submitting);
        j.order(R::Stop, 1, E::Unknown);
        j.order(R::Tp, 1, E::Submitting);
        j.order(R::Tp, 1, E::Acked); // a TP is no protection
        let r = j.replay();
        assert_eq!(rules(&r), vec![(rule::UNPROTECTED_FILL, fill)]);
        assert_eq!(r.summary.unprotected_window_ms, None);
        assert_eq!(r.summary.outcome, "open");
    }

    #[test]
    fn forced_close_before_the_fill_does_not_cover_it() {
        let mut j = J::default();
        j.audit(audit::FORCED_CLOSE, None);
        let fill = j.entered();
        assert_eq!(rules(&j.replay()), vec![(rule::UNPROTECTED_FILL, fill)]);
    }

    #[test]
    fn stop_found_triggered_by_lookup_counts_as_protection() {
        let mut j = J::default();
        j.entered();
        j.order(R::Stop, 1, E::Submitting);
        j.order(R::Stop, 1, E::Unknown);
        j.order(R::Stop, 1, E::Triggered);
        j.order(R::Stop, 1, E::Filled);
        j.closed("stop_hit");
        let r = j.replay();
        assert!(r.is_clean(), "{:?}", r.violations);
        assert_eq!(r.summary.outcome, "closed:stop_hit");
    }

    #[test]
    fn position_closed_needs_a_parseable_reason() {
        for data in [None, Some("{}"), Some("not json"), Some(r#"{"exit_reason":"because"}"#)] {
            let mut j = J::default();
            j.entered();
            j.protected();
            let at = j.audit(audit::POSITION_CLOSED, data);
            let r = j.replay();
            assert_eq!(rules(&r), vec![(rule::EXIT_WITHOUT_REASON, at)], "{data:?}");
            assert_eq!(r.summary.outcome, "closed:unknown");
        }
    }

    #[test]
    fn closing_fill_without_position_closed_is_an_exit_without_reason() {
        let mut j = J::default();
        j.entered();
        j.protected();
        j.order(R::Close, 1, E::Submitting);
        let close = j.order(R::Close, 1, E::Filled);
        assert_eq!(rules(&j.replay()), vec![(rule::EXIT_WITHOUT_REASON, close)]);
        j.closed("regime:trend_invalidation");
        let r = j.replay();
        assert!(r.is_clean(), "{:?}", r.violations);
        assert_eq!(r.summary.outcome, "closed:regime:trend_invalidation");
    }

    #[test]
    fn invalid_transitions_are_named_and_skipped() {
        let mut j = J::default();
        let orphan = j.order(R::Entry, 1, E::Filled); // no SUBMITTING first
        let r = j.replay();
        assert_eq!(rules(&r), vec![(rule::INVALID_TRANSITION, orphan)]);
        assert!(r.violations[0].detail.contains("FILLED is not allowed from no history"));
        assert_eq!(r.timeline[0].state, None);

        let mut j = J::default();
        j.entered();
        j.protected();
        j.order(R::Stop, 1, E::Cancelled);
        let bad = j.order(R::Stop, 1, E::Filled);
        let r = j.replay();
        assert_eq!(rules(&r), vec![(rule::INVALID_TRANSITION, bad)]);
        assert!(r.violations[0].detail.contains("STOP mc_abc123_STOP_1: FILLED is not allowed from state CANCELLED"));
    }

    #[test]
    fn entry_while_halted_uses_global_halts() {
        let mut j = J::default();
        let halt = j.audit_in(None, audit::HALT, None);
        j.audit_in(Some("zzz999"), "entry_submitted", None);
        let sent = j.order(R::Entry, 1, E::Submitting);
        let r = j.replay();
        assert_eq!(rules(&r), vec![(rule::ENTRY_WHILE_HALTED, sent)]);
        assert!(r.violations[0].detail.contains(&format!("halt at seq {halt}")));
        // The halt precedes the plan's own rows: it counts, but is not part of the timeline.
        assert_eq!(r.timeline.len(), 1);
        assert_eq!(r.summary.outcome, "entering");

        let mut j = J::default();
        j.audit_in(None, audit::HALT, None);
        j.audit_in(None, audit::RESUME, None);
        j.entered();
        j.protected();
        j.order(R::Close, 1, E::Submitting); // exits are never blocked
        j.audit_in(None, audit::HALT, None);
        j.order(R::Close, 1, E::Filled);
        j.closed("manual");
        let r = j.replay();
        assert!(r.is_clean(), "{:?}", r.violations);
        assert!(r.timeline.iter().any(|t| t.kind.as_deref() == Some("halt")), "halt inside the span is shown");
    }

    #[test]
    fn attempts_start_at_one_and_step_by_one() {
        let mut j = J::default();
        j.entered();
        let skipped = j.order(R::Stop, 2, E::Submitting);
        j.order(R::Stop, 2, E::Acked);
        let r = j.replay();
        assert_eq!(rules(&r), vec![(rule::ATTEMPT_SEQUENCE, skipped)]);

        let mut j = J::default();
        j.entered();
        j.order(R::Stop, 1, E::Submitting);
        j.order(R::Stop, 1, E::Rejected);
        let gap = j.order(R::Stop, 3, E::Submitting);
        j.order(R::Stop, 3, E::Acked);
        assert_eq!(rules(&j.replay()), vec![(rule::ATTEMPT_SEQUENCE, gap)]);
    }

    #[test]
    fn client_id_must_name_its_plan_role_and_attempt() {
        let mut j = J::default();
        let wrong = j.order_in(PLAN, "mc_other1_ENTRY_1", R::Entry, 1, E::Submitting, None);
        j.order_in(PLAN, "mc_other1_ENTRY_1", R::Entry, 1, E::Rejected, None);
        let r = j.replay();
        assert_eq!(rules(&r), vec![(rule::CLIENT_ID_MISMATCH, wrong)]);
        assert_eq!(r.summary.outcome, "not_filled");
    }

    #[test]
    fn outcomes_without_a_position() {
        let outcome = |build: &dyn Fn(&mut J)| {
            let mut j = J::default();
            build(&mut j);
            let r = j.replay();
            assert!(r.is_clean(), "{:?}", r.violations);
            r.summary.outcome
        };
        assert_eq!(outcome(&|_| {}), "planned");
        assert_eq!(
            outcome(&|j| {
                j.audit(audit::PREFLIGHT_FAILED, None);
            }),
            "refused"
        );
        assert_eq!(
            outcome(&|j| {
                j.audit(audit::PLAN_EXPIRED, None);
            }),
            "expired"
        );
        assert_eq!(
            outcome(&|j| {
                j.order(R::Entry, 1, E::Submitting);
                j.order(R::Entry, 1, E::Rejected);
                j.audit(audit::ENTRY_NOT_FILLED, None);
            }),
            "not_filled"
        );
        assert_eq!(
            outcome(&|j| {
                j.order(R::Entry, 1, E::Submitting);
                j.order(R::Entry, 1, E::Unknown);
            }),
            "entering"
        );
    }

    #[test]
    fn replay_journal_groups_plans_and_shares_halts() {
        let mut j = J::default();
        j.entered();
        j.protected();
        j.audit_in(None, audit::HALT, None);
        j.order_in("zzz999", "mc_zzz999_ENTRY_1", R::Entry, 1, E::Submitting, None);
        j.order_in("zzz999", "mc_zzz999_ENTRY_1", R::Entry, 1, E::Rejected, None);
        let all = replay_journal(&j.rows);
        let ids: Vec<&str> = all.iter().map(|p| p.plan_id.as_str()).collect();
        assert_eq!(ids, vec![PLAN, "zzz999"]);
        assert!(all[0].is_clean());
        assert_eq!(all[1].violations.len(), 1);
        assert_eq!(all[1].violations[0].rule, rule::ENTRY_WHILE_HALTED);
        assert_eq!(all[1], replay_plan("zzz999", &j.rows), "same verdict either way");
    }

    #[test]
    fn rule_names_are_distinct_snake_case() {
        let set: BTreeSet<&str> = rule::ALL.into_iter().collect();
        assert_eq!(set.len(), rule::ALL.len());
        assert!(rule::ALL.iter().all(|r| r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }
}
