//! How long mcbot leaves a fresh position unprotected, and how long an `enter` takes to send its
//! ENTRY, measured against the HTTP mock of Binance with a fixed round trip injected per request.
//! Not a timed assertion: it prints figures for `docs/latency.md`.
//!
//! Each run: a new mock (every answer delayed by `RTT_MS`), a state DB on disk in a temp dir
//! (synchronous = FULL, as in production), `reconcile` then `enter` in-process over the real
//! adapter (`BinanceFutures` with `SystemClock`). From the mock's request log (one `Instant` base
//! shared with this process):
//!
//! * (a) unprotected window = ENTRY answer written → STOP answer written; minus one round trip it
//!   is mcbot's own time between reading the ENTRY fill and sending the STOP (target < 5 ms);
//! * (b) command start → ENTRY request arrival, in round trips (target ≤ 5);
//! * (c) requests before the ENTRY, and the critical path of round trips.
//!
//! Both starts of a process are measured: with no clock offset kept (a first run, or one older
//! than `CLOCK_SYNC_MAX_AGE_MS`: the adapter syncs first) and with a young one kept by the
//! previous run (what `mcbot enter` reads from the state DB).
//!
//! Then the process start: `mcbot status` on a fresh DB, wall time per run.
//!
//! `cargo bench --bench entry_latency` (about 10 s; the round trip and the number of runs are the
//! constants below). Figures and what dominates them: `docs/latency.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

#[path = "../tests/support/mod.rs"]
mod support;

use mcbot::clock::{Clock, ClockSync, SystemClock};
use mcbot::config::secrets::{ApiKey, ApiSecret, Credentials};
use mcbot::exchange::binance::BinanceFutures;
use mcbot::exec::Engine;
use mcbot::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::bot::Bot;
use support::mock_binance::{now_ms, MockBinance, Request, API_KEY, API_SECRET};
use support::steps;

const RTT_MS: u64 = 50;
const RUNS: usize = 10;

struct Run {
    /// ENTRY answered → STOP answered.
    window: Duration,
    /// ENTRY answered → STOP request arrived (the window minus the STOP's round trip).
    own: Duration,
    /// The same window as mcbot itself recorded it (ms resolution).
    recorded_ms: Option<i64>,
    /// Command start → ENTRY arrival.
    to_entry: Duration,
    requests_before_entry: usize,
    /// The requests before the ENTRY: (ms since command start at arrival, line).
    before: Vec<(f64, String)>,
    /// Sequential round trips before the ENTRY (waves of requests sent together).
    waves: usize,
    /// The last answer before the ENTRY → the ENTRY's arrival (pre-flight and the ENTRY intent).
    preflight: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One `reconcile` + `enter`; `fresh_offset`: the process starts from a clock offset the previous
/// run measured a moment ago (the mock's clock is the real one: offset 0).
fn one_run(fresh_offset: bool) -> Run {
    let mock = MockBinance::start();
    mock.set_latency_ms(RTT_MS);
    // Reconciled, flat, one PLANNED long, on a state DB on disk.
    let env = Bot::new().set("exchange.http_timeout_ms", "5000").planned_long().binance(&mock.url());
    let cfg = mcbot::config::load(&env.config_path()).unwrap();
    let mut store = Store::open(&cfg.state_db, now_ms()).unwrap();

    // The command starts here: what `mcbot enter` does after parsing its config and taking the lock.
    let t0 = Instant::now();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let creds = Credentials { key: ApiKey::new(API_KEY), secret: ApiSecret::new(API_SECRET) };
    let kept = fresh_offset.then(|| ClockSync { offset_ms: 0, measured_ms: clock.now_ms() });
    let ex = BinanceFutures::new(&cfg.exchange, creds, clock.clone()).unwrap().with_clock_sync(kept);
    let mut engine = Engine::new(&cfg, &mut store, &ex, clock.as_ref());
    let rec = steps::reconcile_before_entry(&mut engine).unwrap();
    assert_eq!(rec.exit, mcbot::outcome::ExitCode::Ok, "{:?}", rec.lines);
    let rep = steps::enter(&mut engine).unwrap();
    assert_eq!(rep.exit, mcbot::outcome::ExitCode::Ok, "{:?}", rep.lines);

    let reqs = mock.requests();
    let find = |role: &str| -> &Request {
        reqs.iter().find(|r| r.method == "POST" && r.role() == Some(role)).expect("request sent")
    };
    let (entry, stop) = (find("ENTRY"), find("STOP"));
    let entry_answered = entry.answered.expect("ENTRY answered");
    let stop_answered = stop.answered.expect("STOP answered");
    let base = mock.started();
    let since_t0 = |d: Duration| (base + d).saturating_duration_since(t0);
    let recorded_ms = store
        .conn()
        .query_row("SELECT unprotected_window_ms FROM position ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
        .ok()
        .flatten();
    let before: Vec<(f64, String)> = reqs[..entry.seq].iter().map(|r| (ms(since_t0(r.arrived)), r.line())).collect();
    let mut waves = 0;
    let mut wave_start = f64::NEG_INFINITY;
    for (at, _) in &before {
        if *at - wave_start > RTT_MS as f64 / 2.0 {
            waves += 1;
            wave_start = *at;
        }
    }
    let last_answer = reqs[..entry.seq].iter().filter_map(|r| r.answered).max().unwrap_or_default();
    Run {
        preflight: entry.arrived.saturating_sub(last_answer),
        waves,
        window: stop_answered.saturating_sub(entry_answered),
        own: stop.arrived.saturating_sub(entry_answered),
        recorded_ms,
        to_entry: since_t0(entry.arrived),
        requests_before_entry: entry.seq,
        before,
    }
}

fn stats(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    format!("median {median:7.2}  min {:7.2}  max {:7.2}", v[0], v[v.len() - 1])
}

/// One durable commit of the state DB on this disk: WAL, synchronous = FULL (as `Store::open`
/// sets), one small row.
fn commit_cost() -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("fsync.db")).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)).unwrap();
    conn.execute_batch("PRAGMA synchronous = FULL; CREATE TABLE t (v TEXT);").unwrap();
    (0..50)
        .map(|i| {
            let t = Instant::now();
            conn.execute_batch(&format!("BEGIN IMMEDIATE; INSERT INTO t VALUES ('{i}'); COMMIT;")).unwrap();
            ms(t.elapsed())
        })
        .collect()
}

