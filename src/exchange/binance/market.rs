//! Public market data: exchangeInfo filters (cached per symbol, and the account's rate limits),
//! klines and the mark price. Unsigned; usable by the public-only client.

use super::{check_symbol_input, converted, parse, refuse, same, BinanceFutures};
use crate::core::candle::Candle;
use crate::core::money::SymbolFilters;
use crate::exchange::binance::endpoints;
use crate::exchange::binance::sign::Query;
use crate::exchange::binance::{codes, convert, wire};
use crate::exchange::error::ExResult;
use crate::exchange::{MarkInfo, VenueInfo};

/// Binance's maximum klines per request.
pub(super) const MAX_KLINES: usize = 1500;

impl BinanceFutures {
    pub(super) fn get_filters(&self, symbol: &str) -> ExResult<SymbolFilters> {
        check_symbol_input(symbol)?;
        if let Some(f) = self.filters.lock().ok().and_then(|c| c.get(symbol).cloned()) {
            return Ok(f);
        }
        self.get_venue_info(symbol).map(|v| v.filters)
    }

    /// One fresh `exchangeInfo` read: the symbol's status and filters and the rate limits. Sets
    /// the rate gate's limits and fills the filter and margin-asset caches on the way.
    pub(super) fn get_venue_info(&self, symbol: &str) -> ExResult<VenueInfo> {
        check_symbol_input(symbol)?;
        // Parsed inside the read: an unreadable exchangeInfo (or symbol row) is retried like a
        // failed one; a symbol that is not listed is an answer, and fatal.
        let (sym, raw, (weight_1m, orders_1m, orders_10s)) = self.read("binance.exchange_info", symbol, || {
            let reply = self.rest.call(&endpoints::EXCHANGE_INFO, &Query::new(), 0)?;
            let raw = reply.transcript();
            let info: wire::ExchangeInfo = parse(&reply, false)?;
            let limit = |kind: &str, interval: &str, n: i64| {
                info.rate_limits
                    .iter()
                    .find(|r| r.rate_limit_type == kind && r.interval == interval && r.interval_num.0 == n)
                    .and_then(|r| u64::try_from(r.limit.0).ok())
            };
            let limits =
                (limit("REQUEST_WEIGHT", "MINUTE", 1), limit("ORDERS", "MINUTE", 1), limit("ORDERS", "SECOND", 10));
            self.rest.gate.set_limits(limits.0, limits.1);
            let entry = info
                .symbols
                .into_iter()
                .find(|v| v.get("symbol").and_then(serde_json::Value::as_str) == Some(symbol))
                .ok_or_else(|| {
                    codes::mismatch_error(format!("{symbol} is not listed in exchangeInfo")).with_raw(raw.clone())
                })?;
            let sym: wire::ExchangeInfoSymbol = serde_json::from_value(entry)
                .map_err(|e| codes::parse_error(false, format!("exchangeInfo {symbol}: {e}")).with_raw(raw.clone()))?;
            Ok((sym, raw, limits))
        })?;
        let filters = converted(convert::filters(&sym), false, &raw)?;
        if let Ok(mut cache) = self.filters.lock() {
            cache.insert(symbol.to_string(), filters.clone());
        }
        Ok(VenueInfo {
            // An entry without a status is not known to trade.
            status: sym.status.unwrap_or_else(|| "(no status)".into()),
            filters,
            weight_limit_1m: weight_1m,
            order_limit_1m: orders_1m,
            order_limit_10s: orders_10s,
        })
    }

    pub(super) fn get_klines(&self, symbol: &str, interval: &str, limit: usize) -> ExResult<Vec<Candle>> {
        check_symbol_input(symbol)?;
        if limit == 0 || limit > MAX_KLINES {
            return Err(refuse(format!("klines limit {limit} is outside 1..={MAX_KLINES}")));
        }
        let mut q = Query::new();
        q.push("symbol", symbol).push("interval", interval).push("limit", &limit.to_string());
        self.read("binance.klines", symbol, || {
            let reply = self.rest.call(&endpoints::KLINES, &q, limit)?;
            let rows: Vec<wire::KlineRow> = parse(&reply, false)?;
            let raw = reply.transcript();
            rows.iter().map(|r| converted(convert::candle(r), false, &raw)).collect()
        })
    }

    pub(super) fn get_mark_info(&self, symbol: &str) -> ExResult<MarkInfo> {
        check_symbol_input(symbol)?;
        let mut q = Query::new();
        q.push("symbol", symbol);
        self.read("binance.premium_index", symbol, || {
            let reply = self.rest.call(&endpoints::PREMIUM_INDEX, &q, 0)?;
            let w: wire::PremiumIndex = parse(&reply, false)?;
            same("symbol", symbol, &w.symbol, &reply.transcript())?;
            Ok(convert::mark_info(w))
        })
    }
}
