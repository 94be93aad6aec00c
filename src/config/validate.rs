//! `RawConfig` → `Config`: defaults, ranges and forms, each error naming its dotted key.

use crate::config::raw::{Num, RawConfig};
use crate::config::*;
use crate::core::candle::interval_ms;
use crate::core::millis::Millis;
use rust_decimal::Decimal;
use std::path::Path;
use std::str::FromStr;

fn dec(key: &str, n: Option<Num>, default: &str) -> ConfigResult<Decimal> {
    let d = match n {
        None => Decimal::from_str(default).map_err(|e| ConfigError::invalid(key, e.to_string()))?,
        Some(Num::Int(i)) => Decimal::from(i),
        Some(Num::Float(f)) => {
            if !f.is_finite() {
                return Err(ConfigError::invalid(key, "must be a finite number"));
            }
            // f64's Display is the shortest round-trip text, so 0.05 stays 0.05.
            Decimal::from_str(&format!("{f}")).map_err(|e| ConfigError::invalid(key, e.to_string()))?
        }
    };
    Ok(d)
}

fn dec_range(key: &str, n: Option<Num>, default: &str, lo: Decimal, hi: Decimal) -> ConfigResult<Decimal> {
    let d = dec(key, n, default)?;
    if d < lo || d > hi {
        return Err(ConfigError::invalid(key, format!("{d} is outside [{lo}, {hi}]")));
    }
    Ok(d)
}

fn ms(key: &str, v: Option<i64>, default: i64, lo: i64, hi: i64) -> ConfigResult<Millis> {
    let v = v.unwrap_or(default);
    if v < lo || v > hi {
        return Err(ConfigError::invalid(key, format!("{v} is outside [{lo}, {hi}] ms")));
    }
    Millis::new(v).ok_or_else(|| ConfigError::invalid(key, "must be positive"))
}

fn count(key: &str, v: Option<i64>, default: i64, lo: i64, hi: i64) -> ConfigResult<usize> {
    let v = v.unwrap_or(default);
    if v < lo || v > hi {
        return Err(ConfigError::invalid(key, format!("{v} is outside [{lo}, {hi}]")));
    }
    usize::try_from(v).map_err(|_| ConfigError::invalid(key, "must be positive"))
}

/// A count its users multiply into spans or add to other `u32`s (a streak, a cooldown).
fn small_count(key: &str, v: Option<i64>, default: i64, lo: i64, hi: i64) -> ConfigResult<u32> {
    let v = v.unwrap_or(default);
    if v < lo || v > hi {
        return Err(ConfigError::invalid(key, format!("{v} is outside [{lo}, {hi}]")));
    }
    u32::try_from(v).map_err(|_| ConfigError::invalid(key, "must be positive"))
}

fn required(key: &str, v: Option<String>) -> ConfigResult<String> {
    v.ok_or_else(|| ConfigError::invalid(key, "missing (required)"))
}

fn env_name(key: &str, v: Option<String>, default: &str) -> ConfigResult<String> {
    let v = v.unwrap_or_else(|| default.to_string());
    let ok = !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !v.as_bytes()[0].is_ascii_digit();
    if !ok {
        return Err(ConfigError::invalid(key, format!("{v:?} is not an environment variable name ([A-Z_][A-Z0-9_]*)")));
    }
    Ok(v)
}

fn resolve(base: &Path, p: &str) -> std::path::PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn parse_date_ms(key: &str, s: &str) -> ConfigResult<i64> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| ConfigError::invalid(key, format!("{s:?} is not a date YYYY-MM-DD")))?;
    let t = d.and_hms_opt(0, 0, 0).ok_or_else(|| ConfigError::invalid(key, "bad date"))?;
    Ok(t.and_utc().timestamp_millis())
}

/// The demo (testnet) host: the default, so that switching `kind` alone never trades real money.
pub(crate) const DEMO_BASE_URL: &str = "https://demo-fapi.binance.com";

