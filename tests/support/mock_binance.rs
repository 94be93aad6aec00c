//! A stateful local stand-in for Binance USDⓈ-M futures over real HTTP/1.1, for black-box tests
//! of the `mcbot` binary and the latency bench.
//!
//! * Wire format: every endpoint the adapter uses (`src/exchange/binance/endpoints.rs`), with the
//!   field names and JSON types of the real answers (`tests/fixtures/binance/`, BINANCE.md §4).
//! * Binance-like rules: MARKET fills at the mark; `reduceOnly` caps at the position and is refused
//!   with -2022 when flat (or on the wrong side); a STOP/TP that would trigger at once is -2021;
//!   a client id already open is -4116; unknown orders are -2013 (look-up) / -2011 (cancel);
//!   conditional types on `/fapi/v1/order` are -4120. Signed requests are checked like Binance
//!   does: `X-MBX-APIKEY` (-2015), the HMAC over the exact query (-1022), timestamp vs
//!   recvWindow (-1021).
//! * A fault script per endpoint and order role (parsed from the client id
//!   `<bot>_<plan>_<ROLE>_<n>`): answer an error without executing, execute and then drop the
//!   connection or answer an "unknown outcome" error, delay the answer, fill partially, move the
//!   mark; plus a global round-trip delay for latency measurement.
//! * A log of every request (method, path, params without the signature, arrival and answer time),
//!   so tests assert which orders were sent, in what order, with which client ids.
//!
//! std only: a `TcpListener` and a thread per connection (keep-alive, as reqwest pools them).
#![allow(dead_code, clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use mcbot::exchange::binance::sign::Signer;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The API key the mock accepts (tests hand it to mcbot as `MCBOT_API_KEY`).
pub const API_KEY: &str = "mockKey0b7e2c1f9a4d6e8b3c5a7f9e1d2c4b6a8f0e2d4c6b8a0f1e3d5c7b9a";
/// The API secret: it must never appear in mcbot's output, logs or DB.
pub const API_SECRET: &str = "mockSecret5e9d1c3b7a2f4e6d8c0b9a1f3e5d7c9b2a4f6e8d0c1b3a5f7e9d2c";
/// The one symbol the mock lists as tradable (plus a decoy it never trades).
pub const SYMBOL: &str = "BTCUSDT";

/// Wall-clock milliseconds (the server's time).
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Faults

/// What to do to a matching request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer `status` + `body` without executing (a definite rejection or failure).
    Reject { status: u16, body: String },
    /// Close the connection without executing or answering (lost on the way in: the caller cannot
    /// tell this from `ExecuteThenDrop`).
    Drop,
    /// Execute, then close the connection without answering (lost acknowledgement).
    ExecuteThenDrop,
    /// Execute, then answer `status` + `body` instead of the result (503 "Unknown error", -1007).
    ExecuteThen { status: u16, body: String },
    /// Execute at arrival, answer after `ms` (a slow acknowledgement).
    Delay(u64),
    /// A MARKET order fills only `qty` and stays PARTIALLY_FILLED; the rest fills
    /// `complete_after_ms` later (never, when `None`), at `rest_price` (the mark, when `None`).
    PartialFill { qty: Decimal, complete_after_ms: Option<u64>, rest_price: Option<Decimal> },
    /// Execute normally, then move the mark (a fast market between two requests).
    MoveMarkAfter(Decimal),
    /// Execute normally, then run the hook before answering (e.g. fill the caller's disk).
    Hook(Hook),
    /// Execute normally, then answer in the shape of Binance's official `NewOrderResponse`
    /// model (binance-sdk `derivatives_trading_usds_futures`), which has neither `avgPrice` nor
    /// `cumQuote`: a fill of unknown price (issue 12 §1).
    WithoutPrice,
}

