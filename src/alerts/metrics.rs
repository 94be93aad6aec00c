//! Writes `[metrics] textfile` after every command: read a snapshot from the store, render it
//! (core::metrics), write a temp file in the same folder and rename it over the old one, so the
//! node_exporter collector never reads half a file.

use crate::config::Config;
use crate::core::metrics::{render, MetricsSnapshot};
use crate::core::types::PositionSide;
use crate::store::{Store, StoreResult};
use rust_decimal::Decimal;
use std::io::Write;

fn snapshot(store: &Store, symbol: &str) -> StoreResult<MetricsSnapshot> {
    let sys = store.system()?;
    let active = store.active_position(symbol)?;
    let all = store.all_positions()?;
    // The same figures `status` shows (trades totals from the journal, unrealised at the last mark).
    let pnl = crate::store::pnl::read(store, active.as_ref())?;
    let last_window =
        all.iter().filter_map(|p| p.entry_filled_ms.map(|t| (t, p.unprotected_window_ms))).max_by_key(|x| x.0);
    Ok(MetricsSnapshot {
        halted: sys.is_halted(),
        position_qty: active.as_ref().map_or(Decimal::ZERO, |p| match p.side {
            PositionSide::Long => p.qty,
            PositionSide::Short => -p.qty,
        }),
        entry_price: active.as_ref().map(|p| p.entry_price),
        stop_present: active.as_ref().is_some_and(|p| p.stop_price.is_some()),
        tp_present: active.as_ref().is_some_and(|p| p.tp_price.is_some()),
        last_reconcile_ms: sys.last_reconcile_ms,
        mismatch_streak: sys.mismatch_streak,
        posture: None,
        last_unprotected_window_ms: last_window.and_then(|x| x.1),
        trades_closed: u64::try_from(pnl.realized.trades).unwrap_or(u64::MAX),
        realized_pnl: pnl.realized.realized_pnl.normalize(),
        unrealized_pnl: pnl.unrealized,
        last_tick: store.command_run("tick")?.map(|r| (r.last_exit, r.last_at_ms)),
        outbox_backlog: store.outbox_backlog()?,
    })
}

/// The stored posture against `risk.max_notional_usdt`; unread (left out of the file) on a DB error.
fn posture_view(store: &Store, config: &Config) -> Option<crate::core::posture::PostureView> {
    // The time only dates a never-evaluated GREEN (`since`), which the file does not show.
    store.posture(0).ok().map(|st| crate::core::posture::view(&st, config.risk.max_notional_usdt))
}

/// Rewrites the textfile if one is configured. Problems are logged, never fail the command.
pub(crate) fn write_textfile(store: &Store, config: &Config) {
    let Some(path) = config.notify.metrics_textfile.as_deref() else {
        return;
    };
    let text = match snapshot(store, &config.symbol) {
        Ok(mut m) => {
            m.posture = posture_view(store, config);
            render(&config.bot_id, &config.symbol, &m)
        }
        Err(e) => {
            tracing::warn!(event = "metrics.failed", error = %e, "cannot read state for metrics");
            return;
        }
    };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let written = tempfile::NamedTempFile::new_in(dir).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.as_file().sync_all()?;
        f.persist(path).map_err(|e| e.error)?;
        Ok(())
    });
    if let Err(e) = written {
        tracing::warn!(event = "metrics.failed", path = %path.display(), error = %e, "cannot write the metrics textfile");
    }
}
