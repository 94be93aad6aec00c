//! The binary against the stateful HTTP mock of Binance (`Bot::new().mock()`): runs with the
//! credentials, the request log read by client id, the DB read back, and the end every scenario
//! shares (`finish`: signed requests, no secret on disk, `replay --all` clean).

use super::bot::Bot;
use super::mock_binance::{now_ms, MockBinance, Request, API_KEY, API_SECRET};
use super::{audit_of, events_of, plan, Outcome, TestEnv};
use mcbot::store::Store;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

pub use super::plan::PLAN;
pub const ORDER: &str = "/fapi/v1/order";
pub const ALGO: &str = "/fapi/v1/algoOrder";

/// `mc_a1b2c3d4e5f6_<ROLE>_<n>`
pub fn cid(role: &str, n: u32) -> String {
    format!("mc_{PLAN}_{role}_{n}")
}

/// One temp installation pointed at its own mock.
pub struct Scenario {
    pub env: TestEnv,
    pub mock: MockBinance,
}

impl Scenario {
    /// The start most tests over HTTP share: short for `Bot::new().planned_long().mock()`.
    pub fn new() -> Scenario {
        Bot::new().planned_long().mock()
    }

    /// What `evaluate` and an earlier clean `reconcile` would have left (`plan::seed`), now.
    pub fn seed(&self) {
        plan::seed(&self.store(), now_ms());
    }

    /// A PLANNED long `id`: reference 40000, stop 39000, qty 0.010, valid for this candle.
    pub fn add_plan(&self, id: &str) {
        self.add_plan_at(id, dec!(40000), dec!(39000));
    }

    /// A PLANNED long `id` at `entry_ref` with `stop`, qty 0.010, valid for this candle.
    pub fn add_plan_at(&self, id: &str, entry_ref: Decimal, stop: Decimal) {
        let now = now_ms();
        self.store().insert_plan(&plan::planned_long(id, now, entry_ref, stop), None, now).unwrap();
    }

    /// `mcbot --json <args>` with the credentials, started and left running (a second command
    /// runs beside it).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.env
            .std_command()
            .arg("--json")
            .args(args)
            .env("MCBOT_API_KEY", API_KEY)
            .env("MCBOT_API_SECRET", API_SECRET)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn store(&self) -> Store {
        Store::open(&self.env.db_path(), now_ms()).unwrap()
    }

    /// `mcbot --json -v <args>` with the credentials in the environment. Neither credential may
    /// appear in what it prints (CONTRACT §4).
    pub fn run(&self, args: &[&str]) -> Outcome {
        let mut all = vec!["--json", "-v"];
        all.extend_from_slice(args);
        let out = self.env.run_env(&all, &[("MCBOT_API_KEY", API_KEY), ("MCBOT_API_SECRET", API_SECRET)]);
        assert_no_secret_in("output", &format!("{}{}", out.stdout, out.stderr));
        out
    }

    /// The order_event rows of one client id, as event names.
    pub fn events(&self, client_id: &str) -> Vec<String> {
        events_of(&self.env.db(), client_id)
    }

    /// `SEVERITY:kind` of every audit_event row, in order.
    pub fn audit(&self) -> Vec<String> {
        audit_of(&self.env.db())
    }

    pub fn mode(&self) -> String {
        self.env.db().query_row("SELECT mode FROM system_state", [], |r| r.get(0)).unwrap()
    }

    pub fn plan_status(&self) -> String {
        self.env.db().query_row("SELECT status FROM trade_plan WHERE id = ?1", [PLAN], |r| r.get(0)).unwrap()
    }

    /// (state, qty, exit_reason) of the latest position row.
    pub fn position(&self) -> (String, String, Option<String>) {
        self.env
            .db()
            .query_row("SELECT state, qty, exit_reason FROM position ORDER BY id DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap()
    }

    /// Index of the first request matching `method path client_id` (panics if absent).
    /// The first such request. For the look-up of an order (GET /fapi/v1/order) that means the
    /// first look-up after the order was sent: the pre-send check that its client id is unused
    /// (issue 10 item 3) comes before every ENTRY and is asserted on its own.
    #[track_caller]
    pub fn at(&self, method: &str, path: &str, client_id: &str) -> usize {
        let reqs = self.mock.requests();
        let from = self.sent_at(method, path, client_id).unwrap_or(0);
        reqs.iter()
            .skip(from)
            .position(|r| r.method == method && r.path == path && r.client_id() == Some(client_id))
            .map(|i| i + from)
            .unwrap_or_else(|| panic!("no {method} {path} {client_id} in\n{}", lines(&reqs)))
    }

    /// For a look-up of an order: the index of that order's first POST.
    pub fn sent_at(&self, method: &str, path: &str, client_id: &str) -> Option<usize> {
        if method != "GET" || path != ORDER {
            return None;
        }
        self.mock
            .requests()
            .iter()
            .position(|r| r.method == "POST" && r.path == ORDER && r.client_id() == Some(client_id))
    }

    /// Look-ups of an order after it was sent (the ambiguity rule's look-ups).
    pub fn lookups_after_send(&self, client_id: &str) -> usize {
        let from = self.sent_at("GET", ORDER, client_id).unwrap_or(usize::MAX);
        self.mock
            .requests()
            .iter()
            .skip(from)
            .filter(|r| r.method == "GET" && r.path == ORDER && r.client_id() == Some(client_id))
            .count()
    }

    pub fn request(&self, method: &str, path: &str, client_id: &str) -> Request {
        self.mock.requests()[self.at(method, path, client_id)].clone()
    }

    /// The end of every scenario: every signed request carried its key and signature (the mock
    /// verified the HMAC), no credential reached the DB, and the journal replays clean.
    #[track_caller]
    pub fn finish(&self) {
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
                let text = String::from_utf8_lossy(&bytes);
                assert_no_secret_in(file, &text);
                assert!(!text.contains("signature="), "a request signature reached {file}");
            }
        }
        let rep = self.run(&["replay", "--all"]);
        assert_eq!(rep.code, 0, "replay --all: {}", rep.stdout);
    }
}

#[track_caller]
pub fn assert_no_secret_in(what: &str, text: &str) {
    assert!(!text.contains(API_SECRET), "the API secret leaked into {what}");
    assert!(!text.contains(API_KEY), "the API key leaked into {what}");
}

pub fn lines(reqs: &[Request]) -> String {
    reqs.iter().map(|r| format!("{:>3} {} -> {}", r.seq, r.line(), r.status)).collect::<Vec<_>>().join("\n")
}
