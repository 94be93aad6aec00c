//! The paper exchange through the `Exchange` port: fills, triggers, Binance rules, funding,
//! persistence across a reopen, and deterministic fault injection.

use mcbot::clock::{Clock, ManualClock};
use mcbot::core::candle::{Candle, FundingRate};
use mcbot::core::money::SymbolFilters;
use mcbot::core::types::OrderSide::{self, Buy, Sell};
use mcbot::exchange::paper::{
    FaultConfig, FaultInjector, FaultKind, FileMarketData, MarketData, PaperExchange, PaperOptions,
};
use mcbot::exchange::{
    CancelOutcome, ConditionalKind, ConditionalOrderRequest, ConditionalStatus, ErrorClass, ExOrderStatus, Exchange,
    ExchangeError, MarketOrderRequest, WorkingType,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::path::PathBuf;
use std::sync::Arc;
use tempfile::TempDir;

const H4: i64 = 14_400_000;
/// A 4h- and 8h-aligned start (2023-11-05T16:00Z).
const T0: i64 = 118_000 * H4;
const SYM: &str = "BTCUSDT";

fn bars(ohlc: &[(i64, i64, i64, i64)]) -> Vec<Candle> {
    ohlc.iter()
        .enumerate()
        .map(|(i, &(o, h, l, c))| Candle {
            open_time_ms: T0 + i as i64 * H4,
            open: o.into(),
            high: h.into(),
            low: l.into(),
            close: c.into(),
            volume: Decimal::ONE,
            close_time_ms: T0 + (i as i64 + 1) * H4 - 1,
        })
        .collect()
}

/// A flat market at 40000 for `n` candles.
fn flat(n: usize) -> Vec<(i64, i64, i64, i64)> {
    vec![(40_000, 40_100, 39_900, 40_000); n]
}

/// The paper exchange alone (no engine, no binary) on a manual clock over fixed candles; a
/// component harness like `binance::harness::Env`, not a bot set-up (that is `support::bot::Bot`).
struct Venue {
    _dir: TempDir,
    db: PathBuf,
    clock: ManualClock,
    market: Arc<FileMarketData>,
    opts: PaperOptions,
    ex: PaperExchange,
}

fn opts(fee_pct: Decimal, slippage_pct: Decimal) -> PaperOptions {
    PaperOptions {
        symbol: SYM.into(),
        filters: SymbolFilters::btcusdt_default(),
        starting_balance: dec!(10000),
        fee_pct,
        slippage_pct,
        watch_other_writers: true,
        durable: false,
    }
}

fn rig_with(candles: Vec<Candle>, funding: Vec<FundingRate>, o: PaperOptions, faults: Option<FaultInjector>) -> Venue {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let clock = ManualClock::new(T0);
    let market = Arc::new(FileMarketData::new(candles, funding).unwrap());
    let ex = PaperExchange::open_with(&db, o.clone(), Arc::new(clock.clone()), market.clone(), faults).unwrap();
    Venue { _dir: dir, db, clock, market, opts: o, ex }
}

/// No fees, no slippage: prices in assertions are the candle prices.
fn rig(ohlc: &[(i64, i64, i64, i64)]) -> Venue {
    rig_with(bars(ohlc), vec![], opts(Decimal::ZERO, Decimal::ZERO), None)
}

impl Venue {
    /// Moves the clock to candle `i`'s open (= close + 1 of candle `i - 1`).
    fn at(&self, i: i64) {
        self.clock.set_ms(T0 + i * H4);
    }
    fn reopen(&self, faults: Option<FaultInjector>) -> PaperExchange {
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        PaperExchange::open_with(&self.db, self.opts.clone(), clock, self.market.clone(), faults).unwrap()
    }
}

fn market(side: OrderSide, qty: Decimal, reduce_only: bool, id: &str) -> MarketOrderRequest {
    MarketOrderRequest { symbol: SYM.into(), side, qty, reduce_only, client_id: id.into() }
}

fn cond(kind: ConditionalKind, side: OrderSide, trigger: Decimal, qty: Decimal, id: &str) -> ConditionalOrderRequest {
    ConditionalOrderRequest {
        symbol: SYM.into(),
        side,
        kind,
        trigger_price: trigger,
        qty,
        working_type: WorkingType::MarkPrice,
        client_id: id.into(),
    }
}

fn stop(side: OrderSide, trigger: Decimal, qty: Decimal, id: &str) -> ConditionalOrderRequest {
    cond(ConditionalKind::StopMarket, side, trigger, qty, id)
}

fn tp(side: OrderSide, trigger: Decimal, qty: Decimal, id: &str) -> ConditionalOrderRequest {
    cond(ConditionalKind::TakeProfitMarket, side, trigger, qty, id)
}

fn code(e: &ExchangeError) -> i64 {
    e.code().unwrap_or_else(|| panic!("not an API error: {e}"))
}

fn qty(ex: &PaperExchange) -> Decimal {
    ex.position(SYM).unwrap().qty
}

#[test]
fn market_order_fills_at_the_next_open_with_slippage_and_fee() {
    let r = rig_with(
        bars(&[(40_000, 41_000, 39_500, 41_000), (41_000, 42_500, 40_500, 42_000), (42_000, 42_100, 41_900, 42_000)]),
        vec![],
        opts(dec!(0.05), dec!(0.02)),
        None,
    );
    r.at(1); // candle 0 just closed: the market price is candle 1's open
    let o = r.ex.place_market(&market(Buy, dec!(0.010), false, "mc_p1_ENTRY_1")).unwrap();
    assert_eq!(o.status, ExOrderStatus::Filled);
    assert_eq!(o.executed_qty, dec!(0.010));
    assert_eq!(o.avg_price, dec!(41008.2)); // 41000 × 1.0002
    assert!(o.raw.contains("\"clientOrderId\":\"mc_p1_ENTRY_1\""), "{}", o.raw);
    let fee_in = dec!(0.205041); // 0.01 × 41008.2 × 0.0005
    assert_eq!(r.ex.wallet_balance("USDT").unwrap(), dec!(10000) - fee_in);
    let p = r.ex.position(SYM).unwrap();
    assert_eq!((p.qty, p.entry_price, p.mark_price), (dec!(0.01), dec!(41008.2), dec!(41000)));

    r.at(2);
    let c = r.ex.place_market(&market(Sell, dec!(0.010), true, "mc_p1_CLOSE_1")).unwrap();
    assert_eq!(c.avg_price, dec!(41991.6)); // 42000 × 0.9998
    let fills = r.ex.order_fills(SYM, &c.order_id, 0).unwrap();
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].realized_pnl, dec!(9.834)); // 0.01 × (41991.6 − 41008.2)
    assert_eq!(fills[0].commission, dec!(0.209958));
    assert_eq!(r.ex.wallet_balance("USDT").unwrap(), dec!(10000) - fee_in + dec!(9.834) - dec!(0.209958));
    assert!(qty(&r.ex).is_zero());
    let acct = r.ex.account().unwrap();
    assert_eq!(acct.fees_paid, fee_in + dec!(0.209958));
}

