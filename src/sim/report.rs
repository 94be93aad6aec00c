//! Sim metrics: the trading results and the safety ledger (injected faults, forced closes, halts,
//! and the invariants that must all be zero).

use crate::clock::rfc3339;
use crate::config::Config;
use crate::core::candle::Candle;
use crate::core::order::{OrderRole, OrderState};
use crate::exchange::paper::PaperAccount;
use crate::outcome::ExitCode;
use crate::sim::SimOptions;
use crate::store::Store;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the driver counts while it runs.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    pub start_balance: Decimal,
    pub equity: Vec<(i64, Decimal)>,
    peak: Decimal,
    pub max_drawdown_pct: Decimal,
    /// Candle close times at which a position had no STOP covering it.
    pub unprotected: Vec<i64>,
    pub crashes: u64,
    pub resumes: u64,
    /// Ticks by exit code.
    pub tick_exits: BTreeMap<u8, u64>,
    /// Candles closed in each posture mode, and entry signals the posture refused or sized down.
    pub posture: SimPosture,
}

impl Ledger {
    pub(crate) fn new(start_balance: Decimal) -> Self {
        Ledger {
            start_balance,
            equity: Vec::new(),
            peak: start_balance,
            max_drawdown_pct: Decimal::ZERO,
            unprotected: Vec::new(),
            crashes: 0,
            resumes: 0,
            tick_exits: BTreeMap::new(),
            posture: SimPosture::default(),
        }
    }
    pub(crate) fn sample(&mut self, t: i64, equity: Decimal) {
        self.equity.push((t, equity));
        if equity > self.peak {
            self.peak = equity;
        }
        if self.peak > Decimal::ZERO {
            let dd = (self.peak - equity) / self.peak * Decimal::ONE_HUNDRED;
            if dd > self.max_drawdown_pct {
                self.max_drawdown_pct = dd;
            }
        }
    }
    pub(crate) fn note_exit(&mut self, code: ExitCode) {
        *self.tick_exits.entry(code.code()).or_default() += 1;
    }
}

/// The posture over a sim run (issue 15): with faults off it must stay GREEN throughout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SimPosture {
    /// Candles that closed with the posture in each mode (every mode listed, 0 when never).
    pub candles_in_mode: BTreeMap<String, u64>,
    pub entries_refused: u64,
    pub entries_downsized: u64,
    pub transitions: u64,
}

/// The invariants of CONTRACT §9; all must be zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invariants {
    pub unprotected_at_candle_close: u64,
    pub duplicate_entries: u64,
    pub replay_violations: u64,
}

impl Invariants {
    pub fn all_held(&self) -> bool {
        self.unprotected_at_candle_close == 0 && self.duplicate_entries == 0 && self.replay_violations == 0
    }
}

/// The sim report (CONTRACT §9). Deterministic for a seed: no wall-clock values in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    pub outcome: String,
    pub candles: u64,
    pub from: String,
    pub to: String,
    pub seed: u64,
    pub fault_rate: String,
    pub trades: u64,
    pub win_rate: String,
    pub pnl: String,
    pub pnl_pct: String,
    pub final_equity: String,
    pub max_drawdown_pct: String,
    pub fees: String,
    pub funding: String,
    pub exit_reasons: BTreeMap<String, u64>,
    pub faults_injected: BTreeMap<String, u64>,
    pub crashes_recovered: u64,
    pub forced_closes: u64,
    pub halts: u64,
    pub resumes: u64,
    pub ticks_by_exit_code: BTreeMap<String, u64>,
    pub invariants: Invariants,
    /// Plans with replay violations (first few), to start an investigation.
    pub violation_samples: Vec<String>,
    pub assumptions: Vec<String>,
    pub posture: SimPosture,
}

fn dp(d: Decimal, n: u32) -> String {
    d.round_dp(n).to_string()
}

