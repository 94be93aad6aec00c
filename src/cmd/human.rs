//! Human text for people (issue 14 item 9): aligned `label  value` rows, times as UTC ISO to the
//! second, durations in h/m/s, candles left. `--json` never goes through here; its shape is pinned
//! by tests and docs/output.md.

use crate::outcome::Report;

/// Rows of `label  value`, labels padded to the widest, pushed onto a report as its text lines.
/// Commands add rows in the order a person reads them (`status` is one).
#[derive(Debug, Default)]
pub(crate) struct Rows {
    rows: Vec<(String, String)>,
}

impl Rows {
    pub(crate) fn new() -> Self {
        Rows::default()
    }

    /// One row; `value` may be several lines (continuations are indented under the value).
    pub(crate) fn row(&mut self, label: &str, value: impl Into<String>) -> &mut Self {
        self.rows.push((label.to_string(), value.into()));
        self
    }

    /// The rendered lines (`label:` padded so the values start in one column).
    pub(crate) fn lines(&self) -> Vec<String> {
        let width = self.rows.iter().map(|(l, _)| l.chars().count() + 1).max().unwrap_or(0);
        let mut out = Vec::with_capacity(self.rows.len());
        for (label, value) in &self.rows {
            let mut parts = value.split('\n');
            let first = parts.next().unwrap_or("");
            out.push(format!("{:<width$}  {first}", format!("{label}:")).trim_end().to_string());
            for more in parts {
                out.push(format!("{:<width$}  {more}", ""));
            }
        }
        out
    }

    /// Appends the rendered lines to `report`'s text.
    pub(crate) fn push_to(&self, report: &mut Report) {
        for l in self.lines() {
            report.push_line(l);
        }
    }
}

/// `2026-12-01T23:45:05Z`: UTC ISO 8601 to the second (the JSON keeps milliseconds).
pub(crate) fn time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => format!("invalid time ({ms} ms)"),
    }
}

/// A duration a person reads: `3d 4h`, `2h 15m`, `4m 10s`, `850 ms`.
pub(crate) fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    let s = ms / 1_000;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Candles (rounded up) and time left until `until_ms`: `2 candles (7h 55m) left, until <time>`.
pub(crate) fn candles_left(now_ms: i64, until_ms: i64, interval_ms: i64) -> String {
    let left = (until_ms - now_ms).max(0);
    let candles = if interval_ms > 0 { (left + interval_ms - 1) / interval_ms } else { 0 };
    let unit = if candles == 1 { "candle" } else { "candles" };
    format!("{candles} {unit} ({}) left, until {}", duration(left), time(until_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_align_values_in_one_column() {
        let mut r = Rows::new();
        r.row("mode", "RUNNING").row("last reconcile", "never").row("stop", "a\nb");
        assert_eq!(
            r.lines(),
            vec!["mode:            RUNNING", "last reconcile:  never", "stop:            a", "                 b"]
        );
    }

    #[test]
    fn times_durations_and_candles_read_as_a_person_says_them() {
        assert_eq!(time(1_580_515_205_123), "2020-02-01T00:00:05Z");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(250_000), "4m 10s");
        assert_eq!(duration(8_100_000), "2h 15m");
        assert_eq!(duration(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
        assert_eq!(duration(-5), "0 ms");
        let h4 = 14_400_000;
        assert_eq!(candles_left(0, 2 * h4 - 300_000, h4), "2 candles (7h 55m) left, until 1970-01-01T07:55:00Z");
        assert_eq!(candles_left(0, 1, h4), "1 candle (1 ms) left, until 1970-01-01T00:00:00Z");
    }
}
