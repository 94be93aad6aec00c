//! Serde DTOs for Binance USDⓈ-M REST answers, named after their endpoints, and the lenient
//! scalar types they are built from. No domain logic here: `convert` turns these into domain types.
//!
//! Binance is inconsistent about JSON types (BINANCE.md §0.7): numbers arrive as strings or
//! numbers, booleans as `true` or `"false"`, `code` as `200` or `"200"`, and `null` or `"null"` for
//! absent values. Every scalar here accepts all of those; unknown fields are ignored. What is
//! *required* stays required: a missing `executedQty` is an error, never a zero.

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// A scalar as it arrived: text (numbers are carried as their JSON text, so no float rounding).
enum Scalar {
    Text(String),
    Bool(bool),
    Null,
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or null")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        // Rust prints the shortest text that round-trips, so 0.1 stays "0.1".
        Ok(Scalar::Text(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor)
}

fn is_absent(s: &str) -> bool {
    let t = s.trim();
    t.is_empty() || t.eq_ignore_ascii_case("null")
}

fn parse_decimal<E: de::Error>(s: &str) -> Result<Decimal, E> {
    let t = s.trim();
    Decimal::from_str(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| E::custom(format!("expected a decimal, got {t:?}")))
}

/// A decimal sent as a string or a number. Empty, `"null"` and `null` are errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Num(pub Decimal);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d)? {
            Scalar::Text(s) if !is_absent(&s) => parse_decimal(&s).map(Num),
            Scalar::Text(s) => Err(de::Error::custom(format!("expected a decimal, got {s:?}"))),
            Scalar::Bool(b) => Err(de::Error::custom(format!("expected a decimal, got {b}"))),
            Scalar::Null => Err(de::Error::custom("expected a decimal, got null")),
        }
    }
}

/// A decimal that may be absent: `""`, `"null"` and `null` are `None`. Use with `#[serde(default)]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OptNum(pub Option<Decimal>);

impl<'de> Deserialize<'de> for OptNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d)? {
            Scalar::Text(s) if is_absent(&s) => Ok(OptNum(None)),
            Scalar::Text(s) => parse_decimal(&s).map(|v| OptNum(Some(v))),
            Scalar::Null => Ok(OptNum(None)),
            Scalar::Bool(b) => Err(de::Error::custom(format!("expected a decimal, got {b}"))),
        }
    }
}

/// An integer (times, ids, leverage, `code`) sent as a number or a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d)? {
            Scalar::Text(s) => {
                let t = s.trim();
                t.parse::<i64>().map(Int).map_err(|_| de::Error::custom(format!("expected an integer, got {t:?}")))
            }
            Scalar::Bool(b) => Err(de::Error::custom(format!("expected an integer, got {b}"))),
            Scalar::Null => Err(de::Error::custom("expected an integer, got null")),
        }
    }
}

/// A boolean sent as `true` or `"true"` (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d)? {
            Scalar::Bool(b) => Ok(Flag(b)),
            Scalar::Text(s) if s.trim().eq_ignore_ascii_case("true") => Ok(Flag(true)),
            Scalar::Text(s) if s.trim().eq_ignore_ascii_case("false") => Ok(Flag(false)),
            Scalar::Text(s) => Err(de::Error::custom(format!("expected a boolean, got {s:?}"))),
            Scalar::Null => Err(de::Error::custom("expected a boolean, got null")),
        }
    }
}

/// An identifier sent as a string or a number (`orderId`, `algoId`, `actualOrderId`).
/// Empty text and `null` are kept as "" so callers can tell "not yet" from a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match scalar(d)? {
            Scalar::Text(s) if s.trim().eq_ignore_ascii_case("null") => Ok(Text(String::new())),
            Scalar::Text(s) => Ok(Text(s.trim().to_string())),
            Scalar::Null => Ok(Text(String::new())),
            Scalar::Bool(b) => Err(de::Error::custom(format!("expected an id, got {b}"))),
        }
    }
}

