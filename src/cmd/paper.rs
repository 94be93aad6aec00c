//! The two paper modes in the shell (`paper.mode`): the replay's own clock in the state DB and
//! its end of data, and the check that a state DB stays in the mode it was started in.

use crate::clock::rfc3339;
use crate::cmd::Ctx;
use crate::config::{Config, ConfigError, ExchangeKind, PaperMode};
use crate::error::Result;
use crate::exchange::paper::replay_clock;

/// A replay tick runs 5 s after a candle close, like the timer.
pub(crate) const AFTER_CLOSE_MS: i64 = 5_000;

/// The paper mode of this config, None for a real exchange.
pub(crate) fn mode(c: &Config) -> Option<PaperMode> {
    (c.exchange.kind == ExchangeKind::Paper).then_some(c.paper.mode)
}

/// The close time of the replay data's last candle: the last moment the paper exchange has a
/// price for. A tick whose clock would pass it cannot run.
pub(crate) fn replay_data_end_ms(c: &Config) -> Result<i64> {
    let candles = crate::marketdata::load_candles(&c.paper.candles)
        .map_err(|e| ConfigError::invalid("paper.candles", e.to_string()))?;
    Ok(candles.last().map_or(0, |x| x.close_time_ms))
}

/// One state DB, one paper mode: a replay's clock lives years in the past and a live dry run's
/// book is at the wall clock, so switching `paper.mode` on a used DB would run the book backwards
/// or price a 2020 position at today's market. Exit 2 naming `paper.mode`, before anything runs.
/// Read-only commands (`status`, `replay`, `notify`) skip it: they read a kept `sim` DB too.
pub(crate) fn check_mode(ctx: &Ctx) -> Result<()> {
    let Some(mode) = mode(&ctx.config) else { return Ok(()) };
    let clock = replay_clock::read(&ctx.config.state_db)?;
    let book = replay_clock::book_processed_ms(&ctx.config.state_db)?;
    let other_use = match (mode, clock, book) {
        (PaperMode::Live, Some(t), _) => Some(format!("a history replay (paper clock at {})", rfc3339(t))),
        (PaperMode::Replay, None, Some(t)) => {
            Some(format!("a paper book at {} without a replay clock (a live dry run or a kept sim run)", rfc3339(t)))
        }
        _ => None,
    };
    match other_use {
        Some(what) => Err(ConfigError::invalid(
            "paper.mode",
            format!(
                "state DB {} holds {what}; mode {:?} needs its own state_db",
                ctx.config.state_db.display(),
                mode.as_str()
            ),
        )
        .into()),
        None => Ok(()),
    }
}

/// The replay's clock: it starts after the warm-up (or at `paper.start`) and each `tick`
/// (`advance`) moves it one candle on, so repeated ticks trade through history. None for the live
/// mode and real exchanges (the wall clock). At the end of the data a tick is refused (exit 2
/// naming `paper.candles`, the clock stays where it is): the replay is finished, and a timer must
/// not restart-loop on it (the unit does not restart on 2; a `while mcbot tick` loop ends).
pub(crate) fn clock(ctx: &Ctx, advance: bool) -> Result<Option<i64>> {
    let c = &ctx.config;
    if mode(c) != Some(PaperMode::Replay) {
        return Ok(None);
    }
    let now = match replay_clock::read(&c.state_db)? {
        Some(t) if advance => {
            let next = t + c.strategy.interval_ms;
            let end = replay_data_end_ms(c)?;
            if next > end {
                return Err(replay_finished(t, end).into());
            }
            next
        }
        Some(t) => return Ok(Some(t)),
        None => {
            let start = match c.paper.start_ms {
                Some(s) => s,
                None => {
                    let candles = crate::marketdata::load_candles(&c.paper.candles)
                        .map_err(|e| ConfigError::invalid("paper.candles", e.to_string()))?;
                    let first = candles.first().map_or(0, |x| x.open_time_ms);
                    first + i64::try_from(c.strategy.warmup + 1).unwrap_or(0) * c.strategy.interval_ms
                }
            };
            start - start.rem_euclid(c.strategy.interval_ms) + AFTER_CLOSE_MS
        }
    };
    replay_clock::set(&c.state_db, now)?;
    Ok(Some(now))
}

/// The documented end-of-replay outcome (docs/operations.md, "Paper modes").
pub(crate) fn replay_finished(clock_ms: i64, end_ms: i64) -> ConfigError {
    ConfigError::invalid(
        "paper.candles",
        format!(
            "replay finished: the data ends at {} and the paper clock is at {}; nothing was done. \
             Point paper.candles at more data, set paper.mode = \"live\" with a new state_db, or \
             start over with a new state_db",
            rfc3339(end_ms),
            rfc3339(clock_ms)
        ),
    )
}
