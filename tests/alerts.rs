//! Alerts through the durable outbox, to each sink kind, via a tiny HTTP receiver on 127.0.0.1
//! (issue 13, CONTRACT §12): halt by hand is a `warn` alert; a sink down during the event gets it
//! exactly once from a later run; the token never reaches output or the state files.

use crate::support::{TestEnv, BASE_CONFIG};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
    /// When the request line arrived.
    pub arrived: std::time::Instant,
}

/// Answers every request with `status`, recording it. Lives until the test process ends.
pub struct Receiver {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    pub fn start(status: u16) -> Receiver {
        Receiver::start_slow(status, std::time::Duration::ZERO)
    }

    /// Like [`start`](Self::start), but each answer waits `delay` first (a sink that hangs).
    pub fn start_slow(status: u16, delay: std::time::Duration) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if r.read_line(&mut first).is_err() {
                    continue;
                }
                let arrived = std::time::Instant::now();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                let mut parts = first.split_whitespace();
                log.lock().unwrap().push(Seen {
                    method: parts.next().unwrap_or("").into(),
                    path: parts.next().unwrap_or("").into(),
                    body: String::from_utf8_lossy(&body).into(),
                    arrived,
                });
                std::thread::sleep(delay);
                let mut s = stream;
                let _ = write!(s, "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            }
        });
        Receiver { port, seen }
    }
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A port nothing listens on (bound, then closed).
fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

const TOKEN: &str = "777777:TELEGRAM-SECRET-TOKEN";

fn sinks_config(telegram_base: &str) -> String {
    format!(
        "{BASE_CONFIG}\n[[alerts.sink]]\nkind = \"webhook\"\nurl_env = \"T_WEBHOOK\"\nmin_level = \"warn\"\n\
         [[alerts.sink]]\nkind = \"ntfy\"\nurl_env = \"T_NTFY\"\nmin_level = \"info\"\n\
         [[alerts.sink]]\nkind = \"telegram\"\ntoken_env = \"T_TG\"\nchat_id = \"42\"\napi_base = \"{telegram_base}\"\n"
    )
}

fn state_files_text(env: &TestEnv) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(env.path().join("state")).unwrap().flatten() {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default()));
    }
    all
}

#[test]
fn manual_halt_reaches_webhook_ntfy_and_telegram_once_and_the_token_stays_secret() {
    let rx = Receiver::start(200);
    let env = TestEnv::new();
    env.write_config(&sinks_config(&rx.url("")));
    let vars = [("T_WEBHOOK", rx.url("/hook/SECRETPATH")), ("T_NTFY", rx.url("/ntfy/topic")), ("T_TG", TOKEN.into())];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = env.run_env(&["--json", "halt", "--reason", "going on holiday"], &vars);
    out.code(0);

    let seen = rx.seen();
    assert_eq!(seen.len(), 3, "one request per sink: {seen:?}");
    let hook = seen.iter().find(|s| s.path == "/hook/SECRETPATH").expect("webhook request");
    assert_eq!(hook.method, "POST");
    let v: serde_json::Value = serde_json::from_str(&hook.body).unwrap();
    for k in ["id", "level", "kind", "bot_id", "symbol", "plan_id", "message", "at"] {
        assert!(v.get(k).is_some(), "webhook body lacks {k}: {v}");
    }
    assert_eq!(v["level"], "warn");
    assert_eq!(v["kind"], "halt");
    assert_eq!(v["bot_id"], "mc");
    assert_eq!(v["symbol"], "BTCUSDT");
    assert!(v["message"].as_str().unwrap().contains("going on holiday"));
    let ntfy = seen.iter().find(|s| s.path == "/ntfy/topic").expect("ntfy request");
    assert!(ntfy.body.starts_with("[WARN] mc BTCUSDT halt"), "{}", ntfy.body);
    let tg = seen.iter().find(|s| s.path.ends_with("/sendMessage")).expect("telegram request");
    assert_eq!(tg.path, format!("/bot{TOKEN}/sendMessage"));
    let t: serde_json::Value = serde_json::from_str(&tg.body).unwrap();
    assert_eq!(t["chat_id"], "42");

    // Delivered: a later run sends nothing again.
    assert_eq!(env.count("SELECT count(*) FROM alert_outbox WHERE delivered_ms IS NOT NULL"), 1);
    env.run_env(&["status"], &vars).code(0);
    assert_eq!(rx.seen().len(), 3, "a delivered alert is never sent twice");

    // Secrets appear neither in output nor in any state file.
    let files = state_files_text(&env);
    for secret in ["TELEGRAM-SECRET-TOKEN", "SECRETPATH"] {
        assert!(!out.stdout.contains(secret) && !out.stderr.contains(secret), "{secret} in output");
        assert!(!files.contains(secret), "{secret} in a state file");
    }
}

