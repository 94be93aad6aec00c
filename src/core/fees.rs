//! A position's fees by the asset they were paid in, and whether they are complete (issue 12 §1):
//! fees are never summed across assets nor converted without a stated price, and an order that
//! filled but whose trades were not found (or not in full) has unknown fees, never zero.

use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// The fees of one position's orders.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fees {
    /// Commission per asset (`USDT`, `BNB`, ...), as the exchange charged it.
    pub by_asset: BTreeMap<String, Decimal>,
    /// Exchange order ids that filled but whose fees could not be read in full.
    pub unknown_orders: Vec<String>,
}

/// One trade of an order: its quantity and its commission in an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeLine {
    pub qty: Decimal,
    pub commission: Decimal,
    pub asset: String,
}

impl Fees {
    /// Adds the trades of an order that filled `filled_qty`. `lines` is `None` when they could not
    /// be read. Trades that do not cover the fill (none, or fewer than it) leave the order's fees
    /// unknown, and none of its lines are counted (a part would read as the whole).
    pub fn add_order(&mut self, order_id: &str, filled_qty: Decimal, lines: Option<&[FeeLine]>) {
        let Some(lines) = lines else {
            self.unknown_orders.push(order_id.to_string());
            return;
        };
        let traded: Decimal = lines.iter().map(|l| l.qty).sum();
        if filled_qty > Decimal::ZERO && traded < filled_qty {
            self.unknown_orders.push(order_id.to_string());
            return;
        }
        for l in lines {
            let slot = self.by_asset.entry(l.asset.clone()).or_default();
            *slot += l.commission;
        }
    }

    /// Every fill's fees were read.
    pub fn complete(&self) -> bool {
        self.unknown_orders.is_empty()
    }

    /// The total in `quote`, only when it is the whole of the fees: complete, and nothing paid in
    /// another asset (a BNB fee has no USDT value without a price). `None` is "unknown", not 0.
    pub fn quote_total(&self, quote: &str) -> Option<Decimal> {
        if !self.complete() || self.by_asset.iter().any(|(a, v)| a != quote && !v.is_zero()) {
            return None;
        }
        Some(self.by_asset.get(quote).copied().unwrap_or_default())
    }

    /// `{"USDT": "0.12", "BNB": "0.0003"}`: amounts as exact decimal strings.
    pub fn by_asset_json(&self) -> serde_json::Value {
        self.by_asset.iter().map(|(a, v)| (a.clone(), serde_json::Value::String(v.normalize().to_string()))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn line(qty: Decimal, commission: Decimal, asset: &str) -> FeeLine {
        FeeLine { qty, commission, asset: asset.into() }
    }

    #[test]
    fn usdt_fees_of_complete_fills_sum() {
        let mut f = Fees::default();
        f.add_order(
            "1",
            dec!(0.010),
            Some(&[line(dec!(0.004), dec!(0.06), "USDT"), line(dec!(0.006), dec!(0.09), "USDT")]),
        );
        f.add_order("2", dec!(0.010), Some(&[line(dec!(0.010), dec!(0.15), "USDT")]));
        assert_eq!(f.quote_total("USDT"), Some(dec!(0.30)));
        assert!(f.complete());
    }

    #[test]
    fn filled_with_no_trades_or_too_few_is_unknown_not_zero() {
        let mut f = Fees::default();
        f.add_order("1", dec!(0.010), Some(&[]));
        assert_eq!((f.quote_total("USDT"), f.unknown_orders.clone()), (None, vec!["1".to_string()]));
        let mut g = Fees::default();
        g.add_order("2", dec!(0.010), Some(&[line(dec!(0.004), dec!(0.06), "USDT")]));
        assert_eq!(g.quote_total("USDT"), None);
        assert!(g.by_asset.is_empty(), "a part of an order's fees is not counted as the whole");
        let mut h = Fees::default();
        h.add_order("3", dec!(0.010), None);
        assert!(!h.complete());
    }

    #[test]
    fn a_bnb_fee_stays_in_bnb_and_makes_the_usdt_total_unknown() {
        let mut f = Fees::default();
        f.add_order("1", dec!(0.010), Some(&[line(dec!(0.010), dec!(0.15), "USDT")]));
        f.add_order("2", dec!(0.010), Some(&[line(dec!(0.010), dec!(0.0002), "BNB")]));
        assert_eq!(f.quote_total("USDT"), None);
        assert!(f.complete());
        assert_eq!(f.by_asset_json(), serde_json::json!({"BNB": "0.0002", "USDT": "0.15"}));
        // A zero fee in another asset does not hide the quote total.
        let mut g = Fees::default();
        g.add_order("3", dec!(0.010), Some(&[line(dec!(0.010), dec!(0), "BNB"), line(dec!(0), dec!(0.1), "USDT")]));
        assert_eq!(g.quote_total("USDT"), Some(dec!(0.1)));
    }
}