/// Something a test does to the world at the moment a request is executed.
#[derive(Clone)]
pub struct Hook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl Action {
    /// A Binance error body `{"code":…,"msg":…}` with HTTP `status`, not executed.
    pub fn api_error(status: u16, code: i64, msg: &str) -> Action {
        Action::Reject { status, body: json!({"code": code, "msg": msg}).to_string() }
    }
    /// 503 variant B: "Service Unavailable." — a definite failure, nothing executed.
    pub fn service_unavailable() -> Action {
        Action::Reject { status: 503, body: r#"{"msg":"Service Unavailable."}"#.into() }
    }
    /// A 200 whose body is `body` (an unreadable read: empty, truncated, a missing field, a null).
    pub fn ok_body(body: &str) -> Action {
        Action::Reject { status: 200, body: body.into() }
    }
    /// 503 variant A after executing: "Unknown error…" — the outcome is unknown to the caller.
    pub fn executed_then_unknown_error() -> Action {
        Action::ExecuteThen {
            status: 503,
            body: r#"{"msg":"Unknown error, please check your request or try again later."}"#.into(),
        }
    }
    /// -1007 after executing: "Timeout waiting for response from backend server."
    pub fn executed_then_1007() -> Action {
        Action::ExecuteThen {
            status: 408,
            body: r#"{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}"#.into(),
        }
    }
}

/// The reads a command makes before it may act, by path (issue 11 item 3).
pub const READS: [&str; 5] = [
    "/fapi/v1/time",
    "/fapi/v3/positionRisk",
    "/fapi/v1/openOrders",
    "/fapi/v1/openAlgoOrders",
    "/fapi/v1/exchangeInfo",
];

/// The ways a 200 answer to the read at `path` can be unreadable: an empty body, truncated JSON,
/// a missing field, a null (in that order).
pub fn unreadable_bodies(path: &str) -> [&'static str; 4] {
    match path {
        "/fapi/v1/time" => ["", r#"{"serverTime":17"#, r#"{}"#, r#"{"serverTime":null}"#],
        "/fapi/v3/positionRisk" => {
            ["", r#"[{"symbol":"BTCUSDT","positionAmt":"0.0"#, r#"[{"symbol":"BTCUSDT"}]"#, "null"]
        }
        "/fapi/v1/openOrders" => {
            ["", r#"[{"symbol":"BTCUSDT","orderId":1"#, r#"[{"symbol":"BTCUSDT","status":"NEW"}]"#, "null"]
        }
        "/fapi/v1/openAlgoOrders" => [
            "",
            r#"[{"symbol":"BTCUSDT","algoId":1"#,
            r#"[{"symbol":"BTCUSDT","orderType":"STOP_MARKET","algoStatus":"NEW"}]"#,
            "null",
        ],
        "/fapi/v1/exchangeInfo" => [
            "",
            r#"{"rateLimits":[],"symbols":[{"symbol":"BTC"#,
            r#"{"rateLimits":[],"symbols":[{"symbol":"BTCUSDT"}]}"#,
            "null",
        ],
        _ => ["", "{", "{}", "null"],
    }
}

#[derive(Debug, Clone)]
struct FaultRule {
    method: String,
    path: String,
    role: Option<String>,
    action: Action,
    remaining: usize,
}

// ---------------------------------------------------------------------------------------------
// The request log

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub seq: usize,
    pub method: String,
    pub path: String,
    /// Query and body parameters in the order sent, URL-decoded, without `signature`.
    pub params: Vec<(String, String)>,
    /// `signature` was present (and last).
    pub signed: bool,
    /// The `X-MBX-APIKEY` header, if any.
    pub api_key: Option<String>,
    /// Since the mock started.
    pub arrived: Duration,
    /// When the answer was written (None: the connection was dropped).
    pub answered: Option<Duration>,
    /// HTTP status answered (0: dropped).
    pub status: u16,
    /// The answer body.
    pub body: String,
    /// The fault applied, if any.
    pub fault: Option<String>,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The client id this request is about (new or looked-up, regular or algo).
    pub fn client_id(&self) -> Option<&str> {
        ["newClientOrderId", "origClientOrderId", "clientAlgoId"].iter().find_map(|k| self.param(k))
    }
    /// ENTRY / STOP / TP / CLOSE, from the client id.
    pub fn role(&self) -> Option<&str> {
        self.client_id().and_then(role_of)
    }
    /// Sends or cancels something (everything but GET).
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
    /// `POST /fapi/v1/order mc_x_ENTRY_1`: the short form tests compare.
    pub fn line(&self) -> String {
        match self.client_id() {
            Some(c) => format!("{} {} {c}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// The ROLE of `<bot>_<plan>_<ROLE>_<n>`.
pub fn role_of(client_id: &str) -> Option<&str> {
    client_id.split('_').nth(2)
}

// ---------------------------------------------------------------------------------------------
// Exchange state

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Buy,
    Sell,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
    fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

/// A regular order.
#[derive(Debug, Clone)]
pub struct Order {
    pub order_id: u64,
    pub client_id: String,
    side: Side,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    pub cum_quote: Decimal,
    pub status: &'static str,
    pub reduce_only: bool,
    pub update_time: i64,
    complete_at: Option<Instant>,
    rest_price: Option<Decimal>,
}

impl Order {
    fn is_open(&self) -> bool {
        matches!(self.status, "NEW" | "PARTIALLY_FILLED")
    }
    fn avg_price(&self) -> Decimal {
        if self.executed_qty.is_zero() {
            Decimal::ZERO
        } else {
            self.cum_quote / self.executed_qty
        }
    }
}

/// A conditional (algo) order.
#[derive(Debug, Clone)]
pub struct Algo {
    pub algo_id: u64,
    pub client_id: String,
    pub order_type: String,
    side: Side,
    pub qty: Decimal,
    pub trigger_price: Decimal,
    pub working_type: String,
    pub status: &'static str,
    pub reduce_only: bool,
    pub create_time: i64,
    pub update_time: i64,
    pub actual_order_id: String,
    pub actual_price: Decimal,
    pub actual_qty: Decimal,
}

impl Algo {
    pub fn is_open(&self) -> bool {
        matches!(self.status, "NEW" | "TRIGGERING" | "TRIGGERED")
    }
    /// Would this order trigger at `mark` (BINANCE.md §4.5 trigger rules)?
    fn triggers_at(&self, mark: Decimal) -> bool {
        match (self.order_type.as_str(), self.side) {
            ("STOP_MARKET", Side::Sell) | ("TAKE_PROFIT_MARKET", Side::Buy) => mark <= self.trigger_price,
            _ => mark >= self.trigger_price,
        }
    }
}

#[derive(Debug, Clone)]
struct Trade {
    id: u64,
    order_id: u64,
    side: Side,
    price: Decimal,
    qty: Decimal,
    realized_pnl: Decimal,
    commission: Decimal,
    time: i64,
}

/// A scripted partial fill: (filled now, rest after ms, rest's price).
type Partial = (Decimal, Option<u64>, Option<Decimal>);

/// Everything the mock exchange holds.
#[derive(Debug)]
pub struct State {
    pub mark: Decimal,
    pub funding_rate: Decimal,
    /// Signed: positive long, negative short.
    pub position_qty: Decimal,
    pub entry_price: Decimal,
    pub orders: Vec<Order>,
    pub algos: Vec<Algo>,
    trades: Vec<Trade>,
    pub isolated: bool,
    pub leverage: u32,
    pub dual_side: bool,
    pub balance: Decimal,
    /// `GET /fapi/v1/multiAssetsMargin` (doctor).
    pub multi_assets: bool,
    /// BTCUSDT's `status` in exchangeInfo (doctor).
    pub symbol_status: &'static str,
    /// `enableWithdrawals` of the key in `/sapi/v1/account/apiRestrictions` (doctor).
    pub withdrawals_enabled: bool,
    /// The mock's clock minus the real one, ms: `/fapi/v1/time` and the recvWindow check use it.
    pub server_offset_ms: i64,
    /// The asset `userTrades` rows name as `commissionAsset` (BNB: the fee discount is on).
    pub commission_asset: &'static str,
    /// `userTrades` answers no rows (a fill whose trades the exchange does not return).
    pub hide_trades: bool,
    /// `GET /fapi/v1/income?incomeType=FUNDING_FEE`: the settlements a test sets, (time, income).
    pub funding: Vec<(i64, Decimal)>,
    next_order_id: u64,
    next_algo_id: u64,
    next_trade_id: u64,
}

const FEE_RATE: Decimal = dec!(0.0004);

impl State {
    fn new(mark: Decimal) -> State {
        State {
            mark,
            funding_rate: dec!(0.0001),
            position_qty: Decimal::ZERO,
            entry_price: Decimal::ZERO,
            orders: vec![],
            algos: vec![],
            trades: vec![],
            isolated: true,
            leverage: 1,
            dual_side: false,
            balance: dec!(10000),
            multi_assets: false,
            symbol_status: "TRADING",
            withdrawals_enabled: false,
            server_offset_ms: 0,
            commission_asset: "USDT",
            hide_trades: false,
            funding: vec![],
            next_order_id: 8_389_765_000,
            next_algo_id: 1_000_000_000,
            next_trade_id: 600_000,
        }
    }

    /// Fills `qty` of order `idx` at the mark and moves the position.
    fn fill(&mut self, idx: usize, qty: Decimal) {
        let price = self.mark;
        let (side, order_id) = (self.orders[idx].side, self.orders[idx].order_id);
        let signed = side.sign() * qty;
        let old = self.position_qty;
        let mut realized = Decimal::ZERO;
        if old.is_zero() || (old > Decimal::ZERO) == (signed > Decimal::ZERO) {
            let total = old.abs() + qty;
            self.entry_price = (self.entry_price * old.abs() + price * qty) / total;
        } else {
            let closing = qty.min(old.abs());
            let dir = if old > Decimal::ZERO { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
            realized = (price - self.entry_price) * closing * dir;
            if qty > old.abs() {
                self.entry_price = price; // flipped: the rest opens at the mark
            }
        }
        self.position_qty = old + signed;
        if self.position_qty.is_zero() {
            self.entry_price = Decimal::ZERO;
        }
        let commission = (qty * price * FEE_RATE).round_dp(8);
        self.balance += realized - commission;
        let o = &mut self.orders[idx];
        o.executed_qty += qty;
        o.cum_quote += qty * price;
        o.update_time = now_ms();
        o.status = if o.executed_qty >= o.orig_qty { "FILLED" } else { "PARTIALLY_FILLED" };
        self.next_trade_id += 1;
        self.trades.push(Trade {
            id: self.next_trade_id,
            order_id,
            side,
            price,
            qty,
            realized_pnl: realized,
            commission,
            time: now_ms(),
        });
    }

    /// Applies what happened since the last request: partial fills whose rest is due.
    fn advance(&mut self, now: Instant) {
        let due: Vec<usize> = (0..self.orders.len())
            .filter(|i| self.orders[*i].is_open() && self.orders[*i].complete_at.is_some_and(|t| t <= now))
            .collect();
        for i in due {
            self.orders[i].complete_at = None;
            let rest = self.orders[i].orig_qty - self.orders[i].executed_qty;
            if rest > Decimal::ZERO {
                let mark = self.mark;
                self.mark = self.orders[i].rest_price.unwrap_or(mark);
                self.fill(i, rest);
                self.mark = mark;
            }
        }
    }

    /// Applies whatever became due by now (tests that inspect state between requests).
    pub fn advance_now(&mut self) {
        self.advance(Instant::now());
    }

    /// Moves the mark and fires the conditional orders it crosses (their child MARKET order fills
    /// at the trigger, capped at the position: reduce-only).
    pub fn move_mark(&mut self, mark: Decimal) {
        self.mark = mark;
        for i in 0..self.algos.len() {
            let a = &self.algos[i];
            if a.status != "NEW" || !a.triggers_at(mark) {
                continue;
            }
            let reducing = !self.position_qty.is_zero() && (self.position_qty > Decimal::ZERO) != (a.side == Side::Buy);
            let qty = if reducing { a.qty.min(self.position_qty.abs()) } else { Decimal::ZERO };
            let (side, trigger, cid) = (a.side, a.trigger_price, a.client_id.clone());
            if qty.is_zero() {
                let a = &mut self.algos[i];
                a.status = "EXPIRED";
                a.update_time = now_ms();
                continue;
            }
            self.next_order_id += 1;
            let id = self.next_order_id;
            self.orders.push(Order {
                order_id: id,
                client_id: cid,
                side,
                orig_qty: qty,
                executed_qty: Decimal::ZERO,
                cum_quote: Decimal::ZERO,
                status: "NEW",
                reduce_only: true,
                update_time: now_ms(),
                complete_at: None,
                rest_price: None,
            });
            let at = self.mark;
            self.mark = trigger;
            let idx = self.orders.len() - 1;
            self.fill(idx, qty);
            self.mark = at;
            let a = &mut self.algos[i];
            a.status = "FINISHED";
            a.actual_order_id = id.to_string();
            a.actual_price = trigger;
            a.actual_qty = qty;
            a.update_time = now_ms();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wire format

fn dec_str(d: Decimal, dp: u32) -> String {
    format!("{:.*}", dp as usize, d.round_dp(dp))
}

fn order_json(o: &Order, result: bool) -> Value {
    // With newOrderRespType=ACK a MARKET order answers NEW / 0 (BINANCE.md §4.4).
    let (status, executed, cum_quote, avg) = if result {
        (o.status, o.executed_qty, o.cum_quote, o.avg_price())
    } else {
        ("NEW", Decimal::ZERO, Decimal::ZERO, Decimal::ZERO)
    };
    json!({
        "orderId": o.order_id, "symbol": SYMBOL, "status": status, "clientOrderId": o.client_id,
        "price": "0.00", "avgPrice": dec_str(avg, 5), "origQty": dec_str(o.orig_qty, 3),
        "executedQty": dec_str(executed, 3), "cumQty": dec_str(executed, 3),
        "cumQuote": dec_str(cum_quote, 5), "timeInForce": "GTC", "type": "MARKET",
        "reduceOnly": o.reduce_only, "closePosition": false, "side": o.side.as_str(),
        "positionSide": "BOTH", "stopPrice": "0.00", "workingType": "CONTRACT_PRICE",
        "priceProtect": false, "origType": "MARKET", "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "updateTime": o.update_time,
    })
}

/// An order answer without the two fields the official `NewOrderResponse` model lacks.
fn without_price(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut m)) => {
            m.remove("avgPrice");
            m.remove("cumQuote");
            Value::Object(m).to_string()
        }
        _ => body.to_string(),
    }
}

fn algo_json(a: &Algo) -> Value {
    json!({
        "algoId": a.algo_id, "clientAlgoId": a.client_id, "algoType": "CONDITIONAL",
        "orderType": a.order_type, "symbol": SYMBOL, "side": a.side.as_str(), "positionSide": "BOTH",
        "timeInForce": "GTC", "quantity": dec_str(a.qty, 3), "algoStatus": a.status,
        "actualOrderId": a.actual_order_id, "actualType": if a.actual_order_id.is_empty() { "" } else { "MARKET" },
        "triggerPrice": dec_str(a.trigger_price, 2), "price": "0.00",
        "actualPrice": dec_str(a.actual_price, 5), "actualQty": dec_str(a.actual_qty, 3),
        "icebergQuantity": null, "tpTriggerPrice": "0.000", "tpPrice": "0.000", "slTriggerPrice": "0.000",
        "slPrice": "0.000", "tpOrderType": "", "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": a.working_type, "priceMatch": "NONE", "closePosition": false, "priceProtect": false,
        "reduceOnly": a.reduce_only, "createTime": a.create_time, "updateTime": a.update_time,
        "triggerTime": if a.actual_order_id.is_empty() { 0 } else { a.update_time }, "goodTillDate": 0,
    })
}

fn err(status: u16, code: i64, msg: &str) -> (u16, String) {
    (status, json!({"code": code, "msg": msg}).to_string())
}

fn ok(v: &Value) -> (u16, String) {
    (200, v.to_string())
}

fn mandatory(name: &str) -> (u16, String) {
    err(400, -1102, &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."))
}

/// `^[\.A-Z\:/a-z0-9_-]{1,36}$`
fn valid_client_id(s: &str) -> bool {
    (1..=36).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'))
}

fn interval_ms(i: &str) -> Option<i64> {
    let (n, unit) = i.split_at(i.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    Some(n * unit_ms)
}

struct Params<'a>(&'a [(String, String)]);

impl Params<'_> {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }
    fn dec(&self, k: &str) -> Result<Decimal, (u16, String)> {
        let v = self.get(k).ok_or_else(|| mandatory(k))?;
        Decimal::from_str(v).map_err(|_| err(400, -1102, &format!("Parameter '{k}' was malformed.")))
    }
    fn symbol(&self) -> Result<(), (u16, String)> {
        match self.get("symbol") {
            Some(SYMBOL) => Ok(()),
            Some(_) => Err(err(400, -1121, "Invalid symbol.")),
            None => Err(mandatory("symbol")),
        }
    }
    fn side(&self) -> Result<Side, (u16, String)> {
        match self.get("side") {
            Some("BUY") => Ok(Side::Buy),
            Some("SELL") => Ok(Side::Sell),
            _ => Err(mandatory("side")),
        }
    }
    fn flag(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// BTCUSDT's trading rules, shaped like `exchangeInfo` (2026 values: tick 0.10, step 0.001,
/// min notional 100).
fn exchange_info() -> Value {
    let btc = json!({
        "symbol": SYMBOL, "pair": SYMBOL, "contractType": "PERPETUAL", "deliveryDate": 4_133_404_800_000_i64,
        "onboardDate": 1_569_398_400_000_i64, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT",
        "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": ["PoW"], "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764", "tickSize": "0.10"},
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"}
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"]
    });
    let mut decoy = btc.clone();
    decoy["symbol"] = json!("ETHUSDT");
    decoy["pair"] = json!("ETHUSDT");
    decoy["filters"][0]["tickSize"] = json!("0.01");
    json!({
        "timezone": "UTC", "serverTime": now_ms(), "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": true, "autoAssetExchange": "-10000"}],
        "symbols": [decoy, btc]
    })
}

/// A small deterministic series around the mark: closed candles, then the open one.
fn klines(mark: Decimal, interval: i64, limit: usize) -> Value {
    let now = now_ms();
    let open_now = now - now.rem_euclid(interval);
    let rows: Vec<Value> = (0..limit)
        .map(|k| {
            let i = i64::try_from(limit - 1 - k).unwrap_or(0);
            let open_time = open_now - i * interval;
            let wiggle = Decimal::from((i * 37) % 11 - 5) * dec!(10);
            let open = mark + wiggle;
            let close = mark + wiggle + dec!(5);
            json!([
                open_time,
                dec_str(open, 2),
                dec_str(close + dec!(20), 2),
                dec_str(open - dec!(20), 2),
                dec_str(close, 2),
                "123.456",
                open_time + interval - 1,
                "4938271.23",
                1234,
                "61.728",
                "2469135.61",
                "0"
            ])
        })
        .collect();
    Value::Array(rows)
}

impl State {
    /// Executes one request; `partial` comes from the fault script.
    fn execute(&mut self, method: &str, path: &str, p: &Params<'_>, partial: Option<Partial>) -> (u16, String) {
        match (method, path) {
            ("GET", "/fapi/v1/time") => ok(&json!({"serverTime": now_ms() + self.server_offset_ms})),
            ("GET", "/fapi/v1/exchangeInfo") => {
                let mut info = exchange_info();
                info["symbols"][1]["status"] = json!(self.symbol_status);
                ok(&info)
            }
            ("GET", "/fapi/v1/multiAssetsMargin") => ok(&json!({"multiAssetsMargin": self.multi_assets})),
            // The spot host's key-permission read; this mock stands in for both hosts. Shape:
            // the official AccountApiRestrictionsResponse (binance-sdk wallet), all fields.
            ("GET", "/sapi/v1/account/apiRestrictions") => ok(&json!({
                "ipRestrict": true, "createTime": 1_698_645_219_000_i64, "enableReading": true,
                "enableWithdrawals": self.withdrawals_enabled, "enableInternalTransfer": false,
                "enableMargin": false, "enableFutures": true, "permitsUniversalTransfer": false,
                "enableVanillaOptions": false, "enableFixApiTrade": false, "enableFixReadOnly": false,
                "enableSpotAndMarginTrading": false, "enablePortfolioMarginTrading": false,
                "tradingAuthorityExpirationTime": 1_730_332_800_000_i64,
            })),
            ("GET", "/fapi/v1/premiumIndex") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let now = now_ms();
                ok(&json!({
                    "symbol": SYMBOL, "markPrice": dec_str(self.mark, 8), "indexPrice": dec_str(self.mark, 8),
                    "estimatedSettlePrice": dec_str(self.mark, 8), "lastFundingRate": dec_str(self.funding_rate, 8),
                    "interestRate": "0.00010000", "nextFundingTime": now - now.rem_euclid(28_800_000) + 28_800_000,
                    "time": now,
                }))
            }
            ("GET", "/fapi/v1/klines") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let Some(iv) = p.get("interval").and_then(interval_ms) else {
                    return err(400, -1120, "Invalid interval.");
                };
                let limit = p.get("limit").and_then(|l| l.parse().ok()).unwrap_or(500usize).clamp(1, 1500);
                ok(&klines(self.mark, iv, limit))
            }
            ("GET", "/fapi/v3/positionRisk") => {
                if p.get("symbol").is_some() {
                    if let Err(e) = p.symbol() {
                        return e;
                    }
                }
                let open_orders = self.orders.iter().any(Order::is_open);
                if self.position_qty.is_zero() && !open_orders {
                    return ok(&json!([]));
                }
                let notional = self.position_qty * self.mark;
                let upnl = (self.mark - self.entry_price) * self.position_qty;
                let margin = notional.abs();
                ok(&json!([{
                    "symbol": SYMBOL, "positionSide": "BOTH", "positionAmt": dec_str(self.position_qty, 3),
                    "entryPrice": dec_str(self.entry_price, 7), "breakEvenPrice": dec_str(self.entry_price, 7),
                    "markPrice": dec_str(self.mark, 8), "unRealizedProfit": dec_str(upnl, 8),
                    "liquidationPrice": "0", "isolatedMargin": dec_str(margin + upnl, 8), "notional": dec_str(notional, 8),
                    "marginAsset": "USDT", "isolatedWallet": dec_str(margin, 8), "initialMargin": dec_str(margin, 8),
                    "maintMargin": dec_str(margin * dec!(0.004), 8), "positionInitialMargin": dec_str(margin, 8),
                    "openOrderInitialMargin": "0", "adl": 1, "bidNotional": "0", "askNotional": "0", "updateTime": now_ms(),
                }]))
            }
            ("GET", "/fapi/v1/openOrders") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                ok(&Value::Array(self.orders.iter().filter(|o| o.is_open()).map(|o| order_json(o, true)).collect()))
            }
            ("GET", "/fapi/v1/openAlgoOrders") => {
                ok(&Value::Array(self.algos.iter().filter(|a| a.is_open()).map(algo_json).collect()))
            }
            ("GET", "/fapi/v1/allAlgoOrders") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let since = p.get("startTime").and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
                ok(&Value::Array(self.algos.iter().filter(|a| a.create_time >= since).map(algo_json).collect()))
            }
            ("GET", "/fapi/v1/allOrders") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                // Binance filters by order time; this mock keeps the last update's time.
                let since = p.get("startTime").and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
                let rows = self.orders.iter().filter(|o| o.update_time >= since).map(|o| order_json(o, true));
                ok(&Value::Array(rows.collect()))
            }
            ("POST", "/fapi/v1/order") => self.new_order(p, partial),
            ("GET", "/fapi/v1/order") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let Some(cid) = p.get("origClientOrderId") else { return mandatory("origClientOrderId") };
                match self.orders.iter().rev().find(|o| o.client_id == cid) {
                    Some(o) => ok(&order_json(o, true)),
                    None => err(400, -2013, "Order does not exist."),
                }
            }
            ("DELETE", "/fapi/v1/order") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let Some(cid) = p.get("origClientOrderId") else { return mandatory("origClientOrderId") };
                match self.orders.iter_mut().rev().find(|o| o.client_id == cid && o.is_open()) {
                    Some(o) => {
                        o.status = "CANCELED";
                        o.complete_at = None;
                        o.update_time = now_ms();
                        ok(&order_json(o, true))
                    }
                    None => err(400, -2011, "Unknown order sent."),
                }
            }
            ("POST", "/fapi/v1/algoOrder") => self.new_algo_order(p),
            ("GET", "/fapi/v1/algoOrder") => {
                let Some(cid) = p.get("clientAlgoId") else { return mandatory("clientAlgoId") };
                match self.algos.iter().rev().find(|a| a.client_id == cid) {
                    Some(a) => ok(&algo_json(a)),
                    None => err(400, -2013, "Order does not exist."),
                }
            }
            ("DELETE", "/fapi/v1/algoOrder") => {
                let Some(cid) = p.get("clientAlgoId") else { return mandatory("clientAlgoId") };
                match self.algos.iter_mut().rev().find(|a| a.client_id == cid && a.status == "NEW") {
                    Some(a) => {
                        a.status = "CANCELED";
                        a.update_time = now_ms();
                        // The documented shape: `code` is a string here (BINANCE.md §0.7).
                        ok(&json!({"algoId": a.algo_id, "clientAlgoId": a.client_id, "code": "200", "msg": "success"}))
                    }
                    None => err(400, -2011, "Unknown order sent."),
                }
            }
            ("GET", "/fapi/v1/symbolConfig") => ok(&json!([{
                "symbol": SYMBOL, "marginType": if self.isolated { "ISOLATED" } else { "CROSSED" },
                "isAutoAddMargin": false, "leverage": self.leverage, "maxNotionalValue": "1000000000",
            }])),
            ("GET", "/fapi/v1/positionSide/dual") => ok(&json!({"dualSidePosition": self.dual_side})),
            ("POST", "/fapi/v1/marginType") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                match p.get("marginType") {
                    Some("ISOLATED") if self.isolated => err(400, -4046, "No need to change margin type."),
                    Some("CROSSED") if !self.isolated => err(400, -4046, "No need to change margin type."),
                    Some(_) if !self.position_qty.is_zero() => {
                        err(400, -4048, "Margin type cannot be changed if there exists position.")
                    }
                    Some(t @ ("ISOLATED" | "CROSSED")) => {
                        self.isolated = t == "ISOLATED";
                        ok(&json!({"code": 200, "msg": "success"}))
                    }
                    _ => mandatory("marginType"),
                }
            }
            ("POST", "/fapi/v1/leverage") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let Some(l) = p.get("leverage").and_then(|l| l.parse::<u32>().ok()).filter(|l| (1..=125).contains(l))
                else {
                    return err(400, -4028, "Leverage is not valid");
                };
                if l < self.leverage && self.isolated && !self.position_qty.is_zero() {
                    return err(
                        400,
                        -4161,
                        "Leverage reduction is not supported in Isolated Margin Mode with open positions",
                    );
                }
                self.leverage = l;
                ok(&json!({"leverage": l, "maxNotionalValue": "1000000000", "symbol": SYMBOL}))
            }
            ("GET", "/fapi/v3/balance") => ok(&json!([{
                "accountAlias": "SgsRmYFzAuXqFzTi", "asset": "USDT", "balance": dec_str(self.balance, 8),
                "crossWalletBalance": dec_str(self.balance, 8), "crossUnPnl": "0.00000000",
                "availableBalance": dec_str(self.balance, 8), "maxWithdrawAmount": dec_str(self.balance, 8),
                "marginAvailable": true, "updateTime": now_ms(),
            }])),
            ("GET", "/fapi/v1/userTrades") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let id = p.get("orderId").and_then(|i| i.parse::<u64>().ok());
                let num = |k: &str| p.get(k).and_then(|v| v.parse::<i64>().ok());
                let (start, end, from) = (num("startTime"), num("endTime"), num("fromId"));
                if from.is_some() && (start.is_some() || end.is_some()) {
                    return err(400, -1128, "Combination of optional parameters invalid.");
                }
                // Binance: no range is the last 7 days; a range is at most 7 days.
                const WEEK: i64 = 7 * 86_400_000;
                let now = now_ms() + self.server_offset_ms;
                let (start, end) = match (start, end) {
                    (None, None) => (now - WEEK, now),
                    (Some(a), None) => (a, a + WEEK),
                    (None, Some(b)) => (b - WEEK, b),
                    (Some(a), Some(b)) => (a, b),
                };
                if end - start > WEEK {
                    return err(400, -1127, "More than 7 days between startTime and endTime.");
                }
                let limit = p.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(500).min(1000);
                let asset = self.commission_asset;
                let rows: Vec<Value> = self
                    .trades
                    .iter()
                    .filter(|_| !self.hide_trades)
                    .filter(|t| id.is_none_or(|id| t.order_id == id))
                    .filter(|t| from.map_or((start..=end).contains(&t.time), |f| t.id >= f as u64))
                    .take(limit)
                    .map(|t| {
                        json!({
                            "buyer": t.side == Side::Buy, "commission": dec_str(t.commission, 8), "commissionAsset": asset,
                            "id": t.id, "maker": false, "orderId": t.order_id, "price": dec_str(t.price, 2),
                            "qty": dec_str(t.qty, 3), "quoteQty": dec_str(t.qty * t.price, 5),
                            "realizedPnl": dec_str(t.realized_pnl, 8), "side": t.side.as_str(), "positionSide": "BOTH",
                            "symbol": SYMBOL, "time": t.time,
                        })
                    })
                    .collect();
                ok(&Value::Array(rows))
            }
            ("GET", "/fapi/v1/income") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                if p.get("incomeType") != Some("FUNDING_FEE") {
                    return err(400, -1130, "the mock serves incomeType=FUNDING_FEE only");
                }
                let num = |k: &str| p.get(k).and_then(|v| v.parse::<i64>().ok());
                let (from, to) = (num("startTime").unwrap_or(i64::MIN), num("endTime").unwrap_or(i64::MAX));
                let limit = usize::try_from(num("limit").unwrap_or(100).clamp(1, 1000)).unwrap_or(100);
                let mut rows: Vec<(i64, Decimal)> =
                    self.funding.iter().copied().filter(|(t, _)| (from..=to).contains(t)).collect();
                rows.sort_by_key(|r| r.0);
                let rows: Vec<Value> = rows
                    .into_iter()
                    .take(limit)
                    .map(|(t, income)| {
                        json!({"symbol": SYMBOL, "incomeType": "FUNDING_FEE", "income": dec_str(income, 8),
                               "asset": "USDT", "info": "FUNDING_FEE", "time": t, "tranId": t, "tradeId": ""})
                    })
                    .collect();
                ok(&Value::Array(rows))
            }
            _ => err(404, -5000, &format!("Path {method} {path} is not served by the mock")),
        }
    }

    fn new_order(&mut self, p: &Params<'_>, partial: Option<Partial>) -> (u16, String) {
        if let Err(e) = p.symbol() {
            return e;
        }
        let side = match p.side() {
            Ok(s) => s,
            Err(e) => return e,
        };
        match p.get("type") {
            Some("MARKET") => {}
            Some("STOP_MARKET" | "TAKE_PROFIT_MARKET" | "STOP" | "TAKE_PROFIT" | "TRAILING_STOP_MARKET") => {
                return err(
                    400,
                    -4120,
                    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
                )
            }
            Some(_) => return err(400, -1116, "Invalid orderType."),
            None => return mandatory("type"),
        }
        let qty = match p.dec("quantity") {
            Ok(q) if q > Decimal::ZERO => q,
            Ok(_) => return err(400, -4003, "Quantity less than or equal to zero."),
            Err(e) => return e,
        };
        if qty.scale() > 3 && qty.normalize().scale() > 3 {
            return err(400, -1111, "Precision is over the maximum defined for this asset.");
        }
        if qty > dec!(120) {
            return err(400, -4005, "Quantity greater than max quantity.");
        }
        let Some(cid) = p.get("newClientOrderId").map(str::to_string) else {
            return err(400, -1102, "this mock wants every order to carry newClientOrderId");
        };
        if !valid_client_id(&cid) {
            return err(400, -4015, "Client order id is not valid.");
        }
        if self.orders.iter().any(|o| o.client_id == cid && o.is_open()) {
            return err(400, -4116, "ClientOrderId is duplicated.");
        }
        let reduce_only = p.flag("reduceOnly");
        let mut exec = qty;
        if reduce_only {
            let reduces = !self.position_qty.is_zero() && (self.position_qty > Decimal::ZERO) != (side == Side::Buy);
            if !reduces {
                return err(400, -2022, "ReduceOnly Order is rejected.");
            }
            exec = qty.min(self.position_qty.abs());
        } else if qty * self.mark < dec!(100) {
            return err(400, -4164, "Order's notional must be no smaller than 100 (unless you choose reduce only).");
        }
        self.next_order_id += 1;
        self.orders.push(Order {
            order_id: self.next_order_id,
            client_id: cid,
            side,
            orig_qty: exec,
            executed_qty: Decimal::ZERO,
            cum_quote: Decimal::ZERO,
            status: "NEW",
            reduce_only,
            update_time: now_ms(),
            complete_at: None,
            rest_price: None,
        });
        let idx = self.orders.len() - 1;
        match partial {
            Some((part, complete_after, rest_price)) => {
                // Zero now: the order rests (NEW), acknowledged with nothing filled.
                if !part.is_zero() {
                    self.fill(idx, part.min(exec));
                }
                self.orders[idx].complete_at = complete_after.map(|ms| Instant::now() + Duration::from_millis(ms));
                self.orders[idx].rest_price = rest_price;
            }
            None => self.fill(idx, exec),
        }
        let result = p.get("newOrderRespType") == Some("RESULT");
        ok(&order_json(&self.orders[idx], result))
    }

    fn new_algo_order(&mut self, p: &Params<'_>) -> (u16, String) {
        if p.get("algoType") != Some("CONDITIONAL") {
            return mandatory("algoType");
        }
        if let Err(e) = p.symbol() {
            return e;
        }
        let side = match p.side() {
            Ok(s) => s,
            Err(e) => return e,
        };
        let order_type = match p.get("type") {
            Some(t @ ("STOP_MARKET" | "TAKE_PROFIT_MARKET")) => t.to_string(),
            Some(_) => return err(400, -1116, "Invalid orderType."),
            None => return mandatory("type"),
        };
        if p.flag("closePosition") && (p.get("quantity").is_some() || p.get("reduceOnly").is_some()) {
            return err(400, -4137, "Quantity must be zero with closePosition equals true");
        }
        let qty = match p.dec("quantity") {
            Ok(q) if q > Decimal::ZERO => q,
            Ok(_) => return err(400, -4003, "Quantity less than or equal to zero."),
            Err(e) => return e,
        };
        let trigger = match p.dec("triggerPrice") {
            Ok(t) => t,
            Err(e) => return e,
        };
        if (trigger / dec!(0.10)).fract() != Decimal::ZERO {
            return err(400, -4014, "Price not increased by tick size.");
        }
        let Some(cid) = p.get("clientAlgoId").map(str::to_string) else {
            return err(400, -1102, "this mock wants every algo order to carry clientAlgoId");
        };
        if !valid_client_id(&cid) {
            return err(400, -4015, "Client order id is not valid.");
        }
        if self.algos.iter().any(|a| a.client_id == cid && a.is_open()) {
            return err(400, -4116, "ClientOrderId is duplicated.");
        }
        let now = now_ms();
        self.next_algo_id += 1;
        let a = Algo {
            algo_id: self.next_algo_id,
            client_id: cid,
            order_type,
            side,
            qty,
            trigger_price: trigger,
            working_type: p.get("workingType").unwrap_or("CONTRACT_PRICE").to_string(),
            status: "NEW",
            reduce_only: p.flag("reduceOnly"),
            create_time: now,
            update_time: now,
            actual_order_id: String::new(),
            actual_price: Decimal::ZERO,
            actual_qty: Decimal::ZERO,
        };
        if a.triggers_at(self.mark) {
            return err(400, -2021, "Order would immediately trigger.");
        }
        let body = algo_json(&a);
        self.algos.push(a);
        ok(&body)
    }
}

