//! The one "reconciled, flat, one PLANNED long" a test starts from: plan `a1b2c3d4e5f6`, reference
//! 40000 (the fakes' and the mock's mark), stop 39000, qty 0.010, valid for this 4h candle.

use mcbot::core::plan::{PlanStatus, TradePlan};
use mcbot::core::types::PositionSide;
use mcbot::store::Store;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// The id of the plan `seed` writes; its client ids are `mc_a1b2c3d4e5f6_<ROLE>_<n>`.
pub const PLAN: &str = "a1b2c3d4e5f6";

/// A PLANNED long `id` at `entry_ref` with `stop`, qty 0.010, from the candle that closed just
/// before `now_ms` until the end of the next one.
pub fn planned_long(id: &str, now_ms: i64, entry_ref: Decimal, stop: Decimal) -> TradePlan {
    TradePlan {
        id: id.into(),
        symbol: "BTCUSDT".into(),
        interval: "4h".into(),
        candle_close_ms: now_ms - 1_000,
        side: PositionSide::Long,
        entry_ref,
        stop_price: stop,
        qty: dec!(0.010),
        risk_usdt: dec!(10),
        valid_until_ms: now_ms + 14_400_000,
        status: PlanStatus::Planned,
    }
}

/// The state `evaluate` and an earlier clean `reconcile` leave at `now_ms`: reconciled, flat, and
/// plan `PLAN` PLANNED (reference 40000, stop 39000).
pub fn seed(store: &Store, now_ms: i64) {
    store.record_reconcile(now_ms, true, 0, None).unwrap();
    store.insert_plan(&planned_long(PLAN, now_ms, dec!(40000), dec!(39000)), None, now_ms).unwrap();
}
