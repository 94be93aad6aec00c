//! The Binance USDⓈ-M futures adapter: [`BinanceFutures`] implements the `Exchange` port over the
//! signed REST API, with STOP/TP on the Algo Order API (CONTRACT §6, BINANCE.md).
//!
//! Safety rules it keeps: an order is sent once (only a -1021 rejection, which precedes execution,
//! is sent again after a clock resync); reads retry under the command's one [`RetryBudget`]
//! (an unreadable answer to a read included: a read changes nothing); every answer is
//! checked to be about the symbol and client id asked for; every order-path result and error
//! carries a sanitised transcript (no key, secret or signature).

/// Account settings, balance and fills.
mod account;
/// Error codes and HTTP statuses → `ErrorClass`: the one table.
pub mod codes;
/// Wire DTOs → domain types.
pub(crate) mod convert;
/// The reads only `doctor` makes (Multi-Assets mode, key permissions, rate usage).
pub(crate) mod doctor;
/// The endpoints used, with weights.
pub(crate) mod endpoints;
/// Time-bounded, paged history reads.
pub mod history;
/// The only HTTP client.
pub(crate) mod http;
/// Funding history (`/fapi/v1/income`).
mod income;
/// Bans and back-offs persisted beside the state DB.
pub(crate) mod limits_file;
/// Market data: time, filters, klines, mark price.
mod market;
/// Positions and orders (regular and algo).
mod orders;
pub use orders::ALGO_HISTORY_WINDOWS;
/// Back-off before the per-minute limits.
pub(crate) mod ratelimit;
/// The request pipeline (gate, sign, send, classify, transcript).
pub(crate) mod rest;
/// HMAC-SHA256 signing and query building.
pub mod sign;
/// Sanitised transcripts.
pub(crate) mod transcript;
/// Lenient serde DTOs.
pub(crate) mod wire;

use crate::clock::Clock;
use crate::config::secrets::Credentials;
use crate::config::ExchangeConfig;
use crate::core::candle::Candle;
use crate::core::money::SymbolFilters;
use crate::exchange::error::{ErrorClass, ExResult, ExchangeError, ExchangeErrorKind};
use crate::exchange::retry::{BudgetLimits, RetryBudget};
use crate::exchange::{
    AccountSettings, CancelOutcome, ConditionalOrderRequest, ExConditional, ExOrder, ExPosition, Exchange, Fill,
    FundingPayment, KeyPermissions, MarkInfo, MarketOrderRequest, RateUsage, VenueInfo,
};
use rest::{Reply, Rest};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How old a persisted clock offset may be and still sign the first request of a process. A
/// server's clock drifts by milliseconds a day against NTP, far inside the default 5 s
/// `recvWindow`; the bound keeps a jump of the local clock (or a moved host) from living long.
pub const CLOCK_SYNC_MAX_AGE_MS: i64 = 10 * 60_000;

/// The adapter. Cheap to share across scoped threads (`&self` everywhere).
pub struct BinanceFutures {
    rest: Rest,
    /// exchangeInfo filters, fetched once per symbol per process.
    filters: Mutex<HashMap<String, SymbolFilters>>,
    /// The command's retry budget: the adapter is built once per command (`cmd::Ctx::connect`),
    /// so every read of the command — from any layer or thread — draws on this one.
    budget: Arc<RetryBudget>,
}

impl std::fmt::Debug for BinanceFutures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BinanceFutures")
    }
}

impl BinanceFutures {
    /// The full adapter. Sends nothing until the first call.
    ///
    /// # Errors
    /// Fatal when the HTTP client or the signer cannot be built.
    pub fn new(cfg: &ExchangeConfig, creds: Credentials, clock: Arc<dyn Clock>) -> ExResult<Self> {
        Self::build(cfg, Some(creds), clock)
    }

    /// A client for public market data only (time, exchangeInfo, klines, premiumIndex): the paper
    /// exchange uses it for live prices. Signed calls fail with a fatal local error.
    ///
    /// # Errors
    /// Fatal when the HTTP client cannot be built.
    pub fn public(cfg: &ExchangeConfig, clock: Arc<dyn Clock>) -> ExResult<Self> {
        Self::build(cfg, None, clock)
    }

    /// The full adapter, honouring and persisting bans in `limits` (beside the state DB).
    ///
    /// # Errors
    /// As [`BinanceFutures::new`].
    pub fn with_limits(
        cfg: &ExchangeConfig,
        creds: Credentials,
        clock: Arc<dyn Clock>,
        limits: limits_file::LimitsFile,
    ) -> ExResult<Self> {
        let ex = Self::build(cfg, Some(creds), clock)?;
        Ok(BinanceFutures { rest: ex.rest.with_limits_file(limits), ..ex })
    }

