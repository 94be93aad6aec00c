//! `mcbot doctor` (CONTRACT §10): reads the account, symbol, clock and limits, and reports one
//! `ok`/`warn`/`fail` check each (verdicts: `core::doctor`). Plain `doctor` sends no order and
//! writes nothing to the journal; `--round-trip` (round_trip.rs) opens and closes the smallest
//! protected position through the normal exec paths.

mod round_trip;

use crate::cmd::Ctx;
use crate::config::ExchangeKind;
use crate::core::doctor::{self, Check, Facts, KeyFacts, MarginFacts, RateFacts, Read, ReadFail, Status};
use crate::error::{Error, Result};
use crate::exchange::{ExResult, Exchange, ExchangeError, ExchangeErrorKind};
use crate::outcome::{ExitCode, Report};
use serde_json::json;

/// Arguments of `mcbot doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Also open the smallest protected position the filters allow, check STOP and TP on the
    /// exchange, close it, and report the naked window and each call's latency. Refused unless
    /// exchange.base_url is a demo/test endpoint (or --i-know-this-is-live)
    #[arg(long)]
    pub round_trip: bool,
    /// Allow --round-trip on a host that is not a known demo/test endpoint: real money
    #[arg(long, requires = "round_trip")]
    pub i_know_this_is_live: bool,
}

/// Does this run take the state lock? `--round-trip` trades (like `enter`); the paper exchange
/// keeps its book in the state DB and moves it on with every call. Plain doctor on Binance only
/// reads the exchange, so it answers even while a tick holds the lock.
pub(crate) fn takes_lock(args: &DoctorArgs, config: &crate::config::Config) -> bool {
    args.round_trip || config.exchange.kind == ExchangeKind::Paper
}

pub(crate) fn run(args: &DoctorArgs, ctx: &mut Ctx) -> Result<Report> {
    if args.round_trip {
        // Refused before anything is read from or sent to the exchange.
        round_trip::refuse_unless_test_venue(&ctx.config, args.i_know_this_is_live)?;
    }
    let ex = ctx.connect()?;
    let checks = doctor::verdicts(&read_facts(ctx, ex.as_ref()));
    let mut r = report(&checks);
    if args.round_trip {
        if doctor::outcome(&checks) == Status::Fail {
            r.push_line("round trip: not started, a check failed");
            r.set("round_trip", json!({"started": false, "why": "a check failed"}));
            return Ok(r);
        }
        let rt = round_trip::run(ctx, ex.as_ref())?;
        r.lines.extend(rt.lines.iter().cloned());
        r.set("round_trip", rt.to_json());
        if rt.exit != ExitCode::Ok {
            r.exit = rt.exit;
            r.outcome = "fail".into();
            let why = rt.fields.get("error").cloned().unwrap_or_else(|| {
                json!(format!("round trip ended at {}", rt.fields.get("step").and_then(|s| s.as_str()).unwrap_or("?")))
            });
            r.set("error", why);
        }
    }
    Ok(r)
}

/// The report: `{"command":"doctor","outcome":"ok|warn|fail","checks":[...]}`, exit 5 on a fail.
fn report(checks: &[Check]) -> Report {
    let outcome = doctor::outcome(checks);
    let exit = if outcome == Status::Fail { ExitCode::Preflight } else { ExitCode::Ok };
    let mut r = Report::new("doctor", outcome.as_str(), exit);
    r.set(
        "checks",
        checks
            .iter()
            .map(|c| json!({"name": c.name, "status": c.status.as_str(), "detail": c.detail}))
            .collect::<Vec<_>>(),
    );
    for c in checks {
        r.push_line(format!("{:<4}  {:<13} {}", c.status.as_str(), c.name, c.detail));
    }
    r.push_line(format!("doctor: {}", outcome.as_str()));
    r
}

fn read_fail(e: &ExchangeError) -> ReadFail {
    ReadFail {
        unreachable: matches!(e.kind, ExchangeErrorKind::Transport { .. }),
        credentials: e.is_credentials_rejected(),
        message: e.message.clone(),
    }
}

