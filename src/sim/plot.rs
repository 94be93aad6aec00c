//! The sim's equity picture as a standalone SVG (`sim --plot FILE.svg`, issue 14 item 11): a dated
//! x axis, a USDT y axis with gridlines, the starting balance, buy-and-hold for comparison, trade
//! markers coloured by exit reason, and a drawdown panel below. Hand-written SVG (a few hundred
//! bytes of markup per element) rather than a plotting crate: one chart, no fonts or rasteriser.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::fmt::Write;

/// One closed trade for the markers.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeMark {
    pub closed_ms: i64,
    /// The exit reason as recorded (`stop_hit`, `tp_hit`, `regime:…`, `forced_close:…`).
    pub reason: String,
}

/// Everything the picture shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlotData {
    pub title: String,
    /// (time ms, equity USDT) at each candle close, oldest first.
    pub equity: Vec<(i64, Decimal)>,
    /// (time ms, value USDT) of holding BTC bought with the starting balance at the first close.
    pub buy_and_hold: Vec<(i64, Decimal)>,
    pub start_balance: Decimal,
    pub trades: Vec<TradeMark>,
}

/// The marker colour and legend group of an exit reason.
pub(crate) fn reason_group(reason: &str) -> (&'static str, &'static str) {
    match reason {
        "tp_hit" => ("tp_hit", "#1a7f37"),
        "stop_hit" => ("stop_hit", "#cf222e"),
        r if r.starts_with("regime:") => ("regime", "#bf8700"),
        r if r.starts_with("forced_close:") => ("forced_close", "#8250df"),
        _ => ("other", "#57606a"),
    }
}

const W: f64 = 960.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
/// The equity panel's top and bottom, then the drawdown panel's.
const EQ: (f64, f64) = (50.0, 330.0);
const DD: (f64, f64) = (370.0, 470.0);
const H: f64 = 520.0;

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// A "nice" step (1, 2, 5 × 10^k) giving about `n` intervals over `span`.
fn nice_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let m = raw / mag;
    mag * if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// `12,500` (thousands separated, no decimals).