#[test]
fn sink_down_during_the_event_gets_it_exactly_once_from_a_later_run() {
    let env = TestEnv::new();
    env.write_config(&format!("{BASE_CONFIG}\n[[alerts.sink]]\nkind = \"webhook\"\nurl_env = \"T_WEBHOOK\"\n"));
    let down = format!("http://127.0.0.1:{}/hook", dead_port());
    let out = env.run_env(&["--json", "halt", "--reason", "x"], &[("T_WEBHOOK", &down)]);
    out.code(0);
    assert!(!out.stderr.contains(&down), "the URL is not echoed: {}", out.stderr);
    assert_eq!(env.count("SELECT count(*) FROM alert_outbox WHERE delivered_ms IS NULL AND attempts = 1"), 1);
    let err: String = env.db().query_row("SELECT last_error FROM alert_outbox", [], |r| r.get(0)).unwrap();
    assert!(err.starts_with("webhook: ") && !err.contains("127.0.0.1"), "{err}");

    let rx = Receiver::start(200);
    let up = rx.url("/hook");
    // Before its back-off has passed a later run leaves it alone...
    env.run_env(&["status"], &[("T_WEBHOOK", &up)]).code(0);
    assert!(rx.seen().is_empty());
    // ...after it (time moved on), the next run of any command delivers it, once.
    env.db().execute_batch("UPDATE alert_outbox SET next_attempt_ms = 0").unwrap();
    env.run_env(&["status"], &[("T_WEBHOOK", &up)]).code(0);
    env.run_env(&["status"], &[("T_WEBHOOK", &up)]).code(0);
    let seen = rx.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let v: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(v["kind"], "halt");
    assert_eq!(env.count("SELECT count(*) FROM alert_outbox WHERE delivered_ms IS NOT NULL AND attempts = 2"), 1);
}

#[test]
fn a_sink_answering_500_is_not_delivered_and_min_level_filters() {
    let bad = Receiver::start(500);
    let env = TestEnv::new();
    env.write_config(&format!(
        "{BASE_CONFIG}\n[[alerts.sink]]\nkind = \"webhook\"\nurl_env = \"T_WEBHOOK\"\n\
         [[alerts.sink]]\nkind = \"ntfy\"\nurl_env = \"T_NTFY\"\nmin_level = \"critical\"\n"
    ));
    let (hook, ntfy) = (bad.url("/hook"), bad.url("/ntfy"));
    env.run_env(&["halt", "--reason", "x"], &[("T_WEBHOOK", &hook), ("T_NTFY", &ntfy)]).code(0);
    let seen = bad.seen();
    assert_eq!(seen.len(), 1, "a warn alert skips the critical-only ntfy sink: {seen:?}");
    assert_eq!(seen[0].path, "/hook");
    let err: String = env.db().query_row("SELECT last_error FROM alert_outbox", [], |r| r.get(0)).unwrap();
    assert_eq!(err, "webhook: HTTP 500");
    assert_eq!(env.count("SELECT count(*) FROM alert_outbox WHERE delivered_ms IS NULL"), 1);
}

#[test]
fn heartbeat_after_tick_pings_url_on_0_and_url_fail_otherwise() {
    let rx = Receiver::start(200);
    let env = TestEnv::new();
    let hb = rx.url("/ping/abc");
    // A state DB made for bot_id "mc" opened by a config for "mx": the tick fails (exit 2)
    // after loading its config, and says so to the monitor.
    env.write_config(BASE_CONFIG);
    env.run(&["status"]).code(0);
    env.write_config(&format!("{}\n[heartbeat]\nurl_env = \"T_HB\"\n", BASE_CONFIG.replace("\"mc\"", "\"mx\"")));
    env.run_env(&["tick"], &[("T_HB", &hb)]).code(2);
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    env.write_config(&format!(
        "{BASE_CONFIG}[paper]\ncandles = \"{data}/BTCUSDT-4h.csv\"\nfunding = \"{data}/BTCUSDT-funding.csv\"\n\
         start = \"2021-01-04\"\n[heartbeat]\nurl_env = \"T_HB\"\n"
    ));
    env.run_env(&["tick"], &[("T_HB", &hb)]).code(0);
    env.run_env(&["halt", "--reason", "x"], &[("T_HB", &hb)]).code(0);
    env.run_env(&["status"], &[("T_HB", &hb)]).code(0);
    // Halted: a tick that did its safety work while HALTED exits 3, and the monitor hears `/fail`
    // (issue 13's first finding: every halted tick used to exit 0 until a plan appeared).
    let halted = env.run_env(&["tick"], &[("T_HB", &hb)]);
    halted.code(3);
    assert!(halted.stdout.contains("HALTED (x)"), "{}", halted.stdout);
    let third = "GET /ping/abc/fail";
    let paths: Vec<String> = rx.seen().iter().map(|s| format!("{} {}", s.method, s.path)).collect();
    assert_eq!(paths, ["GET /ping/abc/fail", "GET /ping/abc", third], "halt/status send none");
}

