//! CLI glue: builds the context (config → lock → store → clock), dispatches to one file per
//! subcommand, and holds no business logic of its own.

pub(crate) mod docs;
pub(crate) mod doctor;
pub(crate) mod enter;
pub(crate) mod evaluate;
pub(crate) mod exit;
pub(crate) mod halt;
pub(crate) mod human;
pub(crate) mod init;
pub(crate) mod notify;
pub(crate) mod paper;
pub(crate) mod protect;
pub(crate) mod reconcile;
pub mod render;
pub(crate) mod replay;
pub(crate) mod sim;
pub(crate) mod status;
pub(crate) mod status_pnl;
pub(crate) mod tick;
pub(crate) mod trades;

use crate::cli::{Cli, Command};
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::{self, Config, ConfigError, ExchangeKind, PaperMode};
use crate::error::{Error, Result};
use crate::exchange::Exchange;
use crate::exec::Engine;
use crate::lock::StateLock;
use crate::outcome::Report;
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything a command needs, built once.
pub struct Ctx {
    pub config: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Held for the whole command (absent for `halt` and `status`).
    pub lock: Option<StateLock>,
    pub json: bool,
}

/// Does this command take the state lock? Every command except `halt`, `status`, `trades` and
/// `notify` (CONTRACT §7.10; trades only reads, notify only appends to the journal and talks to
/// sinks); `doctor` only for `--round-trip` or on the paper exchange.
fn takes_lock(c: &Command, config: &Config) -> bool {
    match c {
        Command::Doctor(a) => doctor::takes_lock(a, config),
        _ => !matches!(c, Command::Halt(_) | Command::Status(_) | Command::Trades(_) | Command::Notify(_)),
    }
}

/// The config file: `--config`, then `$MCBOT_CONFIG` (clap reads it), then `./mcbot.toml`.
pub fn config_path(cli: &Cli) -> PathBuf {
    cli.config.clone().unwrap_or_else(|| PathBuf::from("mcbot.toml"))
}

/// Checks the state DB's folder before anything touches the disk, so a bad path creates nothing.
fn check_state_folder(config: &Config) -> Result<()> {
    let folder = config.state_db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return Err(ConfigError::invalid(
            "state_db",
            format!("folder {} does not exist (run `mcbot init` or create it)", folder.display()),
        )
        .into());
    }
    let meta = std::fs::metadata(folder)
        .map_err(|e| ConfigError::invalid("state_db", format!("folder {}: {e}", folder.display())))?;
    if meta.permissions().readonly() {
        return Err(ConfigError::invalid("state_db", format!("folder {} is not writable", folder.display())).into());
    }
    Ok(())
}

/// CONTRACT §14: the state DB belongs to one bot, symbol and exchange. A DB without a record is
/// adopted by the first config that opens it; a config that differs is exit 2 naming the key,
/// before any request is sent.
pub fn check_identity(config: &Config, store: &Store, now_ms: i64) -> Result<()> {
    let wanted = config.state_identity();
    let recorded = store.adopt_identity(&wanted, now_ms)?;
    if let Some((key, was, is)) = crate::store::identity::first_difference(&recorded, &wanted) {
        return Err(ConfigError::invalid(
            key,
            format!(
                "state DB {} belongs to {key} = {was:?}, this config says {is:?}; \
                 use the config it was created for, or another state_db",
                config.state_db.display()
            ),
        )
        .into());
    }
    Ok(())
}

impl Ctx {
    /// Loads config, takes the lock (unless `no_lock`), opens the store.
    pub fn build(config: Config, lock: bool, json: bool, clock: Arc<dyn Clock>) -> Result<Ctx> {
        check_state_folder(&config)?;
        let lock = if lock {
            let started = std::time::Instant::now();
            let l = StateLock::acquire(&config.lock_path(), config.lock_timeout_ms)?;
            let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::debug!(event = "lock.acquired", path = %config.lock_path().display(), waited_ms, "state lock taken");
            Some(l)
        } else {
            None
        };
        let store = Store::open(&config.state_db, clock.now_ms())?;
        check_identity(&config, &store, clock.now_ms())?;
        Ok(Ctx { config, store, clock, lock, json })
    }

    /// Connects the configured exchange. Missing secrets are a configuration error (exit 2), found
    /// here, before any request.
    /// The clock offset the last process measured starts this one (issue 16 item 6).
    pub fn connect(&self) -> Result<Box<dyn Exchange>> {
        connect_exchange_from(&self.config, self.clock.clone(), self.store.clock_sync()?)
    }