#[test]
fn stop_triggers_on_the_low_and_the_sibling_stays_open() {
    let r = rig(&[
        (40_000, 40_100, 39_900, 40_000),
        (40_000, 40_500, 39_500, 40_000), // neither reached
        (40_000, 40_200, 38_900, 39_200), // low crosses the stop
        (39_200, 39_300, 39_100, 39_200),
    ]);
    r.at(1);
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_a_ENTRY_1")).unwrap();
    let s = r.ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.01), "mc_a_STOP_1")).unwrap();
    assert_eq!(s.status, ConditionalStatus::New);
    assert_eq!(s.actual_order_id, None);
    r.ex.place_conditional(&tp(Sell, dec!(42000), dec!(0.01), "mc_a_TP_1")).unwrap();
    r.at(2);
    assert_eq!(qty(&r.ex), dec!(0.01), "candle 1 touched neither");
    r.at(3);
    assert!(qty(&r.ex).is_zero());
    let s = r.ex.query_conditional(SYM, "mc_a_STOP_1").unwrap().unwrap();
    assert_eq!(s.status, ConditionalStatus::Finished);
    assert_eq!((s.actual_price, s.actual_qty), (Some(dec!(39000)), Some(dec!(0.01))));
    let child = s.actual_order_id.clone().unwrap();
    let fills = r.ex.order_fills(SYM, &child, 0).unwrap();
    assert_eq!(fills[0].realized_pnl, dec!(-10)); // 0.01 × (39000 − 40000)

    // The child MARKET order is a finished regular order, not an open one.
    assert!(r.ex.open_orders(SYM).unwrap().is_empty());
    let child_order = r.ex.query_order(SYM, &format!("paper-algo-{}", s.algo_id)).unwrap().unwrap();
    assert_eq!((child_order.order_id, child_order.status), (child, ExOrderStatus::Filled));
    assert!(child_order.reduce_only);
    // Like Binance without GTE_GTC: the TP is still open and the bot must cancel it.
    let open = r.ex.open_conditional_orders(SYM).unwrap();
    assert_eq!(open.iter().map(|c| c.client_id.as_str()).collect::<Vec<_>>(), vec!["mc_a_TP_1"]);
    assert!(matches!(r.ex.cancel_conditional(SYM, "mc_a_TP_1").unwrap(), CancelOutcome::Cancelled { .. }));
    assert!(matches!(r.ex.cancel_conditional(SYM, "mc_a_STOP_1").unwrap(), CancelOutcome::NotOpen { .. }));
}

#[test]
fn take_profit_triggers_on_the_high_for_a_short_too() {
    let r =
        rig(&[(40_000, 40_100, 39_900, 40_000), (40_000, 40_200, 38_900, 39_000), (39_000, 39_100, 38_900, 39_000)]);
    r.at(1);
    r.ex.place_market(&market(Sell, dec!(0.01), false, "mc_s_ENTRY_1")).unwrap();
    r.ex.place_conditional(&stop(Buy, dec!(41000), dec!(0.01), "mc_s_STOP_1")).unwrap();
    r.ex.place_conditional(&tp(Buy, dec!(39000), dec!(0.01), "mc_s_TP_1")).unwrap();
    r.at(2);
    assert!(qty(&r.ex).is_zero());
    let t = r.ex.query_conditional(SYM, "mc_s_TP_1").unwrap().unwrap();
    assert_eq!((t.status, t.actual_price), (ConditionalStatus::Finished, Some(dec!(39000))));
    assert_eq!(r.ex.wallet_balance("USDT").unwrap(), dec!(10010));
    assert_eq!(r.ex.query_conditional(SYM, "mc_s_STOP_1").unwrap().unwrap().status, ConditionalStatus::New);

    // And a long's TP on the high, with slippage against the taker.
    let r = rig_with(
        bars(&[(40_000, 40_100, 39_900, 40_000), (40_000, 42_100, 39_900, 42_000), (42_000, 42_000, 42_000, 42_000)]),
        vec![],
        opts(Decimal::ZERO, dec!(0.1)),
        None,
    );
    r.at(1);
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_l_ENTRY_1")).unwrap();
    r.ex.place_conditional(&tp(Sell, dec!(42000), dec!(0.01), "mc_l_TP_1")).unwrap();
    r.at(2);
    let t = r.ex.query_conditional(SYM, "mc_l_TP_1").unwrap().unwrap();
    assert_eq!(t.actual_price, Some(dec!(41958))); // 42000 × 0.999, never better than the trigger
}