/// `{"code": -2013, "msg": "…"}`, and also the `{"code": 200, "msg": "success"}` of some writes.
#[derive(Debug, Deserialize)]
pub(crate) struct ApiErrorBody {
    #[serde(default)]
    pub code: Option<Int>,
    #[serde(default)]
    pub msg: Option<String>,
}

/// `GET /fapi/v1/time`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerTime {
    pub server_time: Int,
}

/// `GET /fapi/v1/exchangeInfo`. Symbols stay raw JSON so one odd entry elsewhere in the (large)
/// list cannot fail the lookup of ours.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeInfo {
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    pub symbols: Vec<serde_json::Value>,
}

/// One `exchangeInfo.rateLimits[]` row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RateLimit {
    pub rate_limit_type: String,
    pub interval: String,
    pub interval_num: Int,
    pub limit: Int,
}

/// One `exchangeInfo.symbols[]` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeInfoSymbol {
    pub symbol: String,
    #[serde(default)]
    pub status: Option<String>,
    pub filters: Vec<SymbolFilter>,
}

/// One filter; only the fields mcbot reads (PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SymbolFilter {
    pub filter_type: String,
    #[serde(default)]
    pub tick_size: OptNum,
    #[serde(default)]
    pub min_price: OptNum,
    #[serde(default)]
    pub max_price: OptNum,
    #[serde(default)]
    pub step_size: OptNum,
    #[serde(default)]
    pub min_qty: OptNum,
    #[serde(default)]
    pub max_qty: OptNum,
    #[serde(default)]
    pub notional: OptNum,
}

/// `GET /fapi/v1/klines` rows are heterogeneous arrays: `[openTime, "open", …, closeTime, …]`.
pub(crate) type KlineRow = Vec<serde_json::Value>;

/// `GET /fapi/v1/premiumIndex?symbol=`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PremiumIndex {
    pub symbol: String,
    pub mark_price: Num,
    pub last_funding_rate: Num,
    pub time: Int,
}

/// One `GET /fapi/v3/positionRisk` row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PositionRisk {
    pub symbol: String,
    #[serde(default)]
    pub position_side: Option<String>,
    pub position_amt: Num,
    pub entry_price: Num,
    pub mark_price: Num,
    #[serde(default)]
    pub update_time: Option<Int>,
}

/// An order as `/fapi/v1/order` (POST, GET, DELETE) and `/fapi/v1/openOrders` report it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Order {
    pub order_id: Text,
    pub symbol: String,
    pub status: String,
    pub client_order_id: String,
    pub side: String,
    pub orig_qty: Num,
    pub executed_qty: Num,
    #[serde(default)]
    pub avg_price: OptNum,
    #[serde(default)]
    pub cum_quote: OptNum,
    #[serde(default)]
    pub reduce_only: Option<Flag>,
    #[serde(default)]
    pub update_time: Option<Int>,
}

/// A conditional order as `/fapi/v1/algoOrder` (POST, GET), `/fapi/v1/openAlgoOrders` and
/// `/fapi/v1/allAlgoOrders` report it. The type field is `orderType`, not `type`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlgoOrder {
    pub algo_id: Text,
    pub client_algo_id: String,
    pub order_type: String,
    pub symbol: String,
    pub side: String,
    pub algo_status: String,
    pub trigger_price: Num,
    /// Empty or zero for closePosition orders (nautilus_trader#4737).
    #[serde(default)]
    pub quantity: OptNum,
    #[serde(default)]
    pub close_position: Option<Flag>,
    #[serde(default)]
    pub reduce_only: Option<Flag>,
    /// `""` until triggered.
    #[serde(default)]
    pub actual_order_id: Text,
    #[serde(default)]
    pub actual_price: OptNum,
    #[serde(default)]
    pub actual_qty: OptNum,
    #[serde(default)]
    pub update_time: Option<Int>,
}