    /// Connects the exchange and runs one exec use case over it; whatever it returns, the clock
    /// offset the command last measured is kept for the next process.
    pub(crate) fn with_engine<T>(&mut self, run: impl FnOnce(&mut Engine<'_>) -> Result<T>) -> Result<T> {
        let ex = self.connect()?;
        let mut engine = Engine::new(&self.config, &mut self.store, ex.as_ref(), self.clock.as_ref());
        let out = run(&mut engine);
        engine.keep_clock_sync();
        out
    }
}

/// Builds the exchange implementation named by `exchange.kind`.
pub fn connect_exchange(config: &Config, clock: Arc<dyn Clock>) -> Result<Box<dyn Exchange>> {
    connect_exchange_from(config, clock, None)
}

/// [`connect_exchange`], starting the Binance adapter from a persisted clock offset when it is
/// young enough.
pub fn connect_exchange_from(
    config: &Config,
    clock: Arc<dyn Clock>,
    sync: Option<crate::clock::ClockSync>,
) -> Result<Box<dyn Exchange>> {
    match config.exchange.kind {
        ExchangeKind::Binance => {
            let creds = config::secrets::from_env_or_file(
                &config.exchange.api_key_env,
                &config.exchange.api_secret_env,
                config.env_file.as_deref(),
            )?;
            let limits = crate::exchange::binance::limits_file::LimitsFile::beside(&config.state_db);
            refuse_while_banned(&limits, clock.now_ms())?;
            let ex = crate::exchange::binance::BinanceFutures::with_limits(&config.exchange, creds, clock, limits)?
                .with_clock_sync(sync);
            Ok(Box::new(ex))
        }
        ExchangeKind::Paper => {
            use crate::exchange::paper::{
                live::LiveMarketData, market::FileMarketData, market::MarketData, PaperExchange,
            };
            let market: Arc<dyn MarketData> = match config.paper.mode {
                PaperMode::Replay => Arc::new(
                    FileMarketData::load(&config.paper.candles, &config.paper.funding)
                        .map_err(|e| ConfigError::invalid("paper.candles", e.to_string()))?,
                ),
                PaperMode::Live => {
                    // Public endpoints of `paper.prices_url` (the market's own prices), never the
                    // configured trading host: nothing signed is sent, no key is read.
                    let prices =
                        config::ExchangeConfig { base_url: config.paper.prices_url.clone(), ..config.exchange.clone() };
                    let public = crate::exchange::binance::BinanceFutures::public(&prices, clock.clone())?;
                    Arc::new(LiveMarketData::new(Box::new(public), &config.symbol, &config.strategy.interval)?)
                }
            };
            Ok(Box::new(PaperExchange::open(&config.state_db, &config.paper, &config.symbol, clock, market, None)?))
        }
    }
}

/// A ban a previous process received is honoured before the first request (issue 12 §2): exit 2,
/// which the systemd unit does not restart on, saying until when.
fn refuse_while_banned(limits: &crate::exchange::binance::limits_file::LimitsFile, now_ms: i64) -> Result<()> {
    let l = limits.load();
    if l.banned_until_ms > now_ms {
        return Err(crate::error::Error::Banned(format!(
            "Binance banned this IP (HTTP 418) until {}; mcbot sends nothing before then (recorded in {})",
            crate::clock::rfc3339(l.banned_until_ms),
            limits.path().display()
        )));
    }
    Ok(())
}

/// Runs the parsed command.
pub fn dispatch(cli: &Cli) -> Result<Report> {
    if let Command::Init(args) = &cli.command {
        return init::run(args, &config_path(cli));
    }
    if let Command::Sim(args) = &cli.command {
        return sim::run(args, cli.config.as_deref(), cli.json);
    }
    // Generated from the CLI definition: no config, no state.
    if let Command::Completions(args) = &cli.command {
        return docs::completions(args);
    }
    if let Command::Man(args) = &cli.command {
        return docs::man(args);
    }
    let path = config_path(cli);
    let mut config = config::load(&path)?;
    config.env_file = cli.env_file.clone();
    tracing::debug!(
        event = "config.loaded",
        path = %path.display(),
        exchange = config.state_identity().exchange_kind,
        paper_mode = paper::mode(&config).map(|m| m.as_str()),
        state_db = %config.state_db.display(),
        "config loaded"
    );
    let notify = config.notify.clone();
    let result = run_loaded(cli, config);
    if matches!(cli.command, Command::Tick(_)) {
        // Every tick that got as far as its config reports, failures included (`<url>/fail`).
        let code = match &result {
            Ok(r) => r.exit as i32,
            Err(e) => e.exit_code() as i32,
        };
        crate::alerts::heartbeat(&notify, code);
    }
    result
}

fn run_loaded(cli: &Cli, config: Config) -> Result<Report> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let lock = takes_lock(&cli.command, &config);
    let mut ctx = Ctx::build(config, lock, cli.json, clock)?;
    let advance = matches!(cli.command, Command::Tick(_));
    // One clock per state: whichever command touches a file-driven paper state first starts its
    // paper clock. A `halt` stamped with the wall clock (2026) before the first paper `tick`
    // (2020) would otherwise refuse `halt --resume` forever: no reconcile is ever "after" it.
    // `replay`, `trades` and `notify` only read: they never start a clock (a replayed DB may be a kept
    // `sim` run).
    let clock_now = if matches!(cli.command, Command::Replay(_) | Command::Trades(_) | Command::Notify(_)) {
        crate::exchange::paper::replay_clock::read(&ctx.config.state_db)?
    } else {
        if !matches!(cli.command, Command::Status(_)) {
            paper::check_mode(&ctx)?;
        }
        paper::clock(&ctx, advance)?
    };
    if let Some(now) = clock_now {
        tracing::debug!(event = "paper.clock", now = %crate::clock::rfc3339(now), "replay clock");
        ctx.clock = Arc::new(ManualClock::new(now));
    }
    let result = match &cli.command {
        Command::Evaluate(a) => evaluate::run(a, &mut ctx),
        Command::Enter(a) => enter::run(a, &mut ctx),
        Command::Protect(a) => protect::run(a, &mut ctx),
        Command::Reconcile(a) => reconcile::run(a, &mut ctx),
        Command::Exit(a) => exit::run(a, &mut ctx),
        Command::Halt(a) => halt::run(a, &mut ctx),
        Command::Replay(a) => replay::run(a, &mut ctx),
        Command::Status(a) => status::run(a, &mut ctx),
        Command::Tick(a) => tick::run(a, &mut ctx),
        Command::Notify(a) => notify::run(a, &mut ctx),
        Command::Doctor(a) => doctor::run(a, &mut ctx),
        Command::Trades(a) => trades::run(a, &mut ctx),
        Command::Init(_) | Command::Sim(_) | Command::Completions(_) | Command::Man(_) => {
            Err(Error::Usage("unreachable dispatch".into()))
        }
    };
    record_run(&mut ctx, &cli.command, &result);
    after_command(&mut ctx);
    result
}

