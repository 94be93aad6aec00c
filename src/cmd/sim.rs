//! `mcbot sim`: the whole cycle over historical candles on the paper exchange (CONTRACT §9).
//! Exit 0 when every invariant held, 1 otherwise.

use crate::config::{self, Config, ConfigError};
use crate::error::{Error, Result};
use crate::outcome::{ExitCode, Report};
use crate::sim::{self, SimOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Arguments of `mcbot sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Candles CSV [default: paper.candles, i.e. data/BTCUSDT-4h.csv]
    #[arg(long, value_name = "FILE")]
    pub candles: Option<PathBuf>,
    /// Funding CSV [default: paper.funding, i.e. data/BTCUSDT-funding.csv]
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
    /// Keep the run's state DB here for `mcbot replay` (default: a temporary one, deleted
    /// afterwards); it must not exist yet
    #[arg(long, value_name = "PATH")]
    pub state_db: Option<PathBuf>,
}

/// `--plot` is checked before the run (exit 2), not after minutes of simulation: its folder must
/// exist and be writable, and an existing path must be a regular file.
fn check_plot_path(svg: &Path) -> Result<()> {
    let bad = |why: String| Error::Usage(format!("--plot {}: {why}", svg.display()));
    let folder = svg.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let meta = std::fs::metadata(folder).map_err(|e| bad(format!("folder {}: {e}", folder.display())))?;
    if !meta.is_dir() || meta.permissions().readonly() {
        return Err(bad(format!("folder {} is not a writable folder", folder.display())));
    }
    match std::fs::metadata(svg) {
        Ok(m) if !m.is_file() => Err(bad("exists and is not a regular file".into())),
        Ok(m) if m.permissions().readonly() => Err(bad("exists and is read-only".into())),
        _ => Ok(()),
    }
}

fn date_ms(flag: &str, s: &str) -> Result<i64> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| Error::Usage(format!("{flag} {s:?} is not a date YYYY-MM-DD")))?;
    Ok(d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis()))
}

fn draw_progress(done: u64, total: u64) {
    use std::sync::OnceLock;
    static BAR: OnceLock<indicatif::ProgressBar> = OnceLock::new();
    let bar = BAR.get_or_init(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template("sim {bar:40} {pos}/{len} candles {per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    bar.set_position(done);
    if done >= total {
        bar.finish_and_clear();
    }
}

pub(crate) fn run(args: &SimArgs, config_path: Option<&Path>, json: bool) -> Result<Report> {
    if !(0.0..=1.0).contains(&args.faults) || args.faults.is_nan() {
        return Err(Error::Usage(format!("--faults {} must be between 0 and 1", args.faults)));
    }
    if let Some(svg) = &args.plot {
        check_plot_path(svg)?;
    }
    let tmp =
        tempfile::Builder::new().prefix("mcbot-sim-").tempdir().map_err(|e| Error::Failed(format!("temp dir: {e}")))?;
    let state_db = args.state_db.clone().unwrap_or_else(|| tmp.path().join("sim.db"));
    if args.state_db.is_some() && state_db.exists() {
        return Err(Error::Usage(format!("--state-db {} exists; sim starts from an empty DB", state_db.display())));
    }
    let mut cfg: Config = match config_path {
        Some(p) => config::load(p)?,
        None => {
            // Built-in defaults: the shipped data next to the working directory, else in the source
            // tree mcbot was built from (so `cargo run -- sim` works from anywhere in a clone).
            let cwd = std::env::current_dir().map_err(|e| Error::Failed(e.to_string()))?;
            let base =
                if cwd.join("data/BTCUSDT-4h.csv").exists() { cwd } else { PathBuf::from(env!("CARGO_MANIFEST_DIR")) };
            config::builtin_paper(&base, &state_db)?
        }
    };
    cfg.state_db = state_db.clone();
    cfg.exchange.kind = config::ExchangeKind::Paper;
    if let Some(dir) = state_db.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        return Err(ConfigError::invalid("state_db", format!("folder {} does not exist", dir.display())).into());
    }
    let opts = SimOptions {
        candles: args.candles.clone().unwrap_or_else(|| cfg.paper.candles.clone()),
        funding: args.funding.clone().unwrap_or_else(|| cfg.paper.funding.clone()),
        from_ms: args.from.as_deref().map(|s| date_ms("--from", s)).transpose()?,
        to_ms: args.to.as_deref().map(|s| date_ms("--to", s)).transpose()?,
        fault_rate: args.faults,
        seed: args.seed,
        state_db,
        progress: (!json && std::io::stderr().is_terminal()).then_some(draw_progress as fn(u64, u64)),
    };
    let started = std::time::Instant::now();
    let result = sim::run(&cfg, &opts)?;
    let elapsed = started.elapsed();
    let r = &result.report;
    tracing::info!(event = "sim.done", candles = r.candles, elapsed_ms = elapsed.as_millis() as u64, "sim finished");
    if let Some(svg) = &args.plot {
        let title = format!("mcbot sim equity, {} to {}, faults {} seed {}", r.from, r.to, r.fault_rate, r.seed);
        let data = sim::plot::PlotData {
            title,
            equity: result.equity.clone(),
            buy_and_hold: result.buy_and_hold.clone(),
            start_balance: result.start_balance,
            trades: result.trades.clone(),
        };
        std::fs::write(svg, sim::plot::equity_svg(&data))
            .map_err(|e| Error::Failed(format!("--plot {}: {e}", svg.display())))?;
    }
    let exit = if r.invariants.all_held() { ExitCode::Ok } else { ExitCode::Failed };
    let mut rep = Report::new("sim", &r.outcome, exit);
    if let serde_json::Value::Object(m) = serde_json::to_value(r).map_err(|e| Error::Failed(e.to_string()))? {
        for (k, v) in m {
            if k != "outcome" {
                rep.fields.insert(k, v);
            }
        }
    }
    rep.lines = text(r);
    Ok(rep)
}

fn text(r: &sim::report::SimReport) -> Vec<String> {
    let mut l = vec![
        format!("sim {} → {}: {} candles, faults {} (seed {})", r.from, r.to, r.candles, r.fault_rate, r.seed),
        format!(
            "trades {}  win rate {}  pnl {} USDT ({} %)  max drawdown {} %  fees {}  funding {}",
            r.trades, r.win_rate, r.pnl, r.pnl_pct, r.max_drawdown_pct, r.fees, r.funding
        ),
        format!(
            "exit reasons: {}",
            r.exit_reasons.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "faults injected: {}",
            r.faults_injected.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "safety: crashes recovered {}, forced closes {}, halts {}, resumes {}",
            r.crashes_recovered, r.forced_closes, r.halts, r.resumes
        ),
        format!(
            "invariants: unprotected at candle close {}, duplicate entries {}, replay violations {} => {}",
            r.invariants.unprotected_at_candle_close,
            r.invariants.duplicate_entries,
            r.invariants.replay_violations,
            if r.invariants.all_held() { "ALL HELD" } else { "VIOLATED" }
        ),
    ];
    l.extend(r.violation_samples.iter().map(|v| format!("  violation: {v}")));
    l
}
