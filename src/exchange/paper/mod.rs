//! The in-process paper exchange: the [`Exchange`] port over an in-memory book kept in the state
//! DB, with prices from a [`MarketData`] source and deterministic fault injection.
//!
//! Every call (except `server_time`) runs the same way: ask the [`FaultInjector`] (outage: fail
//! with 503, not executed; dead or crash before: fail with [`faults::dead`], not executed), take
//! the lock, **advance** the book to the clock's now (triggers, funding, partial-fill completions;
//! see [`book`]), do the call, commit what it changed, release the lock, then maybe die after the
//! call (the answer is lost: [`faults::dead`]). A death is reported to the injector
//! ([`SimulatedCrash`]); the driver reads it from there, no panic.
//!
//! Crash consistency: a request's changes are committed before its answer (and before any crash).
//! Changes that follow from time alone are not written on their own: they are a deterministic
//! function of the committed state, `processed_ms`, the market data and the clock, so a process
//! that re-opens the exchange on the same DB re-derives exactly the state a real exchange would
//! have (and the next request's commit writes them). This keeps `sim` from paying one commit per
//! funding settlement. Read balances through [`PaperExchange::account`], not the `paper_*` tables.
//! Another process writing the same account (`halt --flatten` beside a `tick`) is noticed through
//! a version counter: this instance reloads, or refuses a write with a Retryable error.
//!
//! Binance behaviours reproduced (BINANCE.md §4.4, §4.5, §6, §7): filters with their error codes;
//! reduce-only MARKET with nothing to reduce → -2022, capped at the position (status FILLED with
//! `executedQty` < `origQty` when capped), exempt from MIN_NOTIONAL; STOP/TP on the wrong side of
//! the mark → -2021 (Fatal); a client id already used by an *open* order → -4116 (a filled one may
//! be reused, as on Binance); unknown look-ups → `Ok(None)`; cancelling anything not open →
//! `NotOpen` (-2011 in the transcript); margin type and leverage setters are idempotent.
//! `mark_info`'s funding rate is the last *settled* rate (no look-ahead into the next one).
//!
//! How `sim` drives it (one market data, one injector and one clock for the whole run; a new
//! exchange instance after every simulated crash, on the same DB):
//!
//! ```no_run
//! # use std::{path::Path, sync::Arc};
//! # use mcbot::{clock::ManualClock, config::PaperConfig, exchange::Exchange};
//! use mcbot::exchange::paper::*;
//! # fn tick(_: &dyn Exchange) {}
//! # fn run(db: &Path, cfg: &PaperConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let market = Arc::new(FileMarketData::load(&cfg.candles, &cfg.funding)?);
//! let faults = FaultInjector::new(FaultConfig::random(42, 0.01));
//! let first = market.candles()[0].open_time_ms;
//! let clock = ManualClock::new(first);
//! let opts = PaperOptions { watch_other_writers: false, ..PaperOptions::from_config(cfg, "BTCUSDT") };
//! let ex = PaperExchange::open_with(db, opts, Arc::new(clock.clone()), market.clone(), Some(faults.clone()))?;
//! for c in &market.candles()[1..] {
//!     clock.set_ms(c.open_time_ms); // the previous candle just closed; its tick runs now
//!     tick(&ex); // after a crash every call of this tick fails: the process is dead
//!     if let Some(crash) = faults.restart() {
//!         clock.set_ms(crash.at_ms); // what the dead process waited for never happened
//!         ex.reload_after_crash(); // "restart": the exchange's state is what the DB holds
//!     }
//! }
//! let _report = (faults.snapshot(), ex.account()?);
//! # Ok(()) }
//! ```

/// The in-memory book and matching rules.
pub mod book;
/// Load and write-through of the book in the state DB.
pub mod db;
/// Deterministic fault injection.
pub mod faults;
/// Live public Binance prices for forward testing.
pub mod live;
/// The market-data port and its file implementation.
pub mod market;
/// The `Exchange` trait implementation.
mod port;
/// The replay clock and the book's age, for the shell.
pub(crate) mod replay_clock;
/// Binance's request checks and error codes.
pub mod rules;
/// The paper exchange's own tables, versioned apart from the bot's.
pub(crate) mod schema;
/// Domain values and raw transcripts.
pub mod wire;

pub use faults::{FaultConfig, FaultInjector, FaultKind, FaultStats, SimulatedCrash};
pub use market::{FileMarketData, MarketData, MarketDataError};

