//! The first hour through the binary (issue 14): `init` then a paper `tick` offline in an empty
//! folder, and config values that must be exit 2 naming their key before anything is created
//! (seed 000: a configuration problem is exit 2; nothing is sent or written on bad input).

use crate::support::{TestEnv, BASE_CONFIG};

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn init_then_tick_works_offline_in_an_empty_folder() {
    let env = TestEnv::empty();
    env.run(&["init"]).code(0);
    let written = std::fs::read_to_string(env.config_path()).unwrap();
    // Switching `kind` alone must never reach the production host (issue 12 §4).
    assert!(written.contains("base_url = \"https://demo-fapi.binance.com\""), "{written}");
    let out = env.run(&["--json", "tick"]);
    out.code(0);
    assert_eq!(out.json()["outcome"], "ok");
    assert!(env.db_path().exists());
    assert!(!env.path().join("data").exists(), "the shipped data comes from the binary, no copy needed");
}

#[test]
fn bad_values_are_exit_2_naming_the_key_and_create_nothing() {
    let cases: Vec<(String, &str)> = vec![
        // Multi-byte interval used to panic every command (exit 101).
        (format!("{BASE_CONFIG}[strategy]\ninterval = \"ß\"\n"), "strategy.interval"),
        (format!("{BASE_CONFIG}[strategy]\ninterval = \"10m\"\n"), "strategy.interval"),
        (format!("{BASE_CONFIG}[strategy]\ninterval = \"9223372036854775807m\"\n"), "strategy.interval"),
        // The shipped data is 4h BTCUSDT: another interval or symbol is refused, not traded.
        (format!("{BASE_CONFIG}[strategy]\ninterval = \"1h\"\n"), "paper.candles"),
        (BASE_CONFIG.replace("BTCUSDT", "ETHUSDT"), "paper.candles"),
        // A quoted decimal used to name only a line number.
        (format!("{BASE_CONFIG}[execution]\nmax_slippage_pct = \"0.5\"\n"), "execution.max_slippage_pct"),
        (format!("{BASE_CONFIG}[execution]\nmax_slippage_pct = 1e400\n"), "execution.max_slippage_pct"),
        (
            format!("{BASE_CONFIG}[execution]\nentry_ack_timeout_ms = 99999999999999999999\n"),
            "execution.entry_ack_timeout_ms",
        ),
        // Type errors in [paper] used to be filed under the section before.
        (format!("{BASE_CONFIG}[risk]\n[paper]   # comment\nfee_pct = \"x\"\n"), "paper.fee_pct"),
        (format!("{BASE_CONFIG}[paper]\nfunding = \"/dev/zero\"\n"), "paper.funding"),
        (format!("{BASE_CONFIG}[paper]\ncandles = \"/dev/zero\"\n"), "paper.candles"),
        (format!("{BASE_CONFIG}[paper]\ncandles = \"missing.csv\"\n"), "paper.candles"),
        (format!("{BASE_CONFIG}base_url = \"http://127.0.0.1:99999\"\n"), "exchange.base_url"),
        (format!("{BASE_CONFIG}base_url = \"https://fapi.binance.com/fapi\"\n"), "exchange.base_url"),
        (BASE_CONFIG.replace("\"state/mcbot.db\"", "\"state\""), "state_db"),
        (BASE_CONFIG.replace("\"state/mcbot.db\"", "\".\""), "state_db"),
        (BASE_CONFIG.replace("\"state/mcbot.db\"", "\"/dev/null\""), "state_db"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let env = TestEnv::new();
        env.write_config(text);
        let before = files_under(&env.path().join("state"));
        let out = env.run(&["--json", "status"]);
        out.code(2);
        let msg = out.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(&format!("`{key}`")), "case {i}: {msg:?} should name `{key}`");
        assert_eq!(files_under(&env.path().join("state")), before, "case {i}: files created");
        assert_eq!(files_under(env.path()), vec!["mcbot.toml", "state"], "case {i}: files created");
    }
}

#[test]
fn a_directory_where_the_lock_file_goes_is_exit_2_and_sends_nothing() {
    let env = TestEnv::new();
    std::fs::create_dir(env.path().join("state/mcbot.db.lock")).unwrap();
    let out = env.run(&["--json", "tick"]);
    out.code(2);
    let msg = out.json()["error"].as_str().unwrap().to_string();
    assert!(msg.contains("`state_db`") && msg.contains("lock file"), "{msg}");
    assert!(!env.db_path().exists());
}
