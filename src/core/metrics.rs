//! The Prometheus textfile-collector text for `[metrics] textfile` (issue 13 §2): a pure
//! formatter over a snapshot the shell reads from the store. Labels `bot_id`, `symbol`.

use rust_decimal::Decimal;

/// What the metrics file reports; `None` values are left out (unknown is not zero).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct MetricsSnapshot {
    pub halted: bool,
    /// Signed: positive long, negative short, 0 flat.
    pub position_qty: Decimal,
    pub entry_price: Option<Decimal>,
    pub stop_present: bool,
    pub tp_present: bool,
    pub last_reconcile_ms: Option<i64>,
    pub mismatch_streak: u32,
    /// The belief-debt posture (issue 15); `None` when it could not be read.
    pub posture: Option<crate::core::posture::PostureView>,
    pub last_unprotected_window_ms: Option<i64>,
    pub trades_closed: u64,
    pub realized_pnl: Decimal,
    /// The open position's PnL at the last mark price read; `None` when flat or unknown.
    pub unrealized_pnl: Option<Decimal>,
    /// Exit code and time of the last `tick`.
    pub last_tick: Option<(u8, i64)>,
    pub outbox_backlog: i64,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn seconds(ms: i64) -> String {
    (Decimal::from(ms) / Decimal::from(1000)).normalize().to_string()
}