#[test]
fn stop_and_tp_inside_one_candle_assume_the_stop_hit_first() {
    let r =
        rig(&[(40_000, 40_100, 39_900, 40_000), (40_000, 42_500, 38_500, 40_000), (40_000, 40_000, 40_000, 40_000)]);
    r.at(1);
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_b_ENTRY_1")).unwrap();
    r.ex.place_conditional(&tp(Sell, dec!(42000), dec!(0.01), "mc_b_TP_1")).unwrap(); // placed first on purpose
    r.ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.01), "mc_b_STOP_1")).unwrap();
    r.at(2);
    assert_eq!(r.ex.query_conditional(SYM, "mc_b_STOP_1").unwrap().unwrap().status, ConditionalStatus::Finished);
    // The TP then triggered with nothing left to reduce: Binance rejects it at trigger.
    assert_eq!(r.ex.query_conditional(SYM, "mc_b_TP_1").unwrap().unwrap().status, ConditionalStatus::Rejected);
    assert_eq!(r.ex.wallet_balance("USDT").unwrap(), dec!(9990));
    assert!(matches!(r.ex.cancel_conditional(SYM, "mc_b_TP_1").unwrap(), CancelOutcome::NotOpen { .. }));
}

#[test]
fn a_gap_through_the_stop_fills_at_the_open() {
    let r = rig(&[
        (40_000, 40_100, 39_900, 40_000),
        (40_000, 40_100, 39_500, 39_600), // closes above the stop
        (38_000, 38_500, 37_500, 38_200), // opens below it
    ]);
    r.at(1);
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_g_ENTRY_1")).unwrap();
    r.ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.01), "mc_g_STOP_1")).unwrap();
    r.at(2); // the gap is visible at once: the mark is already below the stop
    let s = r.ex.query_conditional(SYM, "mc_g_STOP_1").unwrap().unwrap();
    assert_eq!((s.status, s.actual_price), (ConditionalStatus::Finished, Some(dec!(38000))));
    assert!(qty(&r.ex).is_zero());
}

#[test]
fn reduce_only_caps_at_the_position_never_flips_and_is_refused_when_flat() {
    let r = rig(&flat(3));
    r.at(1);
    let e = r.ex.place_market(&market(Sell, dec!(0.01), true, "mc_r_CLOSE_1")).unwrap_err();
    // The class the Binance adapter gives -2022 (codes.rs), a known refusal either way.
    assert_eq!((code(&e), e.class), (-2022, ErrorClass::RetryableWithModification));
    assert!(e.is_known_refusal());
    assert!(e.raw.as_deref().unwrap_or("").contains("-2022"));
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_r_ENTRY_1")).unwrap();
    let e = r.ex.place_market(&market(Buy, dec!(0.01), true, "mc_r_CLOSE_2")).unwrap_err();
    assert_eq!(code(&e), -2022, "reduce-only on the position's own side");
    // Below MIN_NOTIONAL (0.001 × 40000 = 40 < 100) but reduce-only: exempt.
    r.ex.place_market(&market(Sell, dec!(0.001), true, "mc_r_CLOSE_3")).unwrap();
    let c = r.ex.place_market(&market(Sell, dec!(0.05), true, "mc_r_CLOSE_4")).unwrap();
    assert_eq!((c.status, c.orig_qty, c.executed_qty), (ExOrderStatus::Filled, dec!(0.05), dec!(0.009)));
    assert!(qty(&r.ex).is_zero());

    // A conditional for more than the position closes only the position.
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_r_ENTRY_2")).unwrap();
    r.ex.place_conditional(&stop(Sell, dec!(39950), dec!(0.03), "mc_r_STOP_1")).unwrap();
    r.at(2);
    let s = r.ex.query_conditional(SYM, "mc_r_STOP_1").unwrap().unwrap();
    assert_eq!(s.actual_qty, Some(dec!(0.01)));
    assert!(qty(&r.ex).is_zero());
}

#[test]
fn a_conditional_that_would_trigger_immediately_is_refused_2021() {
    let r = rig(&flat(2));
    r.at(1); // mark 40000
    let cases = [
        stop(Sell, dec!(40000), dec!(0.01), "mc_w_STOP_1"),
        stop(Sell, dec!(40100), dec!(0.01), "mc_w_STOP_2"),
        tp(Sell, dec!(39000), dec!(0.01), "mc_w_TP_1"),
        stop(Buy, dec!(39900), dec!(0.01), "mc_w_STOP_3"),
        tp(Buy, dec!(40100), dec!(0.01), "mc_w_TP_2"),
    ];
    for req in &cases {
        let e = r.ex.place_conditional(req).unwrap_err();
        assert!(e.is_would_trigger(), "{}: {e}", req.client_id);
        assert_eq!(e.class, ErrorClass::Fatal);
    }
    assert!(r.ex.open_conditional_orders(SYM).unwrap().is_empty());
    // The right side is accepted even while flat (no position check before the trigger).
    r.ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.01), "mc_w_STOP_4")).unwrap();
}

#[test]
fn filters_answer_binance_codes() {
    let r = rig(&flat(2));
    r.at(1);
    let cases: [(MarketOrderRequest, i64); 4] = [
        (market(Buy, dec!(0.002), false, "mc_f_ENTRY_1"), -4164), // 80 USDT < 100
        (market(Buy, dec!(0.0105), false, "mc_f_ENTRY_2"), -1111),
        (market(Buy, Decimal::ZERO, false, "mc_f_ENTRY_3"), -4003),
        (market(Buy, dec!(0.01), false, "bad id!"), -4015),
    ];
    for (req, want) in &cases {
        let e = r.ex.place_market(req).unwrap_err();
        assert_eq!(code(&e), *want, "{}", req.client_id);
    }
    let e = r.ex.place_conditional(&stop(Sell, dec!(39000.05), dec!(0.01), "mc_f_STOP_1")).unwrap_err();
    assert_eq!(code(&e), -1111);
    let e = r.ex.place_market(&MarketOrderRequest { symbol: "ETHUSDT".into(), ..market(Buy, dec!(0.01), false, "x") });
    assert_eq!(code(&e.unwrap_err()), -1121);
    let e = r.ex.place_market(&market(Buy, dec!(1), false, "mc_f_ENTRY_4")).unwrap_err();
    assert_eq!(code(&e), -2019, "40000 USDT of notional on a 10000 USDT account at 1x");
    assert!(qty(&r.ex).is_zero() && r.ex.open_orders(SYM).unwrap().is_empty());
}

