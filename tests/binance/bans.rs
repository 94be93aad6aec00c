//! Issue 12 §2: a 418 ban outlives the process. The real binary against the stateful mock: the
//! ban is persisted beside the state DB, and the next run refuses before its first request (not
//! even the clock sync) with exit 2, which the systemd unit does not restart on, saying until when.

use crate::support::bot::Bot;
use crate::support::fault::Fault;
use crate::support::mock_binance::{now_ms, MockBinance, API_KEY, API_SECRET};
use crate::support::TestEnv;

fn setup() -> (TestEnv, MockBinance) {
    let mock = MockBinance::start();
    (Bot::new().binance(&mock.url()), mock)
}

fn run(env: &TestEnv, args: &[&str]) -> crate::support::Outcome {
    env.run_env(args, &[("MCBOT_API_KEY", API_KEY), ("MCBOT_API_SECRET", API_SECRET)])
}

#[test]
fn a_418_ban_is_persisted_and_the_next_run_sends_nothing_until_it_passes() {
    let (env, mock) = setup();
    let until = now_ms() + 600_000;
    let body = format!(r#"{{"code":-1003,"msg":"Way too many requests; IP banned until {until}."}}"#);
    mock.on("GET", "/fapi/v3/positionRisk", None, Fault::Refuse { status: 418, body }, 100);
    let first = run(&env, &["--json", "reconcile"]);
    assert_ne!(first.code, 0, "{first:?}");
    let file = env.path().join("state/mcbot.db.binance-limits.json");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert!(saved["banned_until_ms"].as_i64().unwrap() >= until, "{saved}");

    let sent = mock.request_count();
    for _ in 0..3 {
        let again = run(&env, &["--json", "reconcile"]);
        assert_eq!(again.code, 2, "{again:?}");
        let text = format!("{}{}", again.stdout, again.stderr);
        assert!(text.contains("banned") && text.contains(&mcbot::clock::rfc3339(until)), "{text}");
    }
    assert_eq!(mock.request_count(), sent, "a banned run sent a request");
}

#[test]
fn a_ban_that_has_passed_does_not_block() {
    let (env, mock) = setup();
    std::fs::create_dir_all(env.path().join("state")).unwrap();
    let file = env.path().join("state/mcbot.db.binance-limits.json");
    let past = now_ms() - 1_000;
    std::fs::write(&file, format!(r#"{{"banned_until_ms":{past},"backoff_until_ms":{past}}}"#)).unwrap();
    let out = run(&env, &["--json", "reconcile"]);
    assert_ne!(out.code, 2, "{out:?}");
    assert!(mock.request_count() > 0);
}