/// The file's text, `# HELP` and `# TYPE` before each metric.
pub(crate) fn render(bot_id: &str, symbol: &str, m: &MetricsSnapshot) -> String {
    let labels = format!("{{bot_id=\"{}\",symbol=\"{}\"}}", escape(bot_id), escape(symbol));
    let b = |v: bool| if v { "1".to_string() } else { "0".to_string() };
    let rows: Vec<(&str, &str, &str, Option<String>)> = vec![
        ("mcbot_halted", "gauge", "1 when the bot is HALTED (entries refused).", Some(b(m.halted))),
        (
            "mcbot_position_qty",
            "gauge",
            "Open position size, signed (+long, -short, 0 flat).",
            Some(m.position_qty.to_string()),
        ),
        (
            "mcbot_position_entry_price",
            "gauge",
            "Average entry price of the open position.",
            m.entry_price.map(|p| p.to_string()),
        ),
        ("mcbot_stop_present", "gauge", "1 when the open position has a STOP recorded.", Some(b(m.stop_present))),
        ("mcbot_tp_present", "gauge", "1 when the open position has a TP recorded.", Some(b(m.tp_present))),
        (
            "mcbot_last_reconcile_timestamp_seconds",
            "gauge",
            "Unix time of the last reconcile.",
            m.last_reconcile_ms.map(seconds),
        ),
        (
            "mcbot_mismatch_streak",
            "gauge",
            "Consecutive reconciles that had to repair a mismatch.",
            Some(m.mismatch_streak.to_string()),
        ),
        (
            "mcbot_last_unprotected_window_ms",
            "gauge",
            "ENTRY fill known to STOP acknowledged, last entry, in ms.",
            m.last_unprotected_window_ms.map(|w| w.to_string()),
        ),
        (
            "mcbot_trades_closed_total",
            "counter",
            "Closed trades in the journal (as `mcbot trades` counts them).",
            Some(m.trades_closed.to_string()),
        ),
        (
            "mcbot_realized_pnl_usdt_total",
            "gauge",
            "Realised price PnL of all closed trades (before fees), USDT.",
            Some(m.realized_pnl.to_string()),
        ),
        (
            "mcbot_unrealized_pnl_usdt",
            "gauge",
            "PnL of the open position at the last mark price read, USDT.",
            m.unrealized_pnl.map(|p| p.to_string()),
        ),
        (
            "mcbot_last_tick_exit_code",
            "gauge",
            "Exit code of the last tick (0 ok, 1 failed, 3 halted, 5 pre-flight, 10 critical).",
            m.last_tick.map(|t| t.0.to_string()),
        ),
        (
            "mcbot_last_tick_timestamp_seconds",
            "gauge",
            "Unix time the last tick ended.",
            m.last_tick.map(|t| seconds(t.1)),
        ),
        (
            "mcbot_alert_outbox_backlog",
            "gauge",
            "Alerts neither delivered nor expired.",
            Some(m.outbox_backlog.to_string()),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, value) in rows.into_iter().chain(posture_rows(m.posture.as_ref())) {
        if let Some(v) = value {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{labels} {v}\n"));
        }
    }
    out
}

/// The posture gauges: its level (0 GREEN, 1 YELLOW, 2 ORANGE, 3 RED), debt score and the entry
/// knobs. Alert on `mcbot_posture_level >= 2` (entries refused).
fn posture_rows(
    p: Option<&crate::core::posture::PostureView>,
) -> Vec<(&'static str, &'static str, &'static str, Option<String>)> {
    let Some(p) = p else { return Vec::new() };
    let level = crate::core::posture::PostureMode::ALL.iter().position(|m| *m == p.mode).unwrap_or(0);
    vec![
        (
            "mcbot_posture_level",
            "gauge",
            "Belief-debt posture: 0 GREEN, 1 YELLOW, 2 ORANGE, 3 RED.",
            Some(level.to_string()),
        ),
        ("mcbot_posture_debt_score", "gauge", "Belief-debt score at the last evaluation.", Some(p.debt_score.clone())),
        (
            "mcbot_posture_allow_entries",
            "gauge",
            "1 when the posture allows new entries.",
            Some(if p.allow_entries { "1" } else { "0" }.to_string()),
        ),
        (
            "mcbot_posture_max_notional_usdt",
            "gauge",
            "Notional cap a new entry may use under the posture, USDT.",
            Some(p.max_notional_usdt.to_string()),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn every_sample_has_help_type_and_labels_and_unknowns_are_left_out() {
        let m = MetricsSnapshot { position_qty: dec!(-0.5), last_reconcile_ms: Some(1_500), ..Default::default() };
        let text = render("mc", "BTC\"USDT", &m);
        assert!(text.contains("mcbot_position_qty{bot_id=\"mc\",symbol=\"BTC\\\"USDT\"} -0.5\n"));
        assert!(text.contains("mcbot_last_reconcile_timestamp_seconds{bot_id=\"mc\",symbol=\"BTC\\\"USDT\"} 1.5\n"));
        assert!(!text.contains("mcbot_position_entry_price"), "unknown entry price is not written as 0");
        assert!(!text.contains("mcbot_unrealized_pnl_usdt") && !text.contains("mcbot_last_tick"), "unknown: left out");
        let m = MetricsSnapshot { unrealized_pnl: Some(dec!(-1.25)), last_tick: Some((3, 2_000)), ..m };
        let text = render("mc", "X", &m);
        assert!(text.contains("mcbot_unrealized_pnl_usdt{bot_id=\"mc\",symbol=\"X\"} -1.25\n"));
        assert!(text.contains("mcbot_last_tick_exit_code{bot_id=\"mc\",symbol=\"X\"} 3\n"));
        assert!(text.contains("mcbot_last_tick_timestamp_seconds{bot_id=\"mc\",symbol=\"X\"} 2\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split('{').next().unwrap();
            assert!(text.contains(&format!("# HELP {name} ")) && text.contains(&format!("# TYPE {name} ")), "{name}");
        }
        assert!(!text.contains("mcbot_posture_level"), "an unread posture is left out");
    }

    /// Issue 15: the posture in the textfile (level, score, knobs).
    #[test]
    fn posture_gauges() {
        use crate::core::posture::{view, PostureMode, PostureState};
        let st = PostureState { mode: PostureMode::Orange, score: 55, ..PostureState::initial(0) };
        let m = MetricsSnapshot { posture: Some(view(&st, dec!(1000))), ..Default::default() };
        let text = render("mc", "BTCUSDT", &m);
        let l = "{bot_id=\"mc\",symbol=\"BTCUSDT\"}";
        for want in [
            format!("mcbot_posture_level{l} 2\n"),
            format!("mcbot_posture_debt_score{l} 55\n"),
            format!("mcbot_posture_allow_entries{l} 0\n"),
            format!("mcbot_posture_max_notional_usdt{l} 0\n"),
        ] {
            assert!(text.contains(&want), "{want} in {text}");
        }
    }
}