/// Builds the report from the store and the run's ledger.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    store: &Store,
    ledger: &Ledger,
    acct: &PaperAccount,
    faults_injected: BTreeMap<String, u64>,
    cfg: &Config,
    opts: &SimOptions,
    span: (&Candle, &Candle),
    candles: u64,
) -> crate::error::Result<SimReport> {
    let positions = store.all_positions()?;
    let closed: Vec<_> = positions.iter().filter(|p| p.exit_reason.is_some()).collect();
    let wins = closed.iter().filter(|p| p.realized_pnl.is_some_and(|x| x > Decimal::ZERO)).count();
    let mut exit_reasons = BTreeMap::new();
    for p in &closed {
        *exit_reasons.entry(p.exit_reason.clone().unwrap_or_default()).or_insert(0u64) += 1;
    }
    let forced_closes =
        closed.iter().filter(|p| p.exit_reason.as_deref().is_some_and(|r| r.starts_with("forced_close:"))).count();
    let count = |sql: &str| -> crate::error::Result<u64> {
        let n: i64 = store.conn().query_row(sql, [], |r| r.get(0)).map_err(crate::store::StoreError::from)?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let halts = count("SELECT count(*) FROM audit_event WHERE kind = 'halt'")?;
    let mut posture = ledger.posture.clone();
    posture.transitions = count("SELECT count(*) FROM posture_transition")?;
    for m in crate::core::posture::PostureMode::ALL {
        posture.candles_in_mode.entry(m.as_str().to_string()).or_insert(0);
    }
    let mut duplicate_entries = 0u64;
    for plan in store.all_plans()? {
        if let Ok(l) = store.ledger_for_plan(&plan.id) {
            let filled = l
                .of(&plan.id, OrderRole::Entry)
                .iter()
                .filter(|o| o.filled_qty.is_some_and(|q| q > Decimal::ZERO) || o.state == OrderState::Filled)
                .count();
            if filled > 1 {
                duplicate_entries += 1;
            }
        }
    }
    let replay = crate::store::replay::replay_store(store)?;
    let violations = replay.violations();
    let mut violation_samples: Vec<String> = violations
        .iter()
        .take(5)
        .map(|(plan, v)| format!("{}: {} at seq {:?}: {}", plan.unwrap_or("-"), v.rule, v.seq, v.detail))
        .collect();
    violation_samples.extend(
        ledger
            .unprotected
            .iter()
            .take(5)
            .map(|t| format!("position without a covering STOP at the candle close {}", rfc3339(*t))),
    );
    let invariants = Invariants {
        unprotected_at_candle_close: u64::try_from(ledger.unprotected.len()).unwrap_or(u64::MAX),
        duplicate_entries,
        replay_violations: u64::try_from(violations.len()).unwrap_or(u64::MAX),
    };
    let final_equity = ledger.equity.last().map_or(acct.balance, |e| e.1);
    let pnl = final_equity - ledger.start_balance;
    let trades = u64::try_from(closed.len()).unwrap_or(0);
    let win_rate = if closed.is_empty() { Decimal::ZERO } else { Decimal::from(wins) / Decimal::from(closed.len()) };
    let mut fi = faults_injected;
    for k in ["stop_rejected", "tp_rejected", "entry_ack_lost", "partial_fill", "outage", "crash"] {
        fi.entry(k.to_string()).or_insert(0);
    }
    Ok(SimReport {
        outcome: if invariants.all_held() { "ok".into() } else { "violations".into() },
        candles,
        from: rfc3339(span.0.close_time_ms + 1),
        to: rfc3339(span.1.close_time_ms + 1),
        seed: opts.seed,
        fault_rate: format!("{}", opts.fault_rate),
        trades,
        win_rate: dp(win_rate, 4),
        pnl: dp(pnl, 2),
        pnl_pct: dp(pnl / ledger.start_balance * Decimal::ONE_HUNDRED, 2),
        final_equity: dp(final_equity, 2),
        max_drawdown_pct: dp(ledger.max_drawdown_pct, 2),
        fees: dp(acct.fees_paid, 2),
        funding: dp(acct.funding_paid, 2),
        exit_reasons,
        faults_injected: fi,
        crashes_recovered: ledger.crashes,
        forced_closes: u64::try_from(forced_closes).unwrap_or(0),
        halts,
        resumes: ledger.resumes,
        ticks_by_exit_code: ledger.tick_exits.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        invariants,
        violation_samples,
        assumptions: vec![
            format!("{} candles of {}; ticks {} s after each close", cfg.strategy.interval, cfg.symbol, super::TICK_DELAY_MS / 1000),
            "market orders fill at the next candle's open with paper.slippage_pct against the taker and paper.fee_pct".into(),
            "when STOP and TP both lie inside one candle, the STOP is assumed hit first (the conservative choice)".into(),
            "indicators are streamed over the whole file (live evaluate uses the last strategy.history candles; EMA differs ~1e-6 relative)".into(),
        ],
        posture,
    })
}
