//! Wire DTOs ⇄ domain types, in one place. Decimals come straight from the strings Binance sent
//! and go out as plain decimal text; no float ever touches a price or a quantity.
//!
//! Functions return `Result<_, String>`: the caller knows whether the answer belonged to a read or
//! a write and classifies the failure accordingly (`codes::parse_error`).

use crate::core::candle::Candle;
use crate::core::money::SymbolFilters;
use crate::core::types::OrderSide;
use crate::exchange::binance::wire;
use crate::exchange::{
    ConditionalKind, ConditionalStatus, ExConditional, ExOrder, ExOrderStatus, ExPosition, Fill, MarkInfo, WorkingType,
};
use rust_decimal::Decimal;

type Conv<T> = Result<T, String>;

pub(crate) fn side(s: &str) -> Conv<OrderSide> {
    s.parse()
}

pub(crate) fn order_status(s: &str) -> Conv<ExOrderStatus> {
    Ok(match s {
        "NEW" => ExOrderStatus::New,
        "PARTIALLY_FILLED" => ExOrderStatus::PartiallyFilled,
        "FILLED" => ExOrderStatus::Filled,
        "CANCELED" => ExOrderStatus::Canceled,
        "REJECTED" => ExOrderStatus::Rejected,
        // Expired by self-trade prevention: closed, nothing more will fill.
        "EXPIRED" | "EXPIRED_IN_MATCH" => ExOrderStatus::Expired,
        other => return Err(format!("unknown order status {other:?}")),
    })
}

pub(crate) fn algo_status(s: &str) -> Conv<ConditionalStatus> {
    Ok(match s {
        "NEW" => ConditionalStatus::New,
        "TRIGGERING" => ConditionalStatus::Triggering,
        "TRIGGERED" => ConditionalStatus::Triggered,
        "FINISHED" => ConditionalStatus::Finished,
        "CANCELED" => ConditionalStatus::Canceled,
        "REJECTED" => ConditionalStatus::Rejected,
        "EXPIRED" => ConditionalStatus::Expired,
        other => return Err(format!("unknown algoStatus {other:?}")),
    })
}

/// STOP_MARKET / TAKE_PROFIT_MARKET; other conditional types (STOP, TAKE_PROFIT, trailing) are
/// not ones mcbot places, and the domain cannot represent them.
pub(crate) fn conditional_kind(s: &str) -> Conv<ConditionalKind> {
    match s {
        "STOP_MARKET" => Ok(ConditionalKind::StopMarket),
        "TAKE_PROFIT_MARKET" => Ok(ConditionalKind::TakeProfitMarket),
        other => Err(format!("conditional orderType {other:?} is not STOP_MARKET or TAKE_PROFIT_MARKET")),
    }
}

pub(crate) fn kind_param(k: ConditionalKind) -> &'static str {
    match k {
        ConditionalKind::StopMarket => "STOP_MARKET",
        ConditionalKind::TakeProfitMarket => "TAKE_PROFIT_MARKET",
    }
}

pub(crate) fn working_type_param(w: WorkingType) -> &'static str {
    match w {
        WorkingType::MarkPrice => "MARK_PRICE",
        WorkingType::ContractPrice => "CONTRACT_PRICE",
    }
}

/// A decimal as Binance wants it: plain text, no exponent, no trailing zeros (which could exceed
/// the asset's precision and earn a -1111).
pub(crate) fn decimal_param(d: Decimal) -> String {
    d.normalize().to_string()
}

fn time(t: Option<wire::Int>) -> i64 {
    t.map_or(0, |t| t.0)
}

/// A fill without a price: executedQty > 0 but neither a positive avgPrice nor a cumQuote. The
/// official `NewOrderResponse` / cancel models carry neither field, so an accepted write may look
/// like this; it is a known fill whose price must be looked up, never an ambiguous write.
pub(crate) fn priceless_fill(w: &wire::Order) -> bool {
    let executed = w.executed_qty.0;
    let priced = w.avg_price.0.is_some_and(|p| p > Decimal::ZERO) || w.cum_quote.0.is_some_and(|q| q > Decimal::ZERO);
    executed > Decimal::ZERO && !priced
}

pub(crate) fn order(w: wire::Order, raw: String) -> Conv<ExOrder> {
    order_priced(w, raw, false)
}

