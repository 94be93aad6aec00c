//! Which protective legs a position needs (pure): a STOP or TP counts only when it is open, on
//! the side that closes the position the exchange holds, and covers its full size (issue 10 item
//! 6). What is missing is placed; what is there but does not cover is cancelled — only after the
//! replacement is acknowledged, which the shell sees to.

use crate::core::order::OrderRole;
use crate::core::types::{OrderSide, PositionSide};
use rust_decimal::Decimal;

/// One of our open STOP/TP orders as the exchange shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leg {
    pub client_id: String,
    pub role: OrderRole,
    pub side: OrderSide,
    pub qty: Decimal,
}

/// The verdict on a position's protection.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Coverage {
    /// The orders that cover it, STOP first (client ids).
    pub covering: Vec<String>,
    /// Roles with no covering order: to be placed.
    pub missing: Vec<OrderRole>,
    /// Orders of a missing role that are there but do not cover (too small, or the wrong side):
    /// to be cancelled once the replacement is acknowledged.
    pub not_covering: Vec<String>,
}

/// `qty` is the exchange position's absolute size, `side` its side.
pub(crate) fn coverage(side: PositionSide, qty: Decimal, legs: &[Leg]) -> Coverage {
    let mut c = Coverage::default();
    for role in [OrderRole::Stop, OrderRole::Tp] {
        let of_role: Vec<&Leg> = legs.iter().filter(|l| l.role == role).collect();
        match of_role.iter().find(|l| l.side == side.exit_side() && l.qty >= qty) {
            Some(l) => c.covering.push(l.client_id.clone()),
            None => {
                c.missing.push(role);
                c.not_covering.extend(of_role.iter().map(|l| l.client_id.clone()));
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn leg(id: &str, role: OrderRole, side: OrderSide, qty: Decimal) -> Leg {
        Leg { client_id: id.into(), role, side, qty }
    }

    #[test]
    fn full_size_exit_side_legs_cover() {
        let legs = [
            leg("s1", OrderRole::Stop, OrderSide::Sell, dec!(0.010)),
            leg("t1", OrderRole::Tp, OrderSide::Sell, dec!(0.012)),
        ];
        let c = coverage(PositionSide::Long, dec!(0.010), &legs);
        assert_eq!(c.covering, ["s1", "t1"]);
        assert!(c.missing.is_empty() && c.not_covering.is_empty());
    }

    /// Issue 10 item 5: after a partial fill the old, smaller STOP is replaced, never kept as cover.
    #[test]
    fn an_undersized_leg_is_missing_and_replaced() {
        let legs = [
            leg("s1", OrderRole::Stop, OrderSide::Sell, dec!(0.004)),
            leg("t1", OrderRole::Tp, OrderSide::Sell, dec!(0.010)),
        ];
        let c = coverage(PositionSide::Long, dec!(0.010), &legs);
        assert_eq!(c.missing, [OrderRole::Stop]);
        assert_eq!(c.not_covering, ["s1"]);
        assert_eq!(c.covering, ["t1"]);
    }

    /// Issue 10 item 6: a SELL STOP does not protect a SHORT, whatever its size.
    #[test]
    fn a_leg_on_the_wrong_side_never_covers() {
        let legs =
            [leg("s1", OrderRole::Stop, OrderSide::Sell, dec!(1)), leg("t1", OrderRole::Tp, OrderSide::Sell, dec!(1))];
        let c = coverage(PositionSide::Short, dec!(0.010), &legs);
        assert_eq!(c.missing, [OrderRole::Stop, OrderRole::Tp]);
        assert_eq!(c.not_covering, ["s1", "t1"]);
        assert!(c.covering.is_empty());
    }

    /// One covering leg is enough; an extra full-size one is not "not covering" (extras are
    /// reconcile's decision: `core::reconcile::extras`).
    #[test]
    fn a_covered_role_lists_nothing_to_cancel() {
        let legs = [
            leg("s1", OrderRole::Stop, OrderSide::Buy, dec!(0.010)),
            leg("s2", OrderRole::Stop, OrderSide::Buy, dec!(0.010)),
        ];
        let c = coverage(PositionSide::Short, dec!(0.010), &legs);
        assert_eq!(c.covering, ["s1"]);
        assert_eq!(c.missing, [OrderRole::Tp]);
        assert!(c.not_covering.is_empty());
    }
}
