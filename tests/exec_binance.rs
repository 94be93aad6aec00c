//! The execution failure modes of seed 000 (§4–10) end to end: the real `mcbot` binary, its real
//! Binance adapter, over HTTP, against a stateful mock of Binance (`support/mock_binance.rs`).
//! Each test asserts the exchange-side truth — which orders were sent, in what order, with which
//! client ids — and the DB afterwards, and that `replay --all` accepts the journal (issue 4).
//!
//! Acceptance criteria (seed 000 §12): AC1 no position without a STOP, AC2 no duplicate ENTRY,
//! AC3 every failure ends in a safe close or a HALT, AC4 restart reconciles, AC5 every exit has an
//! auditable reason. Failure modes (§10): F-001 duplicate ENTRY, F-002 naked position, F-003
//! phantom position, F-004 partial fill drift, F-005 exchange outage mid-trade.

use crate::support::mock_binance::{now_ms, Action, MockBinance, Request, API_KEY, API_SECRET};
use crate::support::{Outcome, TestEnv};
use mcbot::core::plan::{PlanStatus, TradePlan};
use mcbot::core::types::PositionSide;
use mcbot::store::Store;
use rust_decimal_macros::dec;
use serde_json::Value;

const PLAN: &str = "a1b2c3d4e5f6";
const ORDER: &str = "/fapi/v1/order";
const ALGO: &str = "/fapi/v1/algoOrder";

/// `mc_a1b2c3d4e5f6_<ROLE>_<n>`
fn cid(role: &str, n: u32) -> String {
    format!("mc_{PLAN}_{role}_{n}")
}

/// Execution timeouts small enough to keep each scenario well under two seconds.
const EXECUTION: &[(&str, &str)] = &[
    ("entry_ack_timeout_ms", "1000"),
    ("stop_ack_timeout_ms", "1000"),
    ("tp_ack_timeout_ms", "1000"),
    ("entry_fill_window_ms", "1000"),
    ("close_retry_max_elapsed_ms", "1500"),
];

/// A temp mcbot installation pointed at a fresh mock, with a reconciled, flat account and one
/// PLANNED long: reference 40000 (= the mock's mark), stop 39000, qty 0.010.
struct Scenario {
    env: TestEnv,
    mock: MockBinance,
}

impl Scenario {
    fn new() -> Scenario {
        Scenario::with(&[])
    }

    /// `overrides` replace keys of [execution] (or add `exchange.*` ones, written with the prefix).
    fn with(overrides: &[(&str, &str)]) -> Scenario {
        let mock = MockBinance::start();
        let env = TestEnv::new();
        let mut exchange = vec![("http_timeout_ms", "2000".to_string())];
        let mut execution: Vec<(&str, String)> = EXECUTION.iter().map(|(k, v)| (*k, v.to_string())).collect();
        for (k, v) in overrides {
            let target = if let Some(k) = k.strip_prefix("exchange.") {
                exchange.retain(|(n, _)| *n != k);
                exchange.push((k, v.to_string()));
                continue;
            } else {
                &mut execution
            };
            target.retain(|(n, _)| n != k);
            target.push((k, v.to_string()));
        }
        let mut text = format!(
            "bot_id = \"mc\"\nsymbol = \"BTCUSDT\"\nstate_db = \"state/mcbot.db\"\nlock_timeout_ms = 300\n\n[exchange]\nkind = \"binance\"\nbase_url = \"{}\"\n",
            mock.url()
        );
        for (k, v) in &exchange {
            text.push_str(&format!("{k} = {v}\n"));
        }
        text.push_str("\n[execution]\n");
        for (k, v) in &execution {
            text.push_str(&format!("{k} = {v}\n"));
        }
        env.write_config(&text);
        let s = Scenario { env, mock };
        s.seed();
        s
    }

    /// The state `evaluate` and an earlier `reconcile` would have left: reconciled, one PLANNED plan.
    fn seed(&self) {
        let now = now_ms();
        let store = Store::open(&self.env.db_path(), now).unwrap();
        store.record_reconcile(now, true, 0, None).unwrap();
        let plan = TradePlan {
            id: PLAN.into(),
            symbol: "BTCUSDT".into(),
            interval: "4h".into(),
            candle_close_ms: now - 1_000,
            side: PositionSide::Long,
            entry_ref: dec!(40000),
            stop_price: dec!(39000),
            qty: dec!(0.010),
            risk_usdt: dec!(10),
            valid_until_ms: now + 14_400_000,
            status: PlanStatus::Planned,
        };
        store.insert_plan(&plan, None, now).unwrap();
    }

    fn store(&self) -> Store {
        Store::open(&self.env.db_path(), now_ms()).unwrap()
    }

    /// `mcbot --json -v <args>` with the credentials in the environment. Neither credential may
    /// appear in what it prints (CONTRACT §4).
    fn run(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["--json", "-v"];
        all.extend_from_slice(args);
        let out = self.env.run_env(&all, &[("MCBOT_API_KEY", API_KEY), ("MCBOT_API_SECRET", API_SECRET)]);
        assert_no_secret_in("output", &format!("{}{}", out.stdout, out.stderr));
        out
    }

