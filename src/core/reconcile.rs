//! Reconcile decisions (seed 000 §9, seeds 001/004: the exchange is the truth, local state is a
//! belief): compare what the DB believes with what the exchange shows and list the repairs.
//! Pure: the shell gathers the input (including client-id look-ups) and carries the repairs out.

use crate::core::client_id::ClientOrderId;
use crate::core::order::OrderRole;
use crate::core::types::PositionSide;
use rust_decimal::Decimal;
use serde::Serialize;

/// The DB's active position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LocalPosition {
    /// The plan id its orders carry (synthetic for adopted positions).
    pub journal_plan_id: String,
    pub side: PositionSide,
    pub qty: Decimal,
    pub entry_price: Decimal,
}

/// One of our open conditional orders on the exchange.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OpenProtective {
    pub client_id: String,
    pub plan_id: String,
    pub role: OrderRole,
    pub qty: Decimal,
}

/// Everything reconcile decides on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReconcileInput {
    pub local: Option<LocalPosition>,
    /// Signed exchange position and its entry price.
    pub exchange_qty: Decimal,
    pub exchange_entry_price: Decimal,
    pub protective: Vec<OpenProtective>,
    /// Our regular orders still open on the exchange (client ids).
    pub open_regular: Vec<String>,
    pub foreign_orders: usize,
    /// For a position the DB does not know: the plan whose ENTRY (found by client-id look-up)
    /// explains it, or `Some(None)` when other evidence says it is ours without a plan.
    pub phantom_owner: Option<Option<String>>,
    /// Own-prefix orders an established journal never wrote (issue 10 item 7): another mcbot with
    /// this bot_id, or a state DB older than the exchange. Empty for a new journal or `--adopt`.
    pub strangers: Vec<String>,
    /// For a position nothing else explains: the plan the order history proves built it
    /// (`plan_from_history`). It is adopted under that id and protected.
    pub history_plan: Option<String>,
}

/// One repair, in the order the shell carries them out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "repair", rename_all = "snake_case")]
pub enum Repair {
    /// Our regular order (a stale ENTRY remainder) is still open: cancel it.
    CancelOpenOrder { client_id: String },
    /// Orders on the symbol that are not mcbot's: refuse entries, touch nothing.
    ForeignOrders { count: usize },
    /// A position nobody can prove is mcbot's: refuse entries, touch nothing.
    ForeignPosition { qty: Decimal },
    /// DB says open, exchange is flat: finalise with the reason the evidence supports.
    FinaliseFlat,
    /// An exchange position the DB missed (F-003): adopt it (into its plan when known). Without a
    /// plan row, `covered_by` is the plan id the bot's own covering STOP/TP carry (issue 10
    /// item 4): the adopted position keeps those working orders under that id.
    Adopt { plan_id: Option<String>, covered_by: Option<String> },
    /// Size, side or entry price drifted: correct the local record.
    CorrectRecord { side: PositionSide, qty: Decimal, entry_price: Decimal },
    /// A protective order of ours without a position (or of another plan): cancel it.
    CancelOrphan { client_id: String },
    /// The open position lacks a STOP or TP covering its full size: place or resize.
    EnsureProtection { missing: Vec<String> },
    /// Own-prefix orders this established journal never wrote: HALT with a CRITICAL audit and
    /// touch nothing (every protective order is kept); the operator decides (`reconcile --adopt`).
    AnotherInstance { client_ids: Vec<String> },
    /// The exchange holds the opposite side of the bot's position (a hand trade sold through it,
    /// issue 10 item 6): the bot's position ended (`external`); the new one is not the bot's.
    /// Finalise, HALT with a CRITICAL audit, block entries, and touch nothing on the exchange.
    SideFlipped { side: PositionSide, qty: Decimal },
}

impl Repair {
    /// Everything except a foreign-exposure notice counts as a mismatch that was repaired.
    pub fn is_mismatch(&self) -> bool {
        !matches!(self, Repair::ForeignOrders { .. } | Repair::ForeignPosition { .. })
    }
}