/// Records how a command that acts ended (not the read-only ones, nor `notify`), while the lock
/// is still held: the metrics' last tick, and the still-HALTED / repeated-failure alerts.
fn record_run(ctx: &mut Ctx, command: &Command, result: &Result<Report>) {
    if matches!(command, Command::Status(_) | Command::Trades(_) | Command::Replay(_) | Command::Notify(_)) {
        return;
    }
    let (exit_code, error) = match result {
        Ok(r) => {
            let error = r.fields.get("error").and_then(|v| v.as_str()).map(str::to_string);
            (r.exit.code(), error.or_else(|| Some(format!("outcome `{}`", r.outcome))))
        }
        Err(e) => (e.exit_code().code(), Some(e.to_string())),
    };
    let run = crate::alerts::reminders::RunEnd {
        command: command.name(),
        exit_code,
        error: error.as_deref(),
        now_ms: ctx.clock.now_ms(),
    };
    crate::alerts::reminders::after_run(&mut ctx.store, &run);
}

/// After the command's safety work: release the lock (a slow sink must not hold up the next
/// run), then deliver due alerts and rewrite the metrics textfile.
fn after_command(ctx: &mut Ctx) {
    drop(ctx.lock.take());
    let origin = crate::alerts::Origin { bot_id: &ctx.config.bot_id, symbol: &ctx.config.symbol };
    crate::alerts::deliver_due(&mut ctx.store, &ctx.config.notify, &origin, ctx.clock.now_ms());
    crate::alerts::metrics::write_textfile(&ctx.store, &ctx.config);
}