    fn build(cfg: &ExchangeConfig, creds: Option<Credentials>, clock: Arc<dyn Clock>) -> ExResult<Self> {
        let rest = Rest::new(&cfg.base_url, cfg.http_timeout_ms, cfg.recv_window_ms, creds, clock)?
            .with_credential_names(&cfg.api_key_env, &cfg.api_secret_env);
        let budget = Arc::new(RetryBudget::new(BudgetLimits::COMMAND, rest.clock.now_ms()));
        let rest = rest.with_budget(budget.clone());
        Ok(BinanceFutures { rest, filters: Mutex::new(HashMap::new()), budget })
    }

    /// Starts from the clock offset an earlier process measured when it is at most
    /// [`CLOCK_SYNC_MAX_AGE_MS`] old: the first signed request then goes out without a
    /// `/fapi/v1/time` round trip before it. An offset that has gone wrong meanwhile costs one
    /// -1021, which Binance answers before acting; the adapter then resyncs and sends once more.
    pub fn with_clock_sync(self, sync: Option<crate::clock::ClockSync>) -> Self {
        if let Some(s) = sync.filter(|s| s.is_fresh(self.rest.clock.now_ms(), CLOCK_SYNC_MAX_AGE_MS)) {
            self.rest.seed_clock(s);
        }
        self
    }

    /// Replaces the retry budget (tests; a caller that owns a budget of its own).
    pub fn with_budget(self, budget: Arc<RetryBudget>) -> Self {
        BinanceFutures { rest: self.rest.with_budget(budget.clone()), budget, ..self }
    }

    /// The retry budget every read of this adapter draws on.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// Runs a read under the command's retry budget. A read changes nothing, so an ambiguous
    /// outcome (timeout, 5xx) is simply retryable here. `op` must parse the answer too, so that an
    /// unreadable one (empty 200, truncated JSON, a missing field, a null) is retried as well.
    fn read<T>(&self, what: &str, id: &str, mut op: impl FnMut() -> ExResult<T>) -> ExResult<T> {
        self.budget
            .run(&*self.rest.clock, what, id, |_| {
                op().map_err(|mut e| {
                    if e.class == ErrorClass::Ambiguous {
                        e.class = ErrorClass::Retryable;
                    }
                    e
                })
            })
            .map_err(|mut e| {
                // The operator must see which read failed against which host (issue 12 §4).
                e.message = format!("{what} from {}: {}", self.rest.base_url(), e.message);
                e
            })
    }
}

/// A refusal before anything is sent (bad input from the caller).
fn refuse(message: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Local, ErrorClass::Fatal, message)
}

/// `^[A-Z0-9]{1,20}$`: anything else cannot be a USDⓈ-M symbol.
fn check_symbol_input(symbol: &str) -> ExResult<()> {
    if (1..=20).contains(&symbol.len()) && symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(refuse(format!("{symbol:?} is not a valid symbol")))
    }
}

/// `^[\.A-Z\:/a-z0-9_-]{1,36}$` (BINANCE.md §5): refused locally rather than by a -4015.
fn check_client_id(id: &str) -> ExResult<()> {
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-');
    if (1..=36).contains(&id.len()) && id.bytes().all(ok_char) {
        Ok(())
    } else {
        Err(refuse(format!("{id:?} is not a valid client order id (1-36 of A-Z a-z 0-9 . : / _ -)")))
    }
}

fn check_positive(what: &str, v: Decimal) -> ExResult<()> {
    if v > Decimal::ZERO {
        Ok(())
    } else {
        Err(refuse(format!("{what} must be positive, got {v}")))
    }
}

/// Parses a whole answer. `write`: the answer to an accepted write, whose unreadability is ambiguous.
fn parse<T: DeserializeOwned>(reply: &Reply, write: bool) -> ExResult<T> {
    serde_json::from_str(&reply.body).map_err(|e| {
        codes::parse_error(write, format!("{}: unreadable answer: {e}", reply.request)).with_raw(reply.transcript())
    })
}

/// Splits a list answer into rows, each with its own transcript.
fn rows(reply: &Reply) -> ExResult<Vec<(serde_json::Value, String)>> {
    let list: Vec<serde_json::Value> = parse(reply, false)?;
    let n = list.len();
    Ok(list
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let raw = reply.row_transcript(i, n, &v);
            (v, raw)
        })
        .collect())
}

/// Parses one row of a list answer.
fn row<T: DeserializeOwned>(v: serde_json::Value, raw: &str) -> ExResult<T> {
    serde_json::from_value(v)
        .map_err(|e| codes::parse_error(false, format!("unreadable row: {e}")).with_raw(raw.to_string()))
}

/// Wraps a conversion failure with the right class and transcript. On a read the answer parsed,
/// so what it says (hedge mode, an unknown status, a missing filter) is asked again in vain: fatal.
fn converted<T>(r: Result<T, String>, write: bool, raw: &str) -> ExResult<T> {
    r.map_err(|m| {
        if write {
            codes::parse_error(true, m).with_raw(raw.to_string())
        } else {
            codes::invalid_answer(m).with_raw(raw.to_string())
        }
    })
}