/// An ENTRY's fill answered without a price: the order as it is, its price zero
/// (`ExOrder::fill_price` is `None`) — the caller looks the price up while the STOP goes out.
pub(crate) fn priceless_order(w: wire::Order, raw: String) -> Conv<ExOrder> {
    order_priced(w, raw, true)
}

fn order_priced(w: wire::Order, raw: String, price_may_be_missing: bool) -> Conv<ExOrder> {
    let executed = w.executed_qty.0;
    // avgPrice is "0" in ACK answers; fall back to cumQuote/executedQty, and refuse a fill with
    // no price rather than report zero.
    let avg_price = match (w.avg_price.0, w.cum_quote.0) {
        (Some(p), _) if p > Decimal::ZERO => p,
        (_, Some(q)) if executed > Decimal::ZERO && q > Decimal::ZERO => q / executed,
        _ if executed > Decimal::ZERO && !price_may_be_missing => {
            return Err("order has executedQty > 0 but no avgPrice".into())
        }
        _ => Decimal::ZERO,
    };
    if w.order_id.0.is_empty() {
        return Err("order has an empty orderId".into());
    }
    Ok(ExOrder {
        symbol: w.symbol,
        client_id: w.client_order_id,
        order_id: w.order_id.0,
        side: side(&w.side)?,
        status: order_status(&w.status)?,
        orig_qty: w.orig_qty.0,
        executed_qty: executed,
        avg_price,
        reduce_only: w.reduce_only.is_some_and(|f| f.0),
        update_time_ms: time(w.update_time),
        raw,
    })
}

pub(crate) fn conditional(w: wire::AlgoOrder, raw: String) -> Conv<ExConditional> {
    let close_position = w.close_position.is_some_and(|f| f.0);
    let qty = match w.quantity.0 {
        Some(q) => q,
        None if close_position => Decimal::ZERO,
        None => return Err("conditional order has no quantity and is not closePosition".into()),
    };
    let actual_order_id = Some(w.actual_order_id.0).filter(|s| !s.is_empty() && s != "0");
    Ok(ExConditional {
        symbol: w.symbol,
        client_id: w.client_algo_id,
        algo_id: w.algo_id.0,
        kind: conditional_kind(&w.order_type)?,
        side: side(&w.side)?,
        status: algo_status(&w.algo_status)?,
        trigger_price: w.trigger_price.0,
        qty,
        reduce_only: w.reduce_only.is_some_and(|f| f.0),
        close_position,
        // "0.00000" before any fill means "not known yet", not a price of zero.
        actual_price: w.actual_price.0.filter(|p| *p > Decimal::ZERO),
        actual_qty: w.actual_qty.0,
        actual_order_id,
        update_time_ms: time(w.update_time),
        raw,
    })
}

/// The one-way position from the rows for `symbol`: none means flat.
pub(crate) fn position(symbol: &str, rows: Vec<wire::PositionRisk>) -> Conv<ExPosition> {
    if rows.len() > 1 {
        return Err(format!("{} position rows for {symbol}: the account is in hedge mode", rows.len()));
    }
    let Some(r) = rows.into_iter().next() else {
        return Ok(ExPosition {
            symbol: symbol.to_string(),
            qty: Decimal::ZERO,
            entry_price: Decimal::ZERO,
            mark_price: Decimal::ZERO,
            update_time_ms: 0,
        });
    };
    match r.position_side.as_deref() {
        None | Some("BOTH") => {}
        Some(other) => {
            return Err(format!("positionSide {other:?}: the account is in hedge mode, mcbot needs one-way"))
        }
    }
    Ok(ExPosition {
        symbol: r.symbol,
        qty: r.position_amt.0,
        entry_price: r.entry_price.0,
        mark_price: r.mark_price.0,
        update_time_ms: time(r.update_time),
    })
}

pub(crate) fn mark_info(w: wire::PremiumIndex) -> MarkInfo {
    MarkInfo { symbol: w.symbol, mark_price: w.mark_price.0, funding_rate: w.last_funding_rate.0, time_ms: w.time.0 }
}

fn cell_int(row: &[serde_json::Value], i: usize) -> Conv<i64> {
    let v = row.get(i).ok_or_else(|| format!("kline row has no column {i}"))?;
    serde_json::from_value::<wire::Int>(v.clone()).map(|n| n.0).map_err(|e| format!("kline column {i}: {e}"))
}