/// `DELETE /fapi/v1/algoOrder`: documented as `{algoId, clientAlgoId, code:"200", msg}`, but one
/// library models it as the full order; both shapes parse into this.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlgoCancel {
    #[serde(default)]
    pub client_algo_id: Option<String>,
    #[serde(default)]
    pub code: Option<Int>,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub algo_status: Option<String>,
}

/// One `GET /fapi/v1/symbolConfig` row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SymbolConfig {
    /// Required, so a row without it is unreadable; its value is checked on the raw row.
    #[allow(dead_code)]
    pub symbol: String,
    pub margin_type: String,
    pub leverage: Int,
}

/// `GET /fapi/v1/positionSide/dual`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PositionSideDual {
    pub dual_side_position: Flag,
}

/// `GET /fapi/v1/multiAssetsMargin`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MultiAssetsMargin {
    pub multi_assets_margin: Flag,
}

/// `GET /sapi/v1/account/apiRestrictions` (spot host). Only the fields doctor reads; a missing
/// one is unreadable rather than assumed false.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiRestrictions {
    pub enable_withdrawals: Flag,
    pub ip_restrict: Flag,
    pub enable_futures: Flag,
}

/// `POST /fapi/v1/marginType` success: `{"code":200,"msg":"success"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct CodeMsg {
    pub code: Int,
}

/// `POST /fapi/v1/leverage`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LeverageChange {
    pub leverage: Int,
    pub symbol: String,
}

/// One `GET /fapi/v3/balance` row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Balance {
    pub asset: String,
    /// Required (a row without it is unreadable); mcbot funds from `availableBalance`.
    #[allow(dead_code)]
    pub balance: Num,
    pub available_balance: Num,
}

/// One `GET /fapi/v1/userTrades` row.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserTrade {
    /// Required, so a row without it is unreadable; its value is checked on the raw row.
    #[allow(dead_code)]
    pub symbol: String,
    /// The trade id: paged reads are checked for rows answered twice by it.
    pub id: Text,
    pub order_id: Text,
    pub price: Num,
    pub qty: Num,
    pub commission: Num,
    pub commission_asset: String,
    pub realized_pnl: Num,
    pub time: Int,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[derive(Debug, Deserialize)]
    struct T {
        n: Num,
        #[serde(default)]
        o: OptNum,
        #[serde(default)]
        i: Option<Int>,
        #[serde(default)]
        b: Option<Flag>,
        #[serde(default)]
        t: Text,
    }

    fn t(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn lenient_scalars_accept_both_spellings() {
        let a = t(r#"{"n":"0.10","o":"","i":"42","b":"false","t":123,"extra":[1]}"#).unwrap();
        assert_eq!(
            (a.n.0, a.o.0, a.i.map(|i| i.0), a.b.map(|b| b.0), a.t.0.as_str()),
            (dec!(0.10), None, Some(42), Some(false), "123")
        );
        let b = t(r#"{"n":0.1,"o":null,"i":42,"b":true,"t":"null"}"#).unwrap();
        assert_eq!(
            (b.n.0, b.o.0, b.i.map(|i| i.0), b.b.map(|b| b.0), b.t.0.as_str()),
            (dec!(0.1), None, Some(42), Some(true), "")
        );
        let c = t(r#"{"n":12345678901234,"o":"null","b":"TRUE"}"#).unwrap();
        assert_eq!((c.n.0, c.o.0, c.b.map(|b| b.0)), (dec!(12345678901234), None, Some(true)));
    }

    #[test]
    fn lenient_scalars_still_refuse_wrong_values() {
        for bad in [
            r#"{"n":""}"#,
            r#"{"n":null}"#,
            r#"{"n":"null"}"#,
            r#"{"n":true}"#,
            r#"{"n":"12abc"}"#,
            r#"{"n":"1","i":"4.5"}"#,
            r#"{"n":"1","b":"yes"}"#,
            r#"{"n":"1","o":false}"#,
            r#"{}"#,
        ] {
            assert!(t(bad).is_err(), "{bad}");
        }
    }
}
