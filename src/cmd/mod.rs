//! CLI glue: builds the context (config → lock → store → clock), dispatches to one file per
//! subcommand, and holds no business logic of its own.

pub mod enter;
pub mod evaluate;
pub mod exit;
pub mod halt;
pub mod init;
pub mod notify;
pub mod protect;
pub mod reconcile;
pub mod replay;
pub mod sim;
pub mod status;
pub mod tick;

use crate::cli::{Cli, Command};
use crate::clock::{Clock, ManualClock, SystemClock};
use crate::config::{self, Config, ConfigError, ExchangeKind, PaperMarketData};
use crate::error::{Error, Result};
use crate::exchange::Exchange;
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

/// Does this command take the state lock? Every command except `halt`, `status` and `notify`
/// (CONTRACT §7.10; notify only appends to the journal and talks to sinks).
fn takes_lock(c: &Command) -> bool {
    !matches!(c, Command::Halt(_) | Command::Status(_) | Command::Notify(_))
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

impl Ctx {
    /// Loads config, takes the lock (unless `no_lock`), opens the store.
    pub fn build(config: Config, lock: bool, json: bool, clock: Arc<dyn Clock>) -> Result<Ctx> {
        check_state_folder(&config)?;
        let lock = if lock { Some(StateLock::acquire(&config.lock_path(), config.lock_timeout_ms)?) } else { None };
        let store = Store::open(&config.state_db, clock.now_ms())?;
        Ok(Ctx { config, store, clock, lock, json })
    }

    /// Connects the configured exchange. Missing secrets are a configuration error (exit 2), found
    /// here, before any request.
    pub fn connect(&self) -> Result<Box<dyn Exchange>> {
        connect_exchange(&self.config, self.clock.clone())
    }
}

/// Builds the exchange implementation named by `exchange.kind`.
pub fn connect_exchange(config: &Config, clock: Arc<dyn Clock>) -> Result<Box<dyn Exchange>> {
    match config.exchange.kind {
        ExchangeKind::Binance => {
            let creds = config::secrets::from_env(&config.exchange.api_key_env, &config.exchange.api_secret_env)?;
            let ex = crate::exchange::binance::BinanceFutures::new(&config.exchange, creds, clock)?;
            Ok(Box::new(ex))
        }
        ExchangeKind::Paper => {
            use crate::exchange::paper::{
                live::LiveMarketData, market::FileMarketData, market::MarketData, PaperExchange,
            };
            let market: Arc<dyn MarketData> = match config.paper.market_data {
                PaperMarketData::File => Arc::new(
                    FileMarketData::load(&config.paper.candles, &config.paper.funding)
                        .map_err(|e| ConfigError::invalid("paper.candles", e.to_string()))?,
                ),
                PaperMarketData::Binance => {
                    let public = crate::exchange::binance::BinanceFutures::public(&config.exchange, clock.clone())?;
                    Arc::new(LiveMarketData::new(Box::new(public), &config.symbol, &config.strategy.interval)?)
                }
            };
            Ok(Box::new(PaperExchange::open(&config.state_db, &config.paper, &config.symbol, clock, market, None)?))
        }
    }
}

/// File-driven paper runs keep their own clock in the state DB: it starts after the warm-up (or
/// at `paper.start`) and each `tick` moves it one candle on, so repeated ticks trade through
/// history. Returns None for live clocks.
fn paper_clock(ctx: &Ctx, advance: bool, may_start: bool) -> Result<Option<i64>> {
    let c = &ctx.config;
    if c.exchange.kind != ExchangeKind::Paper || c.paper.market_data != PaperMarketData::File {
        return Ok(None);
    }
    // 5 s after a candle close, like the cron schedule.
    const AFTER_CLOSE_MS: i64 = 5_000;
    let now = match ctx.store.paper_clock()? {
        Some(t) if advance => t + c.strategy.interval_ms,
        Some(t) => return Ok(Some(t)),
        None if !may_start => return Ok(None),
        None => {
            let start = match c.paper.start_ms {
                Some(s) => s,
                None => {
                    let candles = crate::marketdata::load_candles(&c.paper.candles)
                        .map_err(|e| ConfigError::invalid("paper.candles", e.to_string()))?;
                    let first = candles.first().map_or(0, |x| x.open_time_ms);
                    first + i64::try_from(c.strategy.warmup + 1).unwrap_or(0) * c.strategy.interval_ms
                }
            };
            start - start.rem_euclid(c.strategy.interval_ms) + AFTER_CLOSE_MS
        }
    };
    ctx.store.set_paper_clock(now)?;
    Ok(Some(now))
}

/// Runs the parsed command.
pub fn dispatch(cli: &Cli) -> Result<Report> {
    if let Command::Init(args) = &cli.command {
        return init::run(args, &config_path(cli));
    }
    if let Command::Sim(args) = &cli.command {
        return sim::run(args, cli.config.as_deref(), cli.json);
    }
    let path = config_path(cli);
    let config = config::load(&path)?;
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
    let mut ctx = Ctx::build(config, takes_lock(&cli.command), cli.json, clock)?;
    let advance = matches!(cli.command, Command::Tick(_));
    // Commands that never trade only read the paper clock; they need no candle file.
    let may_start =
        !matches!(cli.command, Command::Status(_) | Command::Replay(_) | Command::Halt(_) | Command::Notify(_));
    if let Some(now) = paper_clock(&ctx, advance, may_start)? {
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
        Command::Init(_) | Command::Sim(_) => Err(Error::Usage("unreachable dispatch".into())),
    };
    after_command(&mut ctx);
    result
}

/// After the command's safety work: release the lock (a slow sink must not hold up the next
/// run), then deliver due alerts and rewrite the metrics textfile.
fn after_command(ctx: &mut Ctx) {
    drop(ctx.lock.take());
    let origin = crate::alerts::Origin { bot_id: &ctx.config.bot_id, symbol: &ctx.config.symbol };
    crate::alerts::deliver_due(&mut ctx.store, &ctx.config.notify, &origin, ctx.clock.now_ms());
    crate::alerts::metrics::write_textfile(&ctx.store, &ctx.config);
}
