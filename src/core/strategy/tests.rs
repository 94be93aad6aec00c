//! Strategy tests: every rule at its exact threshold (one step either side), sizing with its
//! caps and filters, data problems that must never produce a plan, and the slice form agreeing
//! with the streaming form. Indicator values are set directly, so each edge is exact in f64
//! (e.g. 10.0 x 0.7 == 7.0 and 0.5 x 100 == 50 exactly).

use super::*;
use crate::core::indicators::IndicatorState;
use crate::core::money::{FilterError, SymbolFilters};
use rust_decimal_macros::dec;

const H4: i64 = 14_400_000;
/// Close time of the evaluated candle in the table tests.
const CLOSE_MS: i64 = 1_700_006_399_999;
/// A few seconds after that close: the usual cron moment.
const NOW_MS: i64 = CLOSE_MS + 5_001;

fn filters() -> SymbolFilters {
    SymbolFilters {
        symbol: "BTCUSDT".into(),
        tick_size: dec!(0.1),
        min_price: dec!(0.1),
        max_price: dec!(1000000),
        step_size: dec!(0.001),
        min_qty: dec!(0.001),
        max_qty: dec!(1000),
        market_max_qty: dec!(1000),
        min_notional: dec!(5),
    }
}

/// A long setup that passes every entry rule: close 100 > EMA 95 > EMA 90, EMA rising from 94,
/// breakout over 99, ATR 2 (2 % of close) = its SMA, funding 0.
fn long_ind() -> Indicators {
    Indicators {
        count: 300,
        open_time_ms: CLOSE_MS + 1 - H4,
        close_time_ms: CLOSE_MS,
        close: dec!(100),
        ema_fast: Some(95.0),
        ema_fast_prev: Some(94.0),
        ema_slow: Some(90.0),
        atr: Some(2.0),
        atr_sma: Some(2.0),
        highest_high: Some(dec!(99)),
        lowest_low: Some(dec!(80)),
    }
}

/// The mirror image: close 100 < EMA 105 < EMA 110, EMA falling from 106, breakdown under 101.
fn short_ind() -> Indicators {
    Indicators {
        ema_fast: Some(105.0),
        ema_fast_prev: Some(106.0),
        ema_slow: Some(110.0),
        highest_high: Some(dec!(120)),
        lowest_low: Some(dec!(101)),
        ..long_ind()
    }
}

struct Env {
    params: StrategyParams,
    filters: SymbolFilters,
    funding: Decimal,
    balance: Decimal,
    cooldown: Option<i64>,
    now: i64,
    position: Option<OpenPositionView>,
}

impl Env {
    fn new() -> Self {
        Env {
            params: StrategyParams::defaults(),
            filters: filters(),
            funding: Decimal::ZERO,
            balance: dec!(10000),
            cooldown: None,
            now: NOW_MS,
            position: None,
        }
    }
    fn ctx(&self) -> EvalContext<'_> {
        EvalContext {
            bot_id: "mc",
            symbol: "BTCUSDT",
            params: &self.params,
            filters: &self.filters,
            now_ms: self.now,
            funding_rate: self.funding,
            mark_price: dec!(100.05),
            balance_usdt: self.balance,
            cooldown_until_ms: self.cooldown,
            position: self.position.as_ref(),
        }
    }
    fn decide(&self, ind: &Indicators) -> Evaluation {
        decide(ind, &self.ctx())
    }
}

fn plan_of(e: &Evaluation) -> &TradePlan {
    match &e.decision {
        Decision::Plan(p) => p,
        other => panic!("expected a plan, got {other:?}: {}", e.reason_text()),
    }
}

fn none_of(e: &Evaluation) -> &NoTrade {
    match &e.decision {
        Decision::Nothing(n) => n,
        other => panic!("expected nothing, got {other:?}"),
    }
}

fn verdict(e: &Evaluation, rule: &str) -> bool {
    e.verdicts.iter().find(|v| v.rule() == rule).unwrap_or_else(|| panic!("no verdict {rule}")).passed
}