fn side_of(qty: Decimal) -> PositionSide {
    if qty > Decimal::ZERO {
        PositionSide::Long
    } else {
        PositionSide::Short
    }
}

/// Whose protection an adopted position keeps (issue 10 items 2 and 4): the plan id of the bot's
/// own STOP that covers the full size, else of a covering TP, else of any of its protective orders
/// (undersized ones are then resized under the same id rather than cancelled as orphans).
/// Client ids are the proof of ownership; the order that covers most wins.
pub(crate) fn covering_plan(protective: &[OpenProtective], exchange_qty: Decimal) -> Option<String> {
    let need = exchange_qty.abs();
    let pick = |role: Option<OrderRole>, full: bool| {
        protective
            .iter()
            .filter(|p| role.is_none_or(|r| p.role == r) && (!full || p.qty >= need))
            .max_by(|a, b| a.qty.cmp(&b.qty))
            .map(|p| p.plan_id.clone())
    };
    pick(Some(OrderRole::Stop), true).or_else(|| pick(Some(OrderRole::Tp), true)).or_else(|| pick(None, false))
}

/// One order of the exchange's history, as attribution needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PastOrder {
    pub client_id: String,
    pub side: crate::core::types::OrderSide,
    pub executed_qty: Decimal,
    pub reduce_only: bool,
    pub time_ms: i64,
}

/// Issue 10 item 2, client ids are proof of ownership: the plan whose own ENTRY built a position
/// the journal does not know, read from the exchange's order history. The newest plan of ours
/// whose ENTRY orders filled on the position's side, exactly the position's size, with no own
/// fill of that plan on the closing side after them. Anything less exact is no proof: `None`.
pub(crate) fn plan_from_history(history: &[PastOrder], bot_id: &str, exchange_qty: Decimal) -> Option<String> {
    let side = if exchange_qty > Decimal::ZERO { PositionSide::Long } else { PositionSide::Short };
    let ours = |o: &&PastOrder| ClientOrderId::parse(&o.client_id).ok().filter(|id| id.bot_id == bot_id);
    let newest_entry = history
        .iter()
        .filter(|o| {
            o.executed_qty > Decimal::ZERO
                && o.side == side.entry_side()
                && !o.reduce_only
                && ours(o).is_some_and(|id| id.role == OrderRole::Entry)
        })
        .max_by_key(|o| o.time_ms)?;
    let plan = ClientOrderId::parse(&newest_entry.client_id).ok()?.plan_id;
    let of_plan = |o: &&PastOrder| ours(o).is_some_and(|id| id.plan_id == plan);
    let filled: Decimal = history
        .iter()
        .filter(of_plan)
        .filter(|o| !o.reduce_only && o.side == side.entry_side())
        .map(|o| o.executed_qty)
        .sum();
    let reduced_after = history
        .iter()
        .filter(of_plan)
        .any(|o| o.side == side.exit_side() && o.executed_qty > Decimal::ZERO && o.time_ms >= newest_entry.time_ms);
    (filled == exchange_qty.abs() && !reduced_after).then_some(plan)
}

/// Issue 10 item 3: the cooldown a lost journal would have held. `exits` are the exchange's
/// exit-side orders that filled (client id, time); the newest STOP, TP or CLOSE of this bot ended
/// a position then, and the cooldown (`cooldown_ms`, as `finalise_position` starts it) runs from
/// it. `None` when no exit of ours is in the history.
pub(crate) fn cooldown_from_history(exits: &[(String, i64)], bot_id: &str, cooldown_ms: i64) -> Option<i64> {
    exits
        .iter()
        .filter(|(cid, _)| ClientOrderId::parse(cid).is_ok_and(|id| id.bot_id == bot_id && id.role != OrderRole::Entry))
        .map(|(_, t)| *t)
        .max()
        .map(|t| t.saturating_add(cooldown_ms))
}

