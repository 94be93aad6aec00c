//! The exchange port: one trait in domain terms, implemented by the Binance adapter and the
//! in-process paper exchange (and by scripted fakes in tests).
//!
//! Nothing Binance-specific crosses this boundary: no endpoint names, no wire structs. Every
//! order-path answer carries `raw`, a sanitised transcript of the request and response (never a
//! key, secret or signature) for `order_event.raw`.

/// The error taxonomy: every failure has a retry class (seed 001 §1).
pub(crate) mod error;
/// The command's retry budget and the bounded retry executor.
pub mod retry;

pub use error::{ErrorClass, ExResult, ExchangeError, ExchangeErrorKind, Refusal};

use crate::core::candle::Candle;
use crate::core::money::SymbolFilters;
use crate::core::types::OrderSide;
use rust_decimal::Decimal;
use serde::Serialize;

/// Status of a regular (market) order on the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExOrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Rejected,
    Expired,
}

impl ExOrderStatus {
    pub fn is_open(self) -> bool {
        matches!(self, ExOrderStatus::New | ExOrderStatus::PartiallyFilled)
    }
}

/// Status of a conditional (algo) order: NEW → TRIGGERING → TRIGGERED → FINISHED, or
/// CANCELED / REJECTED / EXPIRED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionalStatus {
    New,
    Triggering,
    Triggered,
    Finished,
    Canceled,
    Rejected,
    Expired,
}

impl ConditionalStatus {
    /// Still able to protect (or already protecting) the position.
    pub fn is_open(self) -> bool {
        matches!(self, ConditionalStatus::New | ConditionalStatus::Triggering | ConditionalStatus::Triggered)
    }
}

/// STOP_MARKET or TAKE_PROFIT_MARKET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionalKind {
    StopMarket,
    TakeProfitMarket,
}

/// Which price triggers a conditional order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkingType {
    MarkPrice,
    ContractPrice,
}

/// A regular order as the exchange reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExOrder {
    pub symbol: String,
    pub client_id: String,
    pub order_id: String,
    pub side: OrderSide,
    pub status: ExOrderStatus,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    /// Average fill price; zero when nothing filled — or when an ENTRY's answer carried no price
    /// (Binance's official `NewOrderResponse` has neither avgPrice nor cumQuote): a known fill of
    /// unknown price. Read it through [`ExOrder::fill_price`], never as a price of zero.
    pub avg_price: Decimal,
    pub reduce_only: bool,
    pub update_time_ms: i64,
    /// Sanitised transcript of the request/response that produced this value.
    #[serde(skip)]
    pub raw: String,
}

impl ExOrder {
    /// The average price of what filled; `None` when nothing filled or the answer did not say.
    pub fn fill_price(&self) -> Option<Decimal> {
        (self.executed_qty > Decimal::ZERO && self.avg_price > Decimal::ZERO).then_some(self.avg_price)
    }
}

/// A conditional order as the exchange reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExConditional {
    pub symbol: String,
    pub client_id: String,
    pub algo_id: String,
    pub kind: ConditionalKind,
    pub side: OrderSide,
    pub status: ConditionalStatus,
    pub trigger_price: Decimal,
    /// Zero for closePosition orders (which mcbot never sends, but may find).
    pub qty: Decimal,
    pub reduce_only: bool,
    pub close_position: bool,
    /// The child market order's id once triggered.
    pub actual_order_id: Option<String>,
    /// Average fill price of the child order, when known.
    pub actual_price: Option<Decimal>,
    /// Filled quantity of the child order, when known.
    pub actual_qty: Option<Decimal>,
    pub update_time_ms: i64,
    #[serde(skip)]
    pub raw: String,
}

/// The symbol's position in one-way mode. `qty` is signed: positive long, negative short.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExPosition {
    pub symbol: String,
    pub qty: Decimal,
    pub entry_price: Decimal,
    pub mark_price: Decimal,
    pub update_time_ms: i64,
}

impl ExPosition {
    pub fn is_flat(&self) -> bool {
        self.qty.is_zero()
    }
}

/// Mark price and funding (`premiumIndex`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarkInfo {
    pub symbol: String,
    pub mark_price: Decimal,
    /// `lastFundingRate`, a fraction.
    pub funding_rate: Decimal,
    pub time_ms: i64,
}

/// Margin type, leverage and position mode for the symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountSettings {
    pub isolated: bool,
    pub leverage: u32,
    /// Hedge mode; mcbot needs one-way (false).
    pub dual_side: bool,
}

/// One fill (a user trade).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fill {
    pub order_id: String,
    pub price: Decimal,
    pub qty: Decimal,
    /// Commission, in `commission_asset`: never converted nor summed across assets.
    pub commission: Decimal,
    /// The asset the commission was paid in (`USDT`, or `BNB` with the BNB fee discount).
    pub commission_asset: String,
    pub realized_pnl: Decimal,
    pub time_ms: i64,
}

