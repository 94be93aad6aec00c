//! Positions and orders: MARKET entry/close on `/fapi/v1/order`, STOP_MARKET and
//! TAKE_PROFIT_MARKET on `/fapi/v1/algoOrder` (never on `/fapi/v1/order`: -4120), their look-ups
//! and cancels. Writes are sent once; "no such order" on a look-up or cancel is an answer, not an
//! error (`None` / `NotOpen`).

use super::{
    check_client_id, check_positive, check_symbol_input, converted, parse, row, rows, same, same_row_symbol,
    BinanceFutures,
};
use crate::exchange::binance::rest::Reply;
use crate::exchange::binance::sign::Query;
use crate::exchange::binance::{codes, convert, endpoints, history, wire};
use crate::exchange::error::ExResult;
use crate::exchange::{
    CancelOutcome, ConditionalOrderRequest, ConditionalStatus, ExConditional, ExOrder, ExOrderStatus, ExPosition,
    MarketOrderRequest,
};
use rust_decimal::Decimal;

/// Rows asked per `/fapi/v1/allAlgoOrders` page (Binance's maximum).
pub(super) const ALGO_HISTORY_LIMIT: usize = 1000;

/// Weeks of `allAlgoOrders` the fallback searches, newest first, when `/fapi/v1/algoOrder` no
/// longer knows an order: 13 weeks, Binance's three months of history (BINANCE.md §4.6).
pub const ALGO_HISTORY_WINDOWS: usize = 13;

/// The newest window ends this far past our estimate of the exchange's clock (skew margin).
pub(super) const ALGO_HISTORY_LEAD_MS: i64 = 60_000;

/// A placement window starts this far before the journaled intent time (our clock's skew).
pub(super) const ALGO_PLACED_LEAD_MS: i64 = 3_600_000;

/// Is this error Binance's "no such order" (-2013 / -2011)?
fn not_found<T>(r: &ExResult<T>) -> bool {
    matches!(r, Err(e) if e.code().is_some_and(|c| codes::NOT_FOUND.contains(&c)))
}

/// An order answer, checked against what was asked.
fn order_answer(reply: &Reply, symbol: &str, client_id: &str, write: bool) -> ExResult<ExOrder> {
    let raw = reply.transcript();
    let w: wire::Order = parse(reply, write)?;
    same("symbol", symbol, &w.symbol, &raw)?;
    same("client order id", client_id, &w.client_order_id, &raw)?;
    converted(convert::order(w, raw.clone()), write, &raw)
}

/// A conditional-order answer (or row), checked against what was asked.
fn algo_answer(w: wire::AlgoOrder, symbol: &str, client_id: &str, raw: String, write: bool) -> ExResult<ExConditional> {
    same("symbol", symbol, &w.symbol, &raw)?;
    same("client algo id", client_id, &w.client_algo_id, &raw)?;
    converted(convert::conditional(w, raw.clone()), write, &raw)
}

/// `{}`, `null`, `[]` or an empty body: how "I no longer have it" may look on `/algoOrder`.
fn is_empty_answer(body: &str) -> bool {
    matches!(body.trim(), "" | "{}" | "null" | "[]")
}

impl BinanceFutures {
    pub(super) fn get_position(&self, symbol: &str) -> ExResult<ExPosition> {
        check_symbol_input(symbol)?;
        let mut q = Query::new();
        q.push("symbol", symbol);
        self.read("binance.position_risk", symbol, || {
            let reply = self.rest.call(&endpoints::POSITION_RISK, &q, 0)?;
            let mut list = Vec::new();
            for (v, raw) in rows(&reply)? {
                same_row_symbol(symbol, &v, &raw)?;
                list.push(row::<wire::PositionRisk>(v, &raw)?);
            }
            converted(convert::position(symbol, list), false, &reply.transcript())
        })
    }

    pub(super) fn get_open_orders(&self, symbol: &str) -> ExResult<Vec<ExOrder>> {
        check_symbol_input(symbol)?;
        let mut q = Query::new();
        q.push("symbol", symbol);
        self.read("binance.open_orders", symbol, || {
            let reply = self.rest.call(&endpoints::OPEN_ORDERS, &q, 0)?;
            let mut out = Vec::new();
            for (v, raw) in rows(&reply)? {
                same_row_symbol(symbol, &v, &raw)?;
                out.push(converted(convert::order(row(v, &raw)?, raw.clone()), false, &raw)?);
            }
            Ok(out)
        })
    }

