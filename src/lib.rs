//! mcbot: an execution engine for a momentum-continuation bot on Binance USDⓈ-M perpetual futures.
//!
//! The crate is a functional core (`core`) inside an imperative shell: `exec` sequences the
//! use cases over the ports (`exchange`, `store`, `clock`, `lock`), and `cmd` is the CLI glue.
//! `main` only calls [`run`] and turns its report into the process exit code.
#![warn(unreachable_pub)]

/// Alert delivery from the outbox, and the heartbeat.
pub(crate) mod alerts;
/// Command-line shape.
pub(crate) mod cli;
/// Time as a port.
pub mod clock;
/// One file per subcommand: argument structs and glue.
pub mod cmd;
/// Configuration: TOML → validated `Config`.
pub mod config;
/// The functional core: pure domain logic.
pub mod core;
/// The top-level error and its exit codes.
pub mod error;
/// The exchange port and its adapters.
pub mod exchange;
/// Use cases over the ports: enter, protect, exit, reconcile.
pub mod exec;
/// The exclusive state lock.
pub(crate) mod lock;
/// tracing setup.
pub(crate) mod logging;
/// Market data files: CSV candles and funding rates.
pub mod marketdata;
/// Exit codes and the command report.
pub mod outcome;
/// The whole cycle over historical candles on the paper exchange.
pub mod sim;
/// The state DB file's identity, shared by the store and the paper exchange.
pub(crate) mod state_db;
/// The SQLite state store.
pub mod store;

use clap::Parser;
use outcome::{ExitCode, Report};
use std::ffi::OsString;
use std::io::Write;

/// Parses `args`, runs the command, prints its report, and returns the exit code.
/// Callable more than once per process: no global state besides the (idempotent) log subscriber.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let wants_json = args.iter().any(|a| a == "--json");
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let kind = e.kind();
            let is_info = matches!(kind, ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            let exit = if is_info { ExitCode::Ok } else { ExitCode::Usage };
            if wants_json {
                // One JSON object on stdout whatever clap had to say: the whole message, not its
                // first line (scripts get the usage and the hint too).
                let text = e.render().to_string();
                let report = if is_info {
                    let what = if kind == ErrorKind::DisplayHelp { "help" } else { "version" };
                    let mut r = Report::ok(what);
                    r.set(what, text.trim_end());
                    r
                } else {
                    Report::error("usage", ExitCode::Usage, text.trim_start_matches("error: ").trim_end())
                };
                emit(&report, true);
            } else {
                let _ = e.print();
            }
            return exit;
        }
    };
    // The simulated bot's own log lines (thousands per run, CRITICAL ones included: they are
    // injected) would drown sim's report: off unless -v (errors), -vv (warnings), -vvv (info).
    let verbosity = if matches!(cli.command, cli::Command::Sim(_)) { cli.verbosity() - 3 } else { cli.verbosity() };
    logging::init(verbosity, cli.log_format, cli.log_filter.as_deref());
    let name = cli.command.name();
    let started = std::time::Instant::now();
    let report = match cmd::dispatch(&cli) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = ?e, "command failed");
            Report::error(name, e.exit_code(), &e.to_string())
        }
    };
    tracing::debug!(
        event = "command.done",
        command = name,
        outcome = report.outcome.as_str(),
        exit_code = report.exit as i32,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "command finished"
    );
    emit(&report, cli.json);
    report.exit
}

fn emit(report: &Report, json: bool) {
    let mut out = std::io::stdout().lock();
    let text = if json { report.to_json().to_string() } else { report.to_text() };
    // A closed stdout (e.g. `| head`) must not turn a finished trade into a panic.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
