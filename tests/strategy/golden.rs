//! Golden decisions over the whole shipped 4h file, streamed candle by candle as a simulator
//! would, with CONTRACT §8 defaults, 10 000 USDT, Binance's BTCUSDT filters and the funding rate
//! last settled at each close (data/BTCUSDT-funding.csv).
//!
//! Two passes: flat-only (every candle judged as if flat, no cooldown: pins the entry rules), and
//! a simple position model (enter at the plan's reference; STOP/TP hit on a later candle's
//! high/low, STOP first when both are touched; regime exits at the close; cooldown after every
//! exit: pins the exit rules). The summary records counts, a hash of every decision, and the
//! first/last plans with the indicator values that explain them.
//! The flat-only counts (208 long, 142 short; refusals: 260 atr_contracting, 30 funding_filter,
//! 2 atr_out_of_range) were reproduced by an independent plain-Python pass over the same files.
//! Regenerate after a deliberate strategy change only: `MCBOT_BLESS=1 cargo test golden`.

use super::{data_path, real_candles};
use mcbot::clock::rfc3339;
use mcbot::core::candle::FundingRate;
use mcbot::core::indicators::{IndicatorState, Indicators};
use mcbot::core::money::SymbolFilters;
use mcbot::core::plan::{take_profit_price, TradePlan};
use mcbot::core::strategy::{cooldown_until_ms, decide, Decision, EvalContext, OpenPositionView, StrategyParams};
use mcbot::core::types::PositionSide;
use mcbot::marketdata::{funding_at, load_funding};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write;

const FIXTURE: &str = "tests/fixtures/strategy_golden_4h.txt";

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| x.to_string())
}

fn plan_line(p: &TradePlan, i: &Indicators, funding: Decimal) -> String {
    format!(
        "{} {} id={} close={} ema_fast={} ema_fast_prev={} ema_slow={} atr={} atr_sma={} hh={} ll={} funding={} stop={} qty={}",
        rfc3339(p.candle_close_ms + 1),
        p.side,
        p.id,
        i.close,
        opt(i.ema_fast),
        opt(i.ema_fast_prev),
        opt(i.ema_slow),
        opt(i.atr),
        opt(i.atr_sma),
        i.highest_high.map_or("-".into(), |d| d.to_string()),
        i.lowest_low.map_or("-".into(), |d| d.to_string()),
        funding,
        p.stop_price,
        p.qty
    )
}

struct Pass {
    sequence: Sha256,
    decisions: usize,
    counts: BTreeMap<String, usize>,
    lines: Vec<String>,
}

impl Pass {
    fn new() -> Self {
        Pass { sequence: Sha256::new(), decisions: 0, counts: BTreeMap::new(), lines: Vec::new() }
    }
    fn record(&mut self, close_ms: i64, what: &str) {
        self.sequence.update(format!("{close_ms} {what}\n").as_bytes());
        self.decisions += 1;
    }
    fn count(&mut self, key: String) {
        *self.counts.entry(key).or_default() += 1;
    }
    fn write(self, out: &mut String, name: &str) {
        let counts: Vec<String> = self.counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "{name}.decisions: {}", self.decisions).unwrap();
        writeln!(out, "{name}.counts: {}", counts.join(" ")).unwrap();
        writeln!(out, "{name}.sequence_sha256: {}", hex::encode(self.sequence.finalize())).unwrap();
        let n = self.lines.len();
        for l in self.lines.iter().take(3) {
            writeln!(out, "{name}.first: {l}").unwrap();
        }
        for l in self.lines.iter().skip(n.saturating_sub(3).max(3)) {
            writeln!(out, "{name}.last: {l}").unwrap();
        }
    }
}

struct Inputs<'a> {
    params: StrategyParams,
    filters: SymbolFilters,
    funding: &'a [FundingRate],
}

impl Inputs<'_> {
    fn ctx<'b>(
        &'b self,
        ind: &Indicators,
        pos: Option<&'b OpenPositionView>,
        cooldown: Option<i64>,
    ) -> EvalContext<'b> {
        EvalContext {
            bot_id: "mc",
            symbol: "BTCUSDT",
            params: &self.params,
            filters: &self.filters,
            // A cron run 5 s after the close.
            now_ms: ind.close_time_ms + 5_001,
            funding_rate: funding_at(self.funding, ind.close_time_ms).map_or(Decimal::ZERO, |f| f.rate),
            mark_price: ind.close,
            balance_usdt: Decimal::new(10_000, 0),
            cooldown_until_ms: cooldown,
            position: pos,
        }
    }
}

