//! A stateful local stand-in for Binance USDⓈ-M futures over real HTTP/1.1, for black-box tests
//! of the `mcbot` binary and the latency bench.
//!
//! * Wire format: every endpoint the adapter uses (`src/exchange/binance/endpoints.rs`), with the
//!   field names and JSON types of the real answers (`tests/fixtures/binance/`, BINANCE.md §4).
//! * The exchange behind the wire is the paper exchange's matching engine, `paper::book::Book`
//!   (the one `sim`, the paper exchange and the in-process fake run): MARKET fills at the mark,
//!   reduce-only caps and -2022, -2021 for a STOP/TP that would trigger, -4116 for an open client
//!   id, -2019 margin, the symbol filters, triggers (a conditional order with nothing left to
//!   reduce is REJECTED), partial fills, margin type and leverage (-4046/-4047/-4048, -4028,
//!   -4161). The mock adds what only the wire has: parameter parsing (-1102, -1116, -4120 for
//!   conditional types on `/fapi/v1/order`), -2013 (look-up) / -2011 (cancel) for unknown orders,
//!   Binance-shaped JSON (ids offset for realism), and the signed-request checks: `X-MBX-APIKEY`
//!   (-2015), the HMAC over the exact query (-1022), timestamp vs recvWindow (-1021).
//! * A fault script per endpoint and order role (parsed from the client id
//!   `<bot>_<plan>_<ROLE>_<n>`) in the shared vocabulary (`super::fault::Fault`, also the fake's);
//!   plus a global round-trip delay for latency measurement.
//! * A log of every request (method, path, params without the signature, arrival and answer time),
//!   so tests assert which orders were sent, in what order, with which client ids.
//!
//! std only: a `TcpListener` and a thread per connection (keep-alive, as reqwest pools them).
#![allow(dead_code, clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

use super::fault::Fault;
use mcbot::core::money::SymbolFilters;
use mcbot::core::types::OrderSide;
use mcbot::exchange::binance::sign::Signer;
use mcbot::exchange::paper::book::{Book, Cond, Costs, Order};
use mcbot::exchange::paper::db::{cond_status_str, kind_str, order_status_str, working_type_str};
use mcbot::exchange::{ConditionalKind, ConditionalOrderRequest, ExchangeError, Fill, MarketOrderRequest, WorkingType};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use std::collections::HashMap;
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
// Faults (the shared vocabulary: `super::fault`)

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
    fault: Fault,
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
// Exchange state: the paper exchange's book, plus what only the wire and the account have

/// The ids Binance-like answers carry: the book's index-based ids, offset for realism (and so
/// that an order id, an algo id and a trade id never look alike).
const ORDER_ID_BASE: i64 = 8_389_765_000;
const ALGO_ID_BASE: i64 = 1_000_000_000;
const TRADE_ID_BASE: usize = 600_000;

/// Everything the mock exchange holds. Orders, conditional orders, the position, fills, fees,
/// triggers, reduce-only and the account settings' rules are the paper book's
/// (`paper::book::Book`, the engine `sim` and the paper exchange run); the rest is what only the
/// wire and the account layer have.
#[derive(Debug)]
pub struct State {
    pub book: Book,
    pub mark: Decimal,
    pub funding_rate: Decimal,
    pub dual_side: bool,
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
    /// Every fill in the order it happened, (order index, fill): trade id = base + position.
    trades: Vec<(usize, Fill)>,
    /// The price a scripted partial fill's rest fills at, by order index (the mark when absent).
    rest_price: HashMap<usize, Decimal>,
    filters: SymbolFilters,
}

/// BTCUSDT's filters: the ones the book checks and the ones `exchange_info` serves.
fn mock_filters() -> SymbolFilters {
    SymbolFilters {
        symbol: SYMBOL.into(),
        tick_size: dec!(0.10),
        min_price: dec!(556.80),
        max_price: dec!(4529764),
        step_size: dec!(0.001),
        min_qty: dec!(0.001),
        max_qty: dec!(1000),
        market_max_qty: dec!(120),
        min_notional: dec!(100),
    }
}