fn usdt(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Month starts (UTC) between `t0` and `t1`, every `step` months, as (ms, "YYYY-MM").
fn month_ticks(t0: i64, t1: i64) -> Vec<(i64, String)> {
    use chrono::{Datelike, TimeZone, Utc};
    let (Some(a), Some(b)) = (Utc.timestamp_millis_opt(t0).single(), Utc.timestamp_millis_opt(t1).single()) else {
        return Vec::new();
    };
    let months = (b.year() - a.year()) * 12 + (b.month() as i32 - a.month() as i32) + 1;
    let step = [1, 2, 3, 6, 12, 24, 60].into_iter().find(|s| months / s <= 8).unwrap_or(120);
    let (mut y, mut m) = (a.year(), a.month() as i32);
    let mut out = Vec::new();
    for _ in 0..2000 {
        m += 1;
        if m > 12 {
            m = 1;
            y += 1;
        }
        let Some(t) = Utc.with_ymd_and_hms(y, m as u32, 1, 0, 0, 0).single() else { break };
        let ms = t.timestamp_millis();
        if ms > t1 {
            break;
        }
        if (y * 12 + m - 1) % step == 0 {
            out.push((ms, if step >= 12 { format!("{y}") } else { format!("{y}-{m:02}") }));
        }
    }
    out
}

/// Renders the picture. Empty data gives a valid SVG saying so.
pub(crate) fn equity_svg(d: &PlotData) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text class=\"title\" x=\"{LEFT}\" y=\"22\" font-size=\"14\">{}</text>\n",
        esc(&d.title)
    );
    let (Some(first), Some(last)) = (d.equity.first(), d.equity.last()) else {
        s.push_str("<text x=\"90\" y=\"80\">no equity samples</text>\n</svg>\n");
        return s;
    };
    let (t0, t1) = (first.0, last.0.max(first.0 + 1));
    let x = |t: i64| LEFT + (W - LEFT - RIGHT) * (t - t0) as f64 / (t1 - t0) as f64;

    // Equity panel: the y range covers equity, buy-and-hold and the start balance.
    let values = d.equity.iter().chain(&d.buy_and_hold).map(|p| f(p.1)).chain([f(d.start_balance)]);
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let step = nice_step((hi - lo).max(1.0), 5.0);
    let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
    let y = |v: f64| EQ.1 - (EQ.1 - EQ.0) * (v - lo) / (hi - lo).max(f64::MIN_POSITIVE);
    let mut v = lo;
    while v <= hi + step / 2.0 {
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{x2}\" y2=\"{yy:.1}\" stroke=\"#d0d7de\"/>\
             <text class=\"ylabel\" x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{} USDT</text>",
            usdt(v),
            yy = y(v),
            x2 = W - RIGHT,
            lx = LEFT - 6.0,
            ty = y(v) + 4.0
        );
        v += step;
    }
    // Dated x axis, shared by both panels.
    for (ms, label) in month_ticks(t0, t1) {
        let _ = writeln!(
            s,
            "<line class=\"xgrid\" x1=\"{xx:.1}\" y1=\"{}\" x2=\"{xx:.1}\" y2=\"{}\" stroke=\"#eaeef2\"/>\
             <text class=\"xlabel\" x=\"{xx:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            EQ.0,
            DD.1,
            DD.1 + 16.0,
            xx = x(ms)
        );
    }
    let line = |pts: &[(i64, Decimal)], y: &dyn Fn(f64) -> f64| {
        let mut p = String::new();
        for (i, (t, v)) in pts.iter().enumerate() {
            let _ = write!(p, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x(*t), y(f(*v)));
        }
        p
    };
    let sb = y(f(d.start_balance));
    let _ = writeln!(
        s,
        "<line class=\"start-balance\" x1=\"{LEFT}\" y1=\"{sb:.1}\" x2=\"{}\" y2=\"{sb:.1}\" stroke=\"#24292f\" \
         stroke-dasharray=\"4 3\"/>",
        W - RIGHT
    );
    if !d.buy_and_hold.is_empty() {
        let _ = writeln!(
            s,
            "<path class=\"buy-and-hold\" d=\"{}\" fill=\"none\" stroke=\"#8c959f\" stroke-width=\"1\"/>",
            line(&d.buy_and_hold, &y)
        );
    }
    let _ = writeln!(
        s,
        "<path class=\"equity\" d=\"{}\" fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.4\"/>",
        line(&d.equity, &y)
    );

    // Trade markers on the equity curve at each close.
    for t in &d.trades {
        let i = d.equity.partition_point(|p| p.0 < t.closed_ms).min(d.equity.len() - 1);
        let (group, colour) = reason_group(&t.reason);
        let _ = writeln!(
            s,
            "<circle class=\"trade {group}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{}</title></circle>",
            x(t.closed_ms.clamp(t0, t1)),
            y(f(d.equity[i].1)),
            esc(&t.reason)
        );
    }

    // Drawdown panel: percent below the running peak, 0 at the top.
    let mut peak = f64::MIN;
    let dd: Vec<(i64, f64)> = d
        .equity
        .iter()
        .map(|(t, v)| {
            let v = f(*v);
            peak = peak.max(v);
            (*t, if peak > 0.0 { (v - peak) / peak * 100.0 } else { 0.0 })
        })
        .collect();
    let worst = dd.iter().map(|p| p.1).fold(0.0_f64, f64::min);
    let dstep = nice_step((-worst).max(1.0), 3.0);
    let floor = ((worst / dstep).floor() * dstep).min(-dstep);
    let ydd = |p: f64| DD.0 + (DD.1 - DD.0) * p / floor;
    let mut g = 0.0;
    while g >= floor - dstep / 2.0 {
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#d0d7de\"/>\
             <text class=\"ddlabel\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{g:.0} %</text>",
            W - RIGHT,
            LEFT - 6.0,
            ydd(g) + 4.0,
            yy = ydd(g)
        );
        g -= dstep;
    }
    let mut area = format!("M{:.1},{:.1}", x(t0), ydd(0.0));
    for (t, p) in &dd {
        let _ = write!(area, " L{:.1},{:.1}", x(*t), ydd(*p));
    }
    let _ = write!(area, " L{:.1},{:.1} Z", x(t1), ydd(0.0));
    let _ =
        writeln!(s, "<path class=\"drawdown\" d=\"{area}\" fill=\"#ffebe9\" stroke=\"#cf222e\" stroke-width=\"0.8\"/>");
    let _ = writeln!(s, "<text x=\"{LEFT}\" y=\"{}\">drawdown from peak (max {worst:.1} %)</text>", DD.0 - 6.0);

    // Legend.
    let mut lx = LEFT;
    let items: [(&str, &str); 8] = [
        ("equity", "#0969da"),
        ("buy and hold", "#8c959f"),
        ("start balance", "#24292f"),
        ("tp_hit", "#1a7f37"),
        ("stop_hit", "#cf222e"),
        ("regime", "#bf8700"),
        ("forced_close", "#8250df"),
        ("other", "#57606a"),
    ];
    for (label, colour) in items {
        let _ = writeln!(
            s,
            "<rect class=\"legend\" x=\"{lx:.0}\" y=\"32\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{:.0}\" y=\"41\">{label}</text>",
            lx + 14.0
        );
        lx += 14.0 + 7.0 * label.len() as f64 + 16.0;
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_577_836_800_000; // 2020-01-01

    fn data() -> PlotData {
        let equity: Vec<(i64, Decimal)> = (0..400)
            .map(|i| (T0 + i * DAY, dec!(10000) + Decimal::from((i % 50) * 20) - Decimal::from(i / 3)))
            .collect();
        let buy_and_hold = (0..400).map(|i| (T0 + i * DAY, dec!(10000) + Decimal::from(i * 10))).collect();
        PlotData {
            title: "sim <test> & co".into(),
            equity,
            buy_and_hold,
            start_balance: dec!(10000),
            trades: vec![
                TradeMark { closed_ms: T0 + 10 * DAY, reason: "tp_hit".into() },
                TradeMark { closed_ms: T0 + 20 * DAY, reason: "stop_hit".into() },
                TradeMark { closed_ms: T0 + 30 * DAY, reason: "regime:momentum_failure".into() },
                TradeMark { closed_ms: T0 + 40 * DAY, reason: "forced_close:stop_rejected".into() },
            ],
        }
    }

    #[test]
    fn the_picture_has_dated_axis_usdt_grid_baseline_benchmark_markers_and_drawdown() {
        let svg = equity_svg(&data());
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("sim &lt;test&gt; &amp; co"), "title escaped");
        assert!(svg.contains("class=\"xlabel\"") && svg.contains(">2020-"), "dated x axis");
        assert!(svg.matches("class=\"ylabel\"").count() >= 3 && svg.contains(" USDT</text>"));
        assert!(svg.contains("10,000 USDT"), "thousands separated");
        for class in ["start-balance", "buy-and-hold", "equity", "drawdown"] {
            assert!(svg.contains(&format!("class=\"{class}\"")), "{class}");
        }
        for group in ["tp_hit", "stop_hit", "regime", "forced_close"] {
            assert_eq!(svg.matches(&format!("class=\"trade {group}\"")).count(), 1, "{group}");
        }
        assert!(svg.contains("0 %</text>") && svg.contains("max -"));
    }

    #[test]
    fn empty_and_flat_data_still_give_a_valid_svg() {
        let svg = equity_svg(&PlotData { title: "x".into(), ..PlotData::default() });
        assert!(svg.contains("no equity samples") && svg.trim_end().ends_with("</svg>"));
        let flat = PlotData {
            equity: vec![(T0, dec!(10000)), (T0 + DAY, dec!(10000))],
            start_balance: dec!(10000),
            ..PlotData::default()
        };
        let svg = equity_svg(&flat);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn helpers() {
        assert_eq!(usdt(12_345.6), "12,346");
        assert_eq!(usdt(-1_000.0), "-1,000");
        assert_eq!(usdt(999.0), "999");
        assert_eq!(nice_step(9_000.0, 5.0), 2_000.0);
        let ticks = month_ticks(T0, T0 + 400 * DAY);
        assert!(!ticks.is_empty() && ticks.len() <= 9, "{ticks:?}");
    }
}