/// `mcbot status` on a fresh DB: process start, config, lock-free DB creation and migration, print.
fn process_start() -> Vec<f64> {
    let bin = env!("CARGO_BIN_EXE_mcbot");
    (0..RUNS)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("state")).unwrap();
            let cfg = dir.path().join("mcbot.toml");
            std::fs::write(
                &cfg,
                "bot_id = \"mc\"\nsymbol = \"BTCUSDT\"\nstate_db = \"state/mcbot.db\"\n[exchange]\nkind = \"binance\"\n",
            )
            .unwrap();
            let t = Instant::now();
            let out = std::process::Command::new(bin).arg("--config").arg(&cfg).args(["--json", "status"]).output().unwrap();
            let elapsed = ms(t.elapsed());
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            elapsed
        })
        .collect()
}

/// (a)–(c) over `runs`.
fn report(runs: &[Run]) {
    let rtt = RTT_MS as f64;
    println!(
        "(a) unprotected window (ENTRY answer -> STOP answer), ms: {}",
        stats(runs.iter().map(|r| ms(r.window)).collect())
    );
    println!(
        "    minus one round trip = mcbot's own time, ms:          {}",
        stats(runs.iter().map(|r| ms(r.own)).collect())
    );
    let recorded: Vec<f64> = runs.iter().filter_map(|r| r.recorded_ms).map(|m| m as f64).collect();
    if !recorded.is_empty() {
        println!("    as mcbot recorded it (position.unprotected_window_ms): {}", stats(recorded));
    }
    println!(
        "(b) command start -> ENTRY arrival, ms:                     {}",
        stats(runs.iter().map(|r| ms(r.to_entry)).collect())
    );
    println!(
        "    in round trips:                                         {}",
        stats(runs.iter().map(|r| ms(r.to_entry) / rtt).collect())
    );
    println!(
        "    round trips on the critical path (waves of requests):   {}",
        stats(runs.iter().map(|r| r.waves as f64).collect())
    );
    println!(
        "    local time before the ENTRY (start -> ENTRY - waves x RTT), ms: {}",
        stats(runs.iter().map(|r| ms(r.to_entry) - r.waves as f64 * rtt).collect())
    );
    println!(
        "    of which last pre-flight answer -> ENTRY arrival, ms:    {}",
        stats(runs.iter().map(|r| ms(r.preflight)).collect())
    );
    println!(
        "(c) HTTP requests before the ENTRY:                         {}",
        stats(runs.iter().map(|r| r.requests_before_entry as f64).collect())
    );
    println!("    the last run's requests before the ENTRY (ms after the command start, at arrival):");
    if let Some(last) = runs.last() {
        for (at, line) in &last.before {
            println!("      {at:8.1}  {line}");
        }
    }
}

fn main() {
    // `cargo test --benches` runs benches once as tests with `--bench` absent: keep that fast.
    if !std::env::args().any(|a| a == "--bench") {
        println!("entry_latency: run with `cargo bench --bench entry_latency`");
        return;
    }
    println!("entry_latency: {RUNS} runs of reconcile + enter against the mock, {RTT_MS} ms per round trip");
    let _warm = one_run(false);
    for (fresh, start) in [
        (false, "no clock offset kept (first run, or older than 10 min)"),
        (true, "a young clock offset kept by the previous run"),
    ] {
        println!("--- process start: {start}");
        report(&(0..RUNS).map(|_| one_run(fresh)).collect::<Vec<_>>());
    }
    println!("(d) process start, `mcbot status` on a fresh DB, ms:       {}", stats(process_start()));
    println!("(e) one durable state-DB commit (WAL, synchronous=FULL), ms: {}", stats(commit_cost()));
}