fn flat_only(inp: &Inputs<'_>) -> Pass {
    let mut pass = Pass::new();
    let mut st = IndicatorState::new(inp.params.indicator_params());
    for c in real_candles() {
        let ind = *st.push(c).unwrap();
        if ind.count < inp.params.warmup {
            continue;
        }
        let ctx = inp.ctx(&ind, None, None);
        let e = decide(&ind, &ctx);
        pass.record(ind.close_time_ms, e.decision.reason_code());
        pass.count(e.decision.reason_code().to_string());
        if let Decision::Plan(p) = &e.decision {
            pass.lines.push(plan_line(p, &ind, ctx.funding_rate));
        }
    }
    pass
}

struct Open {
    plan: TradePlan,
    tp: Decimal,
    view: OpenPositionView,
}

fn position_model(inp: &Inputs<'_>) -> Pass {
    let mut pass = Pass::new();
    let mut st = IndicatorState::new(inp.params.indicator_params());
    let (mut open, mut cooldown): (Option<Open>, Option<i64>) = (None, None);
    for c in real_candles() {
        let ind = *st.push(c).unwrap();
        if ind.count < inp.params.warmup {
            continue;
        }
        let iv = inp.params.interval_ms;
        let mut closed: Option<(String, Decimal, i64)> = None;
        if let Some(o) = open.as_mut() {
            let (stop, tp, long) = (o.plan.stop_price, o.tp, o.plan.side == PositionSide::Long);
            let stop_hit = if long { c.low <= stop } else { c.high >= stop };
            let tp_hit = if long { c.high >= tp } else { c.low <= tp };
            if stop_hit {
                closed = Some(("stop_hit".into(), stop, c.open_time_ms + 1));
            } else if tp_hit {
                closed = Some(("tp_hit".into(), tp, c.open_time_ms + 1));
            } else {
                o.view.on_candle_close(c.close);
                let e = decide(&ind, &inp.ctx(&ind, Some(&o.view), None));
                pass.record(ind.close_time_ms, e.decision.reason_code());
                if let Decision::Exit(x) = e.decision {
                    closed = Some((x.exit_reason().to_string(), c.close, ind.close_time_ms + 1));
                }
            }
        } else {
            let e = decide(&ind, &inp.ctx(&ind, None, cooldown));
            pass.record(ind.close_time_ms, e.decision.reason_code());
            if let Decision::Plan(p) = e.decision {
                let tp = take_profit_price(p.side, p.entry_ref, p.stop_price, Decimal::TWO);
                let view = OpenPositionView::new(p.side, p.entry_ref, Some(p.stop_price));
                pass.count(format!("entry_{}", p.side.as_str().to_lowercase()));
                open = Some(Open { plan: p, tp, view });
            }
        }
        if let (Some((reason, price, at_ms)), true) = (closed, open.is_some()) {
            let Some(o) = open.take() else { continue };
            pass.record(ind.close_time_ms, &reason);
            pass.count(reason.clone());
            cooldown = Some(cooldown_until_ms(at_ms, iv, inp.params.cooldown_candles));
            pass.lines.push(format!(
                "{} {} id={} entry={} stop={} tp={} -> {} {reason} at {price} after {} candles",
                rfc3339(o.plan.candle_close_ms + 1),
                o.plan.side,
                o.plan.id,
                o.plan.entry_ref,
                o.plan.stop_price,
                o.tp,
                rfc3339(at_ms),
                o.view.candles_since_entry
            ));
        }
    }
    pass
}

/// The golden summary text.
fn summary() -> String {
    let funding = load_funding(&data_path("BTCUSDT-funding.csv")).unwrap();
    let inp =
        Inputs { params: StrategyParams::defaults(), filters: SymbolFilters::btcusdt_default(), funding: &funding };
    let mut out = String::new();
    writeln!(out, "# Golden strategy decisions over data/BTCUSDT-4h.csv (see tests/strategy/golden.rs).").unwrap();
    writeln!(out, "# Regenerate only after a deliberate strategy change: MCBOT_BLESS=1 cargo test golden").unwrap();
    writeln!(out, "candles: {}", real_candles().len()).unwrap();
    flat_only(&inp).write(&mut out, "flat_only");
    position_model(&inp).write(&mut out, "position_model");
    out
}

#[test]
fn golden_decisions_over_the_shipped_4h_file() {
    let got = summary();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    if std::env::var("MCBOT_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == want,
        "strategy decisions changed; if deliberate, bless with MCBOT_BLESS=1.\n--- want\n{want}\n--- got\n{got}"
    );
}
