//! Indicator tests. Expected numbers are either hand-checked (stated per case) or were computed
//! with a plain-Python reference (straightforward batch formulas, `float(text)` parsing, TA-Lib
//! operation order) on the data shown; the numbers are committed, not the script.

use super::*;
use rust_decimal_macros::dec;
use std::str::FromStr;

/// The first 40 real BTCUSDT 4h candles of `data/BTCUSDT-4h.csv` (2020-01-01 00:00 UTC on):
/// open_time_ms, open, high, low, close.
const FIRST_40: &str = "
1577836800000,7189.43,7239.74,7170.15,7221.65
1577851200000,7221.8,7230.0,7193.52,7205.26
1577865600000,7205.26,7234.57,7174.0,7192.65
1577880000000,7192.74,7260.43,7191.79,7229.49
1577894400000,7229.66,7248.0,7210.81,7226.35
1577908800000,7226.56,7242.0,7174.0,7197.57
1577923200000,7197.57,7209.59,7121.0,7127.29
1577937600000,7126.94,7159.3,7101.0,7107.56
1577952000000,7107.53,7175.0,7106.75,7136.24
1577966400000,7136.36,7160.0,7103.0,7126.25
1577980800000,7126.25,7143.29,6922.0,6979.44
1577995200000,6979.45,6982.83,6938.36,6962.04
1578009600000,6962.34,6962.8,6863.44,6947.35
1578024000000,6947.44,7300.0,6945.84,7198.02
1578038400000,7198.02,7368.33,7198.0,7338.11
1578052800000,7338.4,7379.0,7229.0,7316.01
1578067200000,7315.36,7407.28,7276.35,7338.9
1578081600000,7338.91,7359.0,7255.84,7341.72
1578096000000,7341.6,7347.02,7279.0,7329.29
1578110400000,7329.4,7368.47,7310.0,7344.13
1578124800000,7344.11,7366.0,7295.2,7333.07
1578139200000,7333.07,7333.54,7286.16,7315.45
1578153600000,7315.94,7400.0,7269.21,7331.35
1578168000000,7331.87,7362.87,7307.0,7350.71
1578182400000,7350.54,7488.0,7350.54,7475.15
1578196800000,7475.19,7495.0,7440.0,7462.98
1578211200000,7463.42,7470.0,7385.76,7422.48
1578225600000,7422.48,7474.21,7414.13,7463.59
1578240000000,7463.76,7478.0,7420.0,7441.83
1578254400000,7441.9,7441.9,7303.0,7354.36
1578268800000,7354.36,7580.08,7345.0,7538.65
1578283200000,7538.66,7550.45,7491.59,7505.35
1578297600000,7505.36,7576.0,7505.35,7540.0
1578312000000,7539.99,7611.81,7481.74,7515.92
1578326400000,7516.03,7558.75,7507.0,7537.89
1578340800000,7536.72,7808.65,7533.0,7757.39
1578355200000,7757.74,8014.91,7757.0,7898.59
1578369600000,7899.0,7908.95,7826.18,7886.66
1578384000000,7886.95,7969.0,7860.0,7899.86
1578398400000,7898.9,7918.19,7746.0,7769.11
";

const H4: i64 = 14_400_000;

fn candles(text: &str) -> Vec<Candle> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let t: i64 = f[0].parse().unwrap();
            let d = |s: &str| Decimal::from_str(s).unwrap();
            Candle {
                open_time_ms: t,
                open: d(f[1]),
                high: d(f[2]),
                low: d(f[3]),
                close: d(f[4]),
                volume: dec!(1),
                close_time_ms: t + H4 - 1,
            }
        })
        .collect()
}

fn small_params() -> IndicatorParams {
    IndicatorParams {
        interval_ms: H4,
        ema_fast: 5,
        ema_slow: 10,
        ema_slope_lookback: 2,
        atr_period: 5,
        atr_sma_period: 4,
        breakout_lookback: 3,
    }
}

#[test]
fn dec_to_f64_matches_parsing_the_text() {
    for s in ["7189.43", "0.1", "0.00012359", "-0.003", "69940.0", "123456789.123456789", "1e-7", "0"] {
        let d = Decimal::from_scientific(s).or_else(|_| Decimal::from_str(s)).unwrap();
        assert_eq!(dec_to_f64(d), s.parse::<f64>().unwrap(), "{s}");
    }
    // Beyond 2^53 the slow path is used and is still close.
    let big = Decimal::from_str("79228162514264.337593543950335").unwrap();
    assert!((dec_to_f64(big) - 79_228_162_514_264.34).abs() < 0.1);
}

