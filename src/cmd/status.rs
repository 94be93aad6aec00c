//! `mcbot status`: mode, position, protection, open plan, last reconcile (CONTRACT §3). Reads the
//! DB only: no lock, no exchange call, so it answers even while another mcbot is working.

use crate::clock::rfc3339;
use crate::cmd::Ctx;
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

pub fn run(_args: &StatusArgs, ctx: &mut Ctx) -> Result<Report> {
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

    r.push_line(match &sys.halt_reason {
        Some(why) if sys.is_halted() => format!("mode: HALTED since {} ({why})", rfc3339(sys.mode_since_ms)),
        _ => format!("mode: {}", sys.mode.as_str()),
    });
    match &position {
        Some(p) => {
            r.push_line(format!(
                "position: {} {} {} @ {} (plan {}, {})",
                p.side,
                p.qty,
                p.symbol,
                p.entry_price,
                p.trade_plan_id.as_deref().unwrap_or("adopted"),
                p.state
            ));
            if let Some(w) = p.unprotected_window_ms {
                r.push_line(format!("unprotected window: {w} ms"));
            }
            for key in ["stop", "tp"] {
                let v = &protection[key];
                r.push_line(if v.is_null() {
                    format!("{key}: NONE")
                } else {
                    format!(
                        "{key}: {} trigger {} qty {}",
                        v["client_id"].as_str().unwrap_or("?"),
                        v["trigger_price"],
                        v["qty"]
                    )
                });
            }
        }
        None => r.push_line("position: flat"),
    }
    let listed: Vec<&str> = ["stop", "tp"].iter().filter_map(|k| protection[*k]["client_id"].as_str()).collect();
    for o in protective_orders.iter().filter(|o| !o["client_id"].as_str().is_some_and(|c| listed.contains(&c))) {
        r.push_line(format!(
            "also working: {} {} trigger {} qty {} (plan {})",
            o["role"].as_str().unwrap_or("?"),
            o["client_id"].as_str().unwrap_or("?"),
            o["trigger_price"].as_str().unwrap_or("?"),
            o["qty"].as_str().unwrap_or("?"),
            o["plan_id"].as_str().unwrap_or("?")
        ));
    }
    r.push_line(match &open_plan {
        Some(p) => format!(
            "open plan: {} {} qty {} stop {} (valid until {})",
            p.id,
            p.side,
            p.qty,
            p.stop_price,
            rfc3339(p.valid_until_ms)
        ),
        None => "open plan: none".to_string(),
    });
    r.push_line(match sys.last_reconcile_ms {
        Some(t) => format!(
            "last reconcile: {} ({}; mismatch streak {}/{})",
            rfc3339(t),
            if sys.last_reconcile_clean { "clean" } else { "repairs needed" },
            sys.mismatch_streak,
            ctx.config.execution.mismatch_halt_streak
        ),
        None => "last reconcile: never (entries blocked until one completes)".to_string(),
    });
    if let Some(b) = &sys.entry_block_reason {
        r.push_line(format!("entries blocked: {b}"));
    }
    r.push_line(format!(
        "posture: {} since {} (debt {}; entries {}, max notional {} USDT, extra cooldown {} candles)",
        posture.mode.as_str(),
        rfc3339(posture.since_ms),
        posture.debt_score,
        if posture.allow_entries { "allowed" } else { "refused" },
        posture.max_notional_usdt,
        posture.cooldown_candles
    ));
    let pnl = crate::cmd::status_pnl::read(store, position.as_ref())?;
    crate::cmd::status_pnl::add_to(&mut r, &pnl, position.is_some());
    Ok(r)
}
