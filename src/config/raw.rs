//! The TOML file as written, read key by key: every value is taken from the parsed table by its
//! dotted key, so a wrong type, an unknown key or a section that is not a table is always reported
//! under the key it belongs to (serde's derive loses the key inside untagged and nested types).
//! Nothing outside `config/` sees these; `validate.rs` turns them into `Config`.

use crate::config::{ConfigError, ConfigResult};
use toml::{Table, Value};

/// A number as TOML may write it (`1` or `1.0`), kept exact for conversion to Decimal.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

/// One table of the file and the dotted prefix of its keys (`""` for the top level).
pub(super) struct Section<'a> {
    prefix: String,
    table: Option<&'a Table>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

impl<'a> Section<'a> {
    fn top(table: &'a Table) -> Self {
        Section { prefix: String::new(), table: Some(table) }
    }

    /// The sub-table `name`, absent if the file has none; a non-table value there is an error.
    pub(super) fn sub(table: &'a Table, name: &'static str) -> ConfigResult<Self> {
        match table.get(name) {
            None => Ok(Section { prefix: name.to_string(), table: None }),
            Some(Value::Table(t)) => Ok(Section { prefix: name.to_string(), table: Some(t) }),
            Some(v) => Err(ConfigError::invalid(name, format!("must be a table [{name}], not {}", type_name(v)))),
        }
    }

    fn key(&self, k: &str) -> String {
        if self.prefix.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.prefix)
        }
    }

    fn get(&self, k: &str) -> Option<&'a Value> {
        self.table.and_then(|t| t.get(k))
    }

    fn wrong(&self, k: &str, want: &str, v: &Value) -> ConfigError {
        ConfigError::invalid(&self.key(k), format!("wrong type: expected {want}, found {}", type_name(v)))
    }

    fn string(&self, k: &str) -> ConfigResult<Option<String>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong(k, "a string", v)),
        }
    }

    pub(super) fn int(&self, k: &str) -> ConfigResult<Option<i64>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Integer(i)) => Ok(Some(*i)),
            Some(v) => Err(self.wrong(k, "an integer", v)),
        }
    }

    fn num(&self, k: &str) -> ConfigResult<Option<Num>> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Integer(i)) => Ok(Some(Num::Int(*i))),
            Some(Value::Float(f)) => Ok(Some(Num::Float(*f))),
            Some(v) => Err(self.wrong(k, "a number (unquoted, e.g. 0.5)", v)),
        }
    }

    /// Refuses keys this section does not know (a typo must not silently fall back to a default).
    pub(super) fn only(&self, known: &[&str]) -> ConfigResult<()> {
        let Some(t) = self.table else { return Ok(()) };
        match t.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(ConfigError::invalid(&self.key(k), format!("unknown key (known: {})", known.join(", ")))),
            None => Ok(()),
        }
    }
}

#[derive(Debug)]
pub(crate) struct RawConfig {
    pub bot_id: Option<String>,
    pub symbol: Option<String>,
    pub state_db: Option<String>,
    pub lock_timeout_ms: Option<i64>,
    pub exchange: Option<RawExchange>,
    pub execution: RawExecution,
    pub strategy: RawStrategy,
    pub risk: RawRisk,
    pub paper: RawPaper,
    pub alerts: crate::config::notify::RawAlerts,
    pub heartbeat: Option<crate::config::notify::RawHeartbeat>,
    pub metrics: Option<crate::config::notify::RawMetrics>,
    pub posture: crate::config::posture::RawPosture,
}