    /// The order_event rows of one client id, as event names.
    fn events(&self, client_id: &str) -> Vec<String> {
        let db = self.env.db();
        let mut st = db.prepare("SELECT event FROM order_event WHERE client_id = ?1 ORDER BY seq").unwrap();
        st.query_map([client_id], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
    }

    /// `SEVERITY:kind` of every audit_event row, in order.
    fn audit(&self) -> Vec<String> {
        let db = self.env.db();
        let mut st = db.prepare("SELECT severity || ':' || kind FROM audit_event ORDER BY seq").unwrap();
        st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
    }

    fn mode(&self) -> String {
        self.env.db().query_row("SELECT mode FROM system_state", [], |r| r.get(0)).unwrap()
    }

    fn plan_status(&self) -> String {
        self.env.db().query_row("SELECT status FROM trade_plan WHERE id = ?1", [PLAN], |r| r.get(0)).unwrap()
    }

    /// (state, qty, exit_reason) of the latest position row.
    fn position(&self) -> (String, String, Option<String>) {
        self.env
            .db()
            .query_row("SELECT state, qty, exit_reason FROM position ORDER BY id DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap()
    }

    /// Index of the first request matching `method path client_id` (panics if absent).
    #[track_caller]
    fn at(&self, method: &str, path: &str, client_id: &str) -> usize {
        let reqs = self.mock.requests();
        reqs.iter()
            .position(|r| r.method == method && r.path == path && r.client_id() == Some(client_id))
            .unwrap_or_else(|| panic!("no {method} {path} {client_id} in\n{}", lines(&reqs)))
    }

    fn request(&self, method: &str, path: &str, client_id: &str) -> Request {
        self.mock.requests()[self.at(method, path, client_id)].clone()
    }

    /// The end of every scenario: every signed request carried its key and signature (the mock
    /// verified the HMAC), no credential reached the DB, and the journal replays clean.
    #[track_caller]
    fn finish(&self) {
        for r in self.mock.requests() {
            let public = ["/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v1/premiumIndex", "/fapi/v1/klines"];
            if !public.contains(&r.path.as_str()) {
                assert!(r.signed && r.api_key.as_deref() == Some(API_KEY), "unsigned request: {r:?}");
                assert_ne!(r.status, 401, "key refused: {r:?}");
                assert!(!r.body.contains("-1022"), "signature refused: {r:?}");
            }
        }
        for file in ["state/mcbot.db", "state/mcbot.db-wal"] {
            if let Ok(bytes) = std::fs::read(self.env.path().join(file)) {
                assert_no_secret_in(file, &String::from_utf8_lossy(&bytes));
            }
        }
        let rep = self.run(&["replay", "--all"]);
        assert_eq!(rep.code, 0, "replay --all: {}", rep.stdout);
    }
}

#[track_caller]
fn assert_no_secret_in(what: &str, text: &str) {
    assert!(!text.contains(API_SECRET), "the API secret leaked into {what}");
    assert!(!text.contains(API_KEY), "the API key leaked into {what}");
}

fn lines(reqs: &[Request]) -> String {
    reqs.iter().map(|r| format!("{:>3} {} -> {}", r.seq, r.line(), r.status)).collect::<Vec<_>>().join("\n")
}

/// The happy path the failure modes deviate from (seed 000 §4): ENTRY, then STOP and TP for the
/// filled quantity, TP at exactly 2R, both reduce-only on the Algo Order API.
#[test]
fn happy_path_entry_then_stop_and_tp_over_http() {
    let s = Scenario::new();
    let out = s.run(&["enter"]);
    out.code(0);
    let j = out.json();
    assert_eq!(j["entered"], true, "{j}");
    let writes = s.mock.writes();
    assert_eq!(writes[0], format!("POST {ORDER} {}", cid("ENTRY", 1)), "{writes:?}");
    assert_eq!(writes.len(), 3, "{writes:?}");
    let entry = s.request("POST", ORDER, &cid("ENTRY", 1));
    assert_eq!(
        (entry.param("side"), entry.param("type"), entry.param("quantity"), entry.param("newOrderRespType")),
        (Some("BUY"), Some("MARKET"), Some("0.01"), Some("RESULT"))
    );
    let stop = s.request("POST", ALGO, &cid("STOP", 1));
    assert_eq!(
        (stop.param("type"), stop.param("side"), stop.param("triggerPrice"), stop.param("quantity")),
        (Some("STOP_MARKET"), Some("SELL"), Some("39000"), Some("0.01"))
    );
    assert_eq!((stop.param("reduceOnly"), stop.param("algoType")), (Some("true"), Some("CONDITIONAL")));
    let tp = s.request("POST", ALGO, &cid("TP", 1));
    assert_eq!((tp.param("type"), tp.param("triggerPrice")), (Some("TAKE_PROFIT_MARKET"), Some("42000")));
    assert_eq!(s.mock.position(), dec!(0.010));
    assert_eq!(s.mock.open_algos().len(), 2);
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING", "FILLED"]);
    assert_eq!(s.events(&cid("STOP", 1)), ["SUBMITTING", "ACKED"]);
    assert_eq!(s.plan_status(), "FILLED");
    let status = s.run(&["status"]);
    let st = status.json();
    assert_eq!(st["mode"], "RUNNING");
    assert_eq!(st["protection"]["stop"]["client_id"], Value::from(cid("STOP", 1)));
    assert_eq!(st["position"]["qty"], "0.010");
    s.finish();
}