#[test]
fn a_client_id_is_unique_among_open_orders_only() {
    let r = rig(&flat(2));
    r.at(1);
    r.ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.01), "mc_d_STOP_1")).unwrap();
    let e = r.ex.place_conditional(&stop(Sell, dec!(38000), dec!(0.01), "mc_d_STOP_1")).unwrap_err();
    assert_eq!(code(&e), -4116);
    r.ex.cancel_conditional(SYM, "mc_d_STOP_1").unwrap();
    r.ex.place_conditional(&stop(Sell, dec!(38000), dec!(0.01), "mc_d_STOP_1")).unwrap();
    // A filled MARKET order is not open: resending its id is accepted as a second order (BINANCE.md §5).
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_d_ENTRY_1")).unwrap();
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_d_ENTRY_1")).unwrap();
    assert_eq!(qty(&r.ex), dec!(0.02));
}

#[test]
fn look_ups_and_cancels_of_unknown_or_finished_orders() {
    let r = rig(&flat(2));
    r.at(1);
    assert_eq!(r.ex.query_order(SYM, "nope").unwrap(), None);
    assert_eq!(r.ex.query_conditional(SYM, "nope").unwrap(), None);
    assert!(matches!(r.ex.cancel_order(SYM, "nope").unwrap(), CancelOutcome::NotOpen { .. }));
    let o = r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_q_ENTRY_1")).unwrap();
    let out = r.ex.cancel_order(SYM, "mc_q_ENTRY_1").unwrap();
    assert!(matches!(out, CancelOutcome::NotOpen { .. }) && out.raw().contains("-2011"), "{out:?}");
    assert_eq!(r.ex.query_order(SYM, "mc_q_ENTRY_1").unwrap().unwrap().order_id, o.order_id);
    assert!(r.ex.order_fills(SYM, "999", 0).unwrap().is_empty());
    r.ex.set_isolated_margin(SYM).unwrap();
    r.ex.set_isolated_margin(SYM).unwrap();
    r.ex.set_leverage(SYM, 1).unwrap();
    let s = r.ex.account_settings(SYM).unwrap();
    assert!(s.isolated && s.leverage == 1 && !s.dual_side);
    assert_eq!(r.ex.server_time().unwrap(), T0 + H4);
    assert_eq!(r.ex.name(), "paper");
}

#[test]
fn klines_include_the_open_candle_like_binance() {
    let r = rig(&flat(6));
    r.clock.set_ms(T0 + 3 * H4 + 5); // inside candle 3
    let k = r.ex.klines(SYM, "4h", 2).unwrap();
    assert_eq!(k.iter().map(|c| c.open_time_ms).collect::<Vec<_>>(), vec![T0 + 2 * H4, T0 + 3 * H4]);
    assert!(k[1].close_time_ms > r.clock.now_ms(), "the last one is still open");
    assert_eq!(r.ex.klines(SYM, "4h", 1000).unwrap().len(), 4);
    assert_eq!(code(&r.ex.klines(SYM, "1h", 2).unwrap_err()), -1120);
    let m = r.ex.mark_info(SYM).unwrap();
    assert_eq!(m.mark_price, dec!(40000));
}

#[test]
fn funding_is_paid_by_longs_and_received_by_shorts_at_each_settlement() {
    let candles = bars(&[
        (40_000, 40_100, 39_900, 40_000),
        (40_000, 40_100, 39_900, 40_000),
        (50_000, 50_100, 49_900, 50_000), // T0 + 8h: a settlement, mark 50000
        (50_000, 50_100, 49_900, 50_000),
        (40_000, 40_100, 39_900, 40_000),
    ]);
    let funding = vec![
        FundingRate { time_ms: T0, rate: dec!(0.5) }, // before the position: ignored
        FundingRate { time_ms: T0 + 2 * H4, rate: dec!(0.0001) },
        FundingRate { time_ms: T0 + 4 * H4, rate: dec!(-0.0002) },
    ];
    let zero = opts(Decimal::ZERO, Decimal::ZERO);
    let long = rig_with(candles.clone(), funding.clone(), zero.clone(), None);
    long.at(1);
    long.ex.place_market(&market(Buy, dec!(0.1), false, "mc_l_ENTRY_1")).unwrap();
    long.at(2);
    assert_eq!(long.ex.wallet_balance("USDT").unwrap(), dec!(9999.5)); // −0.1 × 50000 × 0.0001
    assert_eq!(long.ex.mark_info(SYM).unwrap().funding_rate, dec!(0.0001));
    long.at(4);
    assert_eq!(long.ex.wallet_balance("USDT").unwrap(), dec!(10000.3)); // + 0.1 × 40000 × 0.0002
    assert_eq!(long.ex.account().unwrap().funding_paid, dec!(-0.3));

    let short = rig_with(candles, funding, zero, None);
    short.at(1);
    short.ex.place_market(&market(Sell, dec!(0.1), false, "mc_s_ENTRY_1")).unwrap();
    short.at(3);
    assert_eq!(short.ex.wallet_balance("USDT").unwrap(), dec!(10000.5));
}

