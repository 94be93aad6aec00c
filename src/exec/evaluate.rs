//! The `evaluate` use case, shared by the `evaluate` and `tick` commands and by `sim`: read the
//! closed candles and market inputs from the exchange, run the strategy core, and record what it
//! decided — a trade plan (insert-once), or a pending regime exit that `exit`/`tick` carry out.
//! Stale PLANNED plans are expired on the way. No orders are sent here.

use crate::clock::{rfc3339, Clock};
use crate::config::Config;
use crate::core::audit;
use crate::core::candle::Candle;
use crate::core::money::SymbolFilters;
use crate::core::plan::{PlanStatus, TradePlan};
use crate::core::position::PositionState;
use crate::core::posture::{Knobs, PostureMode};
use crate::core::strategy::{
    self, Check, Decision, EvalContext, Evaluation, NoTrade, OpenPositionView, SizeCap, StrategyParams,
};
use crate::error::{Error, Result};
use crate::exchange::{Exchange, MarkInfo};
use crate::store::journal::{NewAuditEvent, Severity};
use crate::store::Store;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

/// The asset the wallet balance is read in.
pub const QUOTE_ASSET: &str = "USDT";
/// `evaluate --json` and the text summary.
mod report;

pub use report::decision_json;

/// Binance's `klines` limit.
const MAX_KLINES: usize = 1500;

/// The strategy's numbers from the validated config.
pub fn strategy_params(config: &Config) -> StrategyParams {
    let (s, r) = (&config.strategy, &config.risk);
    StrategyParams {
        interval: s.interval.clone(),
        interval_ms: s.interval_ms,
        warmup: s.warmup,
        ema_fast: s.ema_fast,
        ema_slow: s.ema_slow,
        ema_slope_lookback: s.ema_slope_lookback,
        atr_period: s.atr_period,
        atr_min_pct: s.atr_min_pct,
        atr_max_pct: s.atr_max_pct,
        atr_sma_period: s.atr_sma_period,
        atr_expansion_mult: s.atr_expansion_mult,
        breakout_lookback: s.breakout_lookback,
        funding_filter_pct: s.funding_filter_pct,
        stop_atr_mult: s.stop_atr_mult,
        exit_atr_contraction_mult: s.exit_atr_contraction_mult,
        momentum_fail_candles: s.momentum_fail_candles,
        momentum_fail_r: s.momentum_fail_r,
        funding_extreme_pct: s.funding_extreme_pct,
        cooldown_candles: s.cooldown_candles,
        risk_per_trade_pct: r.risk_per_trade_pct,
        max_notional_usdt: r.max_notional_usdt,
    }
}

/// What one evaluation reads from the exchange.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketSnapshot {
    /// The exchange's clock when the reads began.
    pub server_time_ms: i64,
    /// Closed candles only (close time before `server_time_ms`), oldest first, at most `history`.
    pub candles: Vec<Candle>,
    pub mark: MarkInfo,
    pub balance_usdt: Decimal,
    pub filters: SymbolFilters,
}

/// Reads the exchange: server time first, then candles, mark/funding, balance and filters
/// concurrently (the port is `Sync`; these reads are independent).
///
/// # Errors
/// Any failed read (nothing has been written yet).
pub fn fetch_snapshot(ex: &dyn Exchange, config: &Config) -> Result<MarketSnapshot> {
    // The time is read before the candles: a candle counts as closed only if it had closed when
    // the candle list was produced. Read afterwards, a candle still forming in that list could
    // look closed.
    let server_time_ms = ex.server_time()?;
    let (symbol, interval) = (config.symbol.as_str(), config.strategy.interval.as_str());
    // One more than `history`: the newest candle Binance returns is usually still open.
    let limit = (config.strategy.history + 1).min(MAX_KLINES);
    let joined = |what: &str| Error::Failed(format!("reading {what} from the exchange panicked"));
    let (klines, mark, balance, filters) = std::thread::scope(|s| {
        let klines = s.spawn(|| ex.klines(symbol, interval, limit));
        let mark = s.spawn(|| ex.mark_info(symbol));
        let balance = s.spawn(|| ex.wallet_balance(QUOTE_ASSET));
        let filters = ex.filters(symbol);
        (klines.join(), mark.join(), balance.join(), filters)
    });
    let mut candles = klines.map_err(|_| joined("klines"))??;
    let mark = mark.map_err(|_| joined("mark price"))??;
    let balance_usdt = balance.map_err(|_| joined("balance"))??;
    let filters = filters?;
    candles.retain(|c| c.close_time_ms < server_time_ms);
    let extra = candles.len().saturating_sub(config.strategy.history);
    candles.drain(..extra);
    Ok(MarketSnapshot { server_time_ms, candles, mark, balance_usdt, filters })
}

