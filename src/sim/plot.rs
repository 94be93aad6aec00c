//! The equity curve as a small standalone SVG (`sim --plot FILE.svg`).

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::fmt::Write;

/// Renders (time ms, equity) points as an SVG line chart with min/max labels.
pub fn equity_svg(points: &[(i64, Decimal)], title: &str) -> String {
    let (w, h, pad) = (900.0_f64, 360.0_f64, 40.0_f64);
    let ys: Vec<f64> = points.iter().map(|p| p.1.to_f64().unwrap_or(0.0)).collect();
    let (min, max) = ys.iter().fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(*y), b.max(*y)));
    let span = if max > min { max - min } else { 1.0 };
    let n = ys.len().max(2) as f64 - 1.0;
    let mut path = String::new();
    for (i, y) in ys.iter().enumerate() {
        let x = pad + (w - 2.0 * pad) * (i as f64) / n;
        let yy = h - pad - (h - 2.0 * pad) * (y - min) / span;
        let _ = write!(path, "{}{x:.1},{yy:.1}", if i == 0 { "M" } else { " L" });
    }
    let esc = title.replace('&', "&amp;").replace('<', "&lt;");
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{pad}\" y=\"24\" font-family=\"sans-serif\" font-size=\"14\">{esc}</text>\n\
         <text x=\"4\" y=\"{top:.0}\" font-family=\"sans-serif\" font-size=\"11\">{max:.0}</text>\n\
         <text x=\"4\" y=\"{bottom:.0}\" font-family=\"sans-serif\" font-size=\"11\">{min:.0}</text>\n\
         <path d=\"{path}\" fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"1.2\"/>\n</svg>\n",
        top = pad,
        bottom = h - pad,
    )
}