/// `funding_history` (the `/fapi/v1/income` stand-in, issue 13 §3) tells exactly what the book
/// settled, also when a fill lands on the settlement's very ms: a STOP hit by the range of the
/// candle ending then filled before the settlement (nothing paid), a STOP gapped through by the
/// candle opening then filled after it (paid), an ENTRY placed at that ms came after it.
#[test]
fn funding_history_is_what_the_book_settled_even_on_the_same_ms() {
    let settle = T0 + 2 * H4;
    let funding = vec![
        FundingRate { time_ms: settle, rate: dec!(0.0001) },
        FundingRate { time_ms: T0 + 4 * H4, rate: dec!(-0.0002) },
    ];
    let zero = opts(Decimal::ZERO, Decimal::ZERO);
    let run = |candles: Vec<Candle>, entry_at: i64| {
        let r = rig_with(candles, funding.clone(), zero.clone(), None);
        r.at(entry_at);
        r.ex.place_market(&market(Buy, dec!(0.1), false, "mc_f_ENTRY_1")).unwrap();
        r.ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.1), "mc_f_STOP_1")).unwrap();
        r.at(5);
        let paid = r.ex.account().unwrap().funding_paid;
        let got = r.ex.funding_history(SYM, T0, T0 + 5 * H4).unwrap();
        let sum: Decimal = got.iter().map(|p| p.amount).sum();
        assert_eq!(sum, -paid, "funding_history = the book's own settlements: {got:?}");
        assert!(got.iter().all(|p| p.asset == "USDT"));
        got.iter().map(|p| (p.time_ms, p.amount)).collect::<Vec<_>>()
    };
    // Candle 1's range reaches the STOP: filled at its end (= the settlement ms), before it.
    let by_range = bars(&[
        (40_000, 40_100, 39_900, 40_000),
        (40_000, 40_100, 38_000, 39_500),
        (39_500, 39_600, 39_400, 39_500),
        (39_500, 39_600, 39_400, 39_500),
        (39_500, 39_600, 39_400, 39_500),
        (39_500, 39_600, 39_400, 39_500),
    ]);
    assert_eq!(run(by_range, 1), vec![]);
    // Candle 2 opens below the STOP: filled at that open, after the settlement at the same ms.
    let by_gap = bars(&[
        (40_000, 40_100, 39_900, 40_000),
        (40_000, 40_100, 39_900, 40_000),
        (38_500, 38_600, 38_400, 38_500),
        (38_500, 38_600, 38_400, 38_500),
        (38_500, 38_600, 38_400, 38_500),
        (38_500, 38_600, 38_400, 38_500),
    ]);
    assert_eq!(run(by_gap, 1), vec![(settle, dec!(-0.385))], "−0.1 × 38500 × 0.0001");
    // The ENTRY placed at the settlement ms missed it; the next one (−0.0002 at 40000) counts.
    assert_eq!(run(bars(&flat(6)), 2), vec![(T0 + 4 * H4, dec!(0.8))]);
    // A window that ends before the settlement holds none of it.
    let r = rig_with(bars(&flat(6)), funding.clone(), zero.clone(), None);
    r.at(1);
    r.ex.place_market(&market(Buy, dec!(0.1), false, "mc_w_ENTRY_1")).unwrap();
    r.at(5);
    assert_eq!(r.ex.funding_history(SYM, T0, settle - 1).unwrap(), vec![]);
    assert_eq!(r.ex.funding_history(SYM, settle, settle).unwrap().len(), 1, "both ends inclusive");
}

#[test]
fn state_survives_reopening_the_exchange_on_the_same_db() {
    let r = rig(&[
        (40_000, 40_100, 39_900, 40_000),
        (40_000, 40_100, 39_900, 40_000),
        (40_000, 40_100, 38_000, 39_000),
        (39_000, 39_100, 38_900, 39_000),
    ]);
    r.at(1);
    let entry = r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_c_ENTRY_1")).unwrap();
    r.ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.01), "mc_c_STOP_1")).unwrap();
    r.at(2);
    r.ex.position(SYM).unwrap(); // advanced past candle 1 in memory only
    let again = r.reopen(None);
    assert_eq!(qty(&again), dec!(0.01));
    assert_eq!(again.query_order(SYM, "mc_c_ENTRY_1").unwrap().unwrap().order_id, entry.order_id);
    assert_eq!(again.open_conditional_orders(SYM).unwrap().len(), 1);
    r.at(3);
    assert!(qty(&again).is_zero(), "the reopened exchange still fires the stop");
    assert_eq!(again.query_conditional(SYM, "mc_c_STOP_1").unwrap().unwrap().status, ConditionalStatus::Finished);
    let third = r.reopen(None);
    assert_eq!(third.wallet_balance("USDT").unwrap(), dec!(9990));
    assert_eq!(third.order_fills(SYM, &entry.order_id, 0).unwrap().len(), 1);
    // A new instance on the same DB must not duplicate ids.
    let o = third.place_market(&market(Buy, dec!(0.01), false, "mc_c_ENTRY_2")).unwrap();
    assert_ne!(o.order_id, entry.order_id);
}

#[test]
fn time_derived_changes_are_re_derived_identically_after_a_crash() {
    let candles = bars(&[
        (40_000, 40_100, 39_900, 40_000),
        (40_000, 40_100, 39_900, 40_000),
        (41_000, 41_100, 40_900, 41_000), // T0 + 8h: funding
        (41_000, 41_100, 38_000, 39_000), // the stop fills
        (39_000, 39_100, 38_900, 39_000),
    ]);
    let funding = vec![FundingRate { time_ms: T0 + 2 * H4, rate: dec!(0.001) }];
    let r = rig_with(candles, funding, opts(dec!(0.05), dec!(0.02)), None);
    r.at(1);
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_t_ENTRY_1")).unwrap();
    r.ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.01), "mc_t_STOP_1")).unwrap();
    r.at(4);
    let live = (r.ex.account().unwrap(), r.ex.query_conditional(SYM, "mc_t_STOP_1").unwrap().unwrap());
    assert_eq!(live.1.status, ConditionalStatus::Finished);
    // Nothing was requested since the STOP, so the fill and the funding are not written yet...
    let conn = rusqlite::Connection::open(&r.db).unwrap();
    let stored: String = conn.query_row("SELECT status FROM paper_conditional", [], |x| x.get(0)).unwrap();
    assert_eq!(stored, "NEW");
    // ...and a process that dies here and re-opens the exchange sees exactly the same.
    let again = r.reopen(None);
    let reborn = (again.account().unwrap(), again.query_conditional(SYM, "mc_t_STOP_1").unwrap().unwrap());
    assert_eq!(live, reborn);
    assert_eq!(again.order_fills(SYM, live.1.actual_order_id.as_ref().unwrap(), 0).unwrap().len(), 1);
    // The next request writes them.
    again.cancel_order(SYM, "none").unwrap();
    again.place_market(&market(Buy, dec!(0.01), false, "mc_t_ENTRY_2")).unwrap();
    let stored: String = conn.query_row("SELECT status FROM paper_conditional", [], |x| x.get(0)).unwrap();
    assert_eq!(stored, "FINISHED");
}