/// The candles an evaluation used (ms times, CONTRACT §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CandleSpan {
    pub count: usize,
    pub first_open_time: Option<i64>,
    pub last_close_time: Option<i64>,
}

/// The open position as `evaluate` saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionSeen {
    pub id: i64,
    pub state: PositionState,
    pub view: OpenPositionView,
    pub pending_exit_reason: Option<String>,
}

/// What one evaluation decided and recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluateOutcome {
    pub symbol: String,
    pub interval: String,
    pub server_time_ms: i64,
    pub candles: CandleSpan,
    pub evaluation: Evaluation,
    pub position: Option<PositionSeen>,
    /// The stored plan for a `plan` decision: the existing one if this candle was seen before.
    pub plan: Option<TradePlan>,
    /// True when this run inserted the plan.
    pub plan_created: bool,
    /// True when this run recorded the regime exit as pending.
    pub exit_recorded: bool,
    /// Plans this run moved from PLANNED to EXPIRED.
    pub expired_plans: Vec<String>,
    /// Why a decision was not (or not again) recorded.
    pub note: Option<String>,
    /// The posture this evaluation ran under and what it did to an entry plan.
    pub posture: PostureEffect,
}

/// How the posture (CONTRACT §13) bore on one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostureEffect {
    pub mode: PostureMode,
    /// The entry notional cap in force (configured cap × the mode's fraction).
    pub max_notional_usdt: Decimal,
    /// `refused` (a signal, no plan recorded), `sized_down` (the posture cap bound the size), or
    /// None when it changed nothing.
    pub action: Option<&'static str>,
    pub reason: Option<String>,
}

/// Reads the exchange, decides, records. See [`apply`].
///
/// # Errors
/// Exchange reads (before anything is written) and state DB failures.
pub fn evaluate(ex: &dyn Exchange, store: &mut Store, config: &Config, clock: &dyn Clock) -> Result<EvaluateOutcome> {
    let snapshot = fetch_snapshot(ex, config)?;
    // What `status` and the metrics show as balance and unrealised PnL between runs.
    store.record_market_seen(snapshot.balance_usdt, snapshot.mark.mark_price, clock.now_ms())?;
    apply(&snapshot, store, config, clock)
}

/// Decides on `snapshot` and records the decision: flat and a signal → the plan (insert-once by
/// its deterministic id); in an OPEN position and a regime exit fires → `regime:<name>` as the
/// pending exit plus an `exit_decided` audit event. Stale PLANNED plans are expired first.
///
/// # Errors
/// State DB failures.
pub fn apply(
    snapshot: &MarketSnapshot,
    store: &mut Store,
    config: &Config,
    clock: &dyn Clock,
) -> Result<EvaluateOutcome> {
    apply_with(snapshot, store, config, clock, &mut |candles, ctx| strategy::evaluate(candles, ctx))
}

/// How an evaluation is computed from the snapshot's candles: `strategy::evaluate` over the
/// window (live), or streaming indicators kept across candles (`sim`).
pub type EvaluateFn<'f> = dyn FnMut(&[Candle], &EvalContext<'_>) -> Evaluation + 'f;

