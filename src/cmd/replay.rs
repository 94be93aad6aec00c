//! `mcbot replay`: rebuilds trade plans' lifecycles from the journal alone and verifies them
//! (CONTRACT §7.9): the rules of `core::replay` per plan, plus the journal's hash chain. Reads the
//! DB only and never connects to the exchange, so it works on a copy of a DB from anywhere.
//!
//! The whole-DB check (`store::replay`) is shared with `sim`, which runs it after a run.

use crate::clock::rfc3339;
use crate::cmd::trades::{pnl_line, trade_json};
use crate::cmd::Ctx;
use crate::core::audit;
use crate::core::plan::is_plan_id;
use crate::core::posture;
use crate::core::replay::{replay_plan, PlanReplay, Source, TimelineRow};
use crate::core::trades::closed_trades;
use crate::error::{Error, Result};
use crate::outcome::{ExitCode, Report};
use crate::store::journal::JournalEntry;
use crate::store::Store;
use serde_json::{json, Value};

/// Arguments of `mcbot replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The trade plan to replay
    #[arg(required_unless_present = "all")]
    pub plan_id: Option<String>,
    /// List every plan with its outcome and any violations
    #[arg(long, conflicts_with = "plan_id")]
    pub all: bool,
}

pub(crate) use crate::store::journal::journal_facts;
pub(crate) use crate::store::replay::{replay_store, ChainCheck};

fn chain_json(c: &ChainCheck) -> Value {
    json!({"ok": c.broken.is_none(), "rows": c.rows,
           "broken_at": c.broken.as_ref().map(|b| json!({"seq": b.seq, "problem": b.problem}))})
}

fn chain_text(c: &ChainCheck) -> String {
    match &c.broken {
        None => format!("journal chain: ok ({} rows)", c.rows),
        Some(b) => format!("journal chain: BROKEN at seq {}: {}", b.seq, b.problem),
    }
}

pub(crate) fn run(args: &ReplayArgs, ctx: &mut Ctx) -> Result<Report> {
    match &args.plan_id {
        Some(id) => one(id, &ctx.store),
        None => all(&ctx.store),
    }
}

fn one(id: &str, store: &Store) -> Result<Report> {
    if !is_plan_id(id) {
        return Err(Error::Usage(format!("{id:?} is not a trade plan id (expected [a-z0-9]{{6,12}})")));
    }
    let entries = store.full_journal()?;
    let facts = journal_facts(&entries);
    if store.plan(id)?.is_none() && !facts.iter().any(|f| f.plan_id() == Some(id)) {
        return Err(Error::Failed(format!("unknown plan {id}: no trade plan and no journal rows carry this id")));
    }
    let chain = ChainCheck::of(&entries);
    let replay = replay_plan(id, &facts);
    let mut violations = replay.violations.clone();
    violations.extend(chain.violation());
    violations.sort_by_key(|v| v.seq);

    let mut r = verdict_report(violations.len());
    let changes = posture_changes(&entries);
    r.set("plan_id", id);
    r.set("timeline", replay.timeline.iter().map(|t| with_posture(row_json(t), t, &changes)).collect::<Vec<_>>());
    r.set("violations", serde_json::to_value(&violations).unwrap_or(Value::Null));
    r.set("summary", summary_json(&replay));
    r.set("chain", chain_json(&chain));
    // Issue 13 §3: the realised PnL of the trade the plan closed, by the rule `trades` uses.
    let trade = closed_trades(&facts, None).into_iter().rev().find(|t| t.plan_id == id);
    r.set("trade", trade.as_ref().map_or(Value::Null, trade_json));

    r.push_line(format!("replay {id}: {} rows; {}", replay.timeline.len(), chain_text(&chain)));
    r.lines.extend(replay.timeline.iter().map(|t| posture_suffix(row_text(t), t, &changes)));
    add_posture_span(&mut r, &replay, &changes);
    r.push_line(summary_text(&replay));
    if let Some(t) = &trade {
        r.push_line(pnl_line(t));
    }
    r.push_line(verdict_text(violations.len()));
    r.lines.extend(violations.iter().map(|v| format!("  {} at seq {}: {}", v.rule, v.seq, v.detail)));
    Ok(r)
}

fn all(store: &Store) -> Result<Report> {
    let db = replay_store(store)?;
    let violations = db.violations();
    let mut r = verdict_report(violations.len());
    let plans: Vec<Value> = db
        .plans
        .iter()
        .map(|p| {
            json!({"plan_id": p.plan_id, "outcome": p.summary.outcome, "violations": p.violations,
                   "summary": summary_json(p)})
        })
        .collect();
    r.set("plans", plans);
    r.set("chain", chain_json(&db.chain));
    r.set("violation_count", violations.len());

    r.push_line(format!("{:<14}{:<40}{:>6}  verdict", "plan", "outcome", "rows"));
    for p in &db.plans {
        // Rule names in the order they first broke.
        let mut rules: Vec<&str> = Vec::new();
        for v in &p.violations {
            if !rules.contains(&v.rule) {
                rules.push(v.rule);
            }
        }
        let verdict = if rules.is_empty() { "ok".to_string() } else { rules.join(",") };
        r.push_line(format!("{:<14}{:<40}{:>6}  {verdict}", p.plan_id, p.summary.outcome, p.summary.rows));
    }
    if db.plans.is_empty() {
        r.push_line("(no plans)");
    }
    r.push_line(chain_text(&db.chain));
    r.push_line(verdict_text(violations.len()));
    for (plan, v) in &violations {
        r.push_line(format!("  {} {} at seq {}: {}", plan.unwrap_or("journal"), v.rule, v.seq, v.detail));
    }
    Ok(r)
}