#[test]
fn two_instances_on_one_db_see_each_others_orders() {
    let r = rig(&flat(4));
    r.at(1);
    let other = r.reopen(None); // e.g. `halt --flatten` while a `tick` runs
    r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_m_ENTRY_1")).unwrap();
    assert_eq!(qty(&other), dec!(0.01), "the other instance reloads after a foreign write");
    let close = other.place_market(&market(Sell, dec!(0.01), true, "mc_m_CLOSE_1")).unwrap();
    assert_eq!(close.order_id, "2", "no id collision");
    assert!(qty(&r.ex).is_zero());
    assert_eq!(r.ex.query_order(SYM, "mc_m_CLOSE_1").unwrap().unwrap().order_id, "2");
}

type Call = Box<dyn Fn(&PaperExchange) -> Result<String, ExchangeError>>;

/// Runs a fixed script of calls and records what each returned, with faults from `cfg`.
fn scripted(cfg: FaultConfig) -> (Vec<String>, mcbot::exchange::paper::FaultStats) {
    let faults = FaultInjector::new(cfg);
    let r = rig_with(bars(&flat(40)), vec![], opts(dec!(0.05), dec!(0.02)), Some(faults.clone()));
    let mut log = Vec::new();
    for i in 1..30 {
        r.at(i);
        let calls: Vec<Call> = vec![
            Box::new(|ex| ex.position(SYM).map(|p| p.qty.to_string())),
            Box::new(move |ex| ex.place_market(&market(Buy, dec!(0.01), false, &format!("e{i}"))).map(|o| o.order_id)),
            Box::new(move |ex| {
                ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.01), &format!("s{i}"))).map(|c| c.algo_id)
            }),
            Box::new(move |ex| {
                ex.place_conditional(&tp(Sell, dec!(41000), dec!(0.01), &format!("t{i}"))).map(|c| c.algo_id)
            }),
            Box::new(move |ex| ex.cancel_order(SYM, &format!("e{i}")).map(|c| format!("{c:?}").len().to_string())),
        ];
        for call in &calls {
            let out = call(&r.ex);
            // Each call is its own process here: a crash is logged and the next call restarts.
            log.push(match (faults.restart(), out) {
                (Some(crash), Err(e)) => format!("crash {crash:?}: {e}"),
                (Some(crash), Ok(v)) => panic!("a call that died answered {v} ({crash:?})"),
                (None, Ok(v)) => format!("ok {v}"),
                (None, Err(e)) => format!("err {:?} {}", e.code(), e.class),
            });
        }
    }
    (log, faults.snapshot())
}

#[test]
fn the_same_seed_gives_the_same_faults() {
    let (a, sa) = scripted(FaultConfig::random(42, 0.3));
    let (b, sb) = scripted(FaultConfig::random(42, 0.3));
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    assert!(sa.values().sum::<u64>() > 5, "{sa:?}");
    let (c, _) = scripted(FaultConfig::random(43, 0.3));
    assert_ne!(a, c);
}

/// Like `exec`: the snapshot reads on scoped threads, then an ENTRY, then STOP and TP together.
fn concurrent_run(seed: u64) -> std::collections::BTreeMap<&'static str, Vec<String>> {
    let faults = FaultInjector::new(FaultConfig::random(seed, 0.3));
    let r = rig_with(bars(&flat(40)), vec![], opts(dec!(0.05), dec!(0.02)), Some(faults.clone()));
    // Each crash is its own process: the call that died restarts it. A concurrent sibling that
    // meets the dead process was neither executed nor drawn for, so it runs again after the
    // restart and meets the verdict its lane holds for it (lanes, not threads, decide).
    let outcome = |lane: &str, f: &dyn Fn() -> Result<(), ExchangeError>| -> String {
        loop {
            match f() {
                Ok(()) => return "ok".to_string(),
                Err(e) if e.message.starts_with("simulated crash") => {
                    if e.message.contains(&format!("({lane})")) {
                        let crash = faults.restart().expect("the call that died left its crash");
                        return format!("crash executed={}", crash.executed);
                    }
                    while faults.is_dead() {
                        std::thread::yield_now();
                    }
                }
                Err(e) => return format!("err {:?}", e.code()),
            }
        }
    };
    let mut log: std::collections::BTreeMap<&'static str, Vec<String>> = Default::default();
    for i in 1..30 {
        r.at(i);
        let ex = &r.ex;
        let (a, b, c) = std::thread::scope(|s| {
            let a = s.spawn(|| outcome("position", &|| ex.position(SYM).map(drop)));
            let b = s.spawn(|| outcome("open_orders", &|| ex.open_orders(SYM).map(drop)));
            let c = outcome("open_conditional_orders", &|| ex.open_conditional_orders(SYM).map(drop));
            (a.join().unwrap(), b.join().unwrap(), c)
        });
        let e = outcome("place_market(entry)", &|| {
            ex.place_market(&market(Buy, dec!(0.01), false, &format!("e{i}"))).map(drop)
        });
        let (st, tk) = std::thread::scope(|s| {
            let st = s.spawn(|| {
                outcome("place_conditional(STOP_MARKET)", &|| {
                    ex.place_conditional(&stop(Sell, dec!(39000), dec!(0.01), &format!("s{i}"))).map(drop)
                })
            });
            let tk = outcome("place_conditional(TAKE_PROFIT_MARKET)", &|| {
                ex.place_conditional(&tp(Sell, dec!(41000), dec!(0.01), &format!("t{i}"))).map(drop)
            });
            (st.join().unwrap(), tk)
        });
        let close = outcome("place_market(reduce_only)", &|| {
            ex.place_market(&market(Sell, dec!(0.01), true, &format!("c{i}"))).map(drop)
        });
        for (lane, out) in
            [("pos", a), ("orders", b), ("conds", c), ("entry", e), ("stop", st), ("tp", tk), ("close", close)]
        {
            log.entry(lane).or_default().push(out);
        }
    }
    log
}