/// One funding settlement on the symbol's position: received (+) or paid (−), in `asset`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FundingPayment {
    pub amount: Decimal,
    pub asset: String,
    /// The settlement time, ms.
    pub time_ms: i64,
}

/// The symbol as `exchangeInfo` lists it now, with the account's rate limits (doctor).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VenueInfo {
    /// `TRADING`, `BREAK`, `SETTLING`, ... as the exchange words it.
    pub status: String,
    pub filters: SymbolFilters,
    /// Per-minute request weight and order limits; None when the exchange lists none.
    pub weight_limit_1m: Option<u64>,
    pub order_limit_1m: Option<u64>,
    pub order_limit_10s: Option<u64>,
}

/// What the exchange says the API key may do (`apiRestrictions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyPermissions {
    pub enable_withdrawals: bool,
    pub ip_restrict: bool,
    pub enable_futures: bool,
}

/// The request weight the last answer reported, and the limits in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateUsage {
    pub used_weight_1m: Option<u64>,
    pub weight_limit_1m: u64,
    pub order_limit_1m: u64,
}

/// A MARKET order (ENTRY or CLOSE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarketOrderRequest {
    pub symbol: String,
    pub side: OrderSide,
    pub qty: Decimal,
    pub reduce_only: bool,
    pub client_id: String,
}

/// A STOP_MARKET or TAKE_PROFIT_MARKET order (STOP or TP), always reduce-only with a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionalOrderRequest {
    pub symbol: String,
    pub side: OrderSide,
    pub kind: ConditionalKind,
    pub trigger_price: Decimal,
    pub qty: Decimal,
    pub working_type: WorkingType,
    pub client_id: String,
}

/// What a cancel found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CancelOutcome {
    /// The exchange cancelled it now.
    Cancelled { raw: String },
    /// The exchange does not know it as open (already filled, cancelled or never placed). The caller
    /// must look it up before treating that as success (seed 001 §4).
    NotOpen { raw: String },
}

impl CancelOutcome {
    pub fn raw(&self) -> &str {
        match self {
            CancelOutcome::Cancelled { raw } | CancelOutcome::NotOpen { raw } => raw,
        }
    }
}

/// What an adapter measured of its own standing with the exchange in this process: the posture's
/// clock and rate-limit evidence (CONTRACT §13). Read after the run's calls, never sent anywhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// Exchange clock minus local clock, ms, from the last time sync; `None` when never measured.
    pub clock_offset_ms: Option<i64>,
    /// The `recvWindow` signed requests carry, ms (0: the port signs nothing).
    pub recv_window_ms: i64,
    /// Highest used share of a rate limit the exchange reported, percent.
    pub rate_limit_used_pct: u32,
}

