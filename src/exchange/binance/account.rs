//! Account configuration (margin type, leverage, position mode), the wallet balance and an
//! order's fills. The configuration writes are idempotent: "no need to change" is success.

use super::{check_symbol_input, parse, refuse, row, rows, same, same_row_symbol, BinanceFutures};
use crate::exchange::binance::sign::Query;
use crate::exchange::binance::{codes, convert, endpoints, history, wire};
use crate::exchange::error::{ErrorClass, ExResult};
use crate::exchange::{AccountSettings, Fill};
use rust_decimal::Decimal;

/// Rows asked per `userTrades` page (Binance's maximum).
pub(super) const TRADES_PAGE: usize = 1000;

/// How far before the journaled intent time the fill window starts (clock skew margin).
pub(super) const FILL_WINDOW_LEAD_MS: i64 = 3_600_000;

/// Binance's leverage range.
pub(super) const MAX_LEVERAGE: u32 = 125;

impl BinanceFutures {
    /// `symbolConfig` (margin type, leverage) and `positionSide/dual` (hedge mode), read
    /// concurrently: they are independent, and both precede every ENTRY, so one round trip each
    /// would put a whole extra round trip between the decision and the order.
    pub(super) fn get_account_settings(&self, symbol: &str) -> ExResult<AccountSettings> {
        check_symbol_input(symbol)?;
        let (config, dual) = std::thread::scope(|s| {
            let config = s.spawn(|| self.get_symbol_config(symbol));
            let dual = self.read("binance.position_side_dual", symbol, || {
                let reply = self.rest.call(&endpoints::POSITION_SIDE_DUAL, &Query::new(), 0)?;
                parse::<wire::PositionSideDual>(&reply, false).map(|d| d.dual_side_position.0)
            });
            (config.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), dual)
        });
        let (isolated, leverage) = config?;
        Ok(AccountSettings { isolated, leverage, dual_side: dual? })
    }

    /// (isolated, leverage) from `symbolConfig`.
    fn get_symbol_config(&self, symbol: &str) -> ExResult<(bool, u32)> {
        let mut q = Query::new();
        q.push("symbol", symbol);
        self.read("binance.symbol_config", symbol, || {
            let reply = self.rest.call(&endpoints::SYMBOL_CONFIG, &q, 0)?;
            let raw = reply.transcript();
            let mut found = None;
            for (v, row_raw) in rows(&reply)? {
                same_row_symbol(symbol, &v, &row_raw)?;
                found = Some(row::<wire::SymbolConfig>(v, &row_raw)?);
            }
            let c = found.ok_or_else(|| {
                codes::invalid_answer(format!("no symbolConfig row for {symbol}")).with_raw(raw.clone())
            })?;
            let isolated = match c.margin_type.to_ascii_uppercase().as_str() {
                "ISOLATED" => true,
                "CROSSED" | "CROSS" => false,
                other => return Err(codes::invalid_answer(format!("unknown marginType {other:?}")).with_raw(raw)),
            };
            let leverage = u32::try_from(c.leverage.0)
                .map_err(|_| codes::invalid_answer(format!("leverage {} out of range", c.leverage.0)).with_raw(raw))?;
            Ok((isolated, leverage))
        })
    }

    /// `POST /fapi/v1/marginType ISOLATED`; -4046 (already isolated) is success.
    pub(super) fn post_isolated_margin(&self, symbol: &str) -> ExResult<()> {
        check_symbol_input(symbol)?;
        let mut q = Query::new();
        q.push("symbol", symbol).push("marginType", "ISOLATED");
        let reply = match self.rest.call(&endpoints::MARGIN_TYPE, &q, 0) {
            Err(e) if e.class == ErrorClass::IdempotentSafe => return Ok(()),
            r => r?,
        };
        let ok: wire::CodeMsg = parse(&reply, true)?;
        if ok.code.0 == 200 {
            Ok(())
        } else {
            Err(codes::parse_error(true, format!("marginType answered code {}", ok.code.0))
                .with_raw(reply.transcript()))
        }
    }

    /// `POST /fapi/v1/leverage`; the answer must confirm the symbol and the leverage asked for.
    pub(super) fn post_leverage(&self, symbol: &str, leverage: u32) -> ExResult<()> {
        check_symbol_input(symbol)?;
        if !(1..=MAX_LEVERAGE).contains(&leverage) {
            return Err(refuse(format!("leverage {leverage} is outside 1..={MAX_LEVERAGE}")));
        }
        let mut q = Query::new();
        q.push("symbol", symbol).push("leverage", &leverage.to_string());
        let reply = match self.rest.call(&endpoints::LEVERAGE, &q, 0) {
            Err(e) if e.class == ErrorClass::IdempotentSafe => return Ok(()),
            r => r?,
        };
        let raw = reply.transcript();
        let w: wire::LeverageChange = parse(&reply, true)?;
        same("symbol", symbol, &w.symbol, &raw)?;
        same("leverage", &leverage.to_string(), &w.leverage.0.to_string(), &raw)
    }

    /// `availableBalance` of `asset`: what can fund a new isolated position. (`balance` also
    /// counts margin already locked in positions and orders, so it would overstate it.)
    pub(super) fn get_available_balance(&self, asset: &str) -> ExResult<Decimal> {
        self.read("binance.balance", asset, || {
            let reply = self.rest.call(&endpoints::BALANCE, &Query::new(), 0)?;
            let list: Vec<wire::Balance> = parse(&reply, false)?;
            list.into_iter()
                .find(|b| b.asset == asset)
                .map(|b| b.available_balance.0)
                .ok_or_else(|| codes::invalid_answer(format!("no {asset} balance row")).with_raw(reply.transcript()))
        })
    }

    /// `userTrades` of one order, bounded by time around `placed_ms` (Binance answers only the
    /// last 7 days and 500 rows without a range, so an older order's fills came back empty) and
    /// paged until complete. Rows are checked (symbol, orderId) and de-duplicated by trade id.
    pub(super) fn get_user_trades(&self, symbol: &str, order_id: &str, placed_ms: i64) -> ExResult<Vec<Fill>> {
        check_symbol_input(symbol)?;
        if order_id.is_empty() || !order_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse(format!("{order_id:?} is not a Binance order id")));
        }
        // Our intent time is journaled before the order is sent, on our clock: a little before
        // it, in case that clock runs ahead of the exchange's.
        let start = placed_ms.saturating_sub(FILL_WINDOW_LEAD_MS);
        let end = start.saturating_add(history::WINDOW_MS);
        let pages = history::collect(start, end, TRADES_PAGE, |a, b| {
            let mut q = Query::new();
            q.push("symbol", symbol).push("orderId", order_id);
            q.push("startTime", &a.to_string()).push("endTime", &b.to_string());
            q.push("limit", &TRADES_PAGE.to_string());
            self.read("binance.user_trades", order_id, || {
                let reply = self.rest.call(&endpoints::USER_TRADES, &q, 0)?;
                let mut out = Vec::new();
                for (v, raw) in rows(&reply)? {
                    same_row_symbol(symbol, &v, &raw)?;
                    let t: wire::UserTrade = row(v, &raw)?;
                    same("orderId", order_id, &t.order_id.0, &raw)?;
                    out.push(t);
                }
                Ok(out)
            })
        })?;
        let mut seen = std::collections::HashSet::new();
        Ok(pages.into_iter().filter(|t| seen.insert(t.id.0.clone())).map(convert::fill).collect())
    }
}