#[test]
fn concurrent_calls_meet_the_same_faults_whatever_the_thread_order() {
    let first = concurrent_run(9);
    for _ in 0..4 {
        assert_eq!(concurrent_run(9), first);
    }
    assert!(first.values().flatten().any(|o| o != "ok"), "faults were injected");
}

fn faulty(kind: FaultKind) -> (Venue, FaultInjector) {
    let f = FaultInjector::new(FaultConfig::always(kind, 1));
    (rig_with(bars(&flat(10)), vec![], opts(Decimal::ZERO, Decimal::ZERO), Some(f.clone())), f)
}

#[test]
fn fault_stop_and_tp_rejected_place_nothing() {
    for (kind, req) in [
        (FaultKind::StopRejected, stop(Sell, dec!(39000), dec!(0.01), "mc_x_STOP_1")),
        (FaultKind::TpRejected, tp(Sell, dec!(41000), dec!(0.01), "mc_x_TP_1")),
    ] {
        let (r, f) = faulty(kind);
        r.at(1);
        let e = r.ex.place_conditional(&req).unwrap_err();
        let want = if code(&e) == -2021 { ErrorClass::Fatal } else { ErrorClass::RetryableWithModification };
        assert!(matches!(code(&e), -2021 | -2022) && e.class == want && e.is_known_refusal(), "{e}");
        assert!(e.raw.is_some());
        f.paused(|| assert!(r.ex.open_conditional_orders(SYM).unwrap().is_empty()));
        assert_eq!(f.snapshot()[kind.as_str()], 1);
    }
}

#[test]
fn fault_entry_ack_lost_executes_and_is_found_by_client_id() {
    let (r, f) = faulty(FaultKind::EntryAckLost);
    r.at(1);
    let e = r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_x_ENTRY_1")).unwrap_err();
    assert!(e.is_ambiguous(), "{e}");
    let found = r.ex.query_order(SYM, "mc_x_ENTRY_1").unwrap().unwrap(); // reads are not hit by this kind
    assert_eq!(found.status, ExOrderStatus::Filled);
    // A CLOSE (reduce-only) is never hit by it.
    r.ex.place_market(&market(Sell, dec!(0.01), true, "mc_x_CLOSE_1")).unwrap();
    assert_eq!(f.snapshot()["entry_ack_lost"], 1);
}

#[test]
fn fault_partial_fill_leaves_the_rest_open_until_it_fills_or_is_cancelled() {
    let (mut completed, mut stuck) = (0, 0);
    for seed in 0..12 {
        let f = FaultInjector::new(FaultConfig::always(FaultKind::PartialFill, seed));
        let r = rig_with(bars(&flat(10)), vec![], opts(Decimal::ZERO, Decimal::ZERO), Some(f.clone()));
        r.at(1);
        let o = r.ex.place_market(&market(Buy, dec!(0.05), false, "mc_x_ENTRY_1")).unwrap();
        assert_eq!(o.status, ExOrderStatus::PartiallyFilled);
        assert!(o.executed_qty > Decimal::ZERO && o.executed_qty < dec!(0.05), "{}", o.executed_qty);
        assert_eq!(qty(&r.ex), o.executed_qty);
        assert_eq!(r.ex.open_orders(SYM).unwrap().len(), 1);
        let dup = r.ex.place_market(&market(Buy, dec!(0.05), false, "mc_x_ENTRY_1")).unwrap_err();
        assert_eq!(code(&dup), -4116, "still open");
        r.clock.advance_ms(20_001);
        let later = r.ex.query_order(SYM, "mc_x_ENTRY_1").unwrap().unwrap();
        if later.status == ExOrderStatus::Filled {
            completed += 1;
            assert_eq!((later.executed_qty, qty(&r.ex)), (dec!(0.05), dec!(0.05)));
        } else {
            stuck += 1;
            assert!(matches!(r.ex.cancel_order(SYM, "mc_x_ENTRY_1").unwrap(), CancelOutcome::Cancelled { .. }));
            let c = r.ex.query_order(SYM, "mc_x_ENTRY_1").unwrap().unwrap();
            assert_eq!((c.status, c.executed_qty), (ExOrderStatus::Canceled, o.executed_qty));
            assert!(r.ex.open_orders(SYM).unwrap().is_empty());
        }
        assert!(f.snapshot()["partial_fill"] >= 1);
    }
    assert!(completed > 0 && stuck > 0, "completed {completed}, stuck {stuck}");
}

#[test]
fn fault_outage_fails_with_503_and_executes_nothing() {
    let (r, f) = faulty(FaultKind::Outage);
    r.at(1);
    let e = r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_x_ENTRY_1")).unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.class),
        (mcbot::exchange::ExchangeErrorKind::Http { status: 503 }, ErrorClass::Retryable)
    );
    assert!(r.ex.position(SYM).is_err(), "every call is in an outage at rate 1");
    f.paused(|| {
        assert!(qty(&r.ex).is_zero());
        assert_eq!(r.ex.query_order(SYM, "mc_x_ENTRY_1").unwrap(), None);
    });
    assert!(f.snapshot()["outage"] >= 1);
}

