//! Pre-flight checks before an ENTRY (seed 000 §4 step 1, seed 003's slippage and stop-side
//! guards): named checks over plain values; the first failure's name goes into the audit event.

use crate::core::money::SymbolFilters;
use crate::core::plan::TradePlan;
use crate::core::types::PositionSide;
use rust_decimal::Decimal;

/// Everything pre-flight looks at, read just before the ENTRY.
#[derive(Debug, Clone)]
pub(crate) struct PreflightInput<'a> {
    pub plan: &'a TradePlan,
    pub now_ms: i64,
    pub reconciled: bool,
    pub entry_block_reason: Option<&'a str>,
    pub cooldown_until_ms: Option<i64>,
    pub isolated: bool,
    pub leverage: u32,
    pub dual_side: bool,
    /// Signed exchange position.
    pub exchange_position_qty: Decimal,
    pub db_position_active: bool,
    pub our_open_orders: usize,
    pub foreign_orders: usize,
    pub mark_price: Decimal,
    pub max_slippage_pct: Decimal,
    pub filters: &'a SymbolFilters,
}

/// The first check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {message}")]
pub(crate) struct PreflightFailure {
    pub check: &'static str,
    pub message: String,
}

fn fail(check: &'static str, message: String) -> Result<(), PreflightFailure> {
    Err(PreflightFailure { check, message })
}

/// Runs every check in a fixed order. HALTED is checked by the shell (it has its own exit code).
pub(crate) fn check(i: &PreflightInput<'_>) -> Result<(), PreflightFailure> {
    if !i.reconciled {
        return fail("reconciled", "no reconcile has completed; entries stay blocked until one does".into());
    }
    if let Some(why) = i.entry_block_reason {
        return fail("no_foreign_exposure", format!("entries blocked: {why}"));
    }
    if i.plan.is_stale(i.now_ms) {
        return fail("plan_fresh", format!("plan {} expired at {}", i.plan.id, i.plan.valid_until_ms));
    }
    if let Some(until) = i.cooldown_until_ms.filter(|u| i.now_ms < *u) {
        return fail("cooldown", format!("cooldown active until {until}"));
    }
    if i.dual_side {
        return fail("one_way_mode", "account is in hedge (dual-side) mode; mcbot needs one-way mode".into());
    }
    if !i.isolated {
        return fail("isolated_margin", "margin type is not ISOLATED".into());
    }
    if i.leverage != 1 {
        return fail("leverage_1x", format!("leverage is {}x, not 1x", i.leverage));
    }
    if !i.exchange_position_qty.is_zero() || i.db_position_active {
        return fail("no_position", format!("a position exists (exchange qty {})", i.exchange_position_qty));
    }
    if i.our_open_orders > 0 {
        return fail("no_open_orders", format!("{} open bot orders on the symbol", i.our_open_orders));
    }
    if i.foreign_orders > 0 {
        return fail("no_foreign_exposure", format!("{} orders on the symbol are not mcbot's", i.foreign_orders));
    }
    if i.mark_price <= Decimal::ZERO {
        return fail("mark_price", format!("mark price {} is not usable", i.mark_price));
    }
    let slippage_pct = (i.mark_price - i.plan.entry_ref).abs() / i.plan.entry_ref * Decimal::from(100);
    if slippage_pct > i.max_slippage_pct {
        return fail(
            "slippage",
            format!(
                "mark {} is {:.3} % from the plan's reference {} (max {} %)",
                i.mark_price, slippage_pct, i.plan.entry_ref, i.max_slippage_pct
            ),
        );
    }
    let stop_ok = match i.plan.side {
        PositionSide::Long => i.plan.stop_price < i.mark_price,
        PositionSide::Short => i.plan.stop_price > i.mark_price,
    };
    if !stop_ok {
        return fail(
            "stop_side",
            format!("{} stop {} is on the wrong side of mark {}", i.plan.side, i.plan.stop_price, i.mark_price),
        );
    }
    if let Err(e) = i.filters.check_market_qty(i.plan.qty, i.mark_price, false) {
        return fail("filters", e.to_string());
    }
    if i.filters.floor_qty(i.plan.qty) != i.plan.qty {
        return fail("filters", format!("quantity {} is not on the step grid {}", i.plan.qty, i.filters.step_size));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::PlanStatus;
    use rust_decimal_macros::dec;

    fn plan() -> TradePlan {
        TradePlan {
            id: "abc123def456".into(),
            symbol: "BTCUSDT".into(),
            interval: "4h".into(),
            candle_close_ms: 1000,
            side: PositionSide::Long,
            entry_ref: dec!(40000),
            stop_price: dec!(39000),
            qty: dec!(0.010),
            risk_usdt: dec!(10),
            valid_until_ms: 10_000,
            status: PlanStatus::Planned,
        }
    }

    fn input<'a>(p: &'a TradePlan, f: &'a SymbolFilters) -> PreflightInput<'a> {
        PreflightInput {
            plan: p,
            now_ms: 5000,
            reconciled: true,
            entry_block_reason: None,
            cooldown_until_ms: None,
            isolated: true,
            leverage: 1,
            dual_side: false,
            exchange_position_qty: dec!(0),
            db_position_active: false,
            our_open_orders: 0,
            foreign_orders: 0,
            mark_price: dec!(40100),
            max_slippage_pct: dec!(0.5),
            filters: f,
        }
    }

    #[test]
    fn each_check_names_itself() {
        let p = plan();
        let f = SymbolFilters::btcusdt_default();
        assert_eq!(check(&input(&p, &f)), Ok(()));
        type Mutation = Box<dyn Fn(&mut PreflightInput)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|i| i.reconciled = false), "reconciled"),
            (Box::new(|i| i.now_ms = 10_000), "plan_fresh"),
            (Box::new(|i| i.cooldown_until_ms = Some(6000)), "cooldown"),
            (Box::new(|i| i.dual_side = true), "one_way_mode"),
            (Box::new(|i| i.isolated = false), "isolated_margin"),
            (Box::new(|i| i.leverage = 5), "leverage_1x"),
            (Box::new(|i| i.exchange_position_qty = dec!(-0.01)), "no_position"),
            (Box::new(|i| i.db_position_active = true), "no_position"),
            (Box::new(|i| i.our_open_orders = 1), "no_open_orders"),
            (Box::new(|i| i.foreign_orders = 2), "no_foreign_exposure"),
            (Box::new(|i| i.mark_price = dec!(40201)), "slippage"),
            (Box::new(|i| i.mark_price = dec!(38900)), "slippage"),
        ];
        for (mutate, name) in cases {
            let mut i = input(&p, &f);
            mutate(&mut i);
            assert_eq!(check(&i).unwrap_err().check, name);
        }
    }

    #[test]
    fn slippage_exactly_at_the_limit_passes() {
        let p = plan();
        let f = SymbolFilters::btcusdt_default();
        let mut i = input(&p, &f);
        i.mark_price = dec!(40200); // exactly 0.5 %
        assert_eq!(check(&i), Ok(()));
    }

    #[test]
    fn stop_on_wrong_side_and_filters() {
        let mut p = plan();
        p.stop_price = dec!(40150);
        let f = SymbolFilters::btcusdt_default();
        assert_eq!(check(&input(&p, &f)).unwrap_err().check, "stop_side");
        let mut p = plan();
        p.qty = dec!(0.001); // 40 USDT < 100 min notional
        assert_eq!(check(&input(&p, &f)).unwrap_err().check, "filters");
    }
}