use crate::clock::Clock;
use crate::config::PaperConfig;
use crate::core::money::SymbolFilters;
use crate::exchange::error::{ExResult, ExchangeError};
use book::{Book, Costs};
use faults::{CallKind, Decision};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Everything that shapes a paper account besides its data and faults.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperOptions {
    pub symbol: String,
    pub filters: SymbolFilters,
    /// Used only when the DB has no paper account yet.
    pub starting_balance: Decimal,
    /// Percent of notional per fill (0.05 = 0.05 %).
    pub fee_pct: Decimal,
    /// Percent worse than the reference price, for every fill (0.02 = 0.02 %).
    pub slippage_pct: Decimal,
    /// Check on every call whether another process wrote this paper account (one `PRAGMA
    /// data_version`, ~3 µs) and reload if so. On for CLI use, where `halt --flatten` may trade
    /// beside a running `tick`; `sim` on its private DB turns it off. Either way a write that
    /// would overwrite another process's write is refused (Retryable) and the book reloaded.
    pub watch_other_writers: bool,
    /// Sync commits to disk (live paper accounts). `sim`'s private, throwaway DB turns it off.
    pub durable: bool,
}

impl PaperOptions {
    /// From the `[paper]` config, with Binance's BTCUSDT filters (renamed to `symbol`).
    pub fn from_config(cfg: &PaperConfig, symbol: &str) -> Self {
        PaperOptions {
            symbol: symbol.to_string(),
            filters: SymbolFilters { symbol: symbol.to_string(), ..SymbolFilters::btcusdt_default() },
            starting_balance: cfg.starting_balance_usdt,
            fee_pct: cfg.fee_pct,
            slippage_pct: cfg.slippage_pct,
            watch_other_writers: true,
            durable: true,
        }
    }
}

/// Account totals for reports (`sim`); read without faults.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperAccount {
    pub balance: Decimal,
    pub fees_paid: Decimal,
    /// Net funding paid (positive) or received (negative).
    pub funding_paid: Decimal,
    pub realized_pnl: Decimal,
    pub position_qty: Decimal,
    pub entry_price: Decimal,
}

struct Inner {
    conn: Connection,
    book: Book,
    /// The book may be ahead of the DB (a failed write whose reload also failed): reload first.
    stale: bool,
    /// Last seen `PRAGMA data_version` (see `db::changed_elsewhere`).
    data_version: i64,
}

/// Which fault was handed to the call and whether the call applied it.
#[derive(Default)]
struct Injected {
    kind: Option<faults::FaultKind>,
    applied: bool,
}

impl Injected {
    fn is(&self, k: faults::FaultKind) -> bool {
        self.kind == Some(k)
    }
}

/// The paper exchange. Cheap to share (`&self` methods, internally locked).
pub struct PaperExchange {
    opts: PaperOptions,
    costs: Costs,
    db_path: PathBuf,
    clock: Arc<dyn Clock>,
    market: Arc<dyn MarketData>,
    faults: Option<FaultInjector>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for PaperExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperExchange").field("symbol", &self.opts.symbol).field("db", &self.db_path).finish()
    }
}

impl PaperExchange {
    /// Opens the paper account in the state DB at `db_path` (creating it with the configured
    /// starting balance the first time), trading `symbol` with prices from `market`. Pass one
    /// `FaultInjector` clone to every instance of a run (see [`faults`]); `None` = no faults.
    pub fn open(
        db_path: &Path,
        cfg: &PaperConfig,
        symbol: &str,
        clock: Arc<dyn Clock>,
        market: Arc<dyn MarketData>,
        faults: Option<FaultInjector>,
    ) -> ExResult<Self> {
        Self::open_with(db_path, PaperOptions::from_config(cfg, symbol), clock, market, faults)
    }

    /// [`open`](Self::open) with explicit options (other filters, fees, balances in tests).
    pub fn open_with(
        db_path: &Path,
        opts: PaperOptions,
        clock: Arc<dyn Clock>,
        market: Arc<dyn MarketData>,
        faults: Option<FaultInjector>,
    ) -> ExResult<Self> {
        let hundred = Decimal::ONE_HUNDRED;
        let costs = Costs { fee_rate: opts.fee_pct / hundred, slip_rate: opts.slippage_pct / hundred };
        let mut conn = db::open(db_path, opts.durable)?;
        let mut book = db::load(&conn, &opts.symbol, opts.starting_balance, costs, clock.now_ms())?;
        db::flush(&mut conn, &mut book)?;
        let mut data_version = 0;
        db::changed_elsewhere(&conn, &book, &mut data_version)?;
        let inner = Mutex::new(Inner { conn, book, stale: false, data_version });
        Ok(PaperExchange { opts, costs, db_path: db_path.to_path_buf(), clock, market, faults, inner })
    }

    /// After a simulated crash of the *bot* (`sim`): the exchange lives on. Requests commit before
    /// they answer and a dead process's calls never reach the book, so the book already equals
    /// its tables; only a lock poisoned by a real panic forces a reload from the DB.
    pub fn reload_after_crash(&self) {
        if self.inner.is_poisoned() {
            self.inner.clear_poison();
            if let Ok(mut g) = self.inner.lock() {
                g.stale = true;
            }
        }
    }

    /// The injector this instance consults, for pausing it or reading its stats.
    pub fn faults(&self) -> Option<&FaultInjector> {
        self.faults.as_ref()
    }

    pub fn market(&self) -> &Arc<dyn MarketData> {
        &self.market
    }

