//! `mcbot sim` (not available yet in this build).

use crate::error::{Error, Result};
use crate::outcome::Report;
use std::path::{Path, PathBuf};

/// Arguments of `mcbot sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Candles CSV [default: data/BTCUSDT-4h.csv]
    #[arg(long, value_name = "FILE")]
    pub candles: Option<PathBuf>,
    /// Funding CSV [default: data/BTCUSDT-funding.csv]
    #[arg(long, value_name = "FILE")]
    pub funding: Option<PathBuf>,
    /// First day (UTC) to trade, YYYY-MM-DD
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// Last day (UTC) to trade, YYYY-MM-DD
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
    /// Probability per exchange call of an injected failure (0 to 1)
    #[arg(long, default_value = "0")]
    pub faults: f64,
    /// Seed for fault injection
    #[arg(long, default_value = "1")]
    pub seed: u64,
    /// Write an equity-curve SVG
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

pub fn run(_args: &SimArgs, _config: Option<&Path>, _json: bool) -> Result<Report> {
    Err(Error::NotAvailable("sim"))
}