/// `exchange.base_url`: an http(s) origin (scheme, host, a valid port; no path, query or user),
/// checked here so an unusable URL is exit 2 instead of a failed first request.
fn base_url(v: Option<String>) -> ConfigResult<String> {
    origin_url("exchange.base_url", v, DEMO_BASE_URL)
}

/// An http(s) origin for `key` (`exchange.base_url`, `paper.prices_url`), `default` when absent.
fn origin_url(key: &'static str, v: Option<String>, default: &str) -> ConfigResult<String> {
    let s = v.unwrap_or_else(|| default.to_string());
    let url = reqwest::Url::parse(&s).map_err(|e| ConfigError::invalid(key, format!("{s:?} is not a URL: {e}")))?;
    let origin_only = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && !s.ends_with('/');
    if !origin_only {
        return Err(ConfigError::invalid(
            key,
            format!("{s:?} must be an http(s) URL of a host (optionally :port), without a path or trailing slash"),
        ));
    }
    Ok(s)
}

pub(crate) fn validate(raw: RawConfig, base: &Path) -> ConfigResult<Config> {
    let bot_id = required("bot_id", raw.bot_id)?;
    if bot_id.is_empty() || bot_id.len() > 8 || !bot_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(ConfigError::invalid("bot_id", format!("{bot_id:?} must match [a-z0-9]{{1,8}}")));
    }
    let symbol = required("symbol", raw.symbol)?;
    if symbol.len() < 5 || symbol.len() > 20 || !symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(ConfigError::invalid(
            "symbol",
            format!("{symbol:?} must be an exchange symbol like BTCUSDT ([A-Z0-9]{{5,20}})"),
        ));
    }
    let state_db_raw = required("state_db", raw.state_db)?;
    if state_db_raw.trim().is_empty() {
        return Err(ConfigError::invalid("state_db", "must not be empty"));
    }
    let state_db = resolve(base, &state_db_raw);
    let lock_timeout_ms = ms("lock_timeout_ms", raw.lock_timeout_ms, 30_000, 0, 3_600_000)?;

    let rx =
        raw.exchange.ok_or_else(|| ConfigError::invalid("exchange", "missing section [exchange] (required: kind)"))?;
    let kind = match required("exchange.kind", rx.kind)?.as_str() {
        "binance" => ExchangeKind::Binance,
        "paper" => ExchangeKind::Paper,
        other => {
            return Err(ConfigError::invalid("exchange.kind", format!("{other:?} must be \"binance\" or \"paper\"")))
        }
    };
    let base_url = base_url(rx.base_url)?;
    let exchange = ExchangeConfig {
        kind,
        base_url,
        api_key_env: env_name("exchange.api_key_env", rx.api_key_env, "MCBOT_API_KEY")?,
        api_secret_env: env_name("exchange.api_secret_env", rx.api_secret_env, "MCBOT_API_SECRET")?,
        recv_window_ms: ms("exchange.recv_window_ms", rx.recv_window_ms, 5_000, 1, 60_000)?,
        http_timeout_ms: ms("exchange.http_timeout_ms", rx.http_timeout_ms, 10_000, 1, 120_000)?,
    };

    let e = raw.execution;
    let working_type_mark = match e.working_type.as_deref().unwrap_or("MARK_PRICE") {
        "MARK_PRICE" => true,
        "CONTRACT_PRICE" => false,
        other => {
            return Err(ConfigError::invalid(
                "execution.working_type",
                format!("{other:?} must be MARK_PRICE or CONTRACT_PRICE"),
            ))
        }
    };
    let execution = ExecutionConfig {
        entry_ack_timeout_ms: ms("execution.entry_ack_timeout_ms", e.entry_ack_timeout_ms, 5_000, 1, 120_000)?,
        stop_ack_timeout_ms: ms("execution.stop_ack_timeout_ms", e.stop_ack_timeout_ms, 5_000, 1, 120_000)?,
        tp_ack_timeout_ms: ms("execution.tp_ack_timeout_ms", e.tp_ack_timeout_ms, 5_000, 1, 120_000)?,
        entry_fill_window_ms: ms("execution.entry_fill_window_ms", e.entry_fill_window_ms, 10_000, 1, 600_000)?,
        close_retry_max_elapsed_ms: ms(
            "execution.close_retry_max_elapsed_ms",
            e.close_retry_max_elapsed_ms,
            60_000,
            1,
            3_600_000,
        )?,
        max_slippage_pct: dec_range(
            "execution.max_slippage_pct",
            e.max_slippage_pct,
            "0.5",
            Decimal::ZERO,
            Decimal::from(20),
        )?,
        working_type_mark,
        mismatch_halt_streak: small_count("execution.mismatch_halt_streak", e.mismatch_halt_streak, 3, 1, 1000)?,
        adopted_stop_pct: dec_range(
            "execution.adopted_stop_pct",
            e.adopted_stop_pct,
            "2.0",
            Decimal::new(1, 2),
            Decimal::from(50),
        )?,
    };

    let s = raw.strategy;
    let interval = s.interval.unwrap_or_else(|| "4h".to_string());
    let interval_ms = interval_ms(&interval).map_err(|e| ConfigError::invalid("strategy.interval", e.to_string()))?;
    let hundred = Decimal::from(100);
    let strategy = StrategyConfig {
        interval,
        interval_ms,
        warmup: count("strategy.warmup", s.warmup, 250, 2, 1500)?,
        history: count("strategy.history", s.history, 1000, 2, 1500)?,
        ema_fast: count("strategy.ema_fast", s.ema_fast, 50, 1, 1000)?,
        ema_slow: count("strategy.ema_slow", s.ema_slow, 200, 1, 1000)?,
        ema_slope_lookback: count("strategy.ema_slope_lookback", s.ema_slope_lookback, 5, 1, 500)?,
        atr_period: count("strategy.atr_period", s.atr_period, 14, 1, 500)?,
        atr_min_pct: dec_range("strategy.atr_min_pct", s.atr_min_pct, "0.5", Decimal::ZERO, hundred)?,
        atr_max_pct: dec_range("strategy.atr_max_pct", s.atr_max_pct, "6", Decimal::ZERO, hundred)?,
        atr_sma_period: count("strategy.atr_sma_period", s.atr_sma_period, 50, 1, 1000)?,
        atr_expansion_mult: dec_range(
            "strategy.atr_expansion_mult",
            s.atr_expansion_mult,
            "1.0",
            Decimal::ZERO,
            hundred,
        )?,
        breakout_lookback: count("strategy.breakout_lookback", s.breakout_lookback, 20, 1, 1000)?,
        funding_filter_pct: dec_range(
            "strategy.funding_filter_pct",
            s.funding_filter_pct,
            "0.05",
            Decimal::ZERO,
            hundred,
        )?,
        stop_atr_mult: dec_range("strategy.stop_atr_mult", s.stop_atr_mult, "2.0", Decimal::new(1, 2), hundred)?,
        tp_r_multiple: dec_range("strategy.tp_r_multiple", s.tp_r_multiple, "2.0", Decimal::new(1, 2), hundred)?,
        exit_atr_contraction_mult: dec_range(
            "strategy.exit_atr_contraction_mult",
            s.exit_atr_contraction_mult,
            "0.7",
            Decimal::ZERO,
            hundred,
        )?,
        momentum_fail_candles: count("strategy.momentum_fail_candles", s.momentum_fail_candles, 6, 1, 1000)?,
        momentum_fail_r: dec_range("strategy.momentum_fail_r", s.momentum_fail_r, "0.5", Decimal::ZERO, hundred)?,
        funding_extreme_pct: dec_range(
            "strategy.funding_extreme_pct",
            s.funding_extreme_pct,
            "0.10",
            Decimal::ZERO,
            hundred,
        )?,
        cooldown_candles: small_count("strategy.cooldown_candles", s.cooldown_candles, 3, 0, 1000)?,
    };
    if strategy.atr_min_pct > strategy.atr_max_pct {
        return Err(ConfigError::invalid("strategy.atr_min_pct", "must not exceed strategy.atr_max_pct"));
    }
    if strategy.ema_fast >= strategy.ema_slow {
        return Err(ConfigError::invalid("strategy.ema_fast", "must be smaller than strategy.ema_slow"));
    }
    if strategy.warmup > strategy.history {
        return Err(ConfigError::invalid("strategy.warmup", "must not exceed strategy.history"));
    }
    let needed =
        strategy.ema_slow.max(strategy.atr_period + strategy.atr_sma_period).max(strategy.breakout_lookback + 1);
    if strategy.warmup < needed {
        return Err(ConfigError::invalid(
            "strategy.warmup",
            format!("{} is too short for the indicators (needs at least {needed})", strategy.warmup),
        ));
    }

    let r = raw.risk;
    let risk = RiskConfig {
        risk_per_trade_pct: dec_range(
            "risk.risk_per_trade_pct",
            r.risk_per_trade_pct,
            "0.5",
            Decimal::new(1, 3),
            Decimal::from(10),
        )?,
        max_notional_usdt: dec_range(
            "risk.max_notional_usdt",
            r.max_notional_usdt,
            "10000",
            Decimal::ONE,
            Decimal::from(100_000_000),
        )?,
    };

    let p = raw.paper;
    if let Some(old) = p.market_data {
        let new = if old == "binance" { "live" } else { "replay" };
        return Err(ConfigError::invalid(
            "paper.market_data",
            format!("was renamed: write `mode = {new:?}` in [paper] (\"replay\": offline history, \"live\": live public prices)"),
        ));
    }
    // Absent: the offline replay, so a hand-written or test config never needs the network;
    // `init` writes the mode a new user wants (see cmd/init.rs).
    let mode = match p.mode.as_deref().unwrap_or("replay") {
        "replay" => PaperMode::Replay,
        "live" => PaperMode::Live,
        other => return Err(ConfigError::invalid("paper.mode", format!("{other:?} must be \"replay\" or \"live\""))),
    };
    if mode == PaperMode::Live && p.start.is_some() {
        // The live dry run's clock is the wall clock: a start date would be silently ignored.
        return Err(ConfigError::invalid(
            "paper.start",
            "applies to paper.mode = \"replay\" only; remove it for \"live\"",
        ));
    }
    let paper = PaperConfig {
        mode,
        prices_url: origin_url("paper.prices_url", p.prices_url, LIVE_PRICES_URL)?,
        candles: resolve(base, p.candles.as_deref().unwrap_or("data/BTCUSDT-4h.csv")),
        funding: resolve(base, p.funding.as_deref().unwrap_or("data/BTCUSDT-funding.csv")),
        start_ms: p.start.as_deref().map(|s| parse_date_ms("paper.start", s)).transpose()?,
        starting_balance_usdt: dec_range(
            "paper.starting_balance_usdt",
            p.starting_balance_usdt,
            "10000",
            Decimal::ONE,
            Decimal::from(1_000_000_000),
        )?,
        fee_pct: dec_range("paper.fee_pct", p.fee_pct, "0.05", Decimal::ZERO, Decimal::from(5))?,
        slippage_pct: dec_range("paper.slippage_pct", p.slippage_pct, "0.02", Decimal::ZERO, Decimal::from(5))?,
    };

    let notify = crate::config::notify::validate(raw.alerts, raw.heartbeat, raw.metrics, base)?;
    let posture = crate::config::posture::validate(raw.posture)?;
    Ok(Config {
        bot_id,
        symbol,
        state_db,
        lock_timeout_ms,
        exchange,
        execution,
        strategy,
        risk,
        paper,
        env_file: None,
        notify,
        posture,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, ConfigError, EXAMPLE_TOML};
    use crate::core::millis::Millis;
    use rust_decimal_macros::dec;
    use std::path::Path;

    const MIN: &str = "bot_id = \"mc\"\nsymbol = \"BTCUSDT\"\nstate_db = \"s.db\"\n[exchange]\nkind = \"paper\"\n";

    fn key_of(e: ConfigError) -> String {
        match e {
            ConfigError::Invalid { key, .. } => key,
            ConfigError::File { problem, .. } => format!("FILE: {problem}"),
        }
    }

    #[test]
    fn example_parses_with_contract_defaults() {
        let c = parse(EXAMPLE_TOML, Path::new("/x")).unwrap();
        assert_eq!(c.bot_id, "mc");
        assert_eq!(c.execution.max_slippage_pct, dec!(0.5));
        assert_eq!(c.strategy.ema_fast, 50);
        assert_eq!(c.strategy.ema_slow, 200);
        assert_eq!(c.strategy.funding_filter_pct, dec!(0.05));
        assert_eq!(c.risk.risk_per_trade_pct, dec!(0.5));
        assert_eq!(c.lock_path(), Path::new("/x/state/mcbot.db.lock"));
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MIN, Path::new("/b")).unwrap();
        assert_eq!(c.state_db, Path::new("/b/s.db"));
        assert_eq!(c.strategy.interval_ms, 14_400_000);
        assert_eq!(c.exchange.recv_window_ms, Millis::from_ms(5000));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (MIN.replace("bot_id = \"mc\"", "bot_id = \"MC_1\""), "bot_id"),
            (MIN.replace("bot_id = \"mc\"\n", ""), "bot_id"),
            (MIN.replace("BTCUSDT", "btc"), "symbol"),
            (MIN.replace("paper", "kraken"), "exchange.kind"),
            (format!("{MIN}recv_window_ms = 0\n"), "exchange.recv_window_ms"),
            // MIN ends inside [exchange], so the unknown key is `exchange.bogus`.
            (format!("{MIN}bogus = 1\n"), "exchange.bogus"),
            (format!("{MIN}[execution]\nmax_slippage_pct = -1\n"), "execution.max_slippage_pct"),
            (format!("{MIN}[execution]\nstop_ack_timeout_ms = 0\n"), "execution.stop_ack_timeout_ms"),
            (format!("{MIN}[strategy]\nema_fast = 300\n"), "strategy.ema_fast"),
            (format!("{MIN}[strategy]\ninterval = \"4x\"\n"), "strategy.interval"),
            (format!("{MIN}[paper]\nstart = \"2024-13-01\"\n"), "paper.start"),
        ];
        for (i, (text, key)) in cases.iter().enumerate() {
            let e = parse(text, Path::new("/")).unwrap_err();
            assert_eq!(key_of(e), *key, "case {i}");
        }
    }

    /// Issue 16 item 4: spans are validated once into `Millis` (the value as written, nothing
    /// clamped) and a value past its range is refused with the message naming the key and range.
    #[test]
    fn spans_and_counts_are_validated_into_the_types_their_users_take() {
        let at_bounds = format!(
            "{MIN}[execution]\nclose_retry_max_elapsed_ms = 3600000\nentry_fill_window_ms = 1\n[strategy]\ncooldown_candles = 1000\n"
        );
        let c = parse(&at_bounds, Path::new("/")).unwrap();
        assert_eq!(c.execution.close_retry_max_elapsed_ms, Millis::from_ms(3_600_000));
        assert_eq!(c.execution.entry_fill_window_ms, Millis::from_ms(1));
        assert_eq!(c.lock_timeout_ms, Millis::from_ms(30_000));
        assert_eq!(c.strategy.cooldown_ms(), 1000 * 14_400_000);
        let too_long = format!("{MIN}[execution]\nclose_retry_max_elapsed_ms = 3600001\n");
        assert_eq!(
            parse(&too_long, Path::new("/")).unwrap_err().to_string(),
            "config key `execution.close_retry_max_elapsed_ms`: 3600001 is outside [1, 3600000] ms"
        );
        let negative = format!("{MIN}[strategy]\ncooldown_candles = -1\n");
        assert_eq!(
            parse(&negative, Path::new("/")).unwrap_err().to_string(),
            "config key `strategy.cooldown_candles`: -1 is outside [0, 1000]"
        );
    }

    #[test]
    fn wrong_type_and_bad_toml_are_errors() {
        let e = parse(&MIN.replace("\"s.db\"", "12"), Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("state_db") || e.to_string().contains("invalid"), "{e}");
        assert!(parse("bot_id = ", Path::new("/")).is_err());
    }
}
