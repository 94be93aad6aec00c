//! `sim`: the whole cycle over historical candles on the paper exchange with a simulated clock
//! and deterministic fault injection (CONTRACT §9, seed 000 §10).
//!
//! Every candle runs the live `tick` (reconcile, evaluate, exit|enter, protect) against the paper
//! exchange. The one difference from a live run is how indicators are computed: streamed across
//! the whole file in O(1) per candle instead of recomputed over a 1000-candle window (EMA200
//! differs by ~1e-6 relative; see docs/sim.md). A simulated crash kills "the process": the
//! injector marks it dead, so every later exchange call of that tick fails unexecuted and the
//! store refuses every later commit; when the tick returns, the driver finds the crash as a value
//! ([`FaultInjector::restart`]), rolls the store's open batch back as a dead process would leave
//! it, and restarts at once, whose tick reconciles. After a
//! halt, the next candle reconciles and, when clean, resumes (counted). At every candle boundary
//! the invariants are checked; replay checks the whole journal at the end.

/// The equity-curve SVG.
pub(crate) mod plot;
/// Metrics and the report.
pub(crate) mod report;

use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::core::audit;
use crate::core::candle::Candle;
use crate::core::indicators::{IndicatorState, Indicators};
use crate::core::strategy;
use crate::error::{Error, Result};
use crate::exchange::paper::faults::{FaultConfig, FaultInjector};
use crate::exchange::paper::market::{FileMarketData, MarketData};
use crate::exchange::paper::{PaperExchange, PaperOptions};
use crate::exchange::{ConditionalKind, Exchange};
use crate::exec::evaluate::{apply_with, strategy_params, EvaluateOutcome, MarketSnapshot, QUOTE_ASSET};
use crate::exec::{reconcile, tick, Engine};
use crate::store::journal::{NewAuditEvent, Severity};
use crate::store::Store;
use report::{Ledger, SimReport};
use rust_decimal::Decimal;
use std::path::PathBuf;
use std::sync::Arc;

/// How long after a candle's close the simulated cron fires.
const TICK_DELAY_MS: i64 = 5_000;
/// After a crash the process is restarted this much later (systemd `RestartSec=5`).
const RESTART_DELAY_MS: i64 = 5_000;
/// Restarts within one candle before giving up until the next one (systemd's start limit).
const MAX_RESTARTS_PER_CANDLE: usize = 20;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub candles: PathBuf,
    pub funding: PathBuf,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Probability per exchange call of an injected fault, in [0, 1].
    pub fault_rate: f64,
    pub seed: u64,
    /// The (temporary) state DB of the run.
    pub state_db: PathBuf,
    /// Called after each candle with (done, total); for a progress bar.
    pub progress: Option<fn(u64, u64)>,
}

/// The report plus the equity curve (candle close time, equity).
pub struct SimResult {
    pub report: SimReport,
    pub equity: Vec<(i64, Decimal)>,
    /// Holding the starting balance in the asset from the first sampled close, at each sample.
    pub buy_and_hold: Vec<(i64, Decimal)>,
    pub start_balance: Decimal,
    /// Closed trades (close time, exit reason), for the plot's markers.
    pub trades: Vec<plot::TradeMark>,
}

fn open_exchange(
    db: &std::path::Path,
    cfg: &Config,
    clock: &ManualClock,
    market: &Arc<dyn MarketData>,
    faults: &Option<FaultInjector>,
) -> Result<PaperExchange> {
    let opts = PaperOptions {
        watch_other_writers: false,
        durable: false,
        ..PaperOptions::from_config(&cfg.paper, &cfg.symbol)
    };
    Ok(PaperExchange::open_with(db, opts, Arc::new(clock.clone()), market.clone(), faults.clone())?)
}

fn open_store(db: &std::path::Path, now: i64) -> Result<Store> {
    let s = Store::open(db, now)?;
    s.set_throwaway_durability()?;
    Ok(s)
}

