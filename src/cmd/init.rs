//! `mcbot init`: write the commented example config (unless one exists) and create the state DB.

use crate::clock::{Clock, SystemClock};
use crate::config::{self, ConfigError, EXAMPLE_TOML};
use crate::error::Result;
use crate::outcome::Report;
use crate::store::Store;
use std::path::Path;

/// Arguments of `mcbot init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Overwrite an existing config file with the example
    #[arg(long)]
    pub force: bool,
    /// The paper mode to write: `replay` (offline history, each tick one candle on; the default,
    /// so `init; tick` works offline in any folder) or `live` (the dry run on live public prices;
    /// needs the network, no keys)
    #[arg(long, value_name = "MODE", default_value = "replay", value_parser = ["live", "replay"])]
    pub paper_mode: String,
}

/// The example config with `paper.mode` set to `mode`. `init` writes `replay` unless asked: the
/// first hour must work offline in any folder (issue 14 item 1); the dry run on today's market,
/// the one to leave under the timer before the demo, is `init --paper-mode live`.
pub(crate) fn example_with_mode(mode: &str) -> String {
    EXAMPLE_TOML.replacen("\nmode = \"replay\"  ", &format!("\nmode = {:<10}", format!("{mode:?}")), 1)
}

pub(crate) fn run(args: &InitArgs, config_path: &Path) -> Result<Report> {
    let mut report = Report::ok("init");
    let exists = config_path.exists();
    if exists && !args.force {
        report.push_line(format!("config {} exists; kept (use --force to overwrite)", config_path.display()));
        report.set("config_written", false);
    } else {
        if let Some(dir) = config_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(ConfigError::File {
                    path: config_path.display().to_string(),
                    problem: format!("folder {} does not exist", dir.display()),
                }
                .into());
            }
        }
        std::fs::write(config_path, example_with_mode(&args.paper_mode)).map_err(|e| ConfigError::File {
            path: config_path.display().to_string(),
            problem: format!("cannot write: {e}"),
        })?;
        report.push_line(format!("wrote {}", config_path.display()));
        report.set("config_written", true);
    }
    let config = config::load(config_path)?;
    if let Some(dir) = config.state_db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigError::invalid("state_db", format!("cannot create folder {}: {e}", dir.display())))?;
    }
    let _lock = crate::lock::StateLock::acquire(&config.lock_path(), config.lock_timeout_ms)?;
    let store = Store::open(&config.state_db, SystemClock.now_ms())?;
    super::check_identity(&config, &store, SystemClock.now_ms())?;
    let state = store.system()?;
    report.push_line(format!("state DB {} ready (mode {})", config.state_db.display(), state.mode.as_str()));
    report.set("config", config_path.display().to_string());
    report.set("state_db", config.state_db.display().to_string());
    report.set("mode", state.mode.as_str());
    if let Some(mode) = super::paper::mode(&config) {
        report.push_line(format!(
            "paper.mode = {:?}: {}",
            mode.as_str(),
            match mode {
                crate::config::PaperMode::Live =>
                    "`mcbot tick` runs a dry run on live public prices (network, no keys)",
                crate::config::PaperMode::Replay =>
                    "`mcbot tick` replays the shipped history one candle per tick (offline)",
            }
        ));
        report.set("paper_mode", mode.as_str());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, PaperMode};

    #[test]
    fn init_writes_the_mode_it_was_asked_for_and_nothing_else_changes() {
        for (mode, want) in [("live", PaperMode::Live), ("replay", PaperMode::Replay)] {
            let text = example_with_mode(mode);
            let c = parse(&text, Path::new("/x")).unwrap_or_else(|e| panic!("{mode}: {e}"));
            assert_eq!(c.paper.mode, want);
            assert_eq!(text.lines().count(), EXAMPLE_TOML.lines().count());
            let changed = text.lines().zip(EXAMPLE_TOML.lines()).filter(|(a, b)| a != b).count();
            assert_eq!(changed, usize::from(mode == "live"), "{mode}");
        }
        assert_eq!(parse(EXAMPLE_TOML, Path::new("/x")).unwrap().paper.mode, PaperMode::Replay);
    }
}
