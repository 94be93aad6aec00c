//! One read of everything the exchange holds for the symbol — position, open orders, open
//! conditional orders — done concurrently, and split into ours (by `<bot_id>_` prefix) and foreign.

use crate::core::client_id::ClientOrderId;
use crate::exchange::{ExConditional, ExOrder, ExPosition, ExResult, Exchange};

/// What the exchange shows for the symbol, right now.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub position: ExPosition,
    pub our_orders: Vec<ExOrder>,
    pub foreign_orders: Vec<ExOrder>,
    pub our_conditionals: Vec<ExConditional>,
    pub foreign_conditionals: Vec<ExConditional>,
}

impl Snapshot {
    /// Our open conditional orders of one plan.
    pub fn conditionals_of_plan<'s>(&'s self, plan_id: &'s str) -> impl Iterator<Item = &'s ExConditional> + 's {
        self.our_conditionals
            .iter()
            .filter(move |c| ClientOrderId::parse(&c.client_id).is_ok_and(|id| id.plan_id == plan_id))
    }
    pub fn has_foreign(&self) -> bool {
        !self.foreign_orders.is_empty() || !self.foreign_conditionals.is_empty()
    }
}

/// Reads position, open orders and open conditional orders in parallel (three round trips cost one).
pub(crate) fn read(ex: &dyn Exchange, symbol: &str, bot_id: &str) -> ExResult<Snapshot> {
    let (pos, orders, conds) = if !ex.concurrent_calls() {
        (ex.position(symbol), ex.open_orders(symbol), ex.open_conditional_orders(symbol))
    } else {
        std::thread::scope(|s| {
            let p = s.spawn(|| ex.position(symbol));
            let o = s.spawn(|| ex.open_orders(symbol));
            let c = ex.open_conditional_orders(symbol);
            (join(p), join(o), c)
        })
    };
    let (position, orders, conds) = (pos?, orders?, conds?);
    let (our_orders, foreign_orders) = orders.into_iter().partition(|o| ClientOrderId::is_ours(&o.client_id, bot_id));
    let (our_conditionals, foreign_conditionals) =
        conds.into_iter().partition(|c| ClientOrderId::is_ours(&c.client_id, bot_id));
    Ok(Snapshot { position, our_orders, foreign_orders, our_conditionals, foreign_conditionals })
}

/// Joins a scoped thread; a panicked reader becomes an exchange error, not a crashed bot.
pub(crate) fn join<T>(h: std::thread::ScopedJoinHandle<'_, ExResult<T>>) -> ExResult<T> {
    match h.join() {
        Ok(r) => r,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}