#[test]
fn long_plan_sized_from_risk_over_r() {
    let env = Env::new();
    let e = env.decide(&long_ind());
    let p = plan_of(&e);
    // risk 0.5 % of 10000 = 50 USDT; stop 100 - 2 x 2 = 96; R 4; qty 50 / 4 = 12.5 (notional 1250).
    assert_eq!(p.side, PositionSide::Long);
    assert_eq!(p.entry_ref, dec!(100));
    assert_eq!(p.stop_price, dec!(96));
    assert_eq!(p.qty, dec!(12.5));
    assert_eq!(p.risk_usdt, dec!(50));
    assert_eq!(p.id, crate::core::plan::plan_id("mc", "BTCUSDT", "4h", CLOSE_MS));
    assert_eq!(p.candle_close_ms, CLOSE_MS);
    assert_eq!(p.valid_until_ms, CLOSE_MS + H4, "valid until the next candle closes");
    assert_eq!(p.status, PlanStatus::Planned);
    assert!(e.verdicts.iter().all(|v| v.passed || v.rule() == "trend_short" || v.rule() == "breakout_short"));
    assert_eq!(e.decision.reason_code(), "long_breakout");
    assert!(e.reason_text().contains("close 100 > highest high 99"), "{}", e.reason_text());
    // Same candle, same id: evaluating twice can never create a second plan.
    assert_eq!(plan_of(&env.decide(&long_ind())).id, p.id);
}

#[test]
fn short_plan_mirrors() {
    let e = Env::new().decide(&short_ind());
    let p = plan_of(&e);
    assert_eq!(p.side, PositionSide::Short);
    assert_eq!(p.stop_price, dec!(104));
    assert_eq!(p.qty, dec!(12.5));
    assert_eq!(e.decision.reason_code(), "short_breakout");
}