/// At most one STOP and one TP per position (issue 10 item 5): once an order of the position's
/// plan covers its full size (the largest, newest attempt on a tie), every other order of that role
/// and plan is an extra — a leftover of a resize a kill interrupted. Without a covering order
/// nothing is an extra: an undersized leg is replaced first and cancelled after (never a gap).
pub(crate) fn extras(protective: &[OpenProtective], owner: Option<&str>, exchange_qty: Decimal) -> Vec<String> {
    let need = exchange_qty.abs();
    let mut out = Vec::new();
    for role in [OrderRole::Stop, OrderRole::Tp] {
        let mine: Vec<&OpenProtective> =
            protective.iter().filter(|p| p.role == role && owner.is_none_or(|o| o == p.plan_id)).collect();
        let attempt =
            |p: &OpenProtective| crate::core::client_id::ClientOrderId::parse(&p.client_id).map_or(0, |c| c.attempt);
        let keep =
            mine.iter().filter(|p| p.qty >= need).max_by_key(|p| (p.qty, attempt(p))).map(|p| p.client_id.clone());
        if let Some(keep) = keep {
            out.extend(mine.iter().filter(|p| p.client_id != keep).map(|p| p.client_id.clone()));
        }
    }
    out
}

/// The repairs, in execution order.
pub(crate) fn decide(i: &ReconcileInput) -> Vec<Repair> {
    if !i.strangers.is_empty() {
        // Cancelling or replacing anything could strip another instance's position of its STOP.
        return vec![Repair::AnotherInstance { client_ids: i.strangers.clone() }];
    }
    let mut out: Vec<Repair> =
        i.open_regular.iter().map(|c| Repair::CancelOpenOrder { client_id: c.clone() }).collect();
    if i.foreign_orders > 0 {
        out.push(Repair::ForeignOrders { count: i.foreign_orders });
    }
    let flat = i.exchange_qty.is_zero();
    // Which plan's protective orders belong to the live position.
    let mut owner: Option<String> = None;
    match (&i.local, flat) {
        (None, true) => {}
        (Some(_), true) => out.push(Repair::FinaliseFlat),
        (None, false) => match &i.phantom_owner {
            Some(plan) => {
                let covered_by = if plan.is_none() {
                    covering_plan(&i.protective, i.exchange_qty).or_else(|| i.history_plan.clone())
                } else {
                    None
                };
                out.push(Repair::Adopt { plan_id: plan.clone(), covered_by: covered_by.clone() });
                owner = plan.clone().or(covered_by);
            }
            None => {
                out.push(Repair::ForeignPosition { qty: i.exchange_qty });
                return out;
            }
        },
        (Some(l), false) => {
            let side = side_of(i.exchange_qty);
            if l.side != side {
                // Never protect, resize or cancel around a position mcbot cannot prove is its own.
                out.push(Repair::SideFlipped { side, qty: i.exchange_qty.abs() });
                return out;
            }
            if l.side != side || l.qty != i.exchange_qty.abs() || l.entry_price != i.exchange_entry_price {
                out.push(Repair::CorrectRecord {
                    side,
                    qty: i.exchange_qty.abs(),
                    entry_price: i.exchange_entry_price,
                });
            }
            owner = Some(l.journal_plan_id.clone());
        }
    }
    // Protective orders of ours that protect nothing (no position, or another plan's).
    for p in &i.protective {
        let belongs = !flat && owner.as_deref().is_none_or(|o| o == p.plan_id);
        // With a DB position and a flat exchange, FinaliseFlat cancels the leftovers itself.
        let finalising = i.local.is_some() && flat;
        if !(belongs || finalising) {
            out.push(Repair::CancelOrphan { client_id: p.client_id.clone() });
        }
    }
    if !flat {
        out.extend(
            extras(&i.protective, owner.as_deref(), i.exchange_qty)
                .into_iter()
                .map(|client_id| Repair::CancelOrphan { client_id }),
        );
    }
    if !flat {
        let need = i.exchange_qty.abs();
        let covered = |role: OrderRole| {
            i.protective
                .iter()
                .any(|p| p.role == role && p.qty >= need && owner.as_deref().is_none_or(|o| o == p.plan_id))
        };
        let missing: Vec<String> = [OrderRole::Stop, OrderRole::Tp]
            .into_iter()
            .filter(|r| !covered(*r))
            .map(|r| r.as_str().to_string())
            .collect();
        if !missing.is_empty() {
            out.push(Repair::EnsureProtection { missing });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn local(qty: Decimal) -> LocalPosition {
        LocalPosition { journal_plan_id: "p1".into(), side: PositionSide::Long, qty, entry_price: dec!(100) }
    }
    fn prot(role: OrderRole, plan: &str, qty: Decimal) -> OpenProtective {
        OpenProtective { client_id: format!("mc_{plan}_{}_1", role.as_str()), plan_id: plan.into(), role, qty }
    }
    fn input() -> ReconcileInput {
        ReconcileInput {
            local: Some(local(dec!(1))),
            exchange_qty: dec!(1),
            exchange_entry_price: dec!(100),
            protective: vec![prot(OrderRole::Stop, "p1", dec!(1)), prot(OrderRole::Tp, "p1", dec!(1))],
            open_regular: vec![],
            foreign_orders: 0,
            phantom_owner: None,
            history_plan: None,
            strangers: vec![],
        }
    }

    #[test]
    fn agreement_needs_nothing() {
        assert!(decide(&input()).is_empty());
    }

    #[test]
    fn naked_position_gets_protection() {
        let mut i = input();
        i.protective.clear();
        assert_eq!(decide(&i), vec![Repair::EnsureProtection { missing: vec!["STOP".into(), "TP".into()] }]);
    }

    #[test]
    fn undersized_stop_is_missing() {
        let mut i = input();
        i.protective[0].qty = dec!(0.5);
        assert_eq!(decide(&i), vec![Repair::EnsureProtection { missing: vec!["STOP".into()] }]);
    }

    #[test]
    fn flat_exchange_finalises() {
        let mut i = input();
        i.exchange_qty = dec!(0);
        i.protective = vec![prot(OrderRole::Tp, "p1", dec!(1))];
        // The leftover TP is cancelled by the finalisation itself.
        assert_eq!(decide(&i), vec![Repair::FinaliseFlat]);
    }

    #[test]
    fn phantom_with_owner_is_adopted_and_protected() {
        let mut i = input();
        i.local = None;
        i.protective.clear();
        i.phantom_owner = Some(Some("p1".into()));
        assert_eq!(
            decide(&i),
            vec![
                Repair::Adopt { plan_id: Some("p1".into()), covered_by: None },
                Repair::EnsureProtection { missing: vec!["STOP".into(), "TP".into()] }
            ]
        );
    }

    /// Issue 10 item 4: a position the DB lost, covered by the bot's own STOP/TP, is adopted into
    /// the plan those orders name; they are kept (no orphan cancel, nothing to place).
    #[test]
    fn lost_state_adoption_keeps_the_covering_orders_plan() {
        let mut i = input();
        i.local = None;
        i.phantom_owner = Some(None);
        assert_eq!(decide(&i), vec![Repair::Adopt { plan_id: None, covered_by: Some("p1".into()) }]);
    }

    /// The STOP that covers the full size names the owner, whatever order the exchange lists them
    /// in; an undersized STOP of another plan is then the orphan.
    #[test]
    fn covering_plan_prefers_the_full_size_stop() {
        let ps = vec![
            prot(OrderRole::Stop, "small", dec!(0.5)),
            prot(OrderRole::Tp, "tpplan", dec!(1)),
            prot(OrderRole::Stop, "full", dec!(1)),
        ];
        assert_eq!(covering_plan(&ps, dec!(-1)).as_deref(), Some("full"));
        assert_eq!(covering_plan(&ps[..2], dec!(1)).as_deref(), Some("tpplan"));
        assert_eq!(covering_plan(&ps[..1], dec!(1)).as_deref(), Some("small"));
        assert_eq!(covering_plan(&[], dec!(1)), None);
    }

    /// Issue 10 item 7: orders an established journal never wrote are neither cancelled as
    /// orphans nor replaced; the only repair is the halt.
    #[test]
    fn strangers_halt_and_nothing_is_cancelled_or_placed() {
        let mut i = input();
        i.protective.push(prot(OrderRole::Stop, "other", dec!(1)));
        i.protective.retain(|p| p.role != OrderRole::Tp);
        i.strangers = vec!["mc_other_STOP_1".into()];
        assert_eq!(decide(&i), vec![Repair::AnotherInstance { client_ids: vec!["mc_other_STOP_1".into()] }]);
        assert!(decide(&i)[0].is_mismatch());
    }

    /// Issue 10 item 5: a kill during a partial-fill resize left STOP_1/TP_1 for the first partial
    /// beside full-size STOP_2/TP_2: the old ones are extras, cancelled; nothing is placed.
    #[test]
    fn resize_leftovers_are_extras_once_coverage_is_confirmed() {
        let mut i = input();
        i.protective = vec![
            OpenProtective {
                client_id: "mc_p1_STOP_1".into(),
                plan_id: "p1".into(),
                role: OrderRole::Stop,
                qty: dec!(0.4),
            },
            OpenProtective {
                client_id: "mc_p1_STOP_2".into(),
                plan_id: "p1".into(),
                role: OrderRole::Stop,
                qty: dec!(1),
            },
            OpenProtective { client_id: "mc_p1_TP_2".into(), plan_id: "p1".into(), role: OrderRole::Tp, qty: dec!(1) },
            OpenProtective { client_id: "mc_p1_TP_1".into(), plan_id: "p1".into(), role: OrderRole::Tp, qty: dec!(1) },
        ];
        assert_eq!(
            decide(&i),
            vec![
                Repair::CancelOrphan { client_id: "mc_p1_STOP_1".into() },
                Repair::CancelOrphan { client_id: "mc_p1_TP_1".into() }
            ]
        );
    }

    /// Without a covering STOP the undersized one stays until its replacement is acknowledged.
    #[test]
    fn an_undersized_stop_is_no_extra_while_nothing_covers() {
        let mut i = input();
        i.protective[0].qty = dec!(0.4);
        i.protective.push(OpenProtective {
            client_id: "mc_p1_STOP_2".into(),
            plan_id: "p1".into(),
            role: OrderRole::Stop,
            qty: dec!(0.5),
        });
        assert_eq!(decide(&i), vec![Repair::EnsureProtection { missing: vec!["STOP".into()] }]);
    }

    #[test]
    fn unknown_position_without_evidence_is_foreign_and_untouched() {
        let mut i = input();
        i.local = None;
        i.protective.clear();
        assert_eq!(decide(&i), vec![Repair::ForeignPosition { qty: dec!(1) }]);
    }

    #[test]
    fn orphans_without_position_are_cancelled() {
        let mut i = input();
        i.local = None;
        i.exchange_qty = dec!(0);
        let r = decide(&i);
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|x| matches!(x, Repair::CancelOrphan { .. })));
    }

    #[test]
    fn other_plans_protection_is_orphaned() {
        let mut i = input();
        i.protective.push(prot(OrderRole::Stop, "old", dec!(1)));
        assert_eq!(decide(&i), vec![Repair::CancelOrphan { client_id: "mc_old_STOP_1".into() }]);
    }

    #[test]
    fn drift_is_corrected() {
        let mut i = input();
        i.exchange_entry_price = dec!(101);
        i.exchange_qty = dec!(1);
        assert_eq!(
            decide(&i),
            vec![Repair::CorrectRecord { side: PositionSide::Long, qty: dec!(1), entry_price: dec!(101) }]
        );
    }

    #[test]
    fn foreign_orders_are_reported_not_mismatches() {
        let mut i = input();
        i.foreign_orders = 2;
        let r = decide(&i);
        assert_eq!(r, vec![Repair::ForeignOrders { count: 2 }]);
        assert!(!r[0].is_mismatch());
    }

    /// Issue 10 item 6: a hand trade flips the long into a short. The bot's SELL STOP does not
    /// protect a short; the decision ends the bot's position and touches nothing else.
    #[test]
    fn a_side_flip_ends_the_position_and_touches_nothing() {
        let mut i = input();
        i.exchange_qty = dec!(-0.5);
        i.exchange_entry_price = dec!(99);
        assert_eq!(decide(&i), vec![Repair::SideFlipped { side: PositionSide::Short, qty: dec!(0.5) }]);
    }

    fn past(cid: &str, side: crate::core::types::OrderSide, qty: Decimal, reduce: bool, t: i64) -> PastOrder {
        PastOrder { client_id: cid.into(), side, executed_qty: qty, reduce_only: reduce, time_ms: t }
    }

    /// Issue 10 item 2: the history proves the position only when the plan's ENTRY fills are
    /// exactly its size on its side, nothing of that plan reduced it since, and the ids are ours.
    #[test]
    fn the_order_history_attributes_only_an_exact_own_entry() {
        use crate::core::types::OrderSide::{Buy, Sell};
        let h = vec![
            past("mc_old000000001_ENTRY_1", Buy, dec!(0.02), false, 1),
            past("mc_old000000001_CLOSE_1", Sell, dec!(0.02), true, 2),
            past("mc_a1b2c3d4e5f6_ENTRY_1", Buy, dec!(0.004), false, 3),
            past("mc_a1b2c3d4e5f6_ENTRY_2", Buy, dec!(0.006), false, 4),
        ];
        assert_eq!(plan_from_history(&h, "mc", dec!(0.010)).as_deref(), Some("a1b2c3d4e5f6"));
        assert_eq!(plan_from_history(&h, "mc", dec!(0.011)), None, "a size it does not explain");
        assert_eq!(plan_from_history(&h, "mc", dec!(-0.010)), None, "the other side");
        assert_eq!(plan_from_history(&h, "mx", dec!(0.010)), None, "another bot's ids");
        let mut closed = h.clone();
        closed.push(past("mc_a1b2c3d4e5f6_CLOSE_1", Sell, dec!(0.010), true, 5));
        assert_eq!(plan_from_history(&closed, "mc", dec!(0.010)), None, "closed since: the position is someone else's");
        let foreign = vec![past("web_123", Buy, dec!(0.010), false, 9)];
        assert_eq!(plan_from_history(&foreign, "mc", dec!(0.010)), None);
        assert_eq!(plan_from_history(&[], "mc", dec!(0.010)), None);
    }

    /// Issue 10 item 3: the newest own exit starts the cooldown; entries and other bots' ids do not.
    #[test]
    fn the_cooldown_runs_from_the_newest_own_exit() {
        let exits = vec![
            ("mc_a1b2c3d4e5f6_STOP_1".to_string(), 1_000),
            ("mc_b1b2c3d4e5f6_CLOSE_1".to_string(), 5_000),
            ("mc_c1b2c3d4e5f6_ENTRY_1".to_string(), 9_000),
            ("mx_d1b2c3d4e5f6_TP_1".to_string(), 9_500),
            ("web_123".to_string(), 9_900),
        ];
        assert_eq!(cooldown_from_history(&exits, "mc", 100), Some(5_100));
        assert_eq!(cooldown_from_history(&exits[2..], "mc", 100), None);
    }
}