/// The answer must be about what was asked: another symbol or id is fatal, never adopted.
fn same(what: &str, asked: &str, got: &str, raw: &str) -> ExResult<()> {
    if asked == got {
        Ok(())
    } else {
        Err(codes::mismatch_error(format!("asked for {what} {asked:?}, the answer is for {got:?}"))
            .with_raw(raw.to_string()))
    }
}

/// The `symbol` field of a raw row, checked before anything else is read from it.
fn same_row_symbol(asked: &str, v: &serde_json::Value, raw: &str) -> ExResult<()> {
    match v.get("symbol").and_then(serde_json::Value::as_str) {
        Some(got) => same("symbol", asked, got, raw),
        None => Err(codes::parse_error(false, "row has no symbol").with_raw(raw.to_string())),
    }
}

impl Exchange for BinanceFutures {
    fn name(&self) -> &'static str {
        "binance"
    }
    fn retries_reads(&self) -> bool {
        true
    }
    fn server_time(&self) -> ExResult<i64> {
        self.read("binance.server_time", "", || self.rest.sync_time())
    }
    fn filters(&self, symbol: &str) -> ExResult<SymbolFilters> {
        self.get_filters(symbol)
    }
    fn klines(&self, symbol: &str, interval: &str, limit: usize) -> ExResult<Vec<Candle>> {
        self.get_klines(symbol, interval, limit)
    }
    fn mark_info(&self, symbol: &str) -> ExResult<MarkInfo> {
        self.get_mark_info(symbol)
    }
    fn position(&self, symbol: &str) -> ExResult<ExPosition> {
        self.get_position(symbol)
    }
    fn open_orders(&self, symbol: &str) -> ExResult<Vec<ExOrder>> {
        self.get_open_orders(symbol)
    }
    fn open_conditional_orders(&self, symbol: &str) -> ExResult<Vec<ExConditional>> {
        self.get_open_conditionals(symbol)
    }
    fn order_history(&self, symbol: &str, since_ms: i64) -> ExResult<Vec<ExOrder>> {
        self.get_order_history(symbol, since_ms)
    }
    fn conditional_history(&self, symbol: &str, since_ms: i64) -> ExResult<Vec<ExConditional>> {
        self.get_conditional_history(symbol, since_ms)
    }
    fn place_market(&self, req: &MarketOrderRequest) -> ExResult<ExOrder> {
        self.new_market_order(req)
    }
    fn place_conditional(&self, req: &ConditionalOrderRequest) -> ExResult<ExConditional> {
        self.new_algo_order(req)
    }
    fn query_order(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExOrder>> {
        self.get_order(symbol, client_id)
    }
    fn query_conditional(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExConditional>> {
        self.get_algo_order(symbol, client_id, None)
    }
    fn query_conditional_placed(
        &self,
        symbol: &str,
        client_id: &str,
        placed_ms: i64,
    ) -> ExResult<Option<ExConditional>> {
        self.get_algo_order(symbol, client_id, Some(placed_ms))
    }
    fn cancel_order(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        self.delete_order(symbol, client_id)
    }
    fn cancel_conditional(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        self.delete_algo_order(symbol, client_id)
    }
    fn account_settings(&self, symbol: &str) -> ExResult<AccountSettings> {
        self.get_account_settings(symbol)
    }
    fn set_isolated_margin(&self, symbol: &str) -> ExResult<()> {
        self.post_isolated_margin(symbol)
    }
    fn set_leverage(&self, symbol: &str, leverage: u32) -> ExResult<()> {
        self.post_leverage(symbol, leverage)
    }
    fn wallet_balance(&self, asset: &str) -> ExResult<Decimal> {
        self.get_available_balance(asset)
    }
    fn order_fills(&self, symbol: &str, order_id: &str, placed_ms: i64) -> ExResult<Vec<Fill>> {
        self.get_user_trades(symbol, order_id, placed_ms)
    }
    fn funding_history(&self, symbol: &str, start_ms: i64, end_ms: i64) -> ExResult<Vec<FundingPayment>> {
        self.get_funding_history(symbol, start_ms, end_ms)
    }
    fn venue_info(&self, symbol: &str) -> ExResult<VenueInfo> {
        self.get_venue_info(symbol)
    }
    fn multi_assets_margin(&self) -> ExResult<bool> {
        self.get_multi_assets_margin()
    }
    fn key_permissions(&self) -> ExResult<Option<KeyPermissions>> {
        self.get_key_permissions()
    }
    fn rate_usage(&self) -> Option<RateUsage> {
        Some(self.current_rate_usage())
    }
    fn clock_sync(&self) -> Option<crate::clock::ClockSync> {
        self.rest.clock_sync()
    }
    fn standing(&self) -> crate::exchange::Standing {
        crate::exchange::Standing {
            clock_offset_ms: self.rest.clock_offset_ms(),
            recv_window_ms: self.rest.recv_window_ms().as_i64(),
            rate_limit_used_pct: self.rest.gate.peak_used_pct(),
        }
    }
}