/// Evaluation for `sim`: the streamed indicators of the last closed candle, recorded through the
/// same `apply_with` as the live command. Reads mark price, balance and filters from the paper
/// exchange (faults included).
fn sim_evaluate(e: &mut Engine<'_>, candles: &[Candle], i: usize, ind: &Indicators) -> Result<EvaluateOutcome> {
    let symbol = e.cfg.symbol.clone();
    let mark = e.ex.mark_info(&symbol)?;
    let balance_usdt = e.ex.wallet_balance(QUOTE_ASSET)?;
    let filters = e.ex.filters(&symbol)?;
    // Candles are only needed for an open position (best close since entry).
    let from = match e.store.active_position(&symbol)? {
        Some(p) => {
            let entered = p.entry_filled_ms.unwrap_or(p.opened_ms);
            let first = candles.first().map_or(0, |c| c.open_time_ms);
            let k = usize::try_from((entered - first) / e.cfg.strategy.interval_ms).unwrap_or(0);
            k.min(i)
        }
        None => i,
    };
    let snap = MarketSnapshot {
        server_time_ms: e.clock.now_ms(),
        candles: candles[from..=i].to_vec(),
        mark,
        balance_usdt,
        filters,
    };
    let ind = *ind;
    apply_with(&snap, e.store, e.cfg, e.clock, &mut |_, ctx| strategy::decide(&ind, ctx))
}

/// A halted system reconciles at the next candle and resumes when the reconcile is clean.
fn auto_resume(store: &mut Store, ex: &PaperExchange, cfg: &Config, clock: &ManualClock) -> Result<bool> {
    if !store.system()?.is_halted() {
        return Ok(false);
    }
    let rep = reconcile::reconcile(&mut Engine::new(cfg, store, ex, clock));
    let sys = store.system()?;
    let clean = rep.is_ok_and(|r| r.exit_code() == crate::outcome::ExitCode::Ok)
        && sys.last_reconcile_clean
        && sys.last_reconcile_ms.is_some_and(|t| t >= sys.mode_since_ms);
    if clean {
        store.set_running(clock.now_ms())?;
        store.append_audit(&NewAuditEvent {
            ts_ms: clock.now_ms(),
            severity: Severity::Info,
            kind: audit::RESUME.into(),
            trade_plan_id: None,
            message: format!(
                "sim: resumed after a clean reconcile (was halted: {})",
                sys.halt_reason.unwrap_or_default()
            ),
            data: None,
        })?;
    }
    Ok(clean)
}

/// Is the exchange position covered by a STOP of at least its size? (checked without faults)
fn protected(ex: &PaperExchange, symbol: &str) -> Result<(Decimal, bool)> {
    let read = || -> crate::exchange::ExResult<(Decimal, bool)> {
        let p = ex.position(symbol)?;
        if p.is_flat() {
            return Ok((Decimal::ZERO, true));
        }
        let stop = ex
            .open_conditional_orders(symbol)?
            .iter()
            .any(|c| c.kind == ConditionalKind::StopMarket && c.status.is_open() && c.qty >= p.qty.abs());
        Ok((p.qty, stop))
    };
    let r = match ex.faults() {
        Some(f) => f.paused(read),
        None => read(),
    };
    Ok(r?)
}

