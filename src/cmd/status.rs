//! `mcbot status`: mode, position, protection, open plan, last reconcile (CONTRACT §3). Reads the
//! DB only: no lock, no exchange call, so it answers even while another mcbot is working.

use crate::clock::rfc3339;
use crate::cmd::human::{self, Rows};
use crate::cmd::{paper, Ctx};
use crate::config::PaperMode;
use crate::core::order::{OrderRole, OrderState};
use crate::core::plan::{PlanStatus, TradePlan};
use crate::core::posture;
use crate::error::Result;
use crate::outcome::Report;
use crate::store::positions::PositionRecord;
use serde_json::{json, Value};

/// Arguments of `mcbot status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

fn plan_json(p: &TradePlan) -> Value {
    json!({
        "id": p.id, "side": p.side.as_str(), "status": p.status.as_str(), "symbol": p.symbol,
        "interval": p.interval, "candle_close_at": rfc3339(p.candle_close_ms),
        "entry_ref": p.entry_ref.to_string(), "stop": p.stop_price.to_string(), "quantity": p.qty.to_string(),
        "risk_usdt": p.risk_usdt.to_string(), "valid_until": rfc3339(p.valid_until_ms),
    })
}

fn position_json(p: &PositionRecord) -> Value {
    json!({
        "side": p.side.as_str(), "qty": p.qty.to_string(), "entry_price": p.entry_price.to_string(),
        "trade_plan_id": p.trade_plan_id, "state": p.state.as_str(), "adopted": p.adopted,
        "opened_at": rfc3339(p.opened_ms), "unprotected_window_ms": p.unprotected_window_ms,
        "pending_exit_reason": p.pending_exit_reason, "owner_plan_id": p.owner_plan_id,
    })
}

/// Every STOP/TP of this bot the journal believes working (as the last command that read the
/// exchange left it), whichever plan it belongs to: leftovers of an interrupted resize or of an
/// old plan show here too, not only the open position's own legs (issue 10 item 5).
fn working_protection(store: &crate::store::Store) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for plan_id in store.plans_with_live_protection()? {
        let ledger = store.ledger_for_plan(&plan_id)?;
        for role in [OrderRole::Stop, OrderRole::Tp] {
            for o in ledger.of(&plan_id, role) {
                if matches!(o.state, OrderState::Acked | OrderState::Triggered) {
                    out.push(json!({
                        "plan_id": plan_id, "role": role.as_str(), "client_id": o.client_id, "state": o.state.as_str(),
                        "trigger_price": o.order_price.map(|d| d.to_string()), "qty": o.order_qty.map(|d| d.to_string()),
                    }));
                }
            }
        }
    }
    Ok(out)
}

/// The paper mode as `status` shows it: JSON and one text row.
struct PaperView {
    json: Value,
    text: String,
}

fn paper_view(ctx: &Ctx) -> Result<Option<PaperView>> {
    let c = &ctx.config;
    let Some(mode) = paper::mode(c) else { return Ok(None) };
    Ok(Some(match mode {
        PaperMode::Live => PaperView {
            json: json!({"mode": "live", "prices_url": c.paper.prices_url, "clock": "wall"}),
            text: format!("live dry run: public prices from {}, wall clock, paper fills", c.paper.prices_url),
        },
        PaperMode::Replay => {
            let clock = crate::exchange::paper::replay_clock::read(&c.state_db)?;
            let end = paper::replay_data_end_ms(c)?;
            // Finished: the next tick's clock would pass the data's last candle.
            let finished = clock.is_some_and(|t| t + c.strategy.interval_ms > end);
            let at = clock
                .map_or("not started (the first tick starts it)".to_string(), |t| format!("clock {}", human::time(t)));
            let state = if finished {
                "FINISHED: the next tick is refused (exit 2), see docs/operations.md"
            } else {
                "each tick one candle on"
            };
            PaperView {
                json: json!({
                    "mode": "replay", "candles": c.paper.candles.display().to_string(),
                    "clock": clock.map(rfc3339), "data_end": rfc3339(end), "finished": finished,
                }),
                text: format!(
                    "history replay of {}: {at}, data to {}; {state}",
                    if crate::marketdata::is_shipped_candles(&c.paper.candles) {
                        "the shipped BTCUSDT 4h data".to_string()
                    } else {
                        c.paper.candles.display().to_string()
                    },
                    human::time(end)
                ),
            }
        }
    }))
}