fn cell_dec(row: &[serde_json::Value], i: usize) -> Conv<Decimal> {
    let v = row.get(i).ok_or_else(|| format!("kline row has no column {i}"))?;
    serde_json::from_value::<wire::Num>(v.clone()).map(|n| n.0).map_err(|e| format!("kline column {i}: {e}"))
}

pub(crate) fn candle(row: &wire::KlineRow) -> Conv<Candle> {
    Ok(Candle {
        open_time_ms: cell_int(row, 0)?,
        open: cell_dec(row, 1)?,
        high: cell_dec(row, 2)?,
        low: cell_dec(row, 3)?,
        close: cell_dec(row, 4)?,
        volume: cell_dec(row, 5)?,
        close_time_ms: cell_int(row, 6)?,
    })
}

fn filter<'a>(s: &'a wire::ExchangeInfoSymbol, kind: &str) -> Option<&'a wire::SymbolFilter> {
    s.filters.iter().find(|f| f.filter_type == kind)
}

fn required(v: Option<Decimal>, what: &str) -> Conv<Decimal> {
    v.ok_or_else(|| format!("exchangeInfo: {what} is missing"))
}

/// PRICE_FILTER, LOT_SIZE and MIN_NOTIONAL are required (a missing one must not become a
/// permissive zero); MARKET_LOT_SIZE is optional (core falls back to LOT_SIZE's maximum).
pub(crate) fn filters(s: &wire::ExchangeInfoSymbol) -> Conv<SymbolFilters> {
    let price = filter(s, "PRICE_FILTER").ok_or("exchangeInfo: no PRICE_FILTER")?;
    let lot = filter(s, "LOT_SIZE").ok_or("exchangeInfo: no LOT_SIZE")?;
    let notional = filter(s, "MIN_NOTIONAL").ok_or("exchangeInfo: no MIN_NOTIONAL")?;
    let market_max_qty = filter(s, "MARKET_LOT_SIZE").and_then(|f| f.max_qty.0).unwrap_or(Decimal::ZERO);
    let f = SymbolFilters {
        symbol: s.symbol.clone(),
        tick_size: required(price.tick_size.0, "PRICE_FILTER.tickSize")?,
        min_price: price.min_price.0.unwrap_or(Decimal::ZERO),
        max_price: price.max_price.0.unwrap_or(Decimal::ZERO),
        step_size: required(lot.step_size.0, "LOT_SIZE.stepSize")?,
        min_qty: required(lot.min_qty.0, "LOT_SIZE.minQty")?,
        max_qty: required(lot.max_qty.0, "LOT_SIZE.maxQty")?,
        market_max_qty,
        min_notional: required(notional.notional.0, "MIN_NOTIONAL.notional")?,
    };
    if f.tick_size <= Decimal::ZERO || f.step_size <= Decimal::ZERO {
        return Err(format!("exchangeInfo: tickSize {} / stepSize {} must be positive", f.tick_size, f.step_size));
    }
    Ok(f)
}

/// A trade row, its fee kept in the asset it was paid in: the official `userTrades` model has no
/// `marginAsset`, and a BNB fee is neither refused (that would lose the fill) nor counted as USDT.
pub(crate) fn fill(w: wire::UserTrade) -> Fill {
    Fill {
        order_id: w.order_id.0,
        price: w.price.0,
        qty: w.qty.0,
        commission: w.commission.0,
        commission_asset: w.commission_asset,
        realized_pnl: w.realized_pnl.0,
        time_ms: w.time.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn decimal_params_are_plain() {
        assert_eq!(decimal_param(dec!(0.0100)), "0.01");
        assert_eq!(decimal_param(dec!(43000.10)), "43000.1");
        assert_eq!(decimal_param(dec!(100)), "100");
        assert_eq!(decimal_param(dec!(0.00000001)), "0.00000001");
    }

    #[test]
    fn statuses_map_or_refuse() {
        assert_eq!(order_status("EXPIRED_IN_MATCH"), Ok(ExOrderStatus::Expired));
        assert!(order_status("PENDING").is_err());
        assert_eq!(algo_status("TRIGGERING"), Ok(ConditionalStatus::Triggering));
        assert!(algo_status("new").is_err());
        assert!(conditional_kind("TAKE_PROFIT").is_err());
        assert!(side("HOLD").is_err());
    }
}