    /// `/fapi/v1/allOrders` from `since_ms`: Binance answers at most 7 days per query, so the
    /// range is bounded explicitly (`since_ms` up to 7 days on, or now) and paged until complete.
    /// Callers stay within 7 days of now.
    pub(super) fn get_order_history(&self, symbol: &str, since_ms: i64) -> ExResult<Vec<ExOrder>> {
        check_symbol_input(symbol)?;
        let (start, end) = self.history_range(since_ms);
        history::collect(start, end, ALGO_HISTORY_LIMIT, |a, b| {
            let mut q = Query::new();
            q.push("symbol", symbol).push("startTime", &a.to_string()).push("endTime", &b.to_string());
            q.push("limit", &ALGO_HISTORY_LIMIT.to_string());
            self.read("binance.order_history", symbol, || {
                let reply = self.rest.call(&endpoints::ALL_ORDERS, &q, 0)?;
                let mut out = Vec::new();
                for (v, raw) in rows(&reply)? {
                    same_row_symbol(symbol, &v, &raw)?;
                    out.push(converted(convert::order(row(v, &raw)?, raw.clone()), false, &raw)?);
                }
                Ok(out)
            })
        })
    }

    /// `/fapi/v1/allAlgoOrders` from `since_ms` (bounded and paged as `get_order_history`), as
    /// the rows are — a FINISHED row is not resolved to its child order here. Every row counts
    /// towards a page; rows without a client id are skipped.
    pub(super) fn get_conditional_history(&self, symbol: &str, since_ms: i64) -> ExResult<Vec<ExConditional>> {
        check_symbol_input(symbol)?;
        let (start, end) = self.history_range(since_ms);
        let pages = history::collect(start, end, ALGO_HISTORY_LIMIT, |a, b| {
            let mut q = Query::new();
            q.push("symbol", symbol).push("startTime", &a.to_string()).push("endTime", &b.to_string());
            q.push("limit", &ALGO_HISTORY_LIMIT.to_string());
            self.read("binance.conditional_history", symbol, || {
                let reply = self.rest.call(&endpoints::ALL_ALGO_ORDERS, &q, 0)?;
                let mut out = Vec::new();
                for (v, raw) in rows(&reply)? {
                    same_row_symbol(symbol, &v, &raw)?;
                    let Some(cid) = v.get("clientAlgoId").and_then(serde_json::Value::as_str).map(str::to_string)
                    else {
                        out.push(None);
                        continue;
                    };
                    out.push(Some(algo_answer(row(v, &raw)?, symbol, &cid, raw, false)?));
                }
                Ok(out)
            })
        })?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// `[since_ms, end]` with `end` the earlier of 7 days on and now (plus the skew margin).
    fn history_range(&self, since_ms: i64) -> (i64, i64) {
        let now = self.rest.server_now_ms().saturating_add(ALGO_HISTORY_LEAD_MS);
        let end = since_ms.saturating_add(history::WINDOW_MS).min(now).max(since_ms);
        (since_ms, end)
    }

    /// Open algo orders of the types mcbot places. Other conditional types (a human's trailing
    /// stop, a STOP limit) cannot be represented in the domain; they are skipped with a warning
    /// rather than blocking the reconcile and close paths.
    pub(super) fn get_open_conditionals(&self, symbol: &str) -> ExResult<Vec<ExConditional>> {
        check_symbol_input(symbol)?;
        let mut q = Query::new();
        q.push("symbol", symbol);
        self.read("binance.open_algo_orders", symbol, || {
            let reply = self.rest.call(&endpoints::OPEN_ALGO_ORDERS, &q, 0)?;
            let mut out = Vec::new();
            for (v, raw) in rows(&reply)? {
                same_row_symbol(symbol, &v, &raw)?;
                let order_type = v.get("orderType").and_then(serde_json::Value::as_str).unwrap_or("");
                if convert::conditional_kind(order_type).is_err() {
                    let id = v.get("clientAlgoId").and_then(serde_json::Value::as_str).unwrap_or("?");
                    tracing::warn!(event = "binance.foreign_algo_order", symbol, client_id = id, order_type, "skipped");
                    continue;
                }
                let w: wire::AlgoOrder = row(v, &raw)?;
                out.push(converted(convert::conditional(w, raw.clone()), false, &raw)?);
            }
            Ok(out)
        })
    }

    /// MARKET with `newOrderRespType=RESULT`, so the answer carries the fill. Sent once.
    pub(super) fn new_market_order(&self, req: &MarketOrderRequest) -> ExResult<ExOrder> {
        check_symbol_input(&req.symbol)?;
        check_client_id(&req.client_id)?;
        check_positive("quantity", req.qty)?;
        let mut q = Query::new();
        q.push("symbol", &req.symbol).push("side", req.side.as_str()).push("type", "MARKET");
        q.push("quantity", &convert::decimal_param(req.qty));
        if req.reduce_only {
            q.push("reduceOnly", "true");
        }
        q.push("newClientOrderId", &req.client_id).push("newOrderRespType", "RESULT");
        let reply = self.rest.call(&endpoints::NEW_ORDER, &q, 0)?;
        let raw = reply.transcript();
        let w: wire::Order = parse(&reply, true)?;
        same("symbol", &req.symbol, &w.symbol, &raw)?;
        same("client order id", &req.client_id, &w.client_order_id, &raw)?;
        if convert::priceless_fill(&w) {
            if !req.reduce_only {
                // An ENTRY: its STOP's trigger comes from the plan, so the STOP must not wait for
                // this price; exec looks it up in the STOP's own round (issue 12 §1).
                tracing::info!(event = "binance.fill_without_price", symbol = %req.symbol, client_id = %req.client_id, "ENTRY filled; price to be looked up");
                return converted(convert::priceless_order(w, raw.clone()), true, &raw);
            }
            return self.fill_price(&req.symbol, &req.client_id, w.executed_qty.0, &raw);
        }
        converted(convert::order(w, raw.clone()), true, &raw)
    }

    /// An accepted MARKET answered FILLED / PARTIALLY_FILLED without avgPrice or cumQuote (the
    /// official `NewOrderResponse` model has neither): a known fill whose price comes from
    /// `GET /fapi/v1/order`, whose model has both. Only when that look-up cannot give a price
    /// (after its retries) is the outcome ambiguous, and the caller's resolver asks again.
    fn fill_price(&self, symbol: &str, client_id: &str, executed: Decimal, write_raw: &str) -> ExResult<ExOrder> {
        tracing::info!(event = "binance.fill_price_lookup", symbol, client_id, %executed, "fill answered without a price");
        let unknown = |why: String| {
            Err(codes::parse_error(true, format!("{client_id} filled {executed} but its price is unknown: {why}"))
                .with_raw(write_raw.to_string()))
        };
        match self.get_order(symbol, client_id) {
            Ok(Some(mut o)) if o.avg_price > Decimal::ZERO && o.executed_qty >= executed => {
                o.raw = format!("{write_raw}\n{}", o.raw);
                Ok(o)
            }
            Ok(Some(o)) => {
                unknown(format!("GET /fapi/v1/order says executedQty {} avgPrice {}", o.executed_qty, o.avg_price))
            }
            Ok(None) => unknown("GET /fapi/v1/order does not know the order".into()),
            Err(e) => unknown(format!("GET /fapi/v1/order failed: {}", e.message)),
        }
    }

    /// The MARKET order a triggered STOP/TP became, by its orderId.
    fn get_order_by_id(&self, symbol: &str, order_id: &str) -> ExResult<Option<ExOrder>> {
        let mut q = Query::new();
        q.push("symbol", symbol).push("orderId", order_id);
        self.read("binance.query_order", order_id, || {
            let r = self.rest.call(&endpoints::QUERY_ORDER, &q, 0);
            if not_found(&r) {
                return Ok(None);
            }
            let reply = r?;
            let raw = reply.transcript();
            let w: wire::Order = parse(&reply, false)?;
            same("symbol", symbol, &w.symbol, &raw)?;
            same("order id", order_id, &w.order_id.0, &raw)?;
            converted(convert::order(w, raw.clone()), false, &raw).map(Some)
        })
    }

    /// A FINISHED conditional row without `actualQty` (the official algo models have none) is
    /// not "expired": its fill is read from the triggered MARKET order (`actualOrderId`). Without
    /// that id, or when the child is unknown, the outcome is an error, never a guess.
    fn resolve_finished(&self, c: ExConditional) -> ExResult<ExConditional> {
        if c.status != ConditionalStatus::Finished || c.actual_qty.is_some() {
            return Ok(c);
        }
        let Some(child_id) = c.actual_order_id.clone() else {
            return Err(codes::invalid_answer(format!(
                "{} is FINISHED with neither actualQty nor actualOrderId",
                c.client_id
            ))
            .with_raw(c.raw));
        };
        match self.get_order_by_id(&c.symbol, &child_id)? {
            Some(child) => Ok(ExConditional {
                actual_qty: Some(child.executed_qty),
                actual_price: c.actual_price.or(Some(child.avg_price).filter(|p| *p > Decimal::ZERO)),
                raw: format!("{}\n{}", c.raw, child.raw),
                ..c
            }),
            None => Err(codes::invalid_answer(format!(
                "{} is FINISHED without actualQty and its order {child_id} is unknown",
                c.client_id
            ))
            .with_raw(c.raw)),
        }
    }

    /// STOP_MARKET / TAKE_PROFIT_MARKET, reduce-only with the quantity, on the Algo Order API.
    /// Sent once.
    pub(super) fn new_algo_order(&self, req: &ConditionalOrderRequest) -> ExResult<ExConditional> {
        check_symbol_input(&req.symbol)?;
        check_client_id(&req.client_id)?;
        check_positive("quantity", req.qty)?;
        check_positive("trigger price", req.trigger_price)?;
        let mut q = Query::new();
        q.push("algoType", "CONDITIONAL").push("symbol", &req.symbol).push("side", req.side.as_str());
        q.push("type", convert::kind_param(req.kind));
        q.push("quantity", &convert::decimal_param(req.qty));
        q.push("triggerPrice", &convert::decimal_param(req.trigger_price));
        q.push("workingType", convert::working_type_param(req.working_type));
        q.push("reduceOnly", "true").push("clientAlgoId", &req.client_id);
        let reply = self.rest.call(&endpoints::NEW_ALGO_ORDER, &q, 0)?;
        let w: wire::AlgoOrder = parse(&reply, true)?;
        algo_answer(w, &req.symbol, &req.client_id, reply.transcript(), true)
    }

    pub(super) fn get_order(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExOrder>> {
        check_symbol_input(symbol)?;
        check_client_id(client_id)?;
        let mut q = Query::new();
        q.push("symbol", symbol).push("origClientOrderId", client_id);
        self.read("binance.query_order", client_id, || {
            let r = self.rest.call(&endpoints::QUERY_ORDER, &q, 0);
            if not_found(&r) {
                return Ok(None);
            }
            order_answer(&r?, symbol, client_id, false).map(Some)
        })
    }

    /// `/fapi/v1/algoOrder?clientAlgoId=`, then, if it does not know the order (completed algo
    /// orders can vanish from it, nautilus PR #4449), `/fapi/v1/allAlgoOrders` by time windows.
    /// `placed_ms`, when known, limits the fallback to the window around the placement and the
    /// newest one (a row may be filed by creation or by update time); without it every week back
    /// to [`ALGO_HISTORY_WINDOWS`] is searched.
    pub(super) fn get_algo_order(
        &self,
        symbol: &str,
        client_id: &str,
        placed_ms: Option<i64>,
    ) -> ExResult<Option<ExConditional>> {
        check_symbol_input(symbol)?;
        check_client_id(client_id)?;
        let mut q = Query::new();
        q.push("clientAlgoId", client_id);
        let direct = self.read("binance.query_algo_order", client_id, || {
            let r = self.rest.call(&endpoints::QUERY_ALGO_ORDER, &q, 0);
            if not_found(&r) {
                return Ok(None);
            }
            let reply = r?;
            if is_empty_answer(&reply.body) {
                return Ok(None);
            }
            let w: wire::AlgoOrder = parse(&reply, false)?;
            algo_answer(w, symbol, client_id, reply.transcript(), false).map(Some)
        })?;
        if let Some(c) = direct {
            return self.resolve_finished(c).map(Some);
        }
        let found = self.find_in_algo_history(symbol, client_id, placed_ms)?;
        found.map(|c| self.resolve_finished(c)).transpose()
    }

    /// `/fapi/v1/allAlgoOrders` in explicit 7-day windows, newest first, each paged until
    /// complete: the newest row with this client id. Without `placed_ms` the search walks back
    /// [`ALGO_HISTORY_WINDOWS`] weeks and stops at the first window that holds the id (ids are
    /// reused only across attempts, which carry their own suffix, so a newer window never hides
    /// an older one). With it, only the newest window and the one starting just before the
    /// placement are read.
    fn find_in_algo_history(
        &self,
        symbol: &str,
        client_id: &str,
        placed_ms: Option<i64>,
    ) -> ExResult<Option<ExConditional>> {
        let newest_end = self.rest.server_now_ms().saturating_add(ALGO_HISTORY_LEAD_MS);
        let newest = (newest_end.saturating_sub(history::WINDOW_MS), newest_end);
        let windows: Vec<(i64, i64)> = match placed_ms {
            Some(p) => {
                let start = p.saturating_sub(ALGO_PLACED_LEAD_MS);
                if start >= newest.0 {
                    vec![newest]
                } else {
                    vec![newest, (start, start.saturating_add(history::WINDOW_MS))]
                }
            }
            None => (0..ALGO_HISTORY_WINDOWS)
                .map(|i| {
                    let back = i64::try_from(i).unwrap_or(0).saturating_mul(history::WINDOW_MS + 1);
                    (newest.0.saturating_sub(back), newest.1.saturating_sub(back))
                })
                .collect(),
        };
        for (start, end) in windows {
            let rows = history::collect(start, end, ALGO_HISTORY_LIMIT, |a, b| {
                self.algo_history_page(symbol, client_id, a, b)
            })?;
            let mut best: Option<ExConditional> = None;
            for c in rows.into_iter().flatten() {
                // Ids are unique among *open* orders only; the latest one is the one that matters.
                if best.as_ref().is_none_or(|b| c.update_time_ms >= b.update_time_ms) {
                    best = Some(c);
                }
            }
            if best.is_some() {
                return Ok(best);
            }
        }
        Ok(None)
    }

    /// One page of `allAlgoOrders` in `[a, b]`: every row counts towards the page size; only the
    /// rows with `client_id` are converted (`Some`).
    fn algo_history_page(&self, symbol: &str, client_id: &str, a: i64, b: i64) -> ExResult<Vec<Option<ExConditional>>> {
        let mut q = Query::new();
        q.push("symbol", symbol).push("startTime", &a.to_string()).push("endTime", &b.to_string());
        q.push("limit", &ALGO_HISTORY_LIMIT.to_string());
        self.read("binance.all_algo_orders", client_id, || {
            let reply = self.rest.call(&endpoints::ALL_ALGO_ORDERS, &q, 0)?;
            let mut out = Vec::new();
            for (v, raw) in rows(&reply)? {
                same_row_symbol(symbol, &v, &raw)?;
                if v.get("clientAlgoId").and_then(serde_json::Value::as_str) != Some(client_id) {
                    out.push(None);
                    continue;
                }
                out.push(Some(algo_answer(row(v, &raw)?, symbol, client_id, raw, false)?));
            }
            Ok(out)
        })
    }

    pub(super) fn delete_order(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        check_symbol_input(symbol)?;
        check_client_id(client_id)?;
        let mut q = Query::new();
        q.push("symbol", symbol).push("origClientOrderId", client_id);
        let r = self.rest.call(&endpoints::CANCEL_ORDER, &q, 0);
        if not_found(&r) {
            return Ok(CancelOutcome::NotOpen { raw: r.err().and_then(|e| e.raw).unwrap_or_default() });
        }
        // Only the status matters here: the official cancel model has no avgPrice / cumQuote, so
        // a partly filled cancelled order must not be refused for lacking a price.
        let reply = r?;
        let raw = reply.transcript();
        let w: wire::Order = parse(&reply, true)?;
        same("symbol", symbol, &w.symbol, &raw)?;
        same("client order id", client_id, &w.client_order_id, &raw)?;
        Ok(match converted(convert::order_status(&w.status), true, &raw)? {
            ExOrderStatus::Canceled => CancelOutcome::Cancelled { raw },
            _ => CancelOutcome::NotOpen { raw },
        })
    }

    /// Tolerates both documented answer shapes: `{algoId, clientAlgoId, code:"200", msg}` and the
    /// full order object.
    pub(super) fn delete_algo_order(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        check_symbol_input(symbol)?;
        check_client_id(client_id)?;
        let mut q = Query::new();
        q.push("clientAlgoId", client_id);
        let r = self.rest.call(&endpoints::CANCEL_ALGO_ORDER, &q, 0);
        if not_found(&r) {
            return Ok(CancelOutcome::NotOpen { raw: r.err().and_then(|e| e.raw).unwrap_or_default() });
        }
        let reply = r?;
        let raw = reply.transcript();
        let w: wire::AlgoCancel = parse(&reply, true)?;
        if let Some(id) = &w.client_algo_id {
            same("client algo id", client_id, id, &raw)?;
        }
        if let Some(s) = &w.symbol {
            same("symbol", symbol, s, &raw)?;
        }
        match (w.algo_status.as_deref(), w.code.map(|c| c.0)) {
            (Some(status), _) => match converted(convert::algo_status(status), true, &raw)? {
                ConditionalStatus::Canceled => Ok(CancelOutcome::Cancelled { raw }),
                _ => Ok(CancelOutcome::NotOpen { raw }),
            },
            (None, Some(200)) => Ok(CancelOutcome::Cancelled { raw }),
            _ => Err(codes::parse_error(true, "cancel answer has neither algoStatus nor code 200").with_raw(raw)),
        }
    }
}