pub(crate) fn run(_args: &StatusArgs, ctx: &mut Ctx) -> Result<Report> {
    let store = &ctx.store;
    let sys = store.system()?;
    let position = store.active_position(&ctx.config.symbol)?;
    let mut protection = json!({"stop": null, "tp": null});
    // An adopted position's protection is journaled under the plan its covering orders name.
    if let Some(plan_id) = position.as_ref().and_then(|p| p.trade_plan_id.clone().or_else(|| p.owner_plan_id.clone())) {
        let ledger = store.ledger_for_plan(&plan_id)?;
        for (role, key) in [(OrderRole::Stop, "stop"), (OrderRole::Tp, "tp")] {
            if let Some(o) =
                ledger.live(&plan_id, role).filter(|o| matches!(o.state, OrderState::Acked | OrderState::Triggered))
            {
                protection[key] = json!({
                    "client_id": o.client_id, "state": o.state.as_str(),
                    "trigger_price": o.order_price.map(|d| d.to_string()), "qty": o.order_qty.map(|d| d.to_string()),
                });
            }
        }
    }
    let protective_orders = working_protection(store)?;
    let open_plan = store.latest_plan_with_status(PlanStatus::Planned)?;
    let now = ctx.clock.now_ms();
    let mut r = Report::ok("status");
    r.set("mode", sys.mode.as_str());
    r.set("halt_reason", sys.halt_reason.clone());
    r.set("mode_since", rfc3339(sys.mode_since_ms));
    r.set("position", position.as_ref().map_or(Value::Null, position_json));
    r.set("protection", protection.clone());
    r.set("protective_orders", Value::Array(protective_orders.clone()));
    r.set("open_plan", open_plan.as_ref().map_or(Value::Null, plan_json));
    r.set("last_reconcile_at", sys.last_reconcile_ms.map(rfc3339));
    r.set("last_reconcile_clean", sys.last_reconcile_clean);
    r.set("mismatch_streak", sys.mismatch_streak);
    r.set("mismatch_halt_streak", ctx.config.execution.mismatch_halt_streak);
    r.set("cooldown_until", sys.cooldown_until_ms.filter(|t| *t > now).map(rfc3339));
    r.set("entry_block_reason", sys.entry_block_reason.clone());
    let posture = posture::view(&store.posture(now)?, ctx.config.risk.max_notional_usdt);
    r.set(
        "posture",
        json!({
            "mode": posture.mode.as_str(), "debt_score": posture.debt_score, "since": rfc3339(posture.since_ms),
            "knobs": {
                "allow_entries": posture.allow_entries, "max_notional_usdt": posture.max_notional_usdt.to_string(),
                "cooldown_candles": posture.cooldown_candles,
            },
        }),
    );

    let paper = paper_view(ctx)?;
    r.set("paper", paper.as_ref().map_or(Value::Null, |p| p.json.clone()));

    let interval_ms = ctx.config.strategy.interval_ms;
    let mut t = Rows::new();
    t.row(
        "mode",
        match &sys.halt_reason {
            Some(why) if sys.is_halted() => format!("HALTED since {} ({why})", human::time(sys.mode_since_ms)),
            _ => sys.mode.as_str().to_string(),
        },
    );
    if let Some(p) = &paper {
        t.row("paper", p.text.clone());
    }
    match &position {
        Some(p) => {
            t.row(
                "position",
                format!(
                    "{} {} {} @ {} USDT (plan {}, {}, opened {})",
                    p.side,
                    p.qty,
                    p.symbol,
                    p.entry_price,
                    p.trade_plan_id.as_deref().unwrap_or("adopted"),
                    p.state,
                    human::time(p.opened_ms)
                ),
            );
            if let Some(w) = p.unprotected_window_ms {
                t.row("unprotected", format!("{} between fill and STOP", human::duration(w)));
            }
            if let Some(why) = &p.pending_exit_reason {
                t.row("pending exit", why.clone());
            }
            for key in ["stop", "tp"] {
                let v = &protection[key];
                t.row(
                    key,
                    if v.is_null() {
                        "NONE".to_string()
                    } else {
                        format!(
                            "trigger {} USDT, qty {} ({}, {})",
                            v["trigger_price"].as_str().unwrap_or("?"),
                            v["qty"].as_str().unwrap_or("?"),
                            v["state"].as_str().unwrap_or("?"),
                            v["client_id"].as_str().unwrap_or("?")
                        )
                    },
                );
            }
        }
        None => {
            t.row("position", "flat");
        }
    }
    // The plan a person asks about: the pending one, else the one the open position came from.
    let position_plan = match position.as_ref().and_then(|p| p.trade_plan_id.as_deref()) {
        Some(id) if open_plan.is_none() => store.plan(id)?,
        _ => None,
    };
    t.row(
        "plan",
        match (&open_plan, &position_plan) {
            (Some(p), _) => format!(
                "{} {} qty {} stop {} USDT, {} (enter until {})",
                p.id,
                p.side,
                p.qty,
                p.stop_price,
                p.status.as_str(),
                human::time(p.valid_until_ms)
            ),
            (None, Some(p)) => {
                format!(
                    "{} {} qty {} stop {} USDT, {} (the open position's)",
                    p.id,
                    p.side,
                    p.qty,
                    p.stop_price,
                    p.status.as_str()
                )
            }
            (None, None) => "none pending".to_string(),
        },
    );
    t.row(
        "last reconcile",
        match sys.last_reconcile_ms {
            Some(at) => format!(
                "{} ({}; mismatch streak {}/{})",
                human::time(at),
                if sys.last_reconcile_clean { "clean" } else { "repairs needed" },
                sys.mismatch_streak,
                ctx.config.execution.mismatch_halt_streak
            ),
            None => "never (entries blocked until one completes)".to_string(),
        },
    );
    if let Some(until) = sys.cooldown_until_ms.filter(|t| *t > now) {
        t.row("cooldown", human::candles_left(now, until, interval_ms));
    }
    let listed: Vec<&str> = ["stop", "tp"].iter().filter_map(|k| protection[*k]["client_id"].as_str()).collect();
    for o in protective_orders.iter().filter(|o| !o["client_id"].as_str().is_some_and(|c| listed.contains(&c))) {
        t.row(
            "also working",
            format!(
                "{} {} trigger {} USDT, qty {} (plan {})",
                o["role"].as_str().unwrap_or("?"),
                o["client_id"].as_str().unwrap_or("?"),
                o["trigger_price"].as_str().unwrap_or("?"),
                o["qty"].as_str().unwrap_or("?"),
                o["plan_id"].as_str().unwrap_or("?")
            ),
        );
    }
    if let Some(b) = &sys.entry_block_reason {
        t.row("entries blocked", b.clone());
    }
    t.row(
        "posture",
        format!(
            "{} since {} (debt {}; entries {}, max notional {} USDT, extra cooldown {} candles)",
            posture.mode.as_str(),
            human::time(posture.since_ms),
            posture.debt_score,
            if posture.allow_entries { "allowed" } else { "refused" },
            posture.max_notional_usdt,
            posture.cooldown_candles
        ),
    );
    let pnl = crate::cmd::status_pnl::read(store, position.as_ref())?;
    crate::cmd::status_pnl::add_to(&mut r, &mut t, &pnl, position.is_some());
    t.push_to(&mut r);
    Ok(r)
}