/// [`apply`] with the evaluation supplied by `evaluate_fn`; recording is identical.
///
/// # Errors
/// State DB failures.
pub fn apply_with(
    snapshot: &MarketSnapshot,
    store: &mut Store,
    config: &Config,
    clock: &dyn Clock,
    evaluate_fn: &mut EvaluateFn<'_>,
) -> Result<EvaluateOutcome> {
    let now_ms = snapshot.server_time_ms;
    let expired_plans = expire_stale_plans(store, now_ms, clock)?;
    let mut params = strategy_params(config);
    let stance = store.posture(now_ms)?;
    let knobs = Knobs::for_mode(stance.mode);
    // Only a mode that still allows entries scales the cap; one that refuses them is applied to
    // the decision below, so the verdicts still show what the strategy saw.
    if knobs.allow_entries {
        params.max_notional_usdt = knobs.max_notional(params.max_notional_usdt);
    }
    let candles = &snapshot.candles;
    let position = match store.active_position(&config.symbol)? {
        Some(pos) => {
            let plan_stop = match &pos.trade_plan_id {
                Some(id) => store.plan(id)?.map(|p| p.stop_price),
                None => None,
            };
            let entered_ms = pos.entry_filled_ms.unwrap_or(pos.opened_ms);
            let view = OpenPositionView::from_candles(
                pos.side,
                pos.entry_price,
                plan_stop.or(pos.stop_price),
                entered_ms,
                candles,
            );
            Some((pos, view))
        }
        None => None,
    };
    let system = store.system()?;
    // The posture's extra cooldown candles lengthen a running post-trade cooldown (issue 15).
    let cooldown_until_ms = crate::core::posture::cooldown_until(system.cooldown_until_ms, &knobs, params.interval_ms);
    let ctx = EvalContext {
        bot_id: &config.bot_id,
        symbol: &config.symbol,
        params: &params,
        filters: &snapshot.filters,
        now_ms,
        funding_rate: snapshot.mark.funding_rate,
        mark_price: snapshot.mark.mark_price,
        balance_usdt: snapshot.balance_usdt,
        cooldown_until_ms,
        position: position.as_ref().map(|(_, v)| v),
    };
    let evaluation = evaluate_fn(candles, &ctx);
    if let Decision::Nothing(why) = &evaluation.decision {
        if why.is_data_problem() {
            tracing::warn!(reason = why.code(), "evaluate: unusable market data: {}", evaluation.reason_text());
        }
    }
    let mut out = EvaluateOutcome {
        symbol: config.symbol.clone(),
        interval: params.interval.clone(),
        server_time_ms: now_ms,
        candles: CandleSpan {
            count: candles.len(),
            first_open_time: candles.first().map(|c| c.open_time_ms),
            last_close_time: candles.last().map(|c| c.close_time_ms),
        },
        evaluation,
        position: position.as_ref().map(|(p, v)| PositionSeen {
            id: p.id,
            state: p.state,
            view: v.clone(),
            pending_exit_reason: p.pending_exit_reason.clone(),
        }),
        plan: None,
        plan_created: false,
        exit_recorded: false,
        expired_plans,
        note: None,
        posture: PostureEffect {
            mode: stance.mode,
            max_notional_usdt: knobs.max_notional(config.risk.max_notional_usdt),
            action: None,
            reason: None,
        },
    };
    match &out.evaluation.decision {
        Decision::Plan(plan) if !knobs.allow_entries => {
            let why = format!("posture {} (debt {}) refuses new entries", stance.mode.as_str(), stance.score);
            store.append_audit(&NewAuditEvent {
                ts_ms: clock.now_ms(),
                severity: Severity::Warn,
                kind: audit::POSTURE_REFUSED.to_string(),
                trade_plan_id: None,
                message: format!("signal {} not planned: {why}", plan.id),
                data: Some(json!({"mode": stance.mode.as_str(), "debt_score": stance.score}).to_string()),
            })?;
            out.note = Some(why.clone());
            out.posture.action = Some("refused");
            out.posture.reason = Some(why);
        }
        Decision::Plan(plan) => {
            if knobs.notional_cap_fraction < Decimal::ONE && capped_by_max_notional(&out.evaluation) {
                out.posture.action = Some("sized_down");
                out.posture.reason = Some(format!(
                    "posture {} caps notional at {} of risk.max_notional_usdt ({} USDT)",
                    stance.mode.as_str(),
                    knobs.notional_cap_fraction,
                    out.posture.max_notional_usdt
                ));
            }
            let decision_json = decision_json(&out).to_string();
            let (stored, created) = store.insert_plan(plan, Some(&decision_json), clock.now_ms())?;
            if !created {
                out.note = Some(format!("plan {} was already recorded for this candle ({})", stored.id, stored.status));
            }
            out.plan = Some(stored);
            out.plan_created = created;
        }
        Decision::Exit(exit) => {
            let reason = exit.exit_reason().to_string();
            match position.as_ref().map(|(p, _)| p) {
                Some(p) if p.state != PositionState::Open => {
                    out.note = Some(format!("position is {}: exit not recorded", p.state));
                }
                Some(p) if p.pending_exit_reason.is_some() => {
                    let pending = p.pending_exit_reason.as_deref().unwrap_or_default();
                    out.note = Some(format!("exit already pending ({pending})"));
                }
                Some(p) => {
                    // Audit first: a crash between the two writes leaves a repeatable decision
                    // with its reason on record, never a pending exit nobody can explain.
                    store.append_audit(&NewAuditEvent {
                        ts_ms: clock.now_ms(),
                        severity: Severity::Info,
                        kind: audit::EXIT_DECIDED.to_string(),
                        trade_plan_id: p.trade_plan_id.clone(),
                        message: format!("regime exit decided: {}", out.evaluation.reason_text()),
                        data: Some(json!({"exit_reason": reason, "position_id": p.id}).to_string()),
                    })?;
                    store.set_pending_exit(p.id, Some(&reason))?;
                    out.exit_recorded = true;
                }
                None => out.note = Some("no position to exit".into()),
            }
        }
        Decision::Nothing(NoTrade::Cooldown) => {
            // Blocked only by the candles the posture added: say so, as for a refused plan.
            let candle_end = out.candles.last_close_time.map(|t| t + 1);
            let base_blocks = candle_end.is_some_and(|end| system.cooldown_until_ms.is_some_and(|u| end < u));
            if !base_blocks {
                out.posture.action = Some("refused");
                out.posture.reason = Some(format!(
                    "posture {} adds {} cooldown candles: cooldown active until {}",
                    stance.mode.as_str(),
                    knobs.extra_cooldown_candles,
                    cooldown_until_ms.map(rfc3339).unwrap_or_default()
                ));
            }
        }
        Decision::Nothing(_) => {}
    }
    Ok(out)
}