// ---------------------------------------------------------------------------------------------
// The server

struct Shared {
    state: Mutex<State>,
    log: Mutex<Vec<Request>>,
    faults: Mutex<Vec<FaultRule>>,
    /// Faults for the request with this index in the log, whatever it is (sweeps).
    nth_faults: Mutex<Vec<(usize, Action)>>,
    latency_ms: AtomicU64,
    start: Instant,
    stop: AtomicBool,
    signer: Signer,
}

/// The running mock. Stops accepting when dropped.
pub struct MockBinance {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockBinance {
    /// Starts on `127.0.0.1:0` with the mark at 40000.
    pub fn start() -> MockBinance {
        MockBinance::start_at(dec!(40000))
    }

    pub fn start_at(mark: Decimal) -> MockBinance {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(mark)),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            nth_faults: Mutex::new(Vec::new()),
            latency_ms: AtomicU64::new(0),
            start: Instant::now(),
            stop: AtomicBool::new(false),
            signer: Signer::from_bytes(API_SECRET.as_bytes()).expect("signer"),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(&s, stream));
            }
        });
        MockBinance { addr, shared }
    }

    /// `http://127.0.0.1:PORT` (the config's `exchange.base_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// When the mock started (request times are relative to it).
    pub fn started(&self) -> Instant {
        self.shared.start
    }

    /// Every answer waits this long (a network round trip).
    pub fn set_latency_ms(&self, ms: u64) {
        self.shared.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// Applies `action` to the next `times` requests `method path` whose client id has `role`
    /// (any role when `None`).
    pub fn on(&self, method: &str, path: &str, role: Option<&str>, action: Action, times: usize) {
        lock(&self.shared.faults).push(FaultRule {
            method: method.into(),
            path: path.into(),
            role: role.map(str::to_string),
            action,
            remaining: times,
        });
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        lock(&self.shared.nth_faults).clear();
    }

    /// `action` for the request that will have index `seq` in the log, whatever it is.
    pub fn on_nth(&self, seq: usize, action: Action) {
        lock(&self.shared.nth_faults).push((seq, action));
    }

    /// Direct access to the exchange state (set positions, inspect orders).
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    pub fn set_mark(&self, mark: Decimal) {
        self.state().move_mark(mark);
    }

    pub fn position(&self) -> Decimal {
        self.state().position_qty
    }

    /// Every fill so far (the `userTrades` rows): client id of its order, price, qty, realised
    /// PnL, commission. What `trades` is held against.
    pub fn fills(&self) -> Vec<(String, Decimal, Decimal, Decimal, Decimal)> {
        let st = self.state();
        st.trades
            .iter()
            .map(|t| {
                let cid = st.orders.iter().find(|o| o.order_id == t.order_id).map(|o| o.client_id.clone());
                (cid.unwrap_or_default(), t.price, t.qty, t.realized_pnl, t.commission)
            })
            .collect()
    }

    pub fn open_algos(&self) -> Vec<Algo> {
        self.state().algos.iter().filter(|a| a.is_open()).cloned().collect()
    }

    /// Cancels every open algo order behind mcbot's back (an operator, or Binance expiring them).
    pub fn cancel_all_algos(&self) {
        for a in self.state().algos.iter_mut().filter(|a| a.status == "NEW") {
            a.status = "CANCELED";
            a.update_time = now_ms();
        }
    }

    /// A MARKET order filled at the mark as if a client had sent it (what a process that died
    /// right after sending left on the exchange). Not logged as a request.
    pub fn fill_market_order(&self, client_id: &str, buy: bool, qty: Decimal) {
        let mut st = self.state();
        st.next_order_id += 1;
        let id = st.next_order_id;
        st.orders.push(Order {
            order_id: id,
            client_id: client_id.to_string(),
            side: if buy { Side::Buy } else { Side::Sell },
            orig_qty: qty,
            executed_qty: Decimal::ZERO,
            cum_quote: Decimal::ZERO,
            status: "NEW",
            reduce_only: false,
            update_time: now_ms(),
            complete_at: None,
            rest_price: None,
        });
        let idx = st.orders.len() - 1;
        st.fill(idx, qty);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// The writes (orders placed and cancelled, settings changed), in arrival order, as
    /// `METHOD path client_id` lines.
    pub fn writes(&self) -> Vec<String> {
        self.requests().iter().filter(|r| r.is_write()).map(Request::line).collect()
    }

    /// The writes from request number `from` on.
    pub fn writes_since(&self, from: usize) -> Vec<String> {
        self.requests().iter().skip(from).filter(|r| r.is_write()).map(Request::line).collect()
    }

    /// How many requests so far (a mark for `writes_since`).
    pub fn request_count(&self) -> usize {
        lock(&self.shared.log).len()
    }

    /// How many requests `method path` were about `client_id`.
    pub fn count(&self, method: &str, path: &str, client_id: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path == path && r.client_id() == Some(client_id))
            .count()
    }
}