impl State {
    fn new(mark: Decimal) -> State {
        let costs = Costs { fee_rate: dec!(0.0004), slip_rate: Decimal::ZERO };
        State {
            book: Book::new(SYMBOL, dec!(10000), costs, now_ms()),
            mark,
            funding_rate: dec!(0.0001),
            dual_side: false,
            multi_assets: false,
            symbol_status: "TRADING",
            withdrawals_enabled: false,
            server_offset_ms: 0,
            commission_asset: "USDT",
            hide_trades: false,
            funding: vec![],
            trades: vec![],
            rest_price: HashMap::new(),
            filters: mock_filters(),
        }
    }

    /// Takes the book's new fills into the trade log (the book's write-through set, which no DB
    /// empties here).
    fn sync(&mut self) {
        let dirty = std::mem::take(&mut self.book.dirty);
        self.trades.extend(dirty.fills);
    }

    /// Applies what became due by now: partial fills whose rest is due, at their scripted price.
    pub fn advance_now(&mut self) {
        let now = now_ms();
        let due: Vec<(usize, i64)> = (0..self.book.orders.len())
            .filter_map(|i| {
                let o = &self.book.orders[i];
                o.complete_at_ms.filter(|t| o.status.is_open() && *t <= now).map(|t| (i, t))
            })
            .collect();
        for (i, t) in due {
            let px = self.rest_price.get(&i).copied().unwrap_or(self.mark);
            self.book.complete_partial(i, t, px);
        }
        self.sync();
    }

    /// Moves the mark and fires the conditional orders it crosses (the book's triggers: the child
    /// MARKET order fills at the trigger, capped at the position; nothing left to reduce: REJECTED).
    pub fn move_mark(&mut self, mark: Decimal) {
        let from = std::mem::replace(&mut self.mark, mark);
        self.book.price_moved(now_ms(), from, mark);
        self.sync();
    }

    /// The order with Binance id `id`, if any.
    fn order_by_wire_id(&self, id: i64) -> Option<usize> {
        self.book.order_by_id(id - ORDER_ID_BASE)
    }

    /// A MARKET order as the book executes it; `partial` from the fault script.
    fn place_market(&mut self, req: &MarketOrderRequest, partial: Option<Partial>) -> Result<usize, (u16, String)> {
        let now = now_ms();
        let book_partial = partial.map(|(q, after, _)| (q, after.map(|ms| now + i64::try_from(ms).unwrap_or(0))));
        let placed = self.book.place_market(req, &self.filters, self.mark, now, book_partial);
        self.sync();
        let (i, applied) = placed.map_err(|e| refusal(&e))?;
        if let (true, Some((_, _, Some(px)))) = (applied, partial) {
            self.rest_price.insert(i, px);
        }
        Ok(i)
    }
}

/// A scripted partial fill: (filled now, rest after ms, rest's price).
type Partial = (Decimal, Option<u64>, Option<Decimal>);

/// The book's refusal as Binance answers it.
fn refusal(e: &ExchangeError) -> (u16, String) {
    err(400, e.code().unwrap_or(-1000), &e.message)
}

// ---------------------------------------------------------------------------------------------
// Wire format: the book's orders, conditional orders and fills in Binance's shapes

fn dec_str(d: Decimal, dp: u32) -> String {
    format!("{:.*}", dp as usize, d.round_dp(dp))
}

