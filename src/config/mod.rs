//! Configuration: TOML parsed into `raw` structs, then validated once into the typed `Config`
//! that the rest of mcbot uses as it is: spans are [`Millis`], counts the integer type their users
//! need, so no call site converts or clamps a config value again (issue 16 item 4). Errors name
//! the dotted key (CONTRACT §4).

/// serde mirror of the TOML file.
/// `[[alerts.sink]]`, `[heartbeat]`, `[metrics]`.
pub(crate) mod notify;
/// The paths the config names: checked at load, before anything is created.
pub(crate) mod paths;
/// `[posture]`: the belief-debt thresholds.
pub(crate) mod posture;
pub(crate) mod raw;
/// API credentials from the environment.
pub mod secrets;
/// `RawConfig` → `Config`, with ranges and defaults.
pub(crate) mod validate;

use crate::core::millis::Millis;
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

/// The two paper modes (`paper.mode`): where prices and the clock come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaperMode {
    /// Offline history replay: prices from the candles file (the shipped BTCUSDT data by
    /// default), a paper clock in the state DB, each `tick` one candle on. What `sim` and the
    /// tests use.
    Replay,
    /// A dry run on live public prices: Binance's public klines and mark price (no keys), the
    /// wall clock, orders filled by the paper book.
    Live,
}

impl PaperMode {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PaperMode::Replay => "replay",
            PaperMode::Live => "live",
        }
    }
}

/// Where a live dry run reads public prices by default: the production market (public endpoints,
/// no key, nothing is ever sent there). The demo host's prices are not the market's.
pub const LIVE_PRICES_URL: &str = "https://fapi.binance.com";

#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeConfig {
    pub kind: ExchangeKind,
    pub base_url: String,
    pub api_key_env: String,
    pub api_secret_env: String,
    pub recv_window_ms: Millis,
    pub http_timeout_ms: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionConfig {
    pub entry_ack_timeout_ms: Millis,
    pub stop_ack_timeout_ms: Millis,
    pub tp_ack_timeout_ms: Millis,
    pub entry_fill_window_ms: Millis,
    pub close_retry_max_elapsed_ms: Millis,
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
    pub cooldown_candles: u32,
}

impl StrategyConfig {
    /// `cooldown_candles` whole candles, the span a closed trade's cooldown lasts.
    pub fn cooldown_ms(&self) -> i64 {
        i64::from(self.cooldown_candles).saturating_mul(self.interval_ms)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RiskConfig {
    pub risk_per_trade_pct: Decimal,
    pub max_notional_usdt: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PaperConfig {
    pub mode: PaperMode,
    /// `paper.prices_url`: the host a live dry run reads public klines and mark price from.
    pub prices_url: String,
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
    pub lock_timeout_ms: Millis,
    pub exchange: ExchangeConfig,
    pub execution: ExecutionConfig,
    pub strategy: StrategyConfig,
    pub risk: RiskConfig,
    pub paper: PaperConfig,
    /// `--env-file`: a `KEY=value` file the API credentials are read from before the environment
    /// (so an operator can run `reconcile` with the service's secrets file). Not a TOML key.
    pub env_file: Option<PathBuf>,
    /// Alert sinks, heartbeat, metrics textfile.
    pub notify: notify::NotifyConfig,
    /// `[posture]`: the belief-debt controller's thresholds (defaults: the shipped policy).
    pub posture: crate::core::posture::Thresholds,
}

impl Config {
    /// What a state DB opened with this config must belong to (CONTRACT §14).
    pub fn state_identity(&self) -> crate::store::identity::StateIdentity {
        crate::store::identity::StateIdentity {
            bot_id: self.bot_id.clone(),
            symbol: self.symbol.clone(),
            exchange_kind: match self.exchange.kind {
                ExchangeKind::Binance => "binance",
                ExchangeKind::Paper => "paper",
            }
            .to_string(),
            base_url: self.exchange.base_url.clone(),
        }
    }

    /// `<state_db>.lock`
    pub fn lock_path(&self) -> PathBuf {
        let mut s = self.state_db.clone().into_os_string();
        s.push(".lock");
        PathBuf::from(s)
    }
}

/// A config file is small; a device or an endless file is refused instead of read forever.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "does not exist (run `mcbot init` to write a commented example here)".to_string()
        } else {
            format!("cannot read: {e}")
        }
    })?;
    if !meta.is_file() {
        return Err("is not a regular file".to_string());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!("is larger than {MAX_CONFIG_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())
}

/// Reads and validates a config file. Relative paths resolve against the file's folder.
pub fn load(path: &Path) -> ConfigResult<Config> {
    let text = read_bounded(path).map_err(|problem| ConfigError::File { path: path.display().to_string(), problem })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let config = parse(&text, &base).map_err(|e| match e {
        ConfigError::File { problem, .. } => ConfigError::File { path: path.display().to_string(), problem },
        other => other,
    })?;
    paths::check(&config)?;
    Ok(config)
}

/// Parses TOML text; `base` is the folder relative paths resolve against.
pub fn parse(text: &str, base: &Path) -> ConfigResult<Config> {
    let table: toml::Table = text.parse().map_err(|e| toml_error(&e, text))?;
    validate::validate(raw::RawConfig::from_table(&table)?, base)
}

/// Turns a TOML syntax error into one readable line that names the key when the error sits on a
/// `key = value` line (an integer too large, `1e400`, an unterminated string), else its line.
fn toml_error(e: &toml::de::Error, text: &str) -> ConfigError {
    let msg = e.message().replace('\n', " ");
    let start = e.span().map(|s| s.start);
    if let Some(key) = start.and_then(|p| first_bad_line(text, p)).or_else(|| start.and_then(|p| key_at(text, p))) {
        let what = if msg.trim().is_empty() { "missing or malformed value" } else { msg.trim() };
        return ConfigError::invalid(&key, format!("invalid TOML: {what}"));
    }
    let line = start
        .and_then(|p| text.get(..p.min(text.len())))
        .map(|before| format!(" (line {})", before.lines().count().max(1)))
        .unwrap_or_default();
    ConfigError::File { path: String::new(), problem: format!("invalid TOML: {msg}{line}") }
}

/// An unclosed value (`key = [1,`, `key = "ß`) makes toml report the error on a later line;
/// every value in mcbot's file fits on one line, so the culprit is the first `key = value` line
/// up to the error that does not parse on its own.
fn first_bad_line(text: &str, pos: usize) -> Option<String> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset > pos {
            break;
        }
        let here = offset;
        offset += line.len();
        let t = line.trim();
        if t.starts_with('#') || t.starts_with('[') || !t.contains('=') {
            continue;
        }
        if t.parse::<toml::Table>().is_err() {
            return key_at(text, here);
        }
    }
    None
}

/// The dotted key (`section.key`) whose line holds byte `pos`, if that line is `key = value`.
/// Never panics: a position inside a multi-byte character is moved back to its start.
fn key_at(text: &str, pos: usize) -> Option<String> {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = text.get(..pos)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
        return None;
    }
    let section = text
        .get(..line_start)?
        .lines()
        .rev()
        // A header may carry a comment (`[paper]   # …`): without stripping it the error would
        // be filed under the section before.
        .map(|l| l.split('#').next().unwrap_or_default().trim())
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
