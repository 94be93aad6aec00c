//! What the paper exchange answers: domain values for the port, and `raw` transcripts — compact
//! JSON naming the Binance endpoint it stands in for, the request, and a Binance-shaped response —
//! so `order_event.raw` reads the same offline as live.
//!
//! Transcripts serialise borrowed structs straight to text (no `serde_json::Value` maps): `sim`
//! builds one for every order it reads, tens of thousands of times per run.

use crate::exchange::error::ExchangeError;
use crate::exchange::paper::book::{Cond, Order};
use crate::exchange::paper::db::{cond_status_str, kind_str, order_status_str, working_type_str};
use crate::exchange::{ConditionalOrderRequest, ExConditional, ExOrder, ExchangeErrorKind, MarketOrderRequest};
use rust_decimal::Decimal;
use serde::Serialize;

#[derive(Serialize)]
struct Transcript<'a, Q, R> {
    paper: &'a str,
    request: &'a Q,
    response: &'a R,
}

/// `{"paper":<endpoint>,"request":…,"response":…}` on one line.
pub fn transcript(endpoint: &str, request: &impl Serialize, response: &impl Serialize) -> String {
    serde_json::to_string(&Transcript { paper: endpoint, request, response }).unwrap_or_default()
}

/// The request part of most calls.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Req<'a> {
    pub symbol: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orig_client_order_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_algo_id: Option<&'a str>,
}

impl<'a> Req<'a> {
    pub fn symbol(symbol: &'a str) -> Self {
        Req { symbol, orig_client_order_id: None, client_algo_id: None }
    }
    pub fn order(symbol: &'a str, client_id: &'a str) -> Self {
        Req { orig_client_order_id: Some(client_id), ..Req::symbol(symbol) }
    }
    pub fn algo(symbol: &'a str, client_id: &'a str) -> Self {
        Req { client_algo_id: Some(client_id), ..Req::symbol(symbol) }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketReq<'a> {
    symbol: &'a str,
    side: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    quantity: Decimal,
    reduce_only: bool,
    new_client_order_id: &'a str,
    new_order_resp_type: &'static str,
}

pub fn market_request(r: &MarketOrderRequest) -> MarketReq<'_> {
    MarketReq {
        symbol: &r.symbol,
        side: r.side.as_str(),
        kind: "MARKET",
        quantity: r.qty,
        reduce_only: r.reduce_only,
        new_client_order_id: &r.client_id,
        new_order_resp_type: "RESULT",
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CondReq<'a> {
    algo_type: &'static str,
    symbol: &'a str,
    side: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    trigger_price: Decimal,
    quantity: Decimal,
    reduce_only: bool,
    working_type: &'static str,
    client_algo_id: &'a str,
}

pub fn conditional_request(r: &ConditionalOrderRequest) -> CondReq<'_> {
    CondReq {
        algo_type: "CONDITIONAL",
        symbol: &r.symbol,
        side: r.side.as_str(),
        kind: kind_str(r.kind),
        trigger_price: r.trigger_price,
        quantity: r.qty,
        reduce_only: true,
        working_type: working_type_str(r.working_type),
        client_algo_id: &r.client_id,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderBody<'a> {
    order_id: i64,
    symbol: &'a str,
    client_order_id: &'a str,
    status: &'static str,
    side: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    orig_qty: Decimal,
    executed_qty: Decimal,
    avg_price: Decimal,
    reduce_only: bool,
    update_time: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CondBody<'a> {
    algo_id: i64,
    client_algo_id: &'a str,
    algo_type: &'static str,
    order_type: &'static str,
    symbol: &'a str,
    side: &'static str,
    quantity: Decimal,
    algo_status: &'static str,
    trigger_price: Decimal,
    working_type: &'static str,
    reduce_only: bool,
    close_position: bool,
    /// `""` until triggered, as on Binance.
    actual_order_id: String,
    actual_price: Option<Decimal>,
    actual_qty: Option<Decimal>,
    create_time: i64,
    update_time: i64,
}

/// An order as the port reports it, with the transcript of the call that produced it.
pub fn ex_order(symbol: &str, o: &Order, endpoint: &str, request: &impl Serialize) -> ExOrder {
    let body = OrderBody {
        order_id: o.id,
        symbol,
        client_order_id: &o.client_id,
        status: order_status_str(o.status),
        side: o.side.as_str(),
        kind: "MARKET",
        orig_qty: o.orig_qty,
        executed_qty: o.executed_qty,
        avg_price: o.avg_price,
        reduce_only: o.reduce_only,
        update_time: o.update_ms,
    };
    ExOrder {
        symbol: symbol.to_string(),
        client_id: o.client_id.clone(),
        order_id: o.id.to_string(),
        side: o.side,
        status: o.status,
        orig_qty: o.orig_qty,
        executed_qty: o.executed_qty,
        avg_price: o.avg_price,
        reduce_only: o.reduce_only,
        update_time_ms: o.update_ms,
        raw: transcript(endpoint, request, &body),
    }
}

pub fn ex_conditional(symbol: &str, c: &Cond, endpoint: &str, request: &impl Serialize) -> ExConditional {
    let body = CondBody {
        algo_id: c.id,
        client_algo_id: &c.client_id,
        algo_type: "CONDITIONAL",
        order_type: kind_str(c.kind),
        symbol,
        side: c.side.as_str(),
        quantity: c.qty,
        algo_status: cond_status_str(c.status),
        trigger_price: c.trigger,
        working_type: working_type_str(c.working_type),
        reduce_only: true,
        close_position: false,
        actual_order_id: c.actual_order_id.map_or_else(String::new, |i| i.to_string()),
        actual_price: c.actual_price,
        actual_qty: c.actual_qty,
        create_time: c.created_ms,
        update_time: c.update_ms,
    };
    ExConditional {
        symbol: symbol.to_string(),
        client_id: c.client_id.clone(),
        algo_id: c.id.to_string(),
        kind: c.kind,
        side: c.side,
        status: c.status,
        trigger_price: c.trigger,
        qty: c.qty,
        reduce_only: true,
        close_position: false,
        actual_order_id: c.actual_order_id.map(|i| i.to_string()),
        actual_price: c.actual_price,
        actual_qty: c.actual_qty,
        update_time_ms: c.update_ms,
        raw: transcript(endpoint, request, &body),
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum ErrorBody<'a> {
    Api { code: i64, msg: &'a str },
    Http { http_status: u16, body: &'a str },
    Other { error: &'a str },
}

/// The transcript of a failed call (`{"code","msg"}` for API errors).
pub fn error_transcript(endpoint: &str, request: &impl Serialize, e: &ExchangeError) -> String {
    let body = match e.kind {
        ExchangeErrorKind::Api { code } => ErrorBody::Api { code, msg: &e.message },
        ExchangeErrorKind::Http { status } => ErrorBody::Http { http_status: status, body: &e.message },
        _ => ErrorBody::Other { error: &e.message },
    };
    transcript(endpoint, request, &body)
}

/// Binance's answer to cancelling something that is not open (-2011).
pub fn not_open(endpoint: &str, request: &impl Serialize) -> String {
    transcript(endpoint, request, &ErrorBody::Api { code: -2011, msg: "Unknown order sent." })
}
