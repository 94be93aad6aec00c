//! Configuration: TOML parsed into `raw` structs, then validated into the typed `Config` that the
//! rest of mcbot sees. Errors name the dotted key (CONTRACT §4).

/// serde mirror of the TOML file.
/// `[[alerts.sink]]`, `[heartbeat]`, `[metrics]`.
pub mod notify;
pub mod raw;
/// API credentials from the environment.
pub mod secrets;
/// `RawConfig` → `Config`, with ranges and defaults.
pub mod validate;

use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

/// The example config `init` writes; every key with a comment.
pub const EXAMPLE_TOML: &str = include_str!("../../config/mcbot.example.toml");

/// A configuration problem: always exit 2, always naming the key or path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {problem}")]
    File { path: String, problem: String },
    #[error("config key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

impl ConfigError {
    pub fn invalid(key: &str, problem: impl Into<String>) -> Self {
        ConfigError::Invalid { key: key.to_string(), problem: problem.into() }
    }
}

pub type ConfigResult<T> = Result<T, ConfigError>;

/// Which exchange implementation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Binance,
    Paper,
}

/// Where the paper exchange takes its prices from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperMarketData {
    /// The candles file (shipped real BTCUSDT data by default).
    File,
    /// Binance's public market-data endpoints (no keys needed): live forward testing.
    Binance,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeConfig {
    pub kind: ExchangeKind,
    pub base_url: String,
    pub api_key_env: String,
    pub api_secret_env: String,
    pub recv_window_ms: u64,
    pub http_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionConfig {
    pub entry_ack_timeout_ms: u64,
    pub stop_ack_timeout_ms: u64,
    pub tp_ack_timeout_ms: u64,
    pub entry_fill_window_ms: u64,
    pub close_retry_max_elapsed_ms: u64,
    pub max_slippage_pct: Decimal,
    /// true = MARK_PRICE, false = CONTRACT_PRICE.
    pub working_type_mark: bool,
    /// Consecutive reconciles that had to repair something before entries are halted.
    pub mismatch_halt_streak: u32,
    /// Stop distance (percent of entry) for an adopted position that has no plan stop.
    pub adopted_stop_pct: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StrategyConfig {
    pub interval: String,
    pub interval_ms: i64,
    pub warmup: usize,
    pub history: usize,
    pub ema_fast: usize,
    pub ema_slow: usize,
    pub ema_slope_lookback: usize,
    pub atr_period: usize,
    pub atr_min_pct: Decimal,
    pub atr_max_pct: Decimal,
    pub atr_sma_period: usize,
    pub atr_expansion_mult: Decimal,
    pub breakout_lookback: usize,
    pub funding_filter_pct: Decimal,
    pub stop_atr_mult: Decimal,
    pub tp_r_multiple: Decimal,
    pub exit_atr_contraction_mult: Decimal,
    pub momentum_fail_candles: usize,
    pub momentum_fail_r: Decimal,
    pub funding_extreme_pct: Decimal,
    pub cooldown_candles: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RiskConfig {
    pub risk_per_trade_pct: Decimal,
    pub max_notional_usdt: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PaperConfig {
    pub market_data: PaperMarketData,
    /// Candles file (CSV `open_time_ms,open,high,low,close,volume,close_time_ms`).
    pub candles: PathBuf,
    /// Funding file (CSV `funding_time_ms,funding_rate`).
    pub funding: PathBuf,
    /// Where the paper clock starts (ms), for file-driven runs outside `sim`.
    pub start_ms: Option<i64>,
    pub starting_balance_usdt: Decimal,
    pub fee_pct: Decimal,
    pub slippage_pct: Decimal,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub bot_id: String,
    pub symbol: String,
    pub state_db: PathBuf,
    pub lock_timeout_ms: u64,
    pub exchange: ExchangeConfig,
    pub execution: ExecutionConfig,
    pub strategy: StrategyConfig,
    pub risk: RiskConfig,
    pub paper: PaperConfig,
    /// Alert sinks, heartbeat, metrics textfile.
    pub notify: notify::NotifyConfig,
}

impl Config {
    /// `<state_db>.lock`
    pub fn lock_path(&self) -> PathBuf {
        let mut s = self.state_db.clone().into_os_string();
        s.push(".lock");
        PathBuf::from(s)
    }
}

/// Reads and validates a config file. Relative paths resolve against the file's folder.
pub fn load(path: &Path) -> ConfigResult<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::File { path: path.display().to_string(), problem: format!("cannot read: {e}") })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, &base).map_err(|e| match e {
        ConfigError::File { problem, .. } => ConfigError::File { path: path.display().to_string(), problem },
        other => other,
    })
}

/// Parses TOML text; `base` is the folder relative paths resolve against.
pub fn parse(text: &str, base: &Path) -> ConfigResult<Config> {
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| toml_error(&e, text))?;
    validate::validate(raw, base)
}

/// Turns a toml error into one readable line that names the key when toml knows it.
fn toml_error(e: &toml::de::Error, text: &str) -> ConfigError {
    let msg = e.message().replace('\n', " ");
    let located = e.span().and_then(|span| key_at(text, span.start));
    // toml reports unknown fields as "unknown field `x`, expected one of …".
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("?");
        let key = located.filter(|k| k.ends_with(field)).unwrap_or_else(|| field.to_string());
        return ConfigError::invalid(&key, format!("unknown key ({msg})"));
    }
    if let Some(key) = located.filter(|_| msg.starts_with("invalid type") || msg.starts_with("invalid value")) {
        return ConfigError::invalid(&key, format!("wrong type: {msg}"));
    }
    let line = e
        .span()
        .map(|s| format!(" (line {})", text[..s.start.min(text.len())].lines().count().max(1)))
        .unwrap_or_default();
    ConfigError::File { path: String::new(), problem: format!("invalid TOML: {msg}{line}") }
}

/// The dotted key (`section.key`) whose line holds byte `pos`, if that line is `key = value`.
fn key_at(text: &str, pos: usize) -> Option<String> {
    let pos = pos.min(text.len());
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match section {
        Some(s) => format!("{s}.{key}"),
        None => key.to_string(),
    })
}

/// The built-in defaults (used by `sim` without `--config`): paper exchange, shipped data.
pub fn builtin_paper(base: &Path, state_db: &Path) -> ConfigResult<Config> {
    let text = format!(
        "bot_id = \"mc\"\nsymbol = \"BTCUSDT\"\nstate_db = {:?}\n[exchange]\nkind = \"paper\"\n",
        state_db.display().to_string()
    );
    parse(&text, base)
}