    /// Account totals after advancing to now; no faults, no call counted.
    pub fn account(&self) -> ExResult<PaperAccount> {
        let mut inner = self.lock()?;
        inner.book.advance(self.clock.now_ms(), self.market.as_ref())?;
        let b = &inner.book;
        Ok(PaperAccount {
            balance: b.balance,
            fees_paid: b.fees_paid,
            funding_paid: b.funding_paid,
            realized_pnl: b.realized_pnl,
            position_qty: b.pos_qty,
            entry_price: b.pos_entry,
        })
    }

    fn lock(&self) -> ExResult<MutexGuard<'_, Inner>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| {
            // Only a bug can panic under this lock, and the DB is the truth: take the guard and
            // reload.
            self.inner.clear_poison();
            let mut g = p.into_inner();
            g.stale = true;
            g
        });
        let Inner { conn, book, stale, data_version } = &mut *inner;
        // Another process (e.g. `halt --flatten` beside a `tick`) may have traded on this account:
        // its commits are the truth, and time-derived changes here are re-derived from them.
        if *stale || (self.opts.watch_other_writers && db::changed_elsewhere(conn, book, data_version)?) {
            *book = db::load(conn, &self.opts.symbol, self.opts.starting_balance, self.costs, 0)?;
            *stale = false;
        }
        Ok(inner)
    }

    /// Writes what changed; on failure the DB rolled back, so the book is reloaded to match it.
    fn commit(&self, inner: &mut Inner) -> ExResult<()> {
        let Inner { conn, book, stale, .. } = inner;
        if let Err(e) = db::flush(conn, book) {
            match db::load(conn, &self.opts.symbol, self.opts.starting_balance, self.costs, 0) {
                Ok(b) => *book = b,
                Err(_) => *stale = true,
            }
            return Err(e);
        }
        Ok(())
    }

    /// The price at `now`: the open of the candle containing it.
    fn mark(&self, now: i64) -> ExResult<Decimal> {
        self.market.candle_at(now)?.map(|c| c.open).ok_or_else(|| rules::no_market(now))
    }

    /// One exchange call: faults, advance, `op`, commit, maybe die. `method` names the call and
    /// its fault lane (see [`faults`]); `request` is only serialised when a transcript needs it.
    fn call<T, Q: Serialize>(
        &self,
        method: &'static str,
        endpoint: &'static str,
        kind: CallKind,
        request: &Q,
        op: impl FnOnce(&mut Book, i64, &mut Injected) -> ExResult<T>,
    ) -> ExResult<T> {
        let decision = self.faults.as_ref().map_or(Decision::Clean, |f| f.decide(method, kind));
        let now = self.clock.now_ms();
        let mut injected = Injected::default();
        match decision {
            Decision::Outage => return Err(with_transcript(rules::outage(), endpoint, request)),
            Decision::Dead(crash) => return Err(faults::dead(&crash)),
            Decision::Crash { call, executed: false } => return Err(self.die(call, method, false, now)),
            Decision::Inject(k) => injected.kind = Some(k),
            Decision::Clean | Decision::Crash { .. } => {}
        }
        let result = self.lock().and_then(|mut inner| {
            let r =
                inner.book.advance(now, self.market.as_ref()).and_then(|()| op(&mut inner.book, now, &mut injected));
            // Only what a request changed must be durable before the answer; this write also
            // carries any time-derived changes (see `book`).
            let committed = if inner.book.dirty.request { self.commit(&mut inner) } else { Ok(()) };
            committed.and(r)
        });
        if let (Some(f), Some(k), true) = (&self.faults, injected.kind, injected.applied) {
            f.record(k);
        }
        if let Decision::Crash { call, executed: true } = decision {
            return Err(self.die(call, method, true, now));
        }
        result.map_err(|e| with_transcript(e, endpoint, request))
    }

    /// The process dies at this call: the injector remembers it, the caller gets the dead error.
    fn die(&self, call: u64, method: &'static str, executed: bool, at_ms: i64) -> ExchangeError {
        let crash = SimulatedCrash { call, method, executed, at_ms };
        if let Some(f) = &self.faults {
            f.die(crash);
        }
        faults::dead(&crash)
    }

    /// A call that is not an ENTRY, STOP or TP: only outages and crashes may hit it.
    fn read<T>(
        &self,
        method: &'static str,
        endpoint: &'static str,
        req: &wire::Req<'_>,
        op: impl FnOnce(&mut Book, i64) -> ExResult<T>,
    ) -> ExResult<T> {
        self.call(method, endpoint, CallKind::Other, req, |b, now, _| {
            rules::check_symbol(&self.opts.symbol, req.symbol)?;
            op(b, now)
        })
    }
}

fn with_transcript(e: ExchangeError, endpoint: &str, request: &impl Serialize) -> ExchangeError {
    if e.raw.is_some() {
        return e;
    }
    let raw = wire::error_transcript(endpoint, request, &e);
    e.with_raw(raw)
}
