//! Benchmark (not a test): candles per second for the whole cycle — `sim` over the shipped
//! multi-year BTCUSDT 4h file, without faults and with `--faults 0.05`, in-process.
//! Run: `cargo bench --bench sim`.
#![allow(clippy::expect_used)] // a measurement harness: a failed setup should stop it loudly

use std::path::Path;
use std::time::Instant;

fn run(fault_rate: f64, seed: u64) -> (u64, f64, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.db");
    let cfg = mcbot::config::builtin_paper(root, &db).expect("config");
    let opts = mcbot::sim::SimOptions {
        candles: root.join("data/BTCUSDT-4h.csv"),
        funding: root.join("data/BTCUSDT-funding.csv"),
        from_ms: None,
        to_ms: None,
        fault_rate,
        seed,
        state_db: db,
        progress: None,
    };
    let t = Instant::now();
    let r = mcbot::sim::run(&cfg, &opts).expect("sim");
    let secs = t.elapsed().as_secs_f64();
    (r.report.candles, secs, r.report.outcome)
}

fn main() {
    // `cargo bench` passes harness flags such as --bench; nothing to parse.
    for (label, rate) in [("no faults", 0.0), ("faults 0.05", 0.05)] {
        let mut best = f64::MAX;
        let mut candles = 0;
        for seed in 1..=3 {
            let (n, secs, outcome) = run(rate, seed);
            assert_eq!(outcome, "ok", "sim broke an invariant while benchmarking");
            candles = n;
            best = best.min(secs);
        }
        println!("sim {label:<12} {candles} candles: best of 3 {best:.3} s = {:.0} candles/s", candles as f64 / best);
    }
}
