//! How fast the strategy runs the way `sim` will run it: every candle of the shipped 4h file fed
//! to the streaming indicators and decided on, in sequence (budget: well under 50 ms in total);
//! and one live-style evaluation that recomputes a 1000-candle window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mcbot::core::indicators::IndicatorState;
use mcbot::core::money::SymbolFilters;
use mcbot::core::strategy::{decide, evaluate, Decision, EvalContext, StrategyParams};
use mcbot::marketdata::{funding_at, load_candles, load_funding};
use rust_decimal::Decimal;
use std::path::Path;

fn ctx<'a>(p: &'a StrategyParams, f: &'a SymbolFilters, close_ms: i64, funding: Decimal) -> EvalContext<'a> {
    EvalContext {
        bot_id: "mc",
        symbol: "BTCUSDT",
        params: p,
        filters: f,
        now_ms: close_ms + 5_001,
        funding_rate: funding,
        mark_price: Decimal::ONE,
        balance_usdt: Decimal::new(10_000, 0),
        cooldown_until_ms: None,
        position: None,
    }
}

fn strategy(c: &mut Criterion) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    let candles = load_candles(&data.join("BTCUSDT-4h.csv")).unwrap();
    let funding = load_funding(&data.join("BTCUSDT-funding.csv")).unwrap();
    let params = StrategyParams::defaults();
    let filters = SymbolFilters::btcusdt_default();

    c.bench_function("stream_decide_every_4h_candle", |b| {
        b.iter(|| {
            let mut st = IndicatorState::new(params.indicator_params());
            let mut plans = 0usize;
            for candle in &candles {
                let ind = *st.push(candle).unwrap();
                if ind.count < params.warmup {
                    continue;
                }
                let rate = funding_at(&funding, ind.close_time_ms).map_or(Decimal::ZERO, |f| f.rate);
                let e = decide(&ind, &ctx(&params, &filters, ind.close_time_ms, rate));
                plans += usize::from(matches!(e.decision, Decision::Plan(_)));
            }
            black_box(plans)
        });
    });

    let window = &candles[candles.len() - 1000..];
    let last_close = window[999].close_time_ms;
    c.bench_function("evaluate_one_1000_candle_window", |b| {
        b.iter(|| black_box(evaluate(black_box(window), &ctx(&params, &filters, last_close, Decimal::ZERO))));
    });
}

criterion_group!(benches, strategy);
criterion_main!(benches);
