//! How an evaluation is shown: the `evaluate --json` fields (CONTRACT §8), the decision JSON
//! stored with a plan, and a short text summary for people.

use super::EvaluateOutcome;
use crate::clock::rfc3339;
use crate::core::plan::TradePlan;
use crate::core::strategy::Decision;
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn f64_str(v: Option<f64>) -> Value {
    // Rust prints the shortest text that reads back as the same f64, never in exponent form.
    v.filter(|x| x.is_finite()).map_or(Value::Null, |x| Value::String(x.to_string()))
}

fn dec_str(v: Option<Decimal>) -> Value {
    v.map_or(Value::Null, |d| Value::String(d.to_string()))
}

/// The indicators and rule verdicts, as stored with a plan and printed by `evaluate --json`.
pub fn decision_json(out: &EvaluateOutcome) -> Value {
    let e = &out.evaluation;
    let ind = e.indicators.as_ref();
    json!({
        "candles": out.candles,
        "indicators": {
            "close": dec_str(ind.map(|i| i.close)),
            "ema_fast": f64_str(ind.and_then(|i| i.ema_fast)),
            "ema_fast_prev": f64_str(ind.and_then(|i| i.ema_fast_prev)),
            "ema_slow": f64_str(ind.and_then(|i| i.ema_slow)),
            "atr": f64_str(ind.and_then(|i| i.atr)),
            "atr_sma": f64_str(ind.and_then(|i| i.atr_sma)),
            "highest_high": dec_str(ind.and_then(|i| i.highest_high)),
            "lowest_low": dec_str(ind.and_then(|i| i.lowest_low)),
            "funding_rate": e.funding_rate.to_string(),
            "mark_price": e.mark_price.to_string(),
        },
        "rules": e.verdicts,
        "decision": e.decision.kind(),
        "reason": e.decision.reason_code(),
        "reason_detail": e.reason_text(),
    })
}

fn plan_json(p: &TradePlan, created: bool) -> Value {
    json!({
        "id": p.id, "side": p.side.as_str(), "status": p.status.as_str(),
        "entry_ref": p.entry_ref.to_string(), "stop": p.stop_price.to_string(), "quantity": p.qty.to_string(),
        "risk_usdt": p.risk_usdt.to_string(), "candle_close_ms": p.candle_close_ms,
        "valid_until": rfc3339(p.valid_until_ms), "valid_until_ms": p.valid_until_ms, "created": created,
    })
}

impl EvaluateOutcome {
    /// The `evaluate --json` fields (CONTRACT §8), without `command`/`outcome`.
    pub fn to_json(&self) -> Value {
        let mut v = decision_json(self);
        let exit_reason = match &self.evaluation.decision {
            Decision::Exit(e) => Value::String(e.exit_reason().to_string()),
            _ => Value::Null,
        };
        let extra = json!({
            "symbol": self.symbol, "interval": self.interval, "server_time": rfc3339(self.server_time_ms),
            "plan": self.plan.as_ref().map_or(Value::Null, |p| plan_json(p, self.plan_created)),
            "exit_reason": exit_reason, "exit_recorded": self.exit_recorded,
            "position": self.position.as_ref().map_or(Value::Null, |p| json!({
                "id": p.id, "state": p.state.as_str(), "side": p.view.side.as_str(),
                "entry_price": p.view.entry_price.to_string(), "stop_price": dec_str(p.view.stop_price),
                "candles_since_entry": p.view.candles_since_entry, "best_close": dec_str(p.view.best_close),
                "pending_exit_reason": p.pending_exit_reason,
            })),
            "expired_plans": self.expired_plans, "note": self.note,
            "posture": {
                "mode": self.posture.mode.as_str(), "max_notional_usdt": self.posture.max_notional_usdt.to_string(),
                "action": self.posture.action, "reason": self.posture.reason,
            },
        });
        if let (Value::Object(m), Value::Object(x)) = (&mut v, extra) {
            m.extend(x);
        }
        v
    }

    /// A readable summary for people: what was decided, why, and the numbers.
    pub fn summary_lines(&self) -> Vec<String> {
        let e = &self.evaluation;
        let at = self.candles.last_close_time.map_or("-".to_string(), |t| rfc3339(t + 1));
        let mut lines = vec![match (&e.decision, &self.plan) {
            (Decision::Plan(_), Some(p)) => format!(
                "{} {} candle closed {at}: PLAN {} {} qty {} stop {} ref {} (valid until {}){}",
                self.symbol,
                self.interval,
                p.id,
                p.side,
                p.qty,
                p.stop_price,
                p.entry_ref,
                rfc3339(p.valid_until_ms),
                if self.plan_created { "" } else { " [already recorded]" }
            ),
            (Decision::Exit(x), _) => format!(
                "{} {} candle closed {at}: EXIT {} ({})",
                self.symbol,
                self.interval,
                x.exit_reason(),
                if self.exit_recorded { "recorded as pending" } else { "not recorded again" }
            ),
            _ => format!("{} {} candle closed {at}: no trade", self.symbol, self.interval),
        }];
        lines.push(format!("why: {}", e.reason_text()));
        if let Some(i) = &e.indicators {
            let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2}"));
            let d = |v: Option<Decimal>| v.map_or("-".to_string(), |x| x.to_string());
            lines.push(format!(
                "close {} | EMA fast {} slow {} | ATR {} SMA(ATR) {} | high {} low {} | funding {}% mark {} | {} candles",
                i.close,
                f(i.ema_fast),
                f(i.ema_slow),
                f(i.atr),
                f(i.atr_sma),
                d(i.highest_high),
                d(i.lowest_low),
                e.funding_rate * Decimal::ONE_HUNDRED,
                e.mark_price,
                self.candles.count
            ));
        }
        let failed: Vec<&str> = e.verdicts.iter().filter(|v| !v.passed).map(|v| v.rule()).collect();
        if !failed.is_empty() {
            let what = if self.position.is_some() { "exit rules fired" } else { "entry rules not met" };
            lines.push(format!("{what}: {}", failed.join(", ")));
        }
        if !self.expired_plans.is_empty() {
            lines.push(format!("expired plans: {}", self.expired_plans.join(", ")));
        }
        if let Some(n) = &self.note {
            lines.push(format!("note: {n}"));
        }
        lines
    }
}
