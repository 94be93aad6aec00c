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
    /// More log output on stderr: -v debug, -vv trace (RUST_LOG, when set, wins)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less log output on stderr: -q warnings, -qq errors, -qqq nothing
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// Log filter directive (tracing EnvFilter, e.g. `mcbot=debug` or `off`); wins over -v/-q
    #[arg(long, global = true, env = "RUST_LOG", value_name = "DIRECTIVE")]
    pub log_filter: Option<String>,
    /// Log line format on stderr
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented example config and create the state DB
    ///
    /// Writes ./mcbot.toml (or --config) unless it exists, with exchange.kind = "paper" and
    /// paper.mode = "replay": offline, the shipped BTCUSDT history one candle per tick. With
    /// --paper-mode live: a dry run on Binance's public prices, no keys, no real orders. The
    /// state DB and its folder are created beside it.
    #[command(
        after_help = "Examples:\n  mcbot init                        # offline: replay the shipped BTCUSDT history\n  \
                            mcbot init --paper-mode live      # paper dry run on live public prices"
    )]
    Init(cmd::init::InitArgs),
    /// Read closed candles and decide: new trade plan, regime exit, or nothing
    ///
    /// Prints every entry rule with the numbers it compared. Records a PLANNED plan or a pending
    /// regime exit; sends no order.
    #[command(after_help = "Example:\n  mcbot evaluate && mcbot --json evaluate | jq .decision")]
    Evaluate(cmd::evaluate::EvaluateArgs),
    /// Pre-flight, ENTRY market order, then protect (STOP + TP)
    ///
    /// SENDS REAL ORDERS when exchange.kind = "binance". Reconciles first, enters the newest
    /// PLANNED plan only if every pre-flight check passes (exit 5 otherwise), then places STOP and
    /// TP; a protection failure closes the position and halts (exit 10).
    #[command(after_help = "Example:\n  mcbot evaluate && mcbot enter")]
    Enter(cmd::enter::EnterArgs),
    /// Make sure the open position has STOP and TP for its full size
    ///
    /// Places what is missing (reduce-only, Algo Order API); when it cannot, closes the position
    /// and halts (exit 10).
    #[command(after_help = "Example:\n  mcbot protect")]
    Protect(cmd::protect::ProtectArgs),
    /// Rebuild local state from the exchange, repair, re-protect
    ///
    /// Reads position, open orders and algo orders, matches them to the journal by client id and
    /// repairs what differs. Run it after any exit 3 or 10 before `halt --resume`.
    #[command(after_help = "Example:\n  sudo -u trader mcbot --env-file /etc/mcbot/secrets.env reconcile")]
    Reconcile(cmd::reconcile::ReconcileArgs),
    /// Cancel STOP/TP, CLOSE at market, record the exit reason
    ///
    /// SENDS REAL ORDERS when exchange.kind = "binance": closes the whole position at market.
    #[command(after_help = "Example:\n  mcbot exit --reason manual")]
    Exit(cmd::exit::ExitArgs),
    /// Stop new entries (optionally flatten); --resume to lift
    ///
    /// Never waits for the state lock. Exits and protection keep working while HALTED;
    /// `--flatten` also closes the position (real orders on Binance). `--resume` needs a clean
    /// reconcile since the halt.
    #[command(
        after_help = "Examples:\n  mcbot halt --reason \"exchange maintenance\"\n  mcbot reconcile && mcbot halt --resume"
    )]
    Halt(cmd::halt::HaltArgs),
    /// Rebuild one trade plan's timeline from the journal and verify it
    ///
    /// Checks the hash chain and every state transition; exit 1 when an invariant broke.
    #[command(after_help = "Examples:\n  mcbot replay --all\n  mcbot replay 83868ec70c51")]
    Replay(cmd::replay::ReplayArgs),
    /// Mode, position, protection, open plan, last reconcile
    ///
    /// Reads the state DB only: no lock, no exchange request, so it answers while a tick runs.
    /// Names the paper mode (live dry run or history replay) on the paper exchange.
    #[command(after_help = "Examples:\n  mcbot status\n  mcbot --json status | jq .position")]
    Status(cmd::status::StatusArgs),
    /// The cron cycle in one lock: reconcile, evaluate, exit|enter, protect
    ///
    /// What the timer runs 5 s after each candle close. Sends real orders when
    /// exchange.kind = "binance". In paper replay mode each tick moves the paper clock one candle.
    #[command(after_help = "Example:\n  mcbot tick || echo \"exit $?: see mcbot status\"")]
    Tick(cmd::tick::TickArgs),
    /// The whole cycle over historical candles on the paper exchange
    ///
    /// Replays the shipped (or given) candles with optional fault injection and checks every
    /// invariant; exit 1 when one broke. Never touches the configured state DB.
    #[command(
        after_help = "Example:\n  mcbot sim --from 2021-01-01 --faults 0.01 --seed 7 --plot equity.svg --state-db sim.db"
    )]
    Sim(cmd::sim::SimArgs),
    /// Closed trades from the journal: entry, exit, reason, PnL, fees, R (--csv, --since)
    ///
    /// Reads the state DB only: no lock, no exchange request. Unknown fees or funding stay empty,
    /// never 0.
    #[command(after_help = "Examples:\n  mcbot trades --since 2026-01-01\n  mcbot trades --csv > trades.csv")]
    Trades(cmd::trades::TradesArgs),
    /// Send a test alert to every sink (--test), or raise a CRITICAL alert (--message)
    #[command(after_help = "Examples:\n  mcbot notify --test\n  mcbot notify --message \"disk almost full\"")]
    Notify(cmd::notify::NotifyArgs),
    /// Check keys, account, symbol, clock and settings against the exchange (read-only);
    /// --round-trip opens and closes the smallest protected position on a demo endpoint
    ///
    /// Each check says ok, warn or fail with what to do; exit 5 when one failed. `--round-trip`
    /// SENDS REAL ORDERS (refused on the production host without --i-know-this-is-live).
    #[command(after_help = "Examples:\n  mcbot doctor\n  mcbot doctor --round-trip")]
    Doctor(cmd::doctor::DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  mcbot completions bash > ~/.local/share/bash-completion/completions/mcbot\n  \
                            mcbot completions zsh > \"${fpath[1]}/_mcbot\""
    )]
    Completions(cmd::docs::CompletionsArgs),
    /// Print the man page (roff) for mcbot and its subcommands
    #[command(after_help = "Example:\n  mcbot man > mcbot.1 && man ./mcbot.1")]
    Man(cmd::docs::ManArgs),
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
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
}

impl Cli {
    pub fn verbosity(&self) -> i8 {
        i8::try_from(self.verbose).unwrap_or(i8::MAX) - i8::try_from(self.quiet).unwrap_or(i8::MAX)
    }
}
