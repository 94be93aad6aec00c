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
    // Plain `init` (issue 14 item 1): the offline replay, so the first `tick` needs no network.
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

/// Issue 11 item 4 / CONTRACT §14: a state DB belongs to one bot_id, symbol, exchange.kind and
/// base_url. Each other config is exit 2 naming the key, and nothing reaches the exchange.
#[test]
fn a_state_db_refuses_a_config_it_was_not_created_for_before_any_request() {
    let server = httpmock::MockServer::start();
    let any = server.mock(|when, then| {
        when.any_request();
        then.status(500);
    });
    let env = TestEnv::new();
    // A DB from before migration 8 has no identity: the first config to open it adopts it.
    env.run(&["--json", "status"]).code(0);
    assert_eq!(env.count("SELECT count(*) FROM state_identity"), 1);
    let binance =
        BASE_CONFIG.replace("kind = \"paper\"", &format!("kind = \"binance\"\nbase_url = \"{}\"", server.base_url()));
    let cases = [
        (BASE_CONFIG.replace("bot_id = \"mc\"", "bot_id = \"mx\""), "bot_id"),
        (binance.clone(), "exchange.kind"),
        (format!("{BASE_CONFIG}base_url = \"https://fapi.binance.com\"\n"), "exchange.base_url"),
    ];
    for (text, key) in &cases {
        env.write_config(text);
        for cmd in [&["--json", "status"][..], &["--json", "tick"][..], &["--json", "reconcile"][..]] {
            let out = env.run_env(cmd, &[("MCBOT_API_KEY", "k"), ("MCBOT_API_SECRET", "s")]);
            out.code(2);
            let msg = out.json()["error"].as_str().unwrap().to_string();
            assert!(msg.contains(&format!("`{key}`")), "{cmd:?}: {msg}");
        }
    }
    any.assert_hits(0);
    // The original config still works, and the record was not changed by the refused ones.
    env.write_config(BASE_CONFIG);
    env.run(&["--json", "status"]).code(0);
    let db = env.db();
    let recorded: (String, String) =
        db.query_row("SELECT bot_id, exchange_kind FROM state_identity", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(recorded, ("mc".to_string(), "paper".to_string()));
}

#[test]
fn a_corrupt_or_zero_byte_state_db_is_exit_2() {
    for bytes in [&b""[..], &b"this is not sqlite, just text that is long enough to be a header"[..]] {
        let env = TestEnv::new();
        std::fs::write(env.db_path(), bytes).unwrap();
        let out = env.run(&["--json", "status"]);
        if bytes.is_empty() {
            // SQLite treats a zero-byte file as a new DB: it is adopted, as an absent one.
            out.code(0);
        } else {
            out.code(2);
            assert!(out.json()["error"].as_str().unwrap().contains("state DB"));
        }
    }
}

/// Issue 14 item 2: one clock per state. On a fresh paper state a `halt` before the first `tick`
/// was stamped with the wall clock and every later reconcile with the paper clock, so
/// `halt --resume` was refused forever.
#[test]
fn halt_before_the_first_paper_tick_can_be_resumed_after_a_reconcile() {
    let env = TestEnv::empty();
    env.run(&["init", "--paper-mode", "replay"]).code(0);
    env.run(&["halt", "--reason", "operator"]).code(0);
    // HALTED refuses only what opens exposure: a tick without an entry to make exits 0.
    let tick = env.run(&["--json", "tick"]);
    assert!([0, 3].contains(&tick.json()["exit_code"].as_i64().unwrap()), "{:?}", tick.json());
    env.run(&["reconcile"]).code(0);
    let out = env.run(&["--json", "halt", "--resume"]);
    out.code(0);
    assert_eq!(env.run(&["--json", "status"]).json()["mode"], "RUNNING");
    let halts: i64 = env.count("SELECT count(*) FROM audit_event WHERE kind LIKE '%halt%' OR kind LIKE '%HALT%'");
    assert!(halts >= 1, "the halt is audited");
}

/// Issue 14 item 5: day-2 commands need the secrets, which live in the service's root-only env
/// file. `--env-file` reads the credentials from it; the key sent is the file's.
#[test]
fn env_file_supplies_the_credentials_the_environment_lacks() {
    let server = httpmock::MockServer::start();
    let now = chrono::Utc::now().timestamp_millis();
    server.mock(|when, then| {
        when.path("/fapi/v1/time");
        then.status(200).body(format!("{{\"serverTime\":{now}}}"));
    });
    let with_file_key = server.mock(|when, then| {
        when.header("X-MBX-APIKEY", "key-from-file");
        // A definite refusal (not retried): the test only needs to see which key was sent.
        then.status(401).body(r#"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}"#);
    });
    let env = TestEnv::new();
    env.write_config(
        &BASE_CONFIG.replace("kind = \"paper\"", &format!("kind = \"binance\"\nbase_url = \"{}\"", server.base_url())),
    );
    let without = env.run_env(&["--json", "reconcile"], &[("MCBOT_API_KEY", ""), ("MCBOT_API_SECRET", "")]);
    without.code(2);
    assert!(without.json()["error"].as_str().unwrap().contains("exchange.api_key_env"));
    let file = env.path().join("secrets.env");
    std::fs::write(
        &file,
        "# the service's EnvironmentFile\nMCBOT_API_KEY=key-from-file\nexport MCBOT_API_SECRET='s3cret'\n",
    )
    .unwrap();
    let out = env.run_env(
        &["--json", "--env-file", file.to_str().unwrap(), "reconcile"],
        &[("MCBOT_API_KEY", ""), ("MCBOT_API_SECRET", "")],
    );
    let v = out.json();
    assert!(!v["error"].as_str().unwrap_or_default().contains("is not set"), "the file's credentials were used: {v}");
    assert!(with_file_key.hits() >= 1, "signed requests carry the file's key");
    let stdout = v.to_string();
    assert!(!stdout.contains("s3cret") && !stdout.contains("key-from-file"), "secrets never printed: {stdout}");
    let missing = env.run(&["--json", "--env-file", "/nonexistent/env", "reconcile"]);
    missing.code(2);
    assert!(missing.json()["error"].as_str().unwrap().contains("--env-file"));
}

/// Issue 14 item 6: the example crontab must hold on stock Debian/Ubuntu cron (no CRON_TZ, no
/// export from `. file`, no silent abort on a missing secrets file).
#[test]
fn the_crontab_example_checks_utc_and_passes_secrets_with_env_file() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/cron/crontab.example")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()).collect();
    let job = lines.iter().find(|l| l.contains("mcbot") && l.contains("tick")).expect("a tick line");
    assert!(!lines.iter().any(|l| l.starts_with("CRON_TZ")), "Debian cron ignores CRON_TZ");
    assert!(job.contains("date +\\%z") && job.contains("+0000"), "refuses a non-UTC system zone: {job}");
    assert!(job.contains("--env-file "), "secrets via --env-file: {job}");
    assert!(!job.contains("; . "), "`. file` does not export KEY=value lines: {job}");
    assert!(job.contains("mail"), "failures are mailed: {job}");
}

/// Issue 14 item 8: under `--json` every clap outcome is one JSON object: the whole usage error,
/// and `--help` / `--version` too.
#[test]
fn json_clap_output_is_one_object_with_the_whole_message() {
    let env = TestEnv::new();
    let out = env.run(&["--json", "status", "--bogus"]);
    out.code(2);
    let v = out.json();
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("--bogus") && msg.contains("Usage:"), "the whole message: {msg}");
    let out = env.run(&["--json", "--version"]);
    out.code(0);
    assert!(out.json()["version"].as_str().unwrap().contains(env!("CARGO_PKG_VERSION")));
    let out = env.run(&["--json", "--help"]);
    out.code(0);
    assert!(out.json()["help"].as_str().unwrap().contains("reconcile"));
}

/// Issue 14 item 12: the user's docs cite only what is in this repository (no seed files, no
/// outside contract sections, no failure-mode ids or branch names from the development notes).
#[test]
fn user_docs_cite_only_what_the_repository_holds() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files = vec![format!("{root}/README.md")];
    for e in std::fs::read_dir(format!("{root}/docs")).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p.display().to_string());
        }
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for needle in ["seed 000", "CONTRACT §", "F-00", "binmock", "shared/BINANCE.md"] {
            assert!(!text.contains(needle), "{f} cites {needle:?}, which a user of this repository cannot open");
        }
    }
}
