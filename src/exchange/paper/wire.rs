//! What the paper exchange answers: domain values for the port, and `raw` transcripts — compact
//! JSON naming the Binance endpoint it stands in for, the request, and a Binance-shaped response —
//! so `order_event.raw` reads the same offline as live.

use crate::exchange::error::ExchangeError;
use crate::exchange::paper::book::{Cond, Order};
use crate::exchange::paper::db::{cond_status_str, kind_str, order_status_str, working_type_str};
use crate::exchange::{ConditionalOrderRequest, ExConditional, ExOrder, ExchangeErrorKind, MarketOrderRequest};
use serde_json::{json, Value};

/// `{"endpoint":…,"request":…,"response":…}` as one line.
pub fn transcript(endpoint: &str, request: Value, response: Value) -> String {
    json!({"paper": endpoint, "request": request, "response": response}).to_string()
}

pub fn market_request(r: &MarketOrderRequest) -> Value {
    json!({"symbol": r.symbol, "side": r.side.as_str(), "type": "MARKET", "quantity": r.qty.to_string(),
           "reduceOnly": r.reduce_only, "newClientOrderId": r.client_id, "newOrderRespType": "RESULT"})
}

pub fn conditional_request(r: &ConditionalOrderRequest) -> Value {
    json!({"algoType": "CONDITIONAL", "symbol": r.symbol, "side": r.side.as_str(), "type": kind_str(r.kind),
           "triggerPrice": r.trigger_price.to_string(), "quantity": r.qty.to_string(), "reduceOnly": true,
           "workingType": working_type_str(r.working_type), "clientAlgoId": r.client_id})
}

pub fn by_client(symbol: &str, key: &str, client_id: &str) -> Value {
    json!({"symbol": symbol, key: client_id})
}

fn order_json(symbol: &str, o: &Order) -> Value {
    json!({"orderId": o.id, "symbol": symbol, "clientOrderId": o.client_id, "status": order_status_str(o.status),
           "side": o.side.as_str(), "type": "MARKET", "origQty": o.orig_qty.to_string(),
           "executedQty": o.executed_qty.to_string(), "avgPrice": o.avg_price.to_string(),
           "reduceOnly": o.reduce_only, "updateTime": o.update_ms})
}

fn cond_json(symbol: &str, c: &Cond) -> Value {
    let opt = |d: Option<rust_decimal::Decimal>| d.map_or_else(String::new, |d| d.to_string());
    json!({"algoId": c.id, "clientAlgoId": c.client_id, "algoType": "CONDITIONAL", "orderType": kind_str(c.kind),
           "symbol": symbol, "side": c.side.as_str(), "quantity": c.qty.to_string(),
           "algoStatus": cond_status_str(c.status), "triggerPrice": c.trigger.to_string(),
           "workingType": working_type_str(c.working_type), "reduceOnly": true, "closePosition": false,
           "actualOrderId": c.actual_order_id.map_or_else(String::new, |i| i.to_string()),
           "actualPrice": opt(c.actual_price), "actualQty": opt(c.actual_qty),
           "createTime": c.created_ms, "updateTime": c.update_ms})
}

/// An order as the port reports it, with the transcript of the call that produced it.
pub fn ex_order(symbol: &str, o: &Order, endpoint: &str, request: &Value) -> ExOrder {
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
        raw: transcript(endpoint, request.clone(), order_json(symbol, o)),
    }
}

pub fn ex_conditional(symbol: &str, c: &Cond, endpoint: &str, request: &Value) -> ExConditional {
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
        raw: transcript(endpoint, request.clone(), cond_json(symbol, c)),
    }
}

/// The answer body of a failed call (`{"code","msg"}` for API errors).
pub fn error_body(e: &ExchangeError) -> Value {
    match e.kind {
        ExchangeErrorKind::Api { code } => json!({"code": code, "msg": e.message}),
        ExchangeErrorKind::Http { status } => json!({"http_status": status, "body": e.message}),
        _ => json!({"error": e.message}),
    }
}