/// Every `posture_changed` audit row of the journal, in order (issue 15: the posture at each
/// decision comes from these alone, so replay needs no other table).
fn posture_changes(entries: &[JournalEntry]) -> Vec<posture::JournalChange> {
    entries
        .iter()
        .filter_map(|e| match e {
            JournalEntry::AuditEvent(a) if a.event.kind == audit::POSTURE_CHANGED => {
                let data: Value = serde_json::from_str(a.event.data.as_deref().unwrap_or("null")).ok()?;
                posture::change_of(a.seq, a.event.ts_ms, &data)
            }
            _ => None,
        })
        .collect()
}

/// A timeline row's JSON with the posture mode in force when it was written.
fn with_posture(mut v: Value, t: &TimelineRow, changes: &[posture::JournalChange]) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("posture".into(), posture::mode_at(changes, t.seq).as_str().into());
    }
    v
}

/// A decision row (an audit row: entry submitted, exit decided, pre-flight or posture refusal...)
/// in text ends with the posture it was taken under.
fn posture_suffix(line: String, t: &TimelineRow, changes: &[posture::JournalChange]) -> String {
    match t.source {
        Source::Audit => format!("{line}  [posture {}]", posture::mode_at(changes, t.seq).as_str()),
        Source::Order => line,
    }
}

/// The posture at the plan's first row and every change while the plan was live.
fn add_posture_span(r: &mut Report, replay: &PlanReplay, changes: &[posture::JournalChange]) {
    let (Some(first), Some(last)) = (replay.timeline.first(), replay.timeline.last()) else { return };
    let during: Vec<&posture::JournalChange> =
        changes.iter().filter(|c| c.seq > first.seq && c.seq < last.seq).collect();
    let start = posture::mode_at(changes, first.seq);
    r.set(
        "posture",
        json!({"at_first_row": start.as_str(), "changes": during.iter().map(|c| json!({"seq": c.seq,
            "time": rfc3339(c.ts_ms), "from": c.from.as_str(), "to": c.to.as_str(), "reason": c.reason})).collect::<Vec<_>>()}),
    );
    let mut line = format!("posture: {} at the first row", start.as_str());
    for c in &during {
        line.push_str(&format!(
            "; {} #{} {} -> {} ({})",
            rfc3339(c.ts_ms),
            c.seq,
            c.from.as_str(),
            c.to.as_str(),
            c.reason
        ));
    }
    r.push_line(line);
}

/// Exit 0 when clean, 1 (outcome `violations`) otherwise.
fn verdict_report(violations: usize) -> Report {
    if violations == 0 {
        Report::ok("replay")
    } else {
        Report::new("replay", "violations", ExitCode::Failed)
    }
}

fn verdict_text(violations: usize) -> String {
    match violations {
        0 => "verdict: OK, no violations".into(),
        1 => "verdict: 1 VIOLATION".into(),
        n => format!("verdict: {n} VIOLATIONS"),
    }
}

fn row_json(t: &TimelineRow) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("time".into(), rfc3339(t.ts_ms).into());
    }
    v
}

fn row_text(t: &TimelineRow) -> String {
    // Milliseconds kept: the order of an ENTRY fill and its STOP ack within one second matters.
    let head = format!("{}  #{:<5}", rfc3339(t.ts_ms), t.seq);
    let opt = |d: Option<rust_decimal::Decimal>| d.map_or("-".to_string(), |d| d.to_string());
    match t.source {
        Source::Order => format!(
            // The state the order is in after the event, then the event: "INTENDED on
            // SUBMITTING" (an arrow between them read as a transition from the event).
            "{head} {:<5} {:>2}  {:<30} {:<12} on {:<14} price {} qty {}{}",
            t.role.map_or("?", |r| r.as_str()),
            t.attempt.unwrap_or(0),
            t.client_id.as_deref().unwrap_or("?"),
            t.state.map_or("(refused)".to_string(), |s| s.to_string()),
            t.event.map_or("?", |e| e.as_str()),
            opt(t.price),
            opt(t.qty),
            t.detail.as_deref().map_or(String::new(), |d| format!("  ({d})")),
        ),
        Source::Audit => format!(
            "{head} audit {:<8} {}: {}",
            t.severity.as_deref().unwrap_or("?"),
            t.kind.as_deref().unwrap_or("?"),
            t.message.as_deref().unwrap_or("")
        ),
    }
}

fn summary_json(p: &PlanReplay) -> Value {
    let mut v = serde_json::to_value(&p.summary).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("first_at".into(), p.summary.first_ts_ms.map(rfc3339).into());
        m.insert("last_at".into(), p.summary.last_ts_ms.map(rfc3339).into());
    }
    v
}

fn summary_text(p: &PlanReplay) -> String {
    let s = &p.summary;
    let mut parts = vec![format!("outcome {}", s.outcome)];
    if let (Some(cid), Some(qty)) = (&s.entry_client_id, s.entry_fill_qty) {
        let px = s.entry_fill_price.map_or("?".to_string(), |d| d.to_string());
        parts.push(format!("entry {cid} filled {qty} @ {px}"));
    }
    if let Some(w) = s.unprotected_window_ms {
        parts.push(format!("unprotected window {w} ms"));
    }
    if s.forced_close {
        parts.push("forced close".into());
    }
    if let Some(e) = &s.exit_reason {
        parts.push(format!("exit {e}"));
    }
    format!("summary: {}", parts.join("; "))
}
