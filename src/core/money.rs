//! Exchange filters and Decimal quantisation: every price and quantity on the order path passes here.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The trading rules of one symbol, as read from the exchange (Binance `exchangeInfo` filters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolFilters {
    pub symbol: String,
    /// PRICE_FILTER
    pub tick_size: Decimal,
    pub min_price: Decimal,
    pub max_price: Decimal,
    /// LOT_SIZE
    pub step_size: Decimal,
    pub min_qty: Decimal,
    pub max_qty: Decimal,
    /// MARKET_LOT_SIZE maximum (market orders are capped lower than limit orders).
    pub market_max_qty: Decimal,
    /// MIN_NOTIONAL (market orders are checked against the mark price; reduce-only is exempt).
    pub min_notional: Decimal,
}

/// Which filter refused a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("LOT_SIZE: quantity {qty} is below minQty {min_qty}")]
    BelowMinQty { qty: Decimal, min_qty: Decimal },
    #[error("LOT_SIZE/MARKET_LOT_SIZE: quantity {qty} is above maxQty {max_qty}")]
    AboveMaxQty { qty: Decimal, max_qty: Decimal },
    #[error("MIN_NOTIONAL: notional {notional} (qty {qty} x price {price}) is below {min_notional}")]
    BelowMinNotional { qty: Decimal, price: Decimal, notional: Decimal, min_notional: Decimal },
    #[error("PRICE_FILTER: price {price} is outside [{min_price}, {max_price}]")]
    PriceOutOfRange { price: Decimal, min_price: Decimal, max_price: Decimal },
    #[error("non-positive {what}: {value}")]
    NonPositive { what: &'static str, value: Decimal },
}

/// How a price is rounded onto the tick grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceRounding {
    /// Nearest tick (half away from zero).
    Nearest,
    /// Round towards lower prices.
    Down,
    /// Round towards higher prices.
    Up,
}

fn floor_to(value: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    ((value / step).floor() * step).normalize()
}

fn ceil_to(value: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    ((value / step).ceil() * step).normalize()
}

fn round_to(value: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return value;
    }
    ((value / step).round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero) * step).normalize()
}

impl SymbolFilters {
    /// A price on the tick grid, checked against PRICE_FILTER bounds.
    pub fn quantize_price(&self, price: Decimal, rounding: PriceRounding) -> Result<Decimal, FilterError> {
        if price <= Decimal::ZERO {
            return Err(FilterError::NonPositive { what: "price", value: price });
        }
        let q = match rounding {
            PriceRounding::Nearest => round_to(price, self.tick_size),
            PriceRounding::Down => floor_to(price, self.tick_size),
            PriceRounding::Up => ceil_to(price, self.tick_size),
        };
        if q <= Decimal::ZERO
            || (self.min_price > Decimal::ZERO && q < self.min_price)
            || (self.max_price > Decimal::ZERO && q > self.max_price)
        {
            return Err(FilterError::PriceOutOfRange {
                price: q,
                min_price: self.min_price,
                max_price: self.max_price,
            });
        }
        Ok(q)
    }

    /// A quantity floored onto the step grid (never rounded up: never more risk than planned).
    pub fn floor_qty(&self, qty: Decimal) -> Decimal {
        floor_to(qty, self.step_size)
    }

    /// Checks a market order quantity: step grid, min/max quantity and (unless reduce-only)
    /// the minimum notional at `reference_price`. Returns the floored quantity.
    pub fn check_market_qty(
        &self,
        qty: Decimal,
        reference_price: Decimal,
        reduce_only: bool,
    ) -> Result<Decimal, FilterError> {
        if qty <= Decimal::ZERO {
            return Err(FilterError::NonPositive { what: "quantity", value: qty });
        }
        let q = self.floor_qty(qty);
        if q < self.min_qty || q <= Decimal::ZERO {
            return Err(FilterError::BelowMinQty { qty: q, min_qty: self.min_qty });
        }
        let max = if self.market_max_qty > Decimal::ZERO { self.market_max_qty } else { self.max_qty };
        if max > Decimal::ZERO && q > max {
            return Err(FilterError::AboveMaxQty { qty: q, max_qty: max });
        }
        if !reduce_only {
            let notional = q * reference_price;
            if notional < self.min_notional {
                return Err(FilterError::BelowMinNotional {
                    qty: q,
                    price: reference_price,
                    notional,
                    min_notional: self.min_notional,
                });
            }
        }
        Ok(q)
    }

    /// Filters that match Binance's BTCUSDT perpetual today (tick 0.10, step 0.001, min notional 100).
    /// Used by the paper exchange and tests; live code always reads the exchange.
    pub fn btcusdt_default() -> Self {
        SymbolFilters {
            symbol: "BTCUSDT".into(),
            tick_size: Decimal::new(1, 1),
            min_price: Decimal::new(2610, 1),
            max_price: Decimal::new(809_484, 0),
            step_size: Decimal::new(1, 3),
            min_qty: Decimal::new(1, 3),
            max_qty: Decimal::new(1000, 0),
            market_max_qty: Decimal::new(120, 0),
            min_notional: Decimal::new(100, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn price_rounding_table() {
        let f = SymbolFilters::btcusdt_default();
        let cases = [
            (dec!(43000.14), PriceRounding::Nearest, dec!(43000.1)),
            (dec!(43000.15), PriceRounding::Nearest, dec!(43000.2)),
            (dec!(43000.19), PriceRounding::Down, dec!(43000.1)),
            (dec!(43000.11), PriceRounding::Up, dec!(43000.2)),
            (dec!(43000.1), PriceRounding::Up, dec!(43000.1)),
        ];
        for (i, (p, r, want)) in cases.into_iter().enumerate() {
            assert_eq!(f.quantize_price(p, r), Ok(want), "case {i}");
        }
    }

    #[test]
    fn qty_floors_and_checks_each_filter() {
        let f = SymbolFilters::btcusdt_default();
        assert_eq!(f.check_market_qty(dec!(0.0129), dec!(43000), false), Ok(dec!(0.012)));
        assert!(matches!(f.check_market_qty(dec!(0.0009), dec!(43000), false), Err(FilterError::BelowMinQty { .. })));
        // 0.002 * 43000 = 86 < 100
        let e = f.check_market_qty(dec!(0.002), dec!(43000), false).unwrap_err();
        assert!(e.to_string().contains("MIN_NOTIONAL"), "{e}");
        // reduce-only is exempt from MIN_NOTIONAL, as on Binance
        assert_eq!(f.check_market_qty(dec!(0.002), dec!(43000), true), Ok(dec!(0.002)));
        assert!(matches!(f.check_market_qty(dec!(121), dec!(43000), false), Err(FilterError::AboveMaxQty { .. })));
        // exactly at min notional passes
        assert_eq!(f.check_market_qty(dec!(0.004), dec!(25000), false), Ok(dec!(0.004)));
    }

    #[test]
    fn non_positive_refused() {
        let f = SymbolFilters::btcusdt_default();
        assert!(f.quantize_price(dec!(0), PriceRounding::Nearest).is_err());
        assert!(f.quantize_price(dec!(-5), PriceRounding::Nearest).is_err());
        assert!(f.check_market_qty(dec!(-1), dec!(1), true).is_err());
    }
}
