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
}

pub fn run(args: &InitArgs, config_path: &Path) -> Result<Report> {
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
        std::fs::write(config_path, EXAMPLE_TOML).map_err(|e| ConfigError::File {
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
    Ok(report)
}