/// The exchange port. `&self` everywhere so independent reads can run on scoped threads.
pub trait Exchange: Send + Sync {
    /// A short name for logs and reports ("binance", "paper").
    fn name(&self) -> &'static str;
    /// Whether independent calls are worth running concurrently: true for a network exchange
    /// (round trips overlap), false for an in-process one (a thread costs more than the call).
    fn concurrent_calls(&self) -> bool {
        true
    }
    /// Whether the implementation retries its own reads under the command's retry budget (the
    /// Binance adapter). When it does, callers in `exec` must not retry them again: retries
    /// nested over retries multiply (issue 12 §4).
    fn retries_reads(&self) -> bool {
        false
    }
    /// The exchange's clock, ms.
    fn server_time(&self) -> ExResult<i64>;
    fn filters(&self, symbol: &str) -> ExResult<SymbolFilters>;
    /// The most recent `limit` candles, oldest first. May include the still-open candle: the
    /// caller drops candles whose close time is not yet past.
    fn klines(&self, symbol: &str, interval: &str, limit: usize) -> ExResult<Vec<Candle>>;
    fn mark_info(&self, symbol: &str) -> ExResult<MarkInfo>;
    /// The position, or a flat one (qty 0).
    fn position(&self, symbol: &str) -> ExResult<ExPosition>;
    fn open_orders(&self, symbol: &str) -> ExResult<Vec<ExOrder>>;
    fn open_conditional_orders(&self, symbol: &str) -> ExResult<Vec<ExConditional>>;
    fn place_market(&self, req: &MarketOrderRequest) -> ExResult<ExOrder>;
    fn place_conditional(&self, req: &ConditionalOrderRequest) -> ExResult<ExConditional>;
    /// `Ok(None)` when the exchange says the order does not exist.
    fn query_order(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExOrder>>;
    fn query_conditional(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExConditional>>;
    /// `query_conditional` for an order placed at about `placed_ms` (the journal's intent time):
    /// an exchange whose history is read in time windows searches around that time and now
    /// instead of its whole history (the ambiguity look-up after a STOP write is on the naked
    /// window's path).
    fn query_conditional_placed(
        &self,
        symbol: &str,
        client_id: &str,
        placed_ms: i64,
    ) -> ExResult<Option<ExConditional>> {
        let _ = placed_ms;
        self.query_conditional(symbol, client_id)
    }
    fn cancel_order(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome>;
    fn cancel_conditional(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome>;
    fn account_settings(&self, symbol: &str) -> ExResult<AccountSettings>;
    /// Idempotent: "no need to change" is success.
    fn set_isolated_margin(&self, symbol: &str) -> ExResult<()>;
    fn set_leverage(&self, symbol: &str, leverage: u32) -> ExResult<()>;
    /// Wallet balance of `asset` (USDT) available for a new position.
    fn wallet_balance(&self, asset: &str) -> ExResult<Decimal>;
    /// Fills of one order (by exchange order id) placed at about `placed_ms` (the journal's intent
    /// time: its fills are at or after it). The exchange's trade history is read around that time,
    /// in full; an empty answer is only "no fills found", which for a filled order means its fees
    /// are unknown, never zero.
    fn order_fills(&self, symbol: &str, order_id: &str, placed_ms: i64) -> ExResult<Vec<Fill>>;
    /// Regular orders of the symbol created since `since_ms` (any status), oldest first: the
    /// history that proves which order built a position after the journal was lost (issue 10
    /// item 2). Exchanges that cannot answer say so; the caller treats that as no evidence.
    fn order_history(&self, symbol: &str, since_ms: i64) -> ExResult<Vec<ExOrder>> {
        let _ = since_ms;
        Err(not_answered(self.name(), "order_history", symbol))
    }
    /// Conditional (algo) orders of the symbol created since `since_ms`, any status: which STOP
    /// or TP of ours ended a position the journal lost (the cooldown it started, issue 10 item 3).
    fn conditional_history(&self, symbol: &str, since_ms: i64) -> ExResult<Vec<ExConditional>> {
        let _ = since_ms;
        Err(not_answered(self.name(), "conditional_history", symbol))
    }
    /// Funding settled on the symbol in `[start_ms, end_ms]` (both inclusive), oldest first: what
    /// a closed trade received or paid while open. An exchange that cannot answer (or not for the
    /// whole window) says so; the caller then journals the funding as unknown, never as 0.
    fn funding_history(&self, symbol: &str, start_ms: i64, end_ms: i64) -> ExResult<Vec<FundingPayment>> {
        let _ = (start_ms, end_ms);
        Err(not_answered(self.name(), "funding_history", symbol))
    }

    // Reads for `doctor` only. The defaults refuse (an exchange that cannot answer them says so;
    // nothing here ever reports success it did not read).

    /// The symbol's trading status and filters read fresh, with the rate limits.
    fn venue_info(&self, symbol: &str) -> ExResult<VenueInfo> {
        Err(not_answered(self.name(), "venue_info", symbol))
    }
    /// Multi-Assets margin mode (true rules out ISOLATED).
    fn multi_assets_margin(&self) -> ExResult<bool> {
        Err(not_answered(self.name(), "multi_assets_margin", ""))
    }
    /// The API key's permissions; `Ok(None)` when this setup cannot read them.
    fn key_permissions(&self) -> ExResult<Option<KeyPermissions>> {
        Err(not_answered(self.name(), "key_permissions", ""))
    }
    /// Usage the answers so far reported; None when nothing has answered (or no limits apply).
    fn rate_usage(&self) -> Option<RateUsage> {
        None
    }
    /// What this port measured of its clock offset and rate-limit use (posture evidence). The
    /// default measures nothing (test doubles); the Binance adapter reports its time sync and the
    /// usage headers, the paper exchange its own truth.
    fn standing(&self) -> Standing {
        Standing::default()
    }
    /// The exchange clock offset this port signs with and when it was measured, for the next
    /// process to start from (issue 16 item 6); `None` for a port that measures no clock.
    fn clock_sync(&self) -> Option<crate::clock::ClockSync> {
        None
    }
}

fn not_answered(exchange: &str, what: &str, id: &str) -> ExchangeError {
    ExchangeError::new(
        ExchangeErrorKind::Local,
        ErrorClass::Fatal,
        format!("the {exchange} exchange does not answer {what}({id})"),
    )
}

/// The Binance USDⓈ-M adapter.
pub mod binance;
/// The in-process paper exchange.
pub mod paper;
/// A decorator timing each call (doctor --round-trip).
pub(crate) mod timed;