#[test]
fn ema_is_seeded_with_the_sma_then_smooths() {
    // Hand-checked: seed = (1+2+3)/3 = 2; k = 2/(3+1) = 0.5; next = (4-2)*0.5+2 = 3, ...
    let xs: Vec<f64> = (1..=10).map(f64::from).collect();
    let want = [None, None, Some(2.0), Some(3.0), Some(4.0), Some(5.0), Some(6.0), Some(7.0), Some(8.0), Some(9.0)];
    assert_eq!(ema(&xs, 3), want);
    assert_eq!(ema(&xs[..2], 3), vec![None, None]);
    // Period 1 is the identity.
    assert_eq!(ema(&xs[..3], 1), vec![Some(1.0), Some(2.0), Some(3.0)]);
}

#[test]
fn sma_windows() {
    // Hand-checked: (1+2+4)/3, (2+4+8)/3, (4+8+16)/3.
    assert_eq!(
        sma(&[1.0, 2.0, 4.0, 8.0, 16.0], 3),
        vec![None, None, Some(7.0 / 3.0), Some(14.0 / 3.0), Some(28.0 / 3.0)]
    );
    let mut s = Sma::new(3);
    let streamed: Vec<_> = [1.0, 2.0, 4.0, 8.0, 16.0].iter().map(|&x| s.push(x)).collect();
    assert_eq!(streamed, sma(&[1.0, 2.0, 4.0, 8.0, 16.0], 3));
}

#[test]
fn wilder_atr_first_tr_is_high_minus_low() {
    // Hand-checked: TR = 2 (10-8, no previous close), 3 (12-9), 2 (|9-11|), 3, 3.
    // Seed (2+3+2)/3; then (prev*2 + tr)/3.
    let (h, l, c) = ([10.0, 12.0, 11.0, 13.0, 15.0], [8.0, 9.0, 9.0, 10.0, 12.0], [9.0, 11.0, 10.0, 12.0, 14.0]);
    assert_eq!(true_range(10.0, 8.0, None), 2.0);
    assert_eq!(true_range(11.0, 9.0, Some(11.0)), 2.0);
    assert_eq!(true_range(11.0, 10.5, Some(8.0)), 3.0); // gap up: |high - prev close|
    assert_eq!(true_range(9.0, 8.5, Some(12.0)), 3.5); // gap down: |low - prev close|
    let seed = 7.0 / 3.0;
    let a4 = (seed * 2.0 + 3.0) / 3.0;
    let a5 = (a4 * 2.0 + 3.0) / 3.0;
    assert_eq!(wilder_atr(&h, &l, &c, 3), vec![None, None, Some(seed), Some(a4), Some(a5)]);
    // The Python reference gives the same floats: 2.3333333333333335, 2.555555555555556, 2.7037037037037037.
    assert_eq!(a5, 2.703_703_703_703_703_7);
}

#[test]
fn prior_extremes_exclude_the_current_candle() {
    let highs = [dec!(5), dec!(7), dec!(6), dec!(9), dec!(4)];
    assert_eq!(highest_prior(&highs, 2), vec![None, None, Some(dec!(7)), Some(dec!(7)), Some(dec!(9))]);
    assert_eq!(lowest_prior(&highs, 2), vec![None, None, Some(dec!(5)), Some(dec!(6)), Some(dec!(6))]);
    let mut p = PriorExtremes::new(2);
    let got: Vec<_> = highs.iter().map(|&h| p.push(h, h)).collect();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), highest_prior(&highs, 2));
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), lowest_prior(&highs, 2));
}

/// (index, EMA fast, EMA slow, ATR, SMA(ATR), highest high, lowest low)
type Expected = (usize, f64, Option<f64>, f64, Option<f64>, Decimal, Decimal);

#[test]
fn monotonic_extremes_equal_a_plain_scan_with_ties() {
    // A deterministic series with many repeated values, against the plain window scan.
    let vals: Vec<Decimal> = (0u64..300).map(|i| Decimal::from((i * 7919 + i * i * 31) % 23)).collect();
    for period in 1..=25 {
        let mut p = PriorExtremes::new(period);
        let got: Vec<_> = vals.iter().map(|&v| p.push(v, v)).collect();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), highest_prior(&vals, period), "max, period {period}");
        assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), lowest_prior(&vals, period), "min, period {period}");
    }
}

