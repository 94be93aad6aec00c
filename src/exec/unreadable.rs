//! When the snapshot cannot be read within the command's retry budget (issue 11 item 3): a
//! position the journal knows is protected from what is known — the journal's stop and client
//! ids, whatever single reads still answer — before the command gives up naming the read.
//!
//! The rule, read by read:
//! - no open position in the journal: nothing is at risk; the command fails (exit 1).
//! - the position read answers flat, or on the other side: nothing of mcbot's is at risk; exit 1.
//! - each protective order the journal believes live is looked up by client id (its own
//!   endpoint, not the list that failed). Found open and covering: present. Found ended, or
//!   proven absent: missing. Look-up failed: missing when the position read proved the exposure
//!   (a second reduce-only STOP is harmless, a naked position is not), present when the position
//!   could not be read either (an outage proves nothing against the journal's belief, and every
//!   write would fail too).
//! - missing legs are placed with new attempt ids (reduce-only: they can never open exposure,
//!   even if the position was in fact closed). Placed: exit 1, protected. Not placed: the
//!   protection guarantee's failure path (CLOSE, HALT, exit 10).

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::order::OrderRole;
use crate::error::Result;
use crate::exchange::{ConditionalKind, ConditionalStatus, ExConditional, ExPosition, ExchangeError};
use crate::exec::outcome::{ReadFailed, ReadFailedResult};
use crate::exec::position::journal_plan_id;
use crate::exec::snapshot::Snapshot;
use crate::exec::{protect, Engine};
use crate::store::journal::Severity;
use crate::store::positions::PositionRecord;
use rust_decimal::Decimal;
use serde_json::json;

/// `failed` is the read that gave up.
pub(crate) fn protect_despite(e: &mut Engine<'_>, failed: ExchangeError) -> Result<ReadFailed> {
    let symbol = e.cfg.symbol.clone();
    let Some(pos) = e.store.active_position(&symbol)? else {
        return Err(failed.into());
    };
    let (position, exposure_proven) = match e.ex.position(&symbol) {
        Ok(p) if p.is_flat() || (p.qty > Decimal::ZERO) != (pos.side.sign() > Decimal::ZERO) => {
            return Err(failed.into())
        }
        Ok(p) => (p, true),
        Err(_) => (
            ExPosition {
                symbol: symbol.clone(),
                qty: pos.side.sign() * pos.qty,
                entry_price: pos.entry_price,
                mark_price: Decimal::ZERO,
                update_time_ms: 0,
            },
            false,
        ),
    };
    let plan_id = journal_plan_id(&pos);
    let believed: Vec<String> = e
        .ledger(&plan_id)?
        .orders
        .values()
        .filter(|o| o.role.is_conditional() && o.state.may_be_live())
        .map(|o| o.client_id.clone())
        .collect();
    let mut present: Vec<ExConditional> = Vec::new();
    let mut unverified = Vec::new();
    for cid in &believed {
        match e.ex.query_conditional(&symbol, cid) {
            Ok(Some(c)) if c.status.is_open() => present.push(c),
            Ok(_) => {}
            Err(err) => {
                unverified.push(format!("{cid}: {err}"));
                if !exposure_proven {
                    present.push(believed_order(&pos, &position, cid));
                }
            }
        }
    }
    let why = failed.to_string();
    let snap = Snapshot {
        position,
        our_orders: Vec::new(),
        foreign_orders: Vec::new(),
        our_conditionals: present,
        foreign_conditionals: Vec::new(),
    };
    e.audit(
        Severity::Warn,
        audit::RECONCILE_REPAIR,
        Some(&plan_id),
        format!("a read kept failing ({why}); protecting the position from the journal"),
        json!({"mismatch": "read_failed", "read_error": why, "position_read": exposure_proven, "unverified": unverified}),
    )?;
    let result = match protect::ensure_protection(e, &pos, &snap) {
        Ok(protection) => ReadFailedResult::Protected { protection, position_read: exposure_proven, unverified },
        Err(err) => {
            // Exposure may exist and nothing could protect it: stop everything until a human looks.
            let msg = format!("position {plan_id} may be unprotected: {why}; protecting it failed: {err}");
            e.halt(&msg, Some(&plan_id))?;
            ReadFailedResult::UnprotectedHalted { msg }
        }
    };
    Ok(ReadFailed { read_error: why, result })
}

/// A protective order the journal believes live and no read could check, standing in for itself.
fn believed_order(pos: &PositionRecord, p: &ExPosition, cid: &str) -> ExConditional {
    let role = ClientOrderId::parse(cid).map_or(OrderRole::Stop, |id| id.role);
    let (kind, trigger) = if role == OrderRole::Stop {
        (ConditionalKind::StopMarket, pos.stop_price)
    } else {
        (ConditionalKind::TakeProfitMarket, pos.tp_price)
    };
    ExConditional {
        symbol: p.symbol.clone(),
        client_id: cid.to_string(),
        algo_id: String::new(),
        kind,
        side: pos.side.exit_side(),
        status: ConditionalStatus::New,
        trigger_price: trigger.unwrap_or_default(),
        qty: p.qty.abs(),
        reduce_only: true,
        close_position: false,
        actual_order_id: None,
        actual_price: None,
        actual_qty: None,
        update_time_ms: 0,
        raw: "believed from the journal; no read could check it".into(),
    }
}