#[derive(Debug)]
pub(crate) struct RawExchange {
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub api_secret_env: Option<String>,
    pub recv_window_ms: Option<i64>,
    pub http_timeout_ms: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct RawExecution {
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

#[derive(Debug, Default)]
pub(crate) struct RawStrategy {
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

#[derive(Debug, Default)]
pub(crate) struct RawRisk {
    pub risk_per_trade_pct: Option<Num>,
    pub max_notional_usdt: Option<Num>,
}

#[derive(Debug, Default)]
pub(crate) struct RawPaper {
    pub mode: Option<String>,
    /// The key before `paper.mode`: named in a hint, never accepted silently.
    pub market_data: Option<String>,
    pub prices_url: Option<String>,
    pub candles: Option<String>,
    pub funding: Option<String>,
    pub start: Option<String>,
    pub starting_balance_usdt: Option<Num>,
    pub fee_pct: Option<Num>,
    pub slippage_pct: Option<Num>,
}

impl RawConfig {
    /// Reads every known key from the parsed file; unknown keys and wrong types are errors.
    pub(crate) fn from_table(t: &Table) -> ConfigResult<RawConfig> {
        let top = Section::top(t);
        top.only(&[
            "bot_id",
            "symbol",
            "state_db",
            "lock_timeout_ms",
            "exchange",
            "execution",
            "strategy",
            "risk",
            "paper",
            "alerts",
            "heartbeat",
            "metrics",
            "posture",
        ])?;
        let x = Section::sub(t, "exchange")?;
        x.only(&["kind", "base_url", "api_key_env", "api_secret_env", "recv_window_ms", "http_timeout_ms"])?;
        let exchange = match x.table {
            None => None,
            Some(_) => Some(RawExchange {
                kind: x.string("kind")?,
                base_url: x.string("base_url")?,
                api_key_env: x.string("api_key_env")?,
                api_secret_env: x.string("api_secret_env")?,
                recv_window_ms: x.int("recv_window_ms")?,
                http_timeout_ms: x.int("http_timeout_ms")?,
            }),
        };
        let e = Section::sub(t, "execution")?;
        e.only(&[
            "entry_ack_timeout_ms",
            "stop_ack_timeout_ms",
            "tp_ack_timeout_ms",
            "entry_fill_window_ms",
            "close_retry_max_elapsed_ms",
            "max_slippage_pct",
            "working_type",
            "mismatch_halt_streak",
            "adopted_stop_pct",
        ])?;
        let execution = RawExecution {
            entry_ack_timeout_ms: e.int("entry_ack_timeout_ms")?,
            stop_ack_timeout_ms: e.int("stop_ack_timeout_ms")?,
            tp_ack_timeout_ms: e.int("tp_ack_timeout_ms")?,
            entry_fill_window_ms: e.int("entry_fill_window_ms")?,
            close_retry_max_elapsed_ms: e.int("close_retry_max_elapsed_ms")?,
            max_slippage_pct: e.num("max_slippage_pct")?,
            working_type: e.string("working_type")?,
            mismatch_halt_streak: e.int("mismatch_halt_streak")?,
            adopted_stop_pct: e.num("adopted_stop_pct")?,
        };
        let s = Section::sub(t, "strategy")?;
        s.only(&[
            "interval",
            "warmup",
            "history",
            "ema_fast",
            "ema_slow",
            "ema_slope_lookback",
            "atr_period",
            "atr_min_pct",
            "atr_max_pct",
            "atr_sma_period",
            "atr_expansion_mult",
            "breakout_lookback",
            "funding_filter_pct",
            "stop_atr_mult",
            "tp_r_multiple",
            "exit_atr_contraction_mult",
            "momentum_fail_candles",
            "momentum_fail_r",
            "funding_extreme_pct",
            "cooldown_candles",
        ])?;
        let strategy = RawStrategy {
            interval: s.string("interval")?,
            warmup: s.int("warmup")?,
            history: s.int("history")?,
            ema_fast: s.int("ema_fast")?,
            ema_slow: s.int("ema_slow")?,
            ema_slope_lookback: s.int("ema_slope_lookback")?,
            atr_period: s.int("atr_period")?,
            atr_min_pct: s.num("atr_min_pct")?,
            atr_max_pct: s.num("atr_max_pct")?,
            atr_sma_period: s.int("atr_sma_period")?,
            atr_expansion_mult: s.num("atr_expansion_mult")?,
            breakout_lookback: s.int("breakout_lookback")?,
            funding_filter_pct: s.num("funding_filter_pct")?,
            stop_atr_mult: s.num("stop_atr_mult")?,
            tp_r_multiple: s.num("tp_r_multiple")?,
            exit_atr_contraction_mult: s.num("exit_atr_contraction_mult")?,
            momentum_fail_candles: s.int("momentum_fail_candles")?,
            momentum_fail_r: s.num("momentum_fail_r")?,
            funding_extreme_pct: s.num("funding_extreme_pct")?,
            cooldown_candles: s.int("cooldown_candles")?,
        };
        let r = Section::sub(t, "risk")?;
        r.only(&["risk_per_trade_pct", "max_notional_usdt"])?;
        let risk = RawRisk {
            risk_per_trade_pct: r.num("risk_per_trade_pct")?,
            max_notional_usdt: r.num("max_notional_usdt")?,
        };
        let p = Section::sub(t, "paper")?;
        p.only(&[
            "mode",
            "market_data",
            "prices_url",
            "candles",
            "funding",
            "start",
            "starting_balance_usdt",
            "fee_pct",
            "slippage_pct",
        ])?;
        let paper = RawPaper {
            mode: p.string("mode")?,
            market_data: p.string("market_data")?,
            prices_url: p.string("prices_url")?,
            candles: p.string("candles")?,
            funding: p.string("funding")?,
            start: p.string("start")?,
            starting_balance_usdt: p.num("starting_balance_usdt")?,
            fee_pct: p.num("fee_pct")?,
            slippage_pct: p.num("slippage_pct")?,
        };
        Ok(RawConfig {
            bot_id: top.string("bot_id")?,
            symbol: top.string("symbol")?,
            state_db: top.string("state_db")?,
            lock_timeout_ms: top.int("lock_timeout_ms")?,
            exchange,
            execution,
            strategy,
            risk,
            paper,
            alerts: alerts_of(t)?,
            posture: crate::config::posture::read(t)?,
            heartbeat: {
                let h = Section::sub(t, "heartbeat")?;
                h.only(&["url_env"])?;
                match h.table {
                    None => None,
                    Some(_) => Some(crate::config::notify::RawHeartbeat { url_env: h.string("url_env")? }),
                }
            },
            metrics: {
                let m = Section::sub(t, "metrics")?;
                m.only(&["textfile"])?;
                match m.table {
                    None => None,
                    Some(_) => Some(crate::config::notify::RawMetrics { textfile: m.string("textfile")? }),
                }
            },
        })
    }
}

/// `[[alerts.sink]]`: an array of tables, each read key by key under `alerts.sink[i]`.
fn alerts_of(t: &Table) -> ConfigResult<crate::config::notify::RawAlerts> {
    let a = Section::sub(t, "alerts")?;
    a.only(&["sink"])?;
    let mut sink = Vec::new();
    if let Some(v) = a.get("sink") {
        let Value::Array(items) = v else {
            return Err(a.wrong("sink", "an array of tables ([[alerts.sink]])", v));
        };
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("alerts.sink[{i}]");
            let Value::Table(tbl) = item else {
                return Err(ConfigError::invalid(&prefix, format!("must be a table, not {}", type_name(item))));
            };
            let s = Section { prefix, table: Some(tbl) };
            s.only(&["kind", "url_env", "token_env", "chat_id", "api_base", "min_level"])?;
            sink.push(crate::config::notify::RawSink {
                kind: s.string("kind")?,
                url_env: s.string("url_env")?,
                token_env: s.string("token_env")?,
                chat_id: s.string("chat_id")?,
                api_base: s.string("api_base")?,
                min_level: s.string("min_level")?,
            });
        }
    }
    Ok(crate::config::notify::RawAlerts { sink })
}