impl Drop for MockBinance {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

/// One parsed HTTP request.
struct Raw {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Raw> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(Raw { method, target, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn signed_endpoint(path: &str) -> bool {
    !matches!(path, "/fapi/v1/time" | "/fapi/v1/exchangeInfo" | "/fapi/v1/klines" | "/fapi/v1/premiumIndex")
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

enum Reply {
    Answer(u16, String),
    Drop,
}

fn serve(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Some(raw) = read_request(&mut reader) {
        let close = raw.headers.iter().any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));
        let seq = handle(shared, &raw);
        let reply = {
            let log = lock(&shared.log);
            let r = &log[seq];
            if r.status == 0 {
                Reply::Drop
            } else {
                Reply::Answer(r.status, r.body.clone())
            }
        };
        match reply {
            Reply::Drop => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Reply::Answer(status, body) => {
                let used = lock(&shared.log).len();
                let head = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-MBX-USED-WEIGHT-1M: {used}\r\n\r\n",
                    reason(status),
                    body.len()
                );
                let mut out = head.into_bytes();
                out.extend_from_slice(body.as_bytes());
                if writer.write_all(&out).and_then(|()| writer.flush()).is_err() {
                    return;
                }
                lock(&shared.log)[seq].answered = Some(shared.start.elapsed());
            }
        }
        if close {
            return;
        }
    }
}

/// Handles one request end to end (auth, fault script, execution, delays) and logs it; returns
/// its index in the log. The answer is written by the caller right after.
fn handle(shared: &Shared, raw: &Raw) -> usize {
    let arrived = shared.start.elapsed();
    let (path, query) = raw.target.split_once('?').unwrap_or((raw.target.as_str(), ""));
    let path = path.to_string();
    let mut all = pairs(query);
    all.extend(pairs(&raw.body));
    let sig_last = all.last().is_some_and(|(k, _)| k == "signature");
    let signature = all.iter().find(|(k, _)| k == "signature").map(|(_, v)| v.clone());
    let params: Vec<(String, String)> = all.into_iter().filter(|(k, _)| k != "signature").collect();
    let api_key = raw.headers.iter().find(|(k, _)| k == "x-mbx-apikey").map(|(_, v)| v.clone());
    let seq = {
        let mut log = lock(&shared.log);
        let seq = log.len();
        log.push(Request {
            seq,
            method: raw.method.clone(),
            path: path.clone(),
            params: params.clone(),
            signed: signature.is_some() && sig_last,
            api_key: api_key.clone(),
            arrived,
            answered: None,
            status: 0,
            body: String::new(),
            fault: None,
        });
        log.len() - 1
    };
    let role = ["newClientOrderId", "origClientOrderId", "clientAlgoId"]
        .iter()
        .find_map(|k| params.iter().find(|(n, _)| n == k))
        .and_then(|(_, v)| role_of(v).map(str::to_string));
    // A fault scripted for the look-up of an order is meant for the look-up after the order was
    // sent, not for the pre-send check that the client id is unused (which finds nothing).
    let lookup_before_send = raw.method == "GET" && path == "/fapi/v1/order" && {
        let cid = params.iter().find(|(n, _)| n == "origClientOrderId").map(|(_, v)| v.clone());
        cid.is_some_and(|cid| {
            !lock(&shared.log)
                .iter()
                .any(|r| r.method == "POST" && r.path == "/fapi/v1/order" && r.client_id() == Some(cid.as_str()))
        })
    };
    let nth = {
        let mut nth = lock(&shared.nth_faults);
        nth.iter().position(|(n, _)| *n == seq).map(|i| nth.remove(i).1)
    };
    let fault = nth.or_else(|| {
        let mut faults = lock(&shared.faults);
        faults
            .iter_mut()
            .find(|f| {
                f.remaining > 0
                    && !lookup_before_send
                    && f.method == raw.method
                    && f.path == path
                    && (f.role.is_none() || f.role == role)
            })
            .map(|f| {
                f.remaining -= 1;
                f.action.clone()
            })
    });
    let auth = if signed_endpoint(&path) {
        check_auth(shared, query, &raw.body, &params, api_key.as_deref(), signature.is_some() && sig_last)
    } else {
        Ok(())
    };
    let p = Params(&params);
    let (status, body);
    let mut drop = false;
    let mut delay = 0u64;
    match (auth, &fault) {
        (Err((s, b)), _) => (status, body) = (s, b),
        (Ok(()), Some(Action::Reject { status: s, body: b })) => (status, body) = (*s, b.clone()),
        (Ok(()), Some(Action::Drop)) => {
            (status, body) = (0, String::new());
            drop = true;
        }
        (Ok(()), f) => {
            let (mut st_code, mut st_body);
            let partial = match f {
                Some(Action::PartialFill { qty, complete_after_ms, rest_price }) => {
                    Some((*qty, *complete_after_ms, *rest_price))
                }
                _ => None,
            };
            let mut st = lock(&shared.state);
            st.advance(Instant::now());
            (st_code, st_body) = st.execute(&raw.method, &path, &p, partial);
            match f {
                Some(Action::ExecuteThenDrop) => drop = true,
                Some(Action::ExecuteThen { status: s, body: b }) => (st_code, st_body) = (*s, b.clone()),
                Some(Action::Delay(ms)) => delay = *ms,
                Some(Action::MoveMarkAfter(m)) => st.move_mark(*m),
                Some(Action::Hook(h)) => (h.0)(),
                Some(Action::WithoutPrice) => st_body = without_price(&st_body),
                _ => {}
            }
            (status, body) = (st_code, st_body);
        }
    }
    delay += shared.latency_ms.load(Ordering::SeqCst);
    if delay > 0 && !drop {
        std::thread::sleep(Duration::from_millis(delay));
    }
    let mut log = lock(&shared.log);
    let r = &mut log[seq];
    r.fault = fault.map(|f| format!("{f:?}"));
    if drop {
        r.status = 0;
    } else {
        r.status = status;
        r.body = body;
    }
    seq
}

/// Binance's checks on a signed request: key header, HMAC over the exact bytes sent before
/// `&signature=`, and the timestamp window.
fn check_auth(
    shared: &Shared,
    query: &str,
    body: &str,
    params: &[(String, String)],
    api_key: Option<&str>,
    signed: bool,
) -> Result<(), (u16, String)> {
    if api_key != Some(API_KEY) {
        return Err(err(401, -2015, "Invalid API-key, IP, or permissions for action."));
    }
    if !signed {
        return Err(err(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."));
    }
    // totalParams = query string concatenated with the body; the signature is the last parameter.
    let total = format!("{query}{body}");
    let Some(at) = total.rfind("signature=") else {
        return Err(err(400, -1022, "Signature for this request is not valid."));
    };
    let payload = total[..at].trim_end_matches('&');
    let sent = &total[at + "signature=".len()..];
    if !shared.signer.sign(payload).eq_ignore_ascii_case(sent) {
        return Err(err(400, -1022, "Signature for this request is not valid."));
    }
    let p = Params(params);
    let Some(ts) = p.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else { return Err(mandatory("timestamp")) };
    let window = p.get("recvWindow").and_then(|w| w.parse::<i64>().ok()).unwrap_or(5000);
    let server = now_ms() + lock(&shared.state).server_offset_ms;
    if ts >= server + 1000 {
        return Err(err(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."));
    }
    if server - ts > window {
        return Err(err(400, -1021, "Timestamp for this request is outside of the recvWindow."));
    }
    Ok(())
}