#[test]
fn trend_rules_are_strict() {
    let env = Env::new();
    type Case = (&'static str, fn(&mut Indicators), bool);
    let cases: [Case; 7] = [
        ("close == EMA fast", |i| i.ema_fast = Some(100.0), false),
        ("close just above EMA fast", |i| i.ema_fast = Some(99.99), true),
        ("EMA fast == EMA slow", |i| i.ema_slow = Some(95.0), false),
        ("EMA fast flat over the lookback", |i| i.ema_fast_prev = Some(95.0), false),
        ("EMA fast barely rising", |i| i.ema_fast_prev = Some(94.999_999), true),
        ("EMA fast below slow", |i| i.ema_slow = Some(96.0), false),
        ("close below EMA fast", |i| i.close = dec!(94.9), false),
    ];
    for (name, edit, want) in cases {
        let mut ind = long_ind();
        edit(&mut ind);
        let e = env.decide(&ind);
        assert_eq!(verdict(&e, "trend_long"), want, "{name}");
        if !want {
            assert!(matches!(none_of(&e), NoTrade::NoTrend | NoTrade::NoBreakout), "{name}");
        }
    }
    // Short mirror: close == EMA fast is no short trend either.
    let mut ind = short_ind();
    ind.ema_fast = Some(100.0);
    assert!(!verdict(&env.decide(&ind), "trend_short"));
    let mut ind = short_ind();
    ind.ema_fast_prev = Some(105.0);
    assert!(!verdict(&env.decide(&ind), "trend_short"));
}

#[test]
fn breakout_needs_a_close_strictly_beyond_the_prior_extreme() {
    let env = Env::new();
    let mut ind = long_ind();
    ind.highest_high = Some(dec!(100));
    let e = env.decide(&ind);
    assert!(!verdict(&e, "breakout_long"));
    assert_eq!(none_of(&e), &NoTrade::NoBreakout);
    ind.highest_high = Some(dec!(99.99));
    assert!(verdict(&env.decide(&ind), "breakout_long"));

    let mut ind = short_ind();
    ind.lowest_low = Some(dec!(100));
    assert_eq!(none_of(&env.decide(&ind)), &NoTrade::NoBreakout);
    ind.lowest_low = Some(dec!(100.01));
    assert!(verdict(&env.decide(&ind), "breakout_short"));
}

#[test]
fn atr_range_includes_both_bounds() {
    let env = Env::new();
    // [0.5 %, 6 %] of close 100 = ATR in [0.5, 6]; ATR SMA follows so expansion holds.
    for (atr, want) in [(0.5, true), (0.499_999, false), (6.0, true), (6.000_001, false)] {
        let ind = Indicators { atr: Some(atr), atr_sma: Some(atr), ..long_ind() };
        let e = env.decide(&ind);
        assert_eq!(verdict(&e, "atr_range"), want, "atr {atr}");
        if !want {
            assert_eq!(none_of(&e), &NoTrade::AtrOutOfRange, "atr {atr}");
        }
    }
}

#[test]
fn atr_expansion_allows_equality() {
    let env = Env::new();
    let ind = Indicators { atr: Some(2.0), atr_sma: Some(2.0), ..long_ind() };
    assert!(verdict(&env.decide(&ind), "atr_expansion"));
    let ind = Indicators { atr: Some(2.0), atr_sma: Some(2.000_001), ..long_ind() };
    let e = env.decide(&ind);
    assert!(!verdict(&e, "atr_expansion"));
    assert_eq!(none_of(&e), &NoTrade::AtrContracting);
    let mut env = Env::new();
    env.params.atr_expansion_mult = dec!(1.5);
    let ind = Indicators { atr: Some(3.0), atr_sma: Some(2.0), ..long_ind() };
    assert!(verdict(&env.decide(&ind), "atr_expansion"), "3 >= 2 x 1.5");
}

#[test]
fn funding_filter_blocks_only_strictly_beyond_the_limit() {
    // +0.05 % = 0.0005 as a rate.
    let cases = [
        (long_ind(), dec!(0.0005), true),
        (long_ind(), dec!(0.00050001), false),
        (long_ind(), dec!(-0.003), true), // negative funding never blocks a long
        (short_ind(), dec!(-0.0005), true),
        (short_ind(), dec!(-0.00050001), false),
        (short_ind(), dec!(0.003), true),
    ];
    for (i, (ind, rate, want)) in cases.into_iter().enumerate() {
        let mut env = Env::new();
        env.funding = rate;
        let e = env.decide(&ind);
        assert_eq!(matches!(e.decision, Decision::Plan(_)), want, "case {i}: {}", e.reason_text());
        if !want {
            assert_eq!(none_of(&e), &NoTrade::FundingFilter, "case {i}");
            assert!(e.reason_text().contains("funding"), "{}", e.reason_text());
        }
    }
}

#[test]
fn cooldown_blocks_until_the_candle_end_reaches_it() {
    let mut env = Env::new();
    env.cooldown = Some(CLOSE_MS + 1);
    assert!(matches!(env.decide(&long_ind()).decision, Decision::Plan(_)), "ends exactly at the cooldown end");
    env.cooldown = Some(CLOSE_MS + 2);
    let e = env.decide(&long_ind());
    assert_eq!(none_of(&e), &NoTrade::Cooldown);
    // A cooldown without a signal reports the missing signal, not the cooldown.
    let ind = Indicators { highest_high: Some(dec!(150)), ..long_ind() };
    assert_eq!(none_of(&env.decide(&ind)), &NoTrade::NoBreakout);
}

#[test]
fn cooldown_until_skips_the_next_candle_closes() {
    // Exit during the candle [0, H4): the closes at H4, 2H4, 3H4 are skipped; entries from 4H4.
    assert_eq!(cooldown_until_ms(5_000, H4, 3), 4 * H4);
    assert_eq!(cooldown_until_ms(0, H4, 3), 4 * H4);
    assert_eq!(cooldown_until_ms(H4 - 1, H4, 3), 4 * H4);
    assert_eq!(cooldown_until_ms(H4, H4, 3), 5 * H4);
    assert_eq!(cooldown_until_ms(5_000, H4, 0), H4);
    // Against decide's rule: the candle ending at 3H4 is blocked, the one ending at 4H4 is not.
    let until = cooldown_until_ms(5_000, H4, 3);
    assert!(!Check::Cooldown { until_ms: Some(until), candle_end_ms: 3 * H4 }.passes());
    assert!(Check::Cooldown { until_ms: Some(until), candle_end_ms: 4 * H4 }.passes());
}

#[test]
fn data_problems_never_plan() {
    let env = Env::new();
    let cases: [(&str, Indicators, i64, &str); 7] = [
        ("one candle short of warm-up", Indicators { count: 249, ..long_ind() }, NOW_MS, "insufficient_candles"),
        ("candle closes now", long_ind(), CLOSE_MS, "candle_not_closed"),
        ("candle still open", long_ind(), CLOSE_MS - 60_000, "candle_not_closed"),
        ("next candle has closed", long_ind(), CLOSE_MS + H4, "stale_data"),
        ("EMA not ready", Indicators { ema_slow: None, ..long_ind() }, NOW_MS, "indicators_not_ready"),
        ("zero ATR", Indicators { atr: Some(0.0), ..long_ind() }, NOW_MS, "zero_atr"),
        ("NaN ATR SMA", Indicators { atr_sma: Some(f64::NAN), ..long_ind() }, NOW_MS, "zero_atr"),
    ];
    for (name, ind, now, code) in cases {
        let mut env2 = Env::new();
        env2.now = now;
        let e = env2.decide(&ind);
        assert_eq!(e.decision.reason_code(), code, "{name}");
        assert!(none_of(&e).is_data_problem(), "{name}");
    }
    // Exactly warm-up candles, and the last millisecond of the plan window, are fine.
    let mut env2 = Env::new();
    env2.now = CLOSE_MS + H4 - 1;
    assert!(matches!(env2.decide(&Indicators { count: 250, ..long_ind() }).decision, Decision::Plan(_)));
    assert!(matches!(env.decide(&long_ind()).decision, Decision::Plan(_)));
}

#[test]
fn sizing_caps_floor_and_filters() {
    let p = StrategyParams::defaults();
    let f = filters();
    // Risk-bound: 50 / 4 = 12.5.
    let s = size_position(PositionSide::Long, dec!(100), 2.0, &p, dec!(10000), &f).unwrap();
    assert_eq!((s.qty, s.cap), (dec!(12.5), None));
    // max_notional binds: R 0.4 -> 125 units = 12500 USDT > 10000 -> 100 units.
    let s = size_position(PositionSide::Long, dec!(100), 0.2, &p, dec!(10000), &f).unwrap();
    assert_eq!((s.qty, s.cap), (dec!(100), Some(SizeCap::MaxNotional)));
    assert_eq!(s.risk_usdt, dec!(40.0));
    // The balance at 1x binds when it is below max_notional: 500 USDT -> 5 units at 100.
    let p2 = StrategyParams { risk_per_trade_pct: dec!(10), ..p.clone() };
    let s = size_position(PositionSide::Long, dec!(100), 0.2, &p2, dec!(500), &f).unwrap();
    assert_eq!((s.qty, s.cap), (dec!(5), Some(SizeCap::Balance)));
    // Floored to the step, never rounded up: 50 / 3 = 16.666.. -> 16.666.
    let s = size_position(PositionSide::Long, dec!(100), 1.5, &p, dec!(10000), &f).unwrap();
    assert_eq!(s.qty, dec!(16.666));
    assert!(s.risk_usdt <= dec!(50));
    // Stop quantised away from the entry: 100 - 2 x 1.23456 = 97.53088 -> 97.5 (long), 102.5 (short).
    let s = size_position(PositionSide::Long, dec!(100), 1.234_56, &p, dec!(10000), &f).unwrap();
    assert_eq!((s.stop, s.r_per_unit), (dec!(97.5), dec!(2.5)));
    let s = size_position(PositionSide::Short, dec!(100), 1.234_56, &p, dec!(10000), &f).unwrap();
    assert_eq!(s.stop, dec!(102.5));
}

#[test]
fn sizing_refusals_name_the_filter() {
    let p = StrategyParams::defaults();
    let mut f = filters();
    // 0.5 % of 20 USDT = 0.1; R 4 -> 0.025 units = 2.5 USDT < MIN_NOTIONAL 5.
    let e = size_position(PositionSide::Long, dec!(100), 2.0, &p, dec!(20), &f).unwrap_err();
    assert!(matches!(e, SizingError::Quantity(FilterError::BelowMinNotional { .. })));
    assert!(e.to_string().contains("MIN_NOTIONAL"), "{e}");
    f.min_qty = dec!(1);
    let e = size_position(PositionSide::Long, dec!(100), 2.0, &p, dec!(100), &f).unwrap_err();
    assert!(e.to_string().contains("LOT_SIZE"), "{e}");
    let e = size_position(PositionSide::Long, dec!(100), 2.0, &p, Decimal::ZERO, &filters()).unwrap_err();
    assert_eq!(e, SizingError::NoBalance(Decimal::ZERO));
    // A stop at or below zero is refused by PRICE_FILTER, not sent.
    let e = size_position(PositionSide::Long, dec!(100), 60.0, &p, dec!(10000), &filters()).unwrap_err();
    assert!(e.to_string().contains("stop price"), "{e}");
    // An ATR that vanishes at 8 decimals leaves no stop distance.
    let e = size_position(PositionSide::Long, dec!(100), 1e-10, &p, dec!(10000), &filters()).unwrap_err();
    assert_eq!(e, SizingError::ZeroR);
    let e = size_position(PositionSide::Long, dec!(100), f64::NAN, &p, dec!(10000), &filters()).unwrap_err();
    assert!(matches!(e, SizingError::BadAtr(_)), "{e}");
    // Through decide: no plan, and the reason names the filter.
    let mut env = Env::new();
    env.balance = dec!(20);
    let ev = env.decide(&long_ind());
    assert_eq!(ev.decision.reason_code(), "size_too_small");
    assert!(ev.reason_text().contains("MIN_NOTIONAL"), "{}", ev.reason_text());
    assert!(!verdict(&ev, "sizing"));
}

fn pos(side: PositionSide, candles: usize, best: Decimal) -> OpenPositionView {
    // Entry 100, stop 96 (long) or 104 (short): R = 4.
    let stop = if side == PositionSide::Long { dec!(96) } else { dec!(104) };
    OpenPositionView {
        side,
        entry_price: dec!(100),
        stop_price: Some(stop),
        candles_since_entry: candles,
        best_close: Some(best),
    }
}

fn exit_of(env: &Env, ind: &Indicators) -> Option<RegimeExit> {
    let e = env.decide(ind);
    match e.decision {
        Decision::Exit(x) => Some(x),
        Decision::Nothing(NoTrade::Holding) => None,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn trend_invalidation_fires_strictly_across_ema_fast() {
    let mut env = Env::new();
    env.position = Some(pos(PositionSide::Long, 1, dec!(103)));
    let at = |close: Decimal| Indicators { close, ema_fast: Some(100.0), ..long_ind() };
    assert_eq!(exit_of(&env, &at(dec!(100))), None, "close == EMA is not across");
    assert_eq!(exit_of(&env, &at(dec!(99.99))), Some(RegimeExit::TrendInvalidation));
    env.position = Some(pos(PositionSide::Short, 1, dec!(97)));
    assert_eq!(exit_of(&env, &at(dec!(100))), None);
    assert_eq!(exit_of(&env, &at(dec!(100.01))), Some(RegimeExit::TrendInvalidation));
}

#[test]
fn volatility_contraction_fires_strictly_below_the_multiple() {
    let mut env = Env::new();
    env.position = Some(pos(PositionSide::Long, 1, dec!(103)));
    // SMA(ATR) 10 x 0.7 = 7.0 exactly.
    let with = |atr: f64| Indicators { atr: Some(atr), atr_sma: Some(10.0), ..long_ind() };
    assert_eq!(exit_of(&env, &with(7.0)), None);
    assert_eq!(exit_of(&env, &with(6.999_999)), Some(RegimeExit::VolatilityContraction));
}

#[test]
fn momentum_failure_judged_from_the_nth_candle_at_half_r() {
    let mut env = Env::new();
    // R 4 -> 0.5 R = +2: best close 102 has reached it, 101.99 has not.
    let cases = [
        (PositionSide::Long, 5, dec!(100), None),
        (PositionSide::Long, 6, dec!(102), None),
        (PositionSide::Long, 6, dec!(101.99), Some(RegimeExit::MomentumFailure)),
        (PositionSide::Long, 9, dec!(101.99), Some(RegimeExit::MomentumFailure)),
        (PositionSide::Short, 6, dec!(98), None),
        (PositionSide::Short, 6, dec!(98.01), Some(RegimeExit::MomentumFailure)),
    ];
    for (i, (side, n, best, want)) in cases.into_iter().enumerate() {
        env.position = Some(pos(side, n, best));
        // Keep the trend intact for the side so only momentum can fire.
        let ind = if side == PositionSide::Long { long_ind() } else { short_ind() };
        assert_eq!(exit_of(&env, &ind), want, "case {i}");
    }
    // Without a known stop there is no R: not judged, never a guess.
    env.position = Some(OpenPositionView { stop_price: None, ..pos(PositionSide::Long, 10, dec!(100)) });
    let e = env.decide(&long_ind());
    assert!(verdict(&e, "momentum_failure"));
    assert!(e.verdicts.iter().any(|v| v.detail().contains("R unknown")));
}

#[test]
fn funding_extreme_fires_only_against_the_position_beyond_the_limit() {
    let cases = [
        (PositionSide::Long, dec!(0.001), None),
        (PositionSide::Long, dec!(0.00100001), Some(RegimeExit::FundingExtreme)),
        (PositionSide::Long, dec!(-0.003), None),
        (PositionSide::Short, dec!(-0.001), None),
        (PositionSide::Short, dec!(-0.00100001), Some(RegimeExit::FundingExtreme)),
        (PositionSide::Short, dec!(0.003), None),
    ];
    for (i, (side, rate, want)) in cases.into_iter().enumerate() {
        let mut env = Env::new();
        env.funding = rate;
        env.position = Some(pos(side, 1, dec!(100)));
        let ind = if side == PositionSide::Long { long_ind() } else { short_ind() };
        assert_eq!(exit_of(&env, &ind), want, "case {i}");
    }
}

#[test]
fn first_exit_in_contract_order_names_it_and_all_are_reported() {
    let mut env = Env::new();
    env.funding = dec!(0.01);
    env.position = Some(pos(PositionSide::Long, 6, dec!(100)));
    let ind = Indicators { close: dec!(90), atr: Some(1.0), atr_sma: Some(10.0), ..long_ind() };
    let e = env.decide(&ind);
    assert_eq!(e.decision, Decision::Exit(RegimeExit::TrendInvalidation));
    let fired: Vec<_> = e.verdicts.iter().filter(|v| !v.passed).map(RuleVerdict::rule).collect();
    assert_eq!(fired, ["trend_invalidation", "volatility_contraction", "momentum_failure", "funding_extreme"]);
    assert_eq!(RegimeExit::TrendInvalidation.exit_reason().to_string(), "regime:trend_invalidation");
    // In a position, no entry rules run and no plan is made even on a breakout.
    env.funding = Decimal::ZERO;
    env.position = Some(pos(PositionSide::Long, 1, dec!(103)));
    let e = env.decide(&long_ind());
    assert_eq!(e.decision, Decision::Nothing(NoTrade::Holding));
    assert!(e.verdicts.iter().all(|v| !v.rule().starts_with("breakout")));
}

#[test]
fn position_view_counts_closes_after_the_fill() {
    let cs: Vec<Candle> = (0..5).map(|i| candle(i, dec!(100) + Decimal::from(i), dec!(1))).collect();
    // Filled during candle 2 (after candle 1 closed): candles 2, 3, 4 count.
    let entered = cs[2].open_time_ms + 10;
    let v = OpenPositionView::from_candles(PositionSide::Long, dec!(102), Some(dec!(98)), entered, &cs);
    assert_eq!((v.candles_since_entry, v.best_close), (3, Some(dec!(104))));
    let v = OpenPositionView::from_candles(PositionSide::Short, dec!(102), Some(dec!(106)), entered, &cs);
    assert_eq!(v.best_close, Some(dec!(102)));
    // Filled exactly at a close time: that close was already known, it does not count.
    let v = OpenPositionView::from_candles(PositionSide::Long, dec!(102), None, cs[1].close_time_ms, &cs);
    assert_eq!(v.candles_since_entry, 3);
}

/// A synthetic candle `i` (4h apart) around `close` with range `half` either side.
fn candle(i: i64, close: Decimal, half: Decimal) -> Candle {
    let t = 1_700_000_000_000 - 1_700_000_000_000 % H4 + i * H4;
    Candle {
        open_time_ms: t,
        open: close,
        high: close + half,
        low: close - half,
        close,
        volume: dec!(1),
        close_time_ms: t + H4 - 1,
    }
}

/// Small periods so a short series warms up.
fn small_params() -> StrategyParams {
    StrategyParams {
        warmup: 30,
        ema_fast: 3,
        ema_slow: 6,
        ema_slope_lookback: 1,
        atr_period: 3,
        atr_sma_period: 3,
        breakout_lookback: 5,
        ..StrategyParams::defaults()
    }
}

/// A steady rise of 1 per candle with a last candle that jumps 3 and widens: a long breakout.
fn rising(n: i64) -> Vec<Candle> {
    let mut cs: Vec<Candle> = (0..n - 1).map(|i| candle(i, dec!(100) + Decimal::from(i), dec!(0.5))).collect();
    cs.push(candle(n - 1, dec!(100) + Decimal::from(n + 1), dec!(1.5)));
    cs
}

#[test]
fn slice_evaluation_equals_streaming_decide() {
    let cs = rising(40);
    let mut env = Env::new();
    env.params = small_params();
    env.now = cs[39].close_time_ms + 1;
    let batch = evaluate(&cs, &env.ctx());
    assert!(matches!(batch.decision, Decision::Plan(_)), "{}", batch.reason_text());
    let mut st = IndicatorState::new(env.params.indicator_params());
    for c in &cs {
        st.push(c).unwrap();
    }
    assert_eq!(decide(st.latest().unwrap(), &env.ctx()), batch);
}

#[test]
fn bad_candles_never_plan() {
    let mut env = Env::new();
    env.params = small_params();
    let good = rising(40);
    env.now = good[39].close_time_ms + 1;
    assert!(matches!(evaluate(&good, &env.ctx()).decision, Decision::Plan(_)));
    let mut gap = good.clone();
    gap.remove(20);
    let mut hl = good.clone();
    hl[39].high = hl[39].low - dec!(1);
    let mut neg = good.clone();
    neg[10].low = dec!(-1);
    let mut zero = good.clone();
    zero[39].close = Decimal::ZERO;
    for (name, cs, code) in [
        ("gap", gap, "bad_data"),
        ("high < low", hl, "bad_data"),
        ("negative low", neg, "bad_data"),
        ("zero close", zero, "bad_data"),
        ("too few", good[..29].to_vec(), "insufficient_candles"),
        ("none", Vec::new(), "insufficient_candles"),
    ] {
        let e = evaluate(&cs, &env.ctx());
        assert_eq!(e.decision.reason_code(), code, "{name}: {}", e.reason_text());
    }
    // Flat candles: ATR of zero.
    let flat: Vec<Candle> = (0..40).map(|i| candle(i, dec!(100), Decimal::ZERO)).collect();
    env.now = flat[39].close_time_ms + 1;
    assert_eq!(evaluate(&flat, &env.ctx()).decision.reason_code(), "zero_atr");
}

#[test]
fn verdicts_serialize_with_rule_passed_and_detail() {
    let e = Env::new().decide(&long_ind());
    let v = serde_json::to_value(&e.verdicts).unwrap();
    assert_eq!(v[0]["rule"], "trend_long");
    assert_eq!(v[0]["passed"], true);
    assert_eq!(
        v[0]["detail"],
        "long needs close > EMA fast > EMA slow, EMA fast above its value 5 candles earlier; \
         is close 100.00 > fast 95.00 > slow 90.00, fast 95.00 > 94.00 earlier"
    );
    // The short side names its own condition (it used to repeat the long one's words).
    assert_eq!(v[1]["rule"], "trend_short");
    assert_eq!(v[1]["passed"], false);
    assert!(v[1]["detail"].as_str().unwrap().starts_with("short needs close < EMA fast < EMA slow, EMA fast below"));
    let rules: Vec<_> = e.verdicts.iter().map(RuleVerdict::rule).collect();
    assert_eq!(
        rules,
        [
            "trend_long",
            "trend_short",
            "breakout_long",
            "breakout_short",
            "atr_range",
            "atr_expansion",
            "funding_long",
            "funding_short",
            "cooldown",
            "sizing"
        ]
    );
}
