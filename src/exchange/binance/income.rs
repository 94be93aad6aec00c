//! Funding settled on the symbol (`GET /fapi/v1/income?incomeType=FUNDING_FEE`), paged: what a
//! closed trade received or paid while it was open. Kept apart from fees (`userTrades`).
//!
//! Binance: `startTime`/`endTime` inclusive, `limit` at most 1000, and the history holds the
//! last three months only — an older window would come back short, so it is refused here
//! rather than summed as if whole (unknown is not zero).

use super::{check_symbol_input, converted, refuse, row, rows, same_row_symbol, BinanceFutures};
use crate::exchange::binance::endpoints;
use crate::exchange::binance::sign::Query;
use crate::exchange::error::ExResult;
use crate::exchange::FundingPayment;
use rust_decimal::Decimal;
use serde::Deserialize;
use std::str::FromStr;

/// Binance's page size maximum for `/fapi/v1/income`.
pub(super) const INCOME_PAGE: usize = 1000;
/// How far back the income history reaches (Binance: "the last three months"; 90 days kept).
pub(super) const INCOME_HISTORY_MS: i64 = 90 * 24 * 3_600_000;
/// A window of three months at 8h funding is ~270 rows: more pages than this is a broken answer.
const MAX_PAGES: usize = 10;

/// One row of the official model (`symbol`, `incomeType`, `income`, `asset`, `info`, `time`,
/// `tranId`, `tradeId`); the fields not read are not named.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomeRow {
    income_type: String,
    income: String,
    asset: String,
    time: i64,
}

fn payment(r: IncomeRow) -> Result<FundingPayment, String> {
    if r.income_type != "FUNDING_FEE" {
        return Err(format!("asked for FUNDING_FEE, got a {:?} row", r.income_type));
    }
    let amount = Decimal::from_str(&r.income).map_err(|e| format!("income {:?}: {e}", r.income))?;
    Ok(FundingPayment { amount, asset: r.asset, time_ms: r.time })
}

impl BinanceFutures {
    /// Every FUNDING_FEE row of `symbol` in `[start_ms, end_ms]`, oldest first. A full page moves
    /// the window past its last row (one settlement per symbol per time, so no row is skipped).
    pub(super) fn get_funding_history(
        &self,
        symbol: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> ExResult<Vec<FundingPayment>> {
        check_symbol_input(symbol)?;
        if end_ms < start_ms {
            return Err(refuse(format!("funding window ends ({end_ms}) before it starts ({start_ms})")));
        }
        let now = self.rest.clock.now_ms();
        if start_ms < now - INCOME_HISTORY_MS {
            return Err(refuse(format!(
                "funding since {start_ms} is older than the three months /fapi/v1/income keeps"
            )));
        }
        let mut out: Vec<FundingPayment> = Vec::new();
        let mut from = start_ms;
        for _ in 0..MAX_PAGES {
            let mut q = Query::new();
            q.push("symbol", symbol)
                .push("incomeType", "FUNDING_FEE")
                .push("startTime", &from.to_string())
                .push("endTime", &end_ms.to_string())
                .push("limit", &INCOME_PAGE.to_string());
            let page = self.read("binance.funding_history", symbol, || {
                let reply = self.rest.call(&endpoints::INCOME, &q, 0)?;
                let mut page = Vec::new();
                for (v, raw) in rows(&reply)? {
                    same_row_symbol(symbol, &v, &raw)?;
                    page.push(converted(payment(row(v, &raw)?), false, &raw)?);
                }
                Ok(page)
            })?;
            let (full, last) = (page.len() >= INCOME_PAGE, page.iter().map(|p| p.time_ms).max());
            out.extend(page.into_iter().filter(|p| (start_ms..=end_ms).contains(&p.time_ms)));
            match last {
                Some(t) if full && t < end_ms => from = t + 1,
                _ => {
                    out.sort_by_key(|p| p.time_ms);
                    return Ok(out);
                }
            }
        }
        Err(refuse(format!("funding history of {symbol} did not end within {MAX_PAGES} pages")))
    }
}