#[test]
fn notify_test_says_which_sink_worked_and_message_raises_a_critical_alert() {
    let good = Receiver::start(200);
    let bad = Receiver::start(403);
    let env = TestEnv::new();
    env.write_config(&format!(
        "{BASE_CONFIG}\n[[alerts.sink]]\nkind = \"webhook\"\nurl_env = \"T_WEBHOOK\"\n\
         [[alerts.sink]]\nkind = \"ntfy\"\nurl_env = \"T_NTFY\"\n\
         [[alerts.sink]]\nkind = \"telegram\"\ntoken_env = \"T_TG_UNSET\"\nchat_id = \"1\"\n"
    ));
    let (hook, ntfy) = (good.url("/hook"), bad.url("/ntfy"));
    let vars = [("T_WEBHOOK", hook.as_str()), ("T_NTFY", ntfy.as_str())];
    let out = env.run_env(&["--json", "notify", "--test"], &vars);
    out.code(1);
    let v = out.json();
    let sinks = v["sinks"].as_array().unwrap();
    assert_eq!(sinks[0]["ok"], true);
    assert_eq!(sinks[1]["detail"], "HTTP 403");
    assert_eq!(sinks[2]["detail"], "T_TG_UNSET is not set");
    assert_eq!(good.seen().len(), 1);
    assert_eq!(env.count("SELECT count(*) FROM alert_outbox"), 0, "a test alert is not journaled");

    // systemd's OnFailure= unit: a CRITICAL alert through the outbox, to every sink.
    env.run_env(&["notify", "--message", "mcbot-tick.service failed"], &vars).code(0);
    let last = good.seen().pop().unwrap();
    let body: serde_json::Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(body["level"], "critical");
    assert_eq!(body["kind"], "external_failure");
    assert_eq!(
        env.count("SELECT count(*) FROM audit_event WHERE kind = 'external_failure' AND severity = 'CRITICAL'"),
        1
    );
    env.run(&["notify"]).code(2);
}

/// `[metrics] textfile`: Prometheus text (HELP/TYPE per metric, labels), written after every
/// command, in agreement with `status --json`.
#[test]
fn metrics_textfile_parses_and_matches_status() {
    let env = TestEnv::new();
    env.write_config(&format!("{BASE_CONFIG}\n[metrics]\ntextfile = \"state/mcbot.prom\"\n"));
    let read = || std::fs::read_to_string(env.path().join("state/mcbot.prom")).unwrap();
    let sample = |text: &str, name: &str| -> String {
        let prefix = format!("{name}{{bot_id=\"mc\",symbol=\"BTCUSDT\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{name} missing: {text}")).into()
    };
    let status = env.run(&["--json", "status"]).json();
    let text = read();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let kind = rest.split_whitespace().nth(1).unwrap();
            assert!(kind == "gauge" || kind == "counter", "{line}");
        } else if !line.starts_with("# HELP ") {
            let (name, value) = line.split_once(' ').unwrap();
            assert!(name.ends_with("{bot_id=\"mc\",symbol=\"BTCUSDT\"}"), "{line}");
            value.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {line}"));
            let bare = name.split('{').next().unwrap();
            assert!(text.contains(&format!("# HELP {bare} ")) && text.contains(&format!("# TYPE {bare} ")));
        }
    }
    assert_eq!(status["mode"], "RUNNING");
    assert_eq!(sample(&text, "mcbot_halted"), "0");
    assert_eq!(sample(&text, "mcbot_position_qty"), "0");
    assert_eq!(sample(&text, "mcbot_posture_level"), "0", "issue 15: the posture is in the file (GREEN)");
    assert_eq!(sample(&text, "mcbot_posture_allow_entries"), "1");
    env.run(&["halt", "--reason", "x"]).code(0);
    assert_eq!(env.run(&["--json", "status"]).json()["mode"], "HALTED");
    let text = read();
    assert_eq!(sample(&text, "mcbot_halted"), "1");
    assert_eq!(sample(&text, "mcbot_alert_outbox_backlog"), "1", "no sink configured: the halt alert waits");
    assert!(!env
        .path()
        .join("state")
        .read_dir()
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".tmp")));
}