fn order_json(o: &Order, result: bool) -> Value {
    // With newOrderRespType=ACK a MARKET order answers NEW / 0 (BINANCE.md §4.4).
    let (status, executed, avg) = if result {
        (order_status_str(o.status), o.executed_qty, o.avg_price)
    } else {
        ("NEW", Decimal::ZERO, Decimal::ZERO)
    };
    json!({
        "orderId": ORDER_ID_BASE + o.id, "symbol": SYMBOL, "status": status, "clientOrderId": o.client_id,
        "price": "0.00", "avgPrice": dec_str(avg, 5), "origQty": dec_str(o.orig_qty, 3),
        "executedQty": dec_str(executed, 3), "cumQty": dec_str(executed, 3),
        "cumQuote": dec_str(executed * avg, 5), "timeInForce": "GTC", "type": "MARKET",
        "reduceOnly": o.reduce_only, "closePosition": false, "side": o.side.as_str(),
        "positionSide": "BOTH", "stopPrice": "0.00", "workingType": "CONTRACT_PRICE",
        "priceProtect": false, "origType": "MARKET", "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "updateTime": o.update_ms,
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

fn algo_json(c: &Cond) -> Value {
    let actual = c.actual_order_id.map_or_else(String::new, |id| (ORDER_ID_BASE + id).to_string());
    json!({
        "algoId": ALGO_ID_BASE + c.id, "clientAlgoId": c.client_id, "algoType": "CONDITIONAL",
        "orderType": kind_str(c.kind), "symbol": SYMBOL, "side": c.side.as_str(), "positionSide": "BOTH",
        "timeInForce": "GTC", "quantity": dec_str(c.qty, 3), "algoStatus": cond_status_str(c.status),
        "actualType": if actual.is_empty() { "" } else { "MARKET" }, "actualOrderId": actual,
        "triggerPrice": dec_str(c.trigger, 2), "price": "0.00",
        "actualPrice": dec_str(c.actual_price.unwrap_or_default(), 5),
        "actualQty": dec_str(c.actual_qty.unwrap_or_default(), 3),
        "icebergQuantity": null, "tpTriggerPrice": "0.000", "tpPrice": "0.000", "slTriggerPrice": "0.000",
        "slPrice": "0.000", "tpOrderType": "", "selfTradePreventionMode": "EXPIRE_MAKER",
        "workingType": working_type_str(c.working_type), "priceMatch": "NONE", "closePosition": false,
        "priceProtect": false, "reduceOnly": true, "createTime": c.created_ms, "updateTime": c.update_ms,
        "triggerTime": if c.actual_order_id.is_none() { 0 } else { c.update_ms }, "goodTillDate": 0,
    })
}

fn trade_json(id: usize, o: &Order, f: &Fill, asset: &str) -> Value {
    json!({
        "buyer": o.side == OrderSide::Buy, "commission": dec_str(f.commission, 8), "commissionAsset": asset,
        "id": id, "maker": false, "orderId": ORDER_ID_BASE + o.id, "price": dec_str(f.price, 2),
        "qty": dec_str(f.qty, 3), "quoteQty": dec_str(f.qty * f.price, 5),
        "realizedPnl": dec_str(f.realized_pnl, 8), "side": o.side.as_str(), "positionSide": "BOTH",
        "symbol": SYMBOL, "time": f.time_ms,
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
    fn side(&self) -> Result<OrderSide, (u16, String)> {
        match self.get("side") {
            Some("BUY") => Ok(OrderSide::Buy),
            Some("SELL") => Ok(OrderSide::Sell),
            _ => Err(mandatory("side")),
        }
    }
    fn flag(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// BTCUSDT's trading rules `f`, shaped like `exchangeInfo` (2026 values: tick 0.10, step 0.001,
/// min notional 100).
fn exchange_info(f: &SymbolFilters) -> Value {
    let s = |d: Decimal| d.to_string();
    let btc = json!({
        "symbol": SYMBOL, "pair": SYMBOL, "contractType": "PERPETUAL", "deliveryDate": 4_133_404_800_000_i64,
        "onboardDate": 1_569_398_400_000_i64, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT",
        "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": ["PoW"], "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": s(f.min_price), "maxPrice": s(f.max_price), "tickSize": s(f.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": s(f.min_qty), "maxQty": s(f.max_qty), "stepSize": s(f.step_size)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": s(f.min_qty), "maxQty": s(f.market_max_qty), "stepSize": s(f.step_size)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": s(f.min_notional)},
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
    /// Executes one request; `partial` and `complete` (complete a partial on look-up) come from
    /// the fault script.
    fn execute(
        &mut self,
        method: &str,
        path: &str,
        p: &Params<'_>,
        partial: Option<Partial>,
        complete: bool,
    ) -> (u16, String) {
        match (method, path) {
            ("GET", "/fapi/v1/time") => ok(&json!({"serverTime": now_ms() + self.server_offset_ms})),
            ("GET", "/fapi/v1/exchangeInfo") => {
                let mut info = exchange_info(&self.filters);
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
                let (qty, entry) = (self.book.pos_qty, self.book.pos_entry);
                if qty.is_zero() && self.book.open_orders().next().is_none() {
                    return ok(&json!([]));
                }
                let notional = qty * self.mark;
                let upnl = (self.mark - entry) * qty;
                let margin = notional.abs();
                ok(&json!([{
                    "symbol": SYMBOL, "positionSide": "BOTH", "positionAmt": dec_str(qty, 3),
                    "entryPrice": dec_str(entry, 7), "breakEvenPrice": dec_str(entry, 7),
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
                ok(&Value::Array(self.book.open_orders().map(|o| order_json(o, true)).collect()))
            }
            ("GET", "/fapi/v1/openAlgoOrders") => ok(&Value::Array(self.book.open_conds().map(algo_json).collect())),
            ("GET", "/fapi/v1/allAlgoOrders") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let since = p.get("startTime").and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
                ok(&Value::Array(self.book.conds.iter().filter(|c| c.created_ms >= since).map(algo_json).collect()))
            }
            ("GET", "/fapi/v1/allOrders") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                // Binance filters by order time; this mock keeps the last update's time.
                let since = p.get("startTime").and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
                let rows = self.book.orders.iter().filter(|o| o.update_ms >= since).map(|o| order_json(o, true));
                ok(&Value::Array(rows.collect()))
            }
            ("POST", "/fapi/v1/order") => self.new_order(p, partial),
            ("GET", "/fapi/v1/order") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let Some(cid) = p.get("origClientOrderId") else { return mandatory("origClientOrderId") };
                match self.book.order_by_client(cid) {
                    Some(i) => {
                        if complete {
                            self.book.complete_partial(i, now_ms(), self.mark);
                            self.sync();
                        }
                        ok(&order_json(&self.book.orders[i], true))
                    }
                    None => err(400, -2013, "Order does not exist."),
                }
            }
            ("DELETE", "/fapi/v1/order") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let Some(cid) = p.get("origClientOrderId") else { return mandatory("origClientOrderId") };
                match self.book.cancel_order(cid, now_ms()) {
                    Some(i) => ok(&order_json(&self.book.orders[i], true)),
                    None => err(400, -2011, "Unknown order sent."),
                }
            }
            ("POST", "/fapi/v1/algoOrder") => self.new_algo_order(p),
            ("GET", "/fapi/v1/algoOrder") => {
                let Some(cid) = p.get("clientAlgoId") else { return mandatory("clientAlgoId") };
                match self.book.cond_by_client(cid) {
                    Some(i) => ok(&algo_json(&self.book.conds[i])),
                    None => err(400, -2013, "Order does not exist."),
                }
            }
            ("DELETE", "/fapi/v1/algoOrder") => {
                let Some(cid) = p.get("clientAlgoId") else { return mandatory("clientAlgoId") };
                match self.book.cancel_cond(cid, now_ms()) {
                    Some(i) => {
                        let c = &self.book.conds[i];
                        // The documented shape: `code` is a string here (BINANCE.md §0.7).
                        ok(
                            &json!({"algoId": ALGO_ID_BASE + c.id, "clientAlgoId": c.client_id, "code": "200", "msg": "success"}),
                        )
                    }
                    None => err(400, -2011, "Unknown order sent."),
                }
            }
            ("GET", "/fapi/v1/symbolConfig") => ok(&json!([{
                "symbol": SYMBOL, "marginType": if self.book.isolated { "ISOLATED" } else { "CROSSED" },
                "isAutoAddMargin": false, "leverage": self.book.leverage, "maxNotionalValue": "1000000000",
            }])),
            ("GET", "/fapi/v1/positionSide/dual") => ok(&json!({"dualSidePosition": self.dual_side})),
            ("POST", "/fapi/v1/marginType") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let isolated = match p.get("marginType") {
                    Some("ISOLATED") => true,
                    Some("CROSSED") => false,
                    _ => return mandatory("marginType"),
                };
                match self.book.set_margin_type(isolated) {
                    Ok(()) => ok(&json!({"code": 200, "msg": "success"})),
                    Err(e) => refusal(&e),
                }
            }
            ("POST", "/fapi/v1/leverage") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let Some(l) = p.get("leverage").and_then(|l| l.parse::<u32>().ok()) else {
                    return mandatory("leverage");
                };
                match self.book.set_leverage(l) {
                    Ok(()) => ok(&json!({"leverage": l, "maxNotionalValue": "1000000000", "symbol": SYMBOL})),
                    Err(e) => refusal(&e),
                }
            }
            ("GET", "/fapi/v3/balance") => ok(&json!([{
                "accountAlias": "SgsRmYFzAuXqFzTi", "asset": "USDT", "balance": dec_str(self.book.balance, 8),
                "crossWalletBalance": dec_str(self.book.balance, 8), "crossUnPnl": "0.00000000",
                "availableBalance": dec_str(self.book.balance, 8), "maxWithdrawAmount": dec_str(self.book.balance, 8),
                "marginAvailable": true, "updateTime": now_ms(),
            }])),
            ("GET", "/fapi/v1/userTrades") => {
                if let Err(e) = p.symbol() {
                    return e;
                }
                let order = p.get("orderId").map(|i| i.parse::<i64>().ok().and_then(|id| self.order_by_wire_id(id)));
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
                    .enumerate()
                    .map(|(n, (i, f))| (TRADE_ID_BASE + n + 1, *i, f))
                    .filter(|_| !self.hide_trades)
                    .filter(|(_, i, _)| order.is_none_or(|o| o == Some(*i)))
                    .filter(|(id, _, f)| from.map_or((start..=end).contains(&f.time_ms), |from| *id as i64 >= from))
                    .take(limit)
                    .map(|(id, i, f)| trade_json(id, &self.book.orders[i], f, asset))
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
            Ok(q) => q,
            Err(e) => return e,
        };
        let Some(cid) = p.get("newClientOrderId").map(str::to_string) else {
            return err(400, -1102, "this mock wants every order to carry newClientOrderId");
        };
        let req =
            MarketOrderRequest { symbol: SYMBOL.into(), side, qty, reduce_only: p.flag("reduceOnly"), client_id: cid };
        match self.place_market(&req, partial) {
            Ok(i) => ok(&order_json(&self.book.orders[i], p.get("newOrderRespType") == Some("RESULT"))),
            Err(e) => e,
        }
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
        let kind = match p.get("type") {
            Some("STOP_MARKET") => ConditionalKind::StopMarket,
            Some("TAKE_PROFIT_MARKET") => ConditionalKind::TakeProfitMarket,
            Some(_) => return err(400, -1116, "Invalid orderType."),
            None => return mandatory("type"),
        };
        if p.flag("closePosition") && (p.get("quantity").is_some() || p.get("reduceOnly").is_some()) {
            return err(400, -4137, "Quantity must be zero with closePosition equals true");
        }
        let (qty, trigger_price) = match (p.dec("quantity"), p.dec("triggerPrice")) {
            (Ok(q), Ok(t)) => (q, t),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let working_type = match p.get("workingType") {
            Some("MARK_PRICE") => WorkingType::MarkPrice,
            _ => WorkingType::ContractPrice,
        };
        let Some(client_id) = p.get("clientAlgoId").map(str::to_string) else {
            return err(400, -1102, "this mock wants every algo order to carry clientAlgoId");
        };
        let req =
            ConditionalOrderRequest { symbol: SYMBOL.into(), side, kind, trigger_price, qty, working_type, client_id };
        match self.book.place_conditional(&req, &self.filters, self.mark, now_ms()) {
            Ok(i) => ok(&algo_json(&self.book.conds[i])),
            Err(e) => refusal(&e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server

struct Shared {
    state: Mutex<State>,
    log: Mutex<Vec<Request>>,
    faults: Mutex<Vec<FaultRule>>,
    /// Faults for the request with this index in the log, whatever it is (sweeps).
    nth_faults: Mutex<Vec<(usize, Fault)>>,
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
    pub fn on(&self, method: &str, path: &str, role: Option<&str>, fault: Fault, times: usize) {
        lock(&self.shared.faults).push(FaultRule {
            method: method.into(),
            path: path.into(),
            role: role.map(str::to_string),
            fault,
            remaining: times,
        });
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        lock(&self.shared.nth_faults).clear();
    }

    /// `fault` for the request that will have index `seq` in the log, whatever it is.
    pub fn on_nth(&self, seq: usize, fault: Fault) {
        lock(&self.shared.nth_faults).push((seq, fault));
    }

    /// Direct access to the exchange state (set positions, inspect orders).
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    pub fn set_mark(&self, mark: Decimal) {
        self.state().move_mark(mark);
    }

    pub fn position(&self) -> Decimal {
        self.state().book.pos_qty
    }

    /// Sets the exchange position directly (a foreign position, or one closed by hand).
    pub fn set_position(&self, qty: Decimal, entry: Decimal) {
        let mut st = self.state();
        st.book.pos_qty = qty;
        st.book.pos_entry = entry;
    }

    /// Every fill so far (the `userTrades` rows): client id of its order (a triggered child
    /// order's is its conditional order's), price, qty, realised PnL, commission. What `trades`
    /// is held against.
    pub fn fills(&self) -> Vec<(String, Decimal, Decimal, Decimal, Decimal)> {
        let st = self.state();
        st.trades
            .iter()
            .map(|(i, f)| {
                let o = &st.book.orders[*i];
                let algo = o.algo_id.and_then(|a| st.book.conds.iter().find(|c| c.id == a));
                let cid = algo.map_or(&o.client_id, |c| &c.client_id).clone();
                (cid, f.price, f.qty, f.realized_pnl, f.commission)
            })
            .collect()
    }

    /// The open conditional orders, as the book holds them.
    pub fn open_algos(&self) -> Vec<Cond> {
        self.state().book.open_conds().cloned().collect()
    }

    /// Cancels every open algo order behind mcbot's back (an operator, or Binance expiring them).
    pub fn cancel_all_algos(&self) {
        self.cancel_algos(|_| true);
    }

    /// Cancels the open algo orders `which` picks, behind mcbot's back.
    pub fn cancel_algos(&self, which: impl Fn(&Cond) -> bool) {
        let mut st = self.state();
        let ids: Vec<String> = st.book.open_conds().filter(|c| which(c)).map(|c| c.client_id.clone()).collect();
        for id in ids {
            st.book.cancel_cond(&id, now_ms());
        }
        st.sync();
    }

    /// Places a conditional order like `like` under `client_id` for `qty`, behind mcbot's back
    /// (another instance's, or a leftover of a kill). Not logged as a request.
    pub fn add_algo_like(&self, like: &Cond, client_id: &str, qty: Decimal) {
        let mut st = self.state();
        let req = ConditionalOrderRequest {
            symbol: SYMBOL.into(),
            side: like.side,
            kind: like.kind,
            trigger_price: like.trigger,
            qty,
            working_type: like.working_type,
            client_id: client_id.into(),
        };
        let (filters, mark) = (st.filters.clone(), st.mark);
        st.book.place_conditional(&req, &filters, mark, now_ms()).expect("the copy is placeable");
        st.sync();
    }

    /// A MARKET order filled at the mark as if a client had sent it (what a process that died
    /// right after sending left on the exchange). Not logged as a request.
    pub fn fill_market_order(&self, client_id: &str, buy: bool, qty: Decimal) {
        let side = if buy { OrderSide::Buy } else { OrderSide::Sell };
        let req =
            MarketOrderRequest { symbol: SYMBOL.into(), side, qty, reduce_only: false, client_id: client_id.into() };
        self.state().place_market(&req, None).expect("the book fills it");
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
                f.fault.clone()
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
        (Ok(()), Some(Fault::Refuse { status: s, body: b })) => (status, body) = (*s, b.clone()),
        (Ok(()), Some(Fault::Drop)) => {
            (status, body) = (0, String::new());
            drop = true;
        }
        (Ok(()), f) => {
            let (mut st_code, mut st_body);
            let partial = match f {
                Some(Fault::PartialFill { qty, complete_after_ms, rest_price }) => {
                    Some((*qty, *complete_after_ms, *rest_price))
                }
                _ => None,
            };
            let complete = matches!(f, Some(Fault::CompletePartial));
            let mut st = lock(&shared.state);
            st.advance_now();
            (st_code, st_body) = st.execute(&raw.method, &path, &p, partial, complete);
            st.sync();
            match f {
                Some(Fault::ExecuteThenDrop) => drop = true,
                Some(Fault::ExecuteThen { status: s, body: b }) => (st_code, st_body) = (*s, b.clone()),
                Some(Fault::Delay(ms)) => delay = *ms,
                Some(Fault::MoveMarkAfter(m)) => st.move_mark(*m),
                Some(Fault::Hook(h)) => (h.0)(),
                Some(Fault::WithoutPrice) => st_body = without_price(&st_body),
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