fn facts_of<T>(r: ExResult<T>) -> Read<T> {
    r.map_err(|e| read_fail(&e))
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Every read doctor makes, run concurrently (one round trip, not eleven). None of them writes.
fn read_facts(ctx: &Ctx, ex: &dyn Exchange) -> Facts {
    let cfg = &ctx.config;
    let sym = cfg.symbol.as_str();
    let clock = ctx.clock.as_ref();
    let clock_offset = || {
        let t0 = clock.now_ms();
        let server = ex.server_time()?;
        let t1 = clock.now_ms();
        Ok(server - (t0 + (t1 - t0) / 2))
    };
    let flat = || -> ExResult<bool> { Ok(ex.position(sym)?.is_flat() && ex.open_orders(sym)?.is_empty()) };
    let (offset, venue, settings, multi, flat, balance, mark, key) = std::thread::scope(|s| {
        let offset = s.spawn(clock_offset);
        let venue = s.spawn(|| ex.venue_info(sym));
        let settings = s.spawn(|| ex.account_settings(sym));
        let multi = s.spawn(|| ex.multi_assets_margin());
        let flat = s.spawn(flat);
        let balance = s.spawn(|| ex.wallet_balance("USDT"));
        let mark = s.spawn(|| ex.mark_info(sym));
        let key = ex.key_permissions();
        (join(offset), join(venue), join(settings), join(multi), join(flat), join(balance), join(mark), key)
    });
    let settable = flat.as_ref().copied().unwrap_or(false);
    let answered = [offset.is_ok(), venue.is_ok(), settings.is_ok(), balance.is_ok(), mark.is_ok()].contains(&true);
    let rate = ex.rate_usage().filter(|_| answered).map(|u| RateFacts {
        used_weight_1m: u.used_weight_1m,
        weight_limit_1m: venue.as_ref().ok().and_then(|v| v.weight_limit_1m).unwrap_or(u.weight_limit_1m),
        order_limit_1m: venue.as_ref().ok().and_then(|v| v.order_limit_1m).unwrap_or(u.order_limit_1m),
        order_limit_10s: venue.as_ref().ok().and_then(|v| v.order_limit_10s),
    });
    let paper = cfg.exchange.kind == ExchangeKind::Paper;
    Facts {
        paper,
        base_url: cfg.exchange.base_url.clone(),
        symbol: cfg.symbol.clone(),
        recv_window_ms: cfg.exchange.recv_window_ms,
        clock_offset_ms: facts_of(offset),
        dual_side: facts_of(settings.clone().map(|s| s.dual_side)),
        multi_assets: facts_of(multi),
        symbol_status: facts_of(venue.clone().map(|v| v.status)),
        filters: facts_of(venue.map(|v| v.filters)),
        margin: match (settings, flat) {
            // Whether wrong settings could be changed depends on the position read.
            (Ok(s), Err(e)) if !(s.isolated && s.leverage == 1) => Err(read_fail(&e)),
            (s, _) => facts_of(s.map(|s| MarginFacts { isolated: s.isolated, leverage: s.leverage, settable })),
        },
        balance: facts_of(balance),
        mark_price: facts_of(mark.map(|m| m.mark_price)),
        risk_per_trade_pct: cfg.risk.risk_per_trade_pct,
        max_notional_usdt: cfg.risk.max_notional_usdt,
        rate,
        key: facts_of(key.map(|k| {
            k.map(|k| KeyFacts {
                enable_withdrawals: k.enable_withdrawals,
                ip_restrict: k.ip_restrict,
                enable_futures: k.enable_futures,
            })
        })),
        key_host: if paper { None } else { crate::exchange::binance::doctor::spot_host_for(&cfg.exchange.base_url) },
    }
}

/// A usage error for `--round-trip` (exit 2: nothing was read or sent).
fn usage(message: String) -> Error {
    Error::Usage(message)
}
