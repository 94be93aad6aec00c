//! `impl Exchange for PaperExchange`: each method names the Binance endpoint it stands in for and
//! the faults that may hit it, then runs through `PaperExchange::call`.

use super::faults::{CallKind, FaultKind};
use super::wire::{self, Req};
use super::{rules, PaperExchange};
use crate::core::candle::{interval_ms, Candle};
use crate::core::money::SymbolFilters;
use crate::exchange::error::ExResult;
use crate::exchange::{
    AccountSettings, CancelOutcome, ConditionalKind, ConditionalOrderRequest, ErrorClass, ExConditional, ExOrder,
    ExPosition, Exchange, Fill, FundingPayment, KeyPermissions, MarkInfo, MarketOrderRequest, VenueInfo,
};
use rust_decimal::Decimal;

/// Binance's `limit` for klines: default 500, at most 1500.
fn klines_limit(limit: usize) -> usize {
    match limit {
        0 => 500,
        n => n.min(1500),
    }
}

impl Exchange for PaperExchange {
    fn name(&self) -> &'static str {
        "paper"
    }
    fn concurrent_calls(&self) -> bool {
        false
    }

    /// The clock's now. Never faulted and not counted: the paper exchange has no clock offset to
    /// measure, and a fault here would only test the clock sync, not the order path.
    fn server_time(&self) -> ExResult<i64> {
        Ok(self.clock.now_ms())
    }

    fn filters(&self, symbol: &str) -> ExResult<SymbolFilters> {
        self.read("filters", "GET /fapi/v1/exchangeInfo", &Req::symbol(symbol), |_, _| Ok(self.opts.filters.clone()))
    }

    fn klines(&self, symbol: &str, interval: &str, limit: usize) -> ExResult<Vec<Candle>> {
        self.read("klines", "GET /fapi/v1/klines", &Req::symbol(symbol), |_, now| {
            if interval_ms(interval).ok() != Some(self.market.interval_ms()) {
                return Err(rules::api(-1120, ErrorClass::Fatal, "Invalid interval."));
            }
            self.market.candles_until(now, klines_limit(limit))
        })
    }

    fn mark_info(&self, symbol: &str) -> ExResult<MarkInfo> {
        self.read("mark_info", "GET /fapi/v1/premiumIndex", &Req::symbol(symbol), |_, now| {
            let funding = self.market.last_funding(now)?.map_or(Decimal::ZERO, |f| f.rate);
            Ok(MarkInfo {
                symbol: symbol.to_string(),
                mark_price: self.mark(now)?,
                funding_rate: funding,
                time_ms: now,
            })
        })
    }

    /// The mark is the open of the candle at now; after the data ends (a `sim`'s last reconcile),
    /// the last close, so the position can still be read.
    fn position(&self, symbol: &str) -> ExResult<ExPosition> {
        self.read("position", "GET /fapi/v3/positionRisk", &Req::symbol(symbol), |b, now| {
            let mark = match self.market.candle_at(now)? {
                Some(c) => c.open,
                None => self.market.candles_until(now, 1)?.pop().map_or(Decimal::ZERO, |c| c.close),
            };
            Ok(ExPosition {
                symbol: symbol.to_string(),
                qty: b.pos_qty,
                entry_price: b.pos_entry,
                mark_price: mark,
                update_time_ms: b.pos_update_ms,
            })
        })
    }

    fn open_orders(&self, symbol: &str) -> ExResult<Vec<ExOrder>> {
        let req = Req::symbol(symbol);
        self.read("open_orders", "GET /fapi/v1/openOrders", &req, |b, _| {
            Ok(b.open_orders().map(|o| wire::ex_order(symbol, o, "GET /fapi/v1/openOrders", &req)).collect())
        })
    }

    fn open_conditional_orders(&self, symbol: &str) -> ExResult<Vec<ExConditional>> {
        let req = Req::symbol(symbol);
        self.read("open_conditional_orders", "GET /fapi/v1/openAlgoOrders", &req, |b, _| {
            Ok(b.open_conds().map(|c| wire::ex_conditional(symbol, c, "GET /fapi/v1/openAlgoOrders", &req)).collect())
        })
    }

    fn place_market(&self, req: &MarketOrderRequest) -> ExResult<ExOrder> {
        let endpoint = "POST /fapi/v1/order";
        let (lane, kind) = match req.reduce_only {
            true => ("place_market(reduce_only)", CallKind::Other),
            false => ("place_market(entry)", CallKind::Entry),
        };
        let request = wire::market_request(req);
        self.call(lane, endpoint, kind, &request, |b, now, injected| {
            let mark = self.mark(now)?;
            let partial = match (&self.faults, injected.is(FaultKind::PartialFill)) {
                (Some(f), true) => {
                    let fs = &self.opts.filters;
                    let permille = Decimal::from(200 + f.draw_below(lane, 601)) / Decimal::from(1000);
                    let part = fs.floor_qty(req.qty * permille).max(fs.min_qty);
                    let completes_at =
                        (f.draw_below(lane, 2) == 0).then(|| now + 1_000 + f.draw_below(lane, 19_001) as i64);
                    Some((part, completes_at))
                }
                _ => None,
            };
            let (i, partial_applied) = b.place_market(req, &self.opts.filters, mark, now, partial)?;
            injected.applied = partial_applied;
            if injected.is(FaultKind::EntryAckLost) {
                injected.applied = true;
                return Err(rules::ack_lost());
            }
            Ok(wire::ex_order(&self.opts.symbol, &b.orders[i], endpoint, &request))
        })
    }

    fn place_conditional(&self, req: &ConditionalOrderRequest) -> ExResult<ExConditional> {
        let endpoint = "POST /fapi/v1/algoOrder";
        let (lane, kind, rejected) = match req.kind {
            ConditionalKind::StopMarket => ("place_conditional(STOP_MARKET)", CallKind::Stop, FaultKind::StopRejected),
            ConditionalKind::TakeProfitMarket => {
                ("place_conditional(TAKE_PROFIT_MARKET)", CallKind::TakeProfit, FaultKind::TpRejected)
            }
        };
        let request = wire::conditional_request(req);
        self.call(lane, endpoint, kind, &request, |b, now, injected| {
            if let (Some(f), true) = (&self.faults, injected.is(rejected)) {
                injected.applied = true;
                let would_trigger = f.draw_below(lane, 2) == 0;
                return Err(if would_trigger { rules::would_trigger() } else { rules::reduce_only_reject() });
            }
            let i = b.place_conditional(req, &self.opts.filters, self.mark(now)?, now)?;
            Ok(wire::ex_conditional(&self.opts.symbol, &b.conds[i], endpoint, &request))
        })
    }

    fn query_order(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExOrder>> {
        let endpoint = "GET /fapi/v1/order";
        let req = Req::order(symbol, client_id);
        self.read("query_order", endpoint, &req, |b, _| {
            Ok(b.order_by_client(client_id).map(|i| wire::ex_order(symbol, &b.orders[i], endpoint, &req)))
        })
    }

    fn query_conditional(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExConditional>> {
        let endpoint = "GET /fapi/v1/algoOrder";
        let req = Req::algo(symbol, client_id);
        self.read("query_conditional", endpoint, &req, |b, _| {
            Ok(b.cond_by_client(client_id).map(|i| wire::ex_conditional(symbol, &b.conds[i], endpoint, &req)))
        })
    }

    fn cancel_order(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        let endpoint = "DELETE /fapi/v1/order";
        let req = Req::order(symbol, client_id);
        self.read("cancel_order", endpoint, &req, |b, now| {
            Ok(match b.cancel_order(client_id, now) {
                Some(i) => CancelOutcome::Cancelled { raw: wire::ex_order(symbol, &b.orders[i], endpoint, &req).raw },
                None => CancelOutcome::NotOpen { raw: wire::not_open(endpoint, &req) },
            })
        })
    }

    fn cancel_conditional(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        let endpoint = "DELETE /fapi/v1/algoOrder";
        let req = Req::algo(symbol, client_id);
        self.read("cancel_conditional", endpoint, &req, |b, now| {
            Ok(match b.cancel_cond(client_id, now) {
                Some(i) => {
                    CancelOutcome::Cancelled { raw: wire::ex_conditional(symbol, &b.conds[i], endpoint, &req).raw }
                }
                None => CancelOutcome::NotOpen { raw: wire::not_open(endpoint, &req) },
            })
        })
    }

    /// Always one-way; margin type and leverage are the book's (ISOLATED, 1x by default).
    fn account_settings(&self, symbol: &str) -> ExResult<AccountSettings> {
        self.read("account_settings", "GET /fapi/v1/symbolConfig", &Req::symbol(symbol), |b, _| {
            Ok(AccountSettings { isolated: b.isolated, leverage: b.leverage, dual_side: false })
        })
    }

    /// -4046 (already isolated) is success, as in the Binance adapter.
    fn set_isolated_margin(&self, symbol: &str) -> ExResult<()> {
        self.read("set_isolated_margin", "POST /fapi/v1/marginType", &Req::symbol(symbol), |b, _| {
            match b.set_margin_type(true) {
                Err(e) if e.class == ErrorClass::IdempotentSafe => Ok(()),
                r => r,
            }
        })
    }

    fn set_leverage(&self, symbol: &str, leverage: u32) -> ExResult<()> {
        self.read("set_leverage", "POST /fapi/v1/leverage", &Req::symbol(symbol), |b, _| b.set_leverage(leverage))
    }

    /// The USDT balance: starting balance + realised PnL − fees ± funding. Other assets: zero.
    fn wallet_balance(&self, asset: &str) -> ExResult<Decimal> {
        self.read("wallet_balance", "GET /fapi/v3/balance", &Req::symbol(&self.opts.symbol), |b, _| {
            Ok(if asset == "USDT" { b.balance } else { Decimal::ZERO })
        })
    }

    fn order_history(&self, symbol: &str, since_ms: i64) -> ExResult<Vec<ExOrder>> {
        let endpoint = "GET /fapi/v1/allOrders";
        let req = Req::symbol(symbol);
        self.read("order_history", endpoint, &req, |b, _| {
            Ok(b.orders
                .iter()
                .filter(|o| o.created_ms >= since_ms)
                .map(|o| wire::ex_order(symbol, o, endpoint, &req))
                .collect())
        })
    }

    fn conditional_history(&self, symbol: &str, since_ms: i64) -> ExResult<Vec<ExConditional>> {
        let endpoint = "GET /fapi/v1/allAlgoOrders";
        let req = Req::symbol(symbol);
        self.read("conditional_history", endpoint, &req, |b, _| {
            Ok(b.conds
                .iter()
                .filter(|c| c.created_ms >= since_ms)
                .map(|c| wire::ex_conditional(symbol, c, endpoint, &req))
                .collect())
        })
    }

    /// What `advance` settled on the position, from `paper.funding` and the book's fills.
    fn funding_history(&self, symbol: &str, start_ms: i64, end_ms: i64) -> ExResult<Vec<FundingPayment>> {
        self.read("funding_history", "GET /fapi/v1/income", &Req::symbol(symbol), |b, _| {
            Ok(b.funding_history(self.market.as_ref(), start_ms, end_ms)?
                .into_iter()
                .map(|(t, amount)| FundingPayment { amount, asset: "USDT".into(), time_ms: t })
                .collect())
        })
    }

    /// The paper symbol always trades, under the configured filters; it has no rate limits.
    fn venue_info(&self, symbol: &str) -> ExResult<VenueInfo> {
        self.read("venue_info", "GET /fapi/v1/exchangeInfo", &Req::symbol(symbol), |_, _| {
            Ok(VenueInfo {
                status: "TRADING".into(),
                filters: self.opts.filters.clone(),
                weight_limit_1m: None,
                order_limit_1m: None,
                order_limit_10s: None,
            })
        })
    }

    /// The paper account is single-asset (USDT) by construction.
    fn multi_assets_margin(&self) -> ExResult<bool> {
        self.read("multi_assets_margin", "GET /fapi/v1/multiAssetsMargin", &Req::symbol(&self.opts.symbol), |_, _| {
            Ok(false)
        })
    }

    /// No key: there are no permissions to read.
    fn key_permissions(&self) -> ExResult<Option<KeyPermissions>> {
        Ok(None)
    }

    fn order_fills(&self, symbol: &str, order_id: &str, _placed_ms: i64) -> ExResult<Vec<Fill>> {
        // The paper book keeps every fill: no history window applies.
        self.read("order_fills", "GET /fapi/v1/userTrades", &Req::symbol(symbol), |b, _| {
            let i = order_id.parse::<i64>().ok().and_then(|id| b.order_by_id(id));
            Ok(i.map(|i| b.orders[i].fills.clone()).unwrap_or_default())
        })
    }

    /// Its own truth: it runs on mcbot's clock (offset 0, measured by construction), signs
    /// nothing and has no rate limits.
    fn standing(&self) -> crate::exchange::Standing {
        crate::exchange::Standing { clock_offset_ms: Some(0), recv_window_ms: 0, rate_limit_used_pct: 0 }
    }
}
