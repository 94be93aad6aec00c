//! The file-system half of config validation: the state DB, its lock and the paper data files
//! are checked when the config is loaded, so a bad path is exit 2 naming its key before anything
//! is created (no DB, no lock, no `-journal`) or sent.

use crate::config::{Config, ConfigError, ConfigResult, ExchangeKind, PaperMode};
use crate::core::candle::validate_series;
use std::path::Path;

/// An existing path that is not a regular file (a folder, a device, a socket) cannot be a DB or
/// a lock file; a missing one is fine (it is created later).
fn regular_or_absent(key: &str, what: &str, path: &Path) -> ConfigResult<()> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_file() => Ok(()),
        Ok(m) if m.file_type().is_symlink() => match std::fs::metadata(path) {
            Ok(t) if t.is_file() => Ok(()),
            _ => Err(ConfigError::invalid(
                key,
                format!("{what} {} is a link to something that is not a regular file", path.display()),
            )),
        },
        Ok(m) => {
            let kind = if m.is_dir() { "a folder" } else { "not a regular file" };
            Err(ConfigError::invalid(key, format!("{what} {} is {kind}", path.display())))
        }
    }
}

/// The data file's name says which symbol it holds when it starts `SYMBOL-` (as the shipped
/// `BTCUSDT-4h.csv`): a different symbol is refused rather than traded silently.
fn symbol_of_file(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?;
    let head = name.split(['-', '_', '.']).next()?;
    let looks = head.len() >= 5 && head.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    looks.then_some(head)
}

fn paper_files(c: &Config) -> ConfigResult<()> {
    for (key, path) in [("paper.candles", &c.paper.candles), ("paper.funding", &c.paper.funding)] {
        if let Some(s) = symbol_of_file(path).filter(|s| *s != c.symbol) {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "{} holds {s} data but symbol = {:?}; point {key} at {} data",
                    path.display(),
                    c.symbol,
                    c.symbol
                ),
            ));
        }
    }
    let candles = crate::marketdata::load_candles(&c.paper.candles)
        .map_err(|e| ConfigError::invalid("paper.candles", e.to_string()))?;
    let first = candles.first().ok_or_else(|| ConfigError::invalid("paper.candles", "no candles"))?;
    let step = first.close_time_ms - first.open_time_ms + 1;
    if step != c.strategy.interval_ms {
        return Err(ConfigError::invalid(
            "paper.candles",
            format!(
                "{} holds {step} ms candles but strategy.interval = {:?} ({} ms)",
                c.paper.candles.display(),
                c.strategy.interval,
                c.strategy.interval_ms
            ),
        ));
    }
    validate_series(&candles, step).map_err(|e| ConfigError::invalid("paper.candles", e.to_string()))?;
    crate::marketdata::load_funding(&c.paper.funding)
        .map_err(|e| ConfigError::invalid("paper.funding", e.to_string()))?;
    Ok(())
}

/// Checks every path the config names; see the module doc.
pub(crate) fn check(c: &Config) -> ConfigResult<()> {
    regular_or_absent("state_db", "state DB", &c.state_db)?;
    regular_or_absent("state_db", "lock file", &c.lock_path())?;
    for suffix in ["-journal", "-wal", "-shm"] {
        let mut p = c.state_db.clone().into_os_string();
        p.push(suffix);
        regular_or_absent("state_db", "SQLite side file", Path::new(&p))?;
    }
    if c.exchange.kind == ExchangeKind::Paper && c.paper.mode == PaperMode::Replay {
        paper_files(c)?;
    }
    Ok(())
}