#[test]
fn fault_crash_at_call_n_with_and_without_executing_it() {
    for executes in [true, false] {
        let f = FaultInjector::new(FaultConfig::crash_at(2, executes));
        let r = rig_with(bars(&flat(10)), vec![], opts(Decimal::ZERO, Decimal::ZERO), Some(f.clone()));
        r.at(1);
        r.ex.position(SYM).unwrap(); // call 1
        let e = r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_k_ENTRY_1")).unwrap_err();
        assert_eq!(e.class, ErrorClass::Fatal, "the answer is lost: {e}");
        let crash = f.crash().expect("the process died");
        assert_eq!((crash.call, crash.method, crash.executed), (2, "place_market(entry)", executes));
        assert_eq!(crash.at_ms, r.clock.now_ms());
        // Dead: later calls fail unexecuted and uncounted, also on another instance.
        let e = r.ex.place_market(&market(Buy, dec!(0.01), false, "mc_k_ENTRY_2")).unwrap_err();
        assert!(e.message.contains("the process is dead"), "{e}");
        assert!(r.reopen(Some(f.clone())).position(SYM).is_err());
        assert_eq!(f.calls(), 2);
        // "Restart": a new exchange on the same DB, with the same injector.
        assert_eq!(f.restart(), Some(crash));
        let ex = r.reopen(Some(f.clone()));
        let found = ex.query_order(SYM, "mc_k_ENTRY_1").unwrap();
        assert_eq!(found.is_some(), executes);
        assert_eq!(qty(&ex), if executes { dec!(0.01) } else { Decimal::ZERO });
        assert_eq!(f.snapshot()["crash"], 1);
    }
    // Random crashes at rate 1: every call dies.
    let (r, f) = faulty(FaultKind::Crash);
    assert!(r.ex.position(SYM).is_err());
    assert_eq!(f.restart().map(|c| c.call), Some(1));
    assert!(r.ex.position(SYM).is_err(), "the instance stays usable");
    assert_eq!(f.restart().map(|c| c.call), Some(2));
    assert_eq!(f.snapshot()["crash"], 2);
}

#[test]
fn the_real_candles_file_loads_and_a_long_run_stays_fast() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (candles, funding) = FileMarketData::default_paths(&root);
    let m = Arc::new(FileMarketData::load(&candles, &funding).unwrap());
    assert_eq!(m.candles().len(), 13_968);
    assert_eq!(m.interval_ms(), H4);
    let first = m.candles()[0].open_time_ms;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(first);
    let ex = PaperExchange::open_with(
        &dir.path().join("s.db"),
        opts(dec!(0.05), dec!(0.02)),
        Arc::new(clock.clone()),
        m.clone(),
        None,
    )
    .unwrap();
    // Hold a long with a far stop for a month of candles: every candle is checked, funding paid.
    clock.set_ms(first + H4);
    let mark = ex.mark_info(SYM).unwrap().mark_price;
    ex.place_market(&market(Buy, dec!(0.02), false, "mc_real_ENTRY_1")).unwrap();
    ex.place_conditional(&stop(Sell, (mark / dec!(10)).round_dp(1), dec!(0.02), "mc_real_STOP_1")).unwrap();
    for i in 2..200 {
        clock.set_ms(first + i * H4);
        ex.position(SYM).unwrap();
        ex.open_conditional_orders(SYM).unwrap();
    }
    assert_eq!(qty(&ex), dec!(0.02));
    assert_ne!(ex.account().unwrap().funding_paid, Decimal::ZERO);
}

/// Per-call cost in a sim-like pattern over the whole real file (release mode):
/// `cargo test --release --test integration paper::perf -- --ignored --nocapture`
/// (set `PAPER_PERF_WATCH=1` to measure with `watch_other_writers` on).
#[test]
#[ignore = "a measurement, run in release mode"]
fn perf_whole_file_sim_like() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (candles, funding) = FileMarketData::default_paths(&root);
    let m = Arc::new(FileMarketData::load(&candles, &funding).unwrap());
    let n = m.candles().len() as i64;
    let first = m.candles()[0].open_time_ms;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(first);
    let watch = std::env::var("PAPER_PERF_WATCH").is_ok();
    let ex = PaperExchange::open_with(
        &dir.path().join("s.db"),
        PaperOptions { watch_other_writers: watch, ..opts(dec!(0.05), dec!(0.02)) },
        Arc::new(clock.clone()),
        m.clone(),
        Some(FaultInjector::new(FaultConfig::random(1, 0.0))),
    )
    .unwrap();
    let (mut calls, mut klines_calls, mut trades) = (0u64, 0u64, 0u64);
    let start = std::time::Instant::now();
    let mut klines_time = std::time::Duration::ZERO;
    for i in 250..n {
        clock.set_ms(first + i * H4);
        // reconcile: position, open orders, open algo orders; evaluate: klines + mark
        let pos = ex.position(SYM).unwrap();
        ex.open_orders(SYM).unwrap();
        let open = ex.open_conditional_orders(SYM).unwrap();
        let k0 = std::time::Instant::now();
        ex.klines(SYM, "4h", 1000).unwrap();
        klines_time += k0.elapsed();
        klines_calls += 1;
        let mark = ex.mark_info(SYM).unwrap().mark_price;
        calls += 5;
        if pos.qty.is_zero() {
            for c in &open {
                ex.cancel_conditional(SYM, &c.client_id).unwrap(); // the orphaned sibling
                calls += 1;
            }
            if i % 20 == 0 {
                let q = (dec!(1000) / mark).round_dp(3);
                let id = format!("mc_{i}_ENTRY_1");
                ex.account_settings(SYM).unwrap();
                ex.wallet_balance("USDT").unwrap();
                ex.place_market(&market(Buy, q, false, &id)).unwrap();
                ex.query_order(SYM, &id).unwrap();
                let s = (mark * dec!(0.97)).round_dp(1);
                let t = (mark * dec!(1.06)).round_dp(1);
                ex.place_conditional(&stop(Sell, s, q, &format!("mc_{i}_STOP_1"))).unwrap();
                ex.place_conditional(&tp(Sell, t, q, &format!("mc_{i}_TP_1"))).unwrap();
                calls += 6;
                trades += 1;
            }
        }
    }
    let total = start.elapsed();
    let per_call = (total - klines_time) / u32::try_from(calls - klines_calls).unwrap();
    let acct = ex.account().unwrap();
    println!(
        "watch_other_writers={watch}: {} candles, {calls} calls, {trades} trades in {total:?}: {per_call:?}/call \
         without klines; klines(1000) {:?}/call; balance {} fees {} funding {}",
        n - 250,
        klines_time / u32::try_from(klines_calls).unwrap(),
        acct.balance,
        acct.fees_paid,
        acct.funding_paid
    );
}
