//! The TOML file as written: serde structs mirroring it one-to-one, unknown keys refused.
//! Nothing outside `config/` sees these; `validate.rs` turns them into `Config`.

use serde::Deserialize;

/// A number as TOML may write it (`1` or `1.0`), kept exact for conversion to Decimal.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum Num {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub bot_id: Option<String>,
    pub symbol: Option<String>,
    pub state_db: Option<String>,
    pub lock_timeout_ms: Option<i64>,
    pub exchange: Option<RawExchange>,
    #[serde(default)]
    pub execution: RawExecution,
    #[serde(default)]
    pub strategy: RawStrategy,
    #[serde(default)]
    pub risk: RawRisk,
    #[serde(default)]
    pub paper: RawPaper,
    #[serde(default)]
    pub alerts: crate::config::notify::RawAlerts,
    pub heartbeat: Option<crate::config::notify::RawHeartbeat>,
    pub metrics: Option<crate::config::notify::RawMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExchange {
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub api_secret_env: Option<String>,
    pub recv_window_ms: Option<i64>,
    pub http_timeout_ms: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExecution {
    pub entry_ack_timeout_ms: Option<i64>,
    pub stop_ack_timeout_ms: Option<i64>,
    pub tp_ack_timeout_ms: Option<i64>,
    pub entry_fill_window_ms: Option<i64>,
    pub close_retry_max_elapsed_ms: Option<i64>,
    pub max_slippage_pct: Option<Num>,
    pub working_type: Option<String>,
    pub mismatch_halt_streak: Option<i64>,
    pub adopted_stop_pct: Option<Num>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStrategy {
    pub interval: Option<String>,
    pub warmup: Option<i64>,
    pub history: Option<i64>,
    pub ema_fast: Option<i64>,
    pub ema_slow: Option<i64>,
    pub ema_slope_lookback: Option<i64>,
    pub atr_period: Option<i64>,
    pub atr_min_pct: Option<Num>,
    pub atr_max_pct: Option<Num>,
    pub atr_sma_period: Option<i64>,
    pub atr_expansion_mult: Option<Num>,
    pub breakout_lookback: Option<i64>,
    pub funding_filter_pct: Option<Num>,
    pub stop_atr_mult: Option<Num>,
    pub tp_r_multiple: Option<Num>,
    pub exit_atr_contraction_mult: Option<Num>,
    pub momentum_fail_candles: Option<i64>,
    pub momentum_fail_r: Option<Num>,
    pub funding_extreme_pct: Option<Num>,
    pub cooldown_candles: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRisk {
    pub risk_per_trade_pct: Option<Num>,
    pub max_notional_usdt: Option<Num>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPaper {
    pub market_data: Option<String>,
    pub candles: Option<String>,
    pub funding: Option<String>,
    pub start: Option<String>,
    pub starting_balance_usdt: Option<Num>,
    pub fee_pct: Option<Num>,
    pub slippage_pct: Option<Num>,
}
