//! Issue 10 item 5: after an interrupted resize the small STOP/TP of the first partial fill may
//! still work beside the full-size ones. `status` lists every protective order the journal
//! believes working, not only the position's own legs, and the next reconcile cancels the extras
//! once the full-size legs cover the position: at most one STOP and one TP per position.

use super::*;

fn listed(s: &Scenario) -> Vec<String> {
    let j = s.run(&["status"]).json();
    let mut v: Vec<String> = j["protective_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{} {}", o["client_id"].as_str().unwrap(), o["qty"].as_str().unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn status_lists_resize_leftovers_and_reconcile_cancels_them() {
    let s = Bot::new().set("execution.entry_fill_window_ms", "3000").planned_long().mock();
    s.mock.on(
        "POST",
        ORDER,
        Some("ENTRY"),
        Fault::PartialFill { qty: dec!(0.004), complete_after_ms: Some(300), rest_price: None },
        1,
    );
    // The cancels of the small legs fail while enter runs: they stay working.
    s.mock.on("DELETE", ALGO, None, Fault::service_unavailable(), 8);
    let out = s.run(&["enter"]);
    assert!(matches!(out.code, 0 | 1), "{}", out.stdout);
    s.mock.clear_faults();
    let working: Vec<_> = s.mock.open_algos();
    assert_eq!(working.len(), 4, "small and full-size legs both working: {working:?}");
    assert_eq!(
        listed(&s),
        [
            format!("{} 0.004", cid("STOP", 1)),
            format!("{} 0.010", cid("STOP", 2)),
            format!("{} 0.004", cid("TP", 1)),
            format!("{} 0.010", cid("TP", 2)),
        ]
    );
    let text = s.env.run_env(&["status"], &[]).stdout;
    assert!(
        text.lines().any(|l| l.starts_with("also working:") && l.contains(&format!("STOP {}", cid("STOP", 1)))),
        "{text}"
    );
    s.run(&["reconcile"]);
    let after: Vec<_> = s.mock.open_algos().iter().map(|a| a.client_id.clone()).collect();
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(listed(&s), [format!("{} 0.010", cid("STOP", 2)), format!("{} 0.010", cid("TP", 2))]);
    s.finish();
}
