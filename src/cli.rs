//! Command-line shape (CONTRACT §1): global options and one subcommand. No prefix inference:
//! `enter` and `exit` must never be completed from a typo.

use crate::cmd;
use crate::logging::LogFormat;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "mcbot",
    version,
    about = "Execution engine for a momentum-continuation bot on Binance USD-M perpetual futures (isolated, 1x)",
    long_about = "mcbot runs one step of a trading bot per call (cron or a systemd timer on each closed 4h candle).\n\
                  No position without a stop, no duplicate entry, every failure ends in a safe close or a halt.\n\
                  Exit codes: 0 ok, 1 failed (safe), 2 usage/config, 3 halted, 4 lock busy, 5 pre-flight failed, 10 CRITICAL."
)]
pub struct Cli {
    /// Config file [default: $MCBOT_CONFIG, then ./mcbot.toml]
    #[arg(long, global = true, env = "MCBOT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Read the API key and secret from this KEY=value file (e.g. the service's EnvironmentFile)
    /// before the environment: how an operator runs `reconcile`, `exit` or `halt --flatten`
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<std::path::PathBuf>,
    /// Print exactly one JSON object on stdout (logs stay on stderr)
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less log output (repeat for less)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// Log line format on stderr
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented example config and create the state DB
    Init(cmd::init::InitArgs),
    /// Read closed candles and decide: new trade plan, regime exit, or nothing
    Evaluate(cmd::evaluate::EvaluateArgs),
    /// Pre-flight, ENTRY market order, then protect (STOP + TP). Sends real orders when
    /// exchange.kind = "binance"
    Enter(cmd::enter::EnterArgs),
    /// Make sure the open position has STOP and TP for its full size
    Protect(cmd::protect::ProtectArgs),
    /// Rebuild local state from the exchange, repair, re-protect
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Cancel STOP/TP, CLOSE at market, record the exit reason. Sends real orders when
    /// exchange.kind = "binance"
    Exit(cmd::exit::ExitArgs),
    /// Stop new entries (optionally flatten); --resume to lift
    Halt(cmd::halt::HaltArgs),
    /// Rebuild one trade plan's timeline from the journal and verify it
    Replay(cmd::replay::ReplayArgs),
    /// Mode, position, protection, open plan, last reconcile
    Status(cmd::status::StatusArgs),
    /// The cron cycle in one lock: reconcile, evaluate, exit|enter, protect
    Tick(cmd::tick::TickArgs),
    /// The whole cycle over historical candles on the paper exchange
    Sim(cmd::sim::SimArgs),
    /// Closed trades from the journal: entry, exit, reason, PnL, fees, R (--csv, --since)
    Trades(cmd::trades::TradesArgs),
    /// Send a test alert to every sink (--test), or raise a CRITICAL alert (--message)
    Notify(cmd::notify::NotifyArgs),
    /// Check keys, account, symbol, clock and settings against the exchange (read-only);
    /// --round-trip opens and closes the smallest protected position on a demo endpoint
    Doctor(cmd::doctor::DoctorArgs),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Evaluate(_) => "evaluate",
            Command::Enter(_) => "enter",
            Command::Protect(_) => "protect",
            Command::Reconcile(_) => "reconcile",
            Command::Exit(_) => "exit",
            Command::Halt(_) => "halt",
            Command::Replay(_) => "replay",
            Command::Status(_) => "status",
            Command::Tick(_) => "tick",
            Command::Sim(_) => "sim",
            Command::Notify(_) => "notify",
            Command::Doctor(_) => "doctor",
            Command::Trades(_) => "trades",
        }
    }
}

impl Cli {
    pub fn verbosity(&self) -> i8 {
        i8::try_from(self.verbose).unwrap_or(i8::MAX) - i8::try_from(self.quiet).unwrap_or(i8::MAX)
    }
}