/// True when the entry was sized by `risk.max_notional_usdt` (here: the posture-scaled cap).
fn capped_by_max_notional(e: &Evaluation) -> bool {
    e.verdicts.iter().any(|v| matches!(&v.check, Check::Sizing(Ok(s)) if s.cap == Some(SizeCap::MaxNotional)))
}

/// Moves every PLANNED plan whose window has closed to EXPIRED, with a `plan_expired` audit
/// event each (a stale plan is never entered late, CONTRACT §8).
fn expire_stale_plans(store: &mut Store, now_ms: i64, clock: &dyn Clock) -> Result<Vec<String>> {
    let mut expired = Vec::new();
    // Plans are expired newest first; a fresh newest plan means the older ones went already.
    while let Some(plan) = store.latest_plan_with_status(PlanStatus::Planned)? {
        if !plan.is_stale(now_ms) || expired.contains(&plan.id) {
            break;
        }
        store.append_audit(&NewAuditEvent {
            ts_ms: clock.now_ms(),
            severity: Severity::Info,
            kind: audit::PLAN_EXPIRED.to_string(),
            trade_plan_id: Some(plan.id.clone()),
            message: format!("plan {} expired unentered at {}", plan.id, rfc3339(plan.valid_until_ms)),
            data: Some(json!({"valid_until": rfc3339(plan.valid_until_ms)}).to_string()),
        })?;
        store.set_plan_status(&plan.id, PlanStatus::Expired, clock.now_ms())?;
        expired.push(plan.id);
    }
    Ok(expired)
}