/// Runs the simulation.
pub fn run(cfg: &Config, opts: &SimOptions) -> Result<SimResult> {
    let data = FileMarketData::load(&opts.candles, &opts.funding).map_err(|e| Error::Usage(e.to_string()))?;
    if data.interval_ms() != cfg.strategy.interval_ms {
        return Err(Error::Usage(format!(
            "{} has {} ms candles but strategy.interval is {} ({} ms)",
            opts.candles.display(),
            data.interval_ms(),
            cfg.strategy.interval,
            cfg.strategy.interval_ms
        )));
    }
    let candles: Vec<Candle> = data.candles().to_vec();
    let market: Arc<dyn MarketData> = Arc::new(data);
    // Trade from the warm-up on, and only candles that have a next one (fills need a next price).
    let first_idx =
        candles.iter().position(|c| opts.from_ms.is_none_or(|f| c.open_time_ms >= f)).unwrap_or(candles.len());
    let start = first_idx.max(cfg.strategy.warmup.saturating_sub(1));
    let end = candles
        .iter()
        .rposition(|c| opts.to_ms.is_none_or(|t| c.close_time_ms < t + 86_400_000))
        .unwrap_or(0)
        .min(candles.len().saturating_sub(2));
    if start > end {
        return Err(Error::Usage("no candles to simulate in that range (after the warm-up)".into()));
    }
    let clock = ManualClock::new(candles[start].close_time_ms + 1 + TICK_DELAY_MS);
    let faults = (opts.fault_rate > 0.0).then(|| FaultInjector::new(FaultConfig::random(opts.seed, opts.fault_rate)));
    let mut store = open_store(&opts.state_db, clock.now_ms())?;
    if let Some(f) = &faults {
        let f = f.clone();
        store.refuse_commits_while(move || f.is_dead());
    }
    let ex = open_exchange(&opts.state_db, cfg, &clock, &market, &faults)?;
    let start_balance = ex.account()?.balance;

    let params = strategy_params(cfg);
    let mut ind_state = IndicatorState::new(params.indicator_params());
    let mut latest: Option<Indicators> = None;
    let mut fed = 0usize;
    let mut ledger = Ledger::new(start_balance);
    let mut buy_and_hold: Vec<(i64, Decimal)> = Vec::new();
    let mut hold_from: Option<Decimal> = None;
    let total = u64::try_from(end - start + 1).unwrap_or(0);
    for i in start..=end {
        let now = candles[i].close_time_ms + 1 + TICK_DELAY_MS;
        clock.set_ms(now.max(clock.now_ms()));
        while fed <= i {
            latest = Some(*ind_state.push(&candles[fed]).map_err(|e| Error::Failed(format!("candles: {e}")))?);
            fed += 1;
        }
        let ind = latest.ok_or_else(|| Error::Failed("no indicators".into()))?;
        // A crash restarts the process at once (systemd `Restart=on-failure`, RESTART_DELAY_MS
        // later) and the restarted tick reconciles; bounded like systemd's start limit.
        for restart in 0..=MAX_RESTARTS_PER_CANDLE {
            if restart > 0 {
                clock.advance_ms(RESTART_DELAY_MS);
            }
            let cycle = (|| -> Result<crate::exec::outcome::TickOutcome> {
                if auto_resume(&mut store, &ex, cfg, &clock)? {
                    ledger.resumes += 1;
                }
                let mut engine = Engine::new(cfg, &mut store, &ex, &clock);
                let posture = &mut ledger.posture;
                tick::tick_with(&mut engine, &mut |e: &mut Engine<'_>| {
                    let out = sim_evaluate(e, &candles, i, &ind);
                    match out.as_ref().map(|o| o.posture.action) {
                        Ok(Some("refused")) => posture.entries_refused += 1,
                        Ok(Some("sized_down")) => posture.entries_downsized += 1,
                        _ => {}
                    }
                    out
                })
            })();
            // A dead process's outcome (an error or a report) is what it made of its dead calls
            // and refused writes: only the crash counts.
            match (faults.as_ref().and_then(FaultInjector::crash), cycle) {
                (Some(crash), _) => {
                    ledger.crashes += 1;
                    // The restarted process sees only what was committed: its open batch dies
                    // with it (rolled back while commits are still refused), and its waits after
                    // the crash never happened. The exchange's book already equals its tables.
                    store.reset_after_crash();
                    clock.set_ms(crash.at_ms);
                    if let Some(f) = &faults {
                        f.restart();
                    }
                    ex.reload_after_crash();
                }
                (None, Ok(rep)) => {
                    ledger.note_exit(rep.exit);
                    break;
                }
                (None, Err(e)) => return Err(e),
            }
        }
        let mode = store.posture(clock.now_ms())?.mode;
        *ledger.posture.candles_in_mode.entry(mode.as_str().to_string()).or_insert(0) += 1;
        let (qty, ok) = protected(&ex, &cfg.symbol)?;
        if !ok {
            ledger.unprotected.push(candles[i].close_time_ms);
        }
        let acct = match ex.faults() {
            Some(f) => f.paused(|| ex.account()),
            None => ex.account(),
        }?;
        let unrealized = if qty.is_zero() { Decimal::ZERO } else { (candles[i].close - acct.entry_price) * qty };
        ledger.sample(candles[i].close_time_ms, acct.balance + unrealized);
        let first_close = *hold_from.get_or_insert(candles[i].close);
        if first_close > Decimal::ZERO {
            buy_and_hold.push((candles[i].close_time_ms, start_balance * candles[i].close / first_close));
        }
        if let Some(p) = opts.progress {
            p(u64::try_from(i - start + 1).unwrap_or(0), total);
        }
    }
    let acct = match ex.faults() {
        Some(f) => f.paused(|| ex.account()),
        None => ex.account(),
    }?;
    let injected = faults.as_ref().map(FaultInjector::snapshot).unwrap_or_default();
    let report = report::build(&store, &ledger, &acct, injected, cfg, opts, (&candles[start], &candles[end]), total)?;
    let trades = store
        .all_positions()?
        .into_iter()
        .filter_map(|p| Some(plot::TradeMark { closed_ms: p.closed_ms?, reason: p.exit_reason? }))
        .collect();
    Ok(SimResult { report, equity: ledger.equity, buy_and_hold, start_balance, trades })
}
