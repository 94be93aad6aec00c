//! Position sizing in `Decimal`: stop from the ATR, quantised to the tick on the safe side, then
//! size = risk / R capped by the notional limit and by the balance at 1x, floored to the step and
//! checked against the exchange filters. f64 stops at the ATR; nothing here rounds up a risk.

use super::StrategyParams;
use crate::core::money::{FilterError, PriceRounding, SymbolFilters};
use crate::core::types::PositionSide;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

/// What limited the quantity below risk / R.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeCap {
    /// `risk.max_notional_usdt`.
    MaxNotional,
    /// The wallet balance at 1x leverage.
    Balance,
}

impl SizeCap {
    pub fn as_str(self) -> &'static str {
        match self {
            SizeCap::MaxNotional => "risk.max_notional_usdt",
            SizeCap::Balance => "the balance at 1x",
        }
    }
}

/// A sized position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sized {
    /// Stop trigger on the tick grid.
    pub stop: Decimal,
    /// Quantity on the step grid, inside every filter.
    pub qty: Decimal,
    /// |entry_ref - stop|.
    pub r_per_unit: Decimal,
    /// qty x R: what hitting the stop at the reference would lose (before fees and slippage).
    pub risk_usdt: Decimal,
    pub cap: Option<SizeCap>,
}

/// Why no position can be sized. Each message names the filter or input that refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizingError {
    #[error("wallet balance {0} USDT: nothing to risk")]
    NoBalance(Decimal),
    #[error("ATR {0} cannot be used for a stop distance")]
    BadAtr(String),
    #[error("stop price: {0}")]
    Stop(FilterError),
    #[error("stop distance is zero after quantisation to the tick")]
    ZeroR,
    #[error("quantity: {0}")]
    Quantity(FilterError),
}

impl Serialize for SizingError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Sizes an entry at `entry_ref` with a stop `stop_atr_mult` x `atr` away.
///
/// # Errors
/// No balance, an unusable ATR, a stop outside PRICE_FILTER, or a quantity that LOT_SIZE,
/// MARKET_LOT_SIZE or MIN_NOTIONAL refuses.
pub fn size_position(
    side: PositionSide,
    entry_ref: Decimal,
    atr: f64,
    p: &StrategyParams,
    balance_usdt: Decimal,
    filters: &SymbolFilters,
) -> Result<Sized, SizingError> {
    if balance_usdt <= Decimal::ZERO {
        return Err(SizingError::NoBalance(balance_usdt));
    }
    let atr_d = Decimal::try_from(atr)
        .ok()
        .filter(|a| *a > Decimal::ZERO)
        .ok_or_else(|| SizingError::BadAtr(atr.to_string()))?
        .round_dp(8);
    let raw_stop = entry_ref - side.sign() * p.stop_atr_mult * atr_d;
    // Away from the entry: the stop is never tighter than stop_atr_mult x ATR.
    let rounding = match side {
        PositionSide::Long => PriceRounding::Down,
        PositionSide::Short => PriceRounding::Up,
    };
    let stop = filters.quantize_price(raw_stop, rounding).map_err(SizingError::Stop)?;
    let r = (entry_ref - stop).abs();
    if r.is_zero() {
        return Err(SizingError::ZeroR);
    }
    let budget = balance_usdt * p.risk_per_trade_pct / Decimal::ONE_HUNDRED;
    let by_risk = budget.checked_div(r).ok_or(SizingError::ZeroR)?;
    let (cap_usdt, cap_kind) = if p.max_notional_usdt <= balance_usdt {
        (p.max_notional_usdt, SizeCap::MaxNotional)
    } else {
        (balance_usdt, SizeCap::Balance)
    };
    let by_cap = cap_usdt.checked_div(entry_ref).ok_or(SizingError::ZeroR)?;
    let (qty, cap) = if by_risk > by_cap { (by_cap, Some(cap_kind)) } else { (by_risk, None) };
    // Floors to the step (never rounds risk up) and names the filter that refuses.
    let qty = filters.check_market_qty(qty, entry_ref, false).map_err(SizingError::Quantity)?;
    Ok(Sized { stop, qty, r_per_unit: r, risk_usdt: qty * r, cap })
}