#[test]
fn real_candles_match_the_python_reference() {
    // EMA(5), EMA(10), ATR(5), SMA(ATR, 4), highest high / lowest low of the previous 3 candles,
    // at candle index i, as printed by the Python reference (repr of each float).
    #[rustfmt::skip]
    let want: [Expected; 5] = [
        (4, 7215.079999999999, None, 54.49399999999987, None, dec!(7260.43), dec!(7174.0)),
        (9, 7142.197572016461, Some(7177.031), 62.28116992, Some(62.949030079999986), dec!(7209.59), dec!(7101.0)),
        (12, 7013.101132449322, Some(7079.239293012773), 87.20027899904014, Some(81.93118340096004), dec!(7160.0), dec!(6922.0)),
        (20, 7320.48518821933, Some(7277.729227340657), 101.75605331067166, Some(117.3279049673352), dec!(7368.47), dec!(7255.84)),
        (39, 7793.863680655595, Some(7707.761195909711), 142.64639691088627, Some(144.08050960983223), dec!(8014.91), dec!(7757.0)),
    ];
    let series = indicator_series(&candles(FIRST_40), small_params()).unwrap();
    assert_eq!(series.len(), 40);
    for (i, e5, e10, atr, atr_sma, hh, ll) in want {
        let s = &series[i];
        assert_eq!(s.count, i + 1);
        assert_eq!(s.ema_fast, Some(e5), "ema5 @{i}");
        assert_eq!(s.ema_slow, e10, "ema10 @{i}");
        assert_eq!(s.atr, Some(atr), "atr5 @{i}");
        assert_eq!(s.atr_sma, atr_sma, "sma(atr) @{i}");
        assert_eq!(s.highest_high, Some(hh), "hh @{i}");
        assert_eq!(s.lowest_low, Some(ll), "ll @{i}");
    }
    // Slope reference: EMA(fast) 2 candles earlier.
    assert_eq!(series[12].ema_fast_prev, series[10].ema_fast);
    assert_eq!(series[5].ema_fast_prev, None, "needs lookback+1 EMA values");
    assert_eq!(series[6].ema_fast_prev, series[4].ema_fast);
}

#[test]
fn streaming_state_equals_the_batch_functions_bit_for_bit() {
    let cs = candles(FIRST_40);
    let p = small_params();
    let closes: Vec<f64> = cs.iter().map(|c| dec_to_f64(c.close)).collect();
    let highs: Vec<f64> = cs.iter().map(|c| dec_to_f64(c.high)).collect();
    let lows: Vec<f64> = cs.iter().map(|c| dec_to_f64(c.low)).collect();
    let e_fast = ema(&closes, p.ema_fast);
    let e_slow = ema(&closes, p.ema_slow);
    let atr = wilder_atr(&highs, &lows, &closes, p.atr_period);
    let first_atr = atr.iter().position(Option::is_some).unwrap();
    let atr_vals: Vec<f64> = atr.iter().flatten().copied().collect();
    let atr_sma = sma(&atr_vals, p.atr_sma_period);
    let hh = highest_prior(&cs.iter().map(|c| c.high).collect::<Vec<_>>(), p.breakout_lookback);
    let ll = lowest_prior(&cs.iter().map(|c| c.low).collect::<Vec<_>>(), p.breakout_lookback);
    let mut st = IndicatorState::new(p);
    for (i, c) in cs.iter().enumerate() {
        let s = *st.push(c).unwrap();
        assert_eq!(s.ema_fast, e_fast[i], "{i}");
        assert_eq!(s.ema_slow, e_slow[i], "{i}");
        assert_eq!(s.atr, atr[i], "{i}");
        assert_eq!(s.atr_sma, i.checked_sub(first_atr).and_then(|j| atr_sma[j]), "{i}");
        assert_eq!(s.highest_high, hh[i], "{i}");
        assert_eq!(s.lowest_low, ll[i], "{i}");
        assert_eq!(
            s.ema_fast_prev,
            i.checked_sub(p.ema_slope_lookback).and_then(|j| e_fast[j]).filter(|_| e_fast[i].is_some())
        );
    }
}

#[test]
fn state_refuses_gaps_and_bad_candles_and_stays_unchanged() {
    let cs = candles(FIRST_40);
    let mut st = IndicatorState::new(small_params());
    st.push(&cs[0]).unwrap();
    let before = *st.latest().unwrap();
    // A gap (skipping candle 1).
    assert!(matches!(st.push(&cs[2]), Err(CandleError::Gap { .. })));
    // A repeated candle is disorder, also a gap.
    assert!(matches!(st.push(&cs[0]), Err(CandleError::Gap { .. })));
    let mut bad = cs[1].clone();
    bad.high = bad.low - dec!(1);
    assert!(matches!(st.push(&bad), Err(CandleError::HighBelowLow { .. })));
    let mut bad = cs[1].clone();
    bad.low = dec!(0);
    assert!(matches!(st.push(&bad), Err(CandleError::NonPositive { .. })));
    assert_eq!(st.latest(), Some(&before));
    assert_eq!(st.push(&cs[1]).unwrap().count, 2);
    assert!(indicator_series(&[cs[0].clone(), cs[2].clone()], small_params()).is_err());
}
