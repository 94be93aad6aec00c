//! The one way a test sets up mcbot: `Bot::new()`, chained setters for the config and the starting
//! state, then one finisher for the style of test — `.paper()` (the binary on the paper exchange),
//! `.binance(url)` (the binary on any Binance address), `.mock()` (the binary on the stateful HTTP
//! mock) or `.fake()` (the engine in-process over the scripted fake).

use super::mock_binance::{now_ms, MockBinance};
use super::rig::{Rig, T0};
use super::scenario::Scenario;
use super::{plan, TestEnv};
use mcbot::store::Store;
use toml::Table;

/// What a test asks for before it picks a finisher.
#[must_use]
#[derive(Debug, Clone, Default)]
pub struct Bot {
    /// `(table, key, TOML value)`; table "" is the top level.
    settings: Vec<(String, String, String)>,
    planned_long: bool,
}

/// Execution timeouts small enough to keep a scenario over HTTP well under two seconds.
const MOCK_EXECUTION: &[(&str, &str)] = &[
    ("entry_ack_timeout_ms", "1000"),
    ("stop_ack_timeout_ms", "1000"),
    ("tp_ack_timeout_ms", "1000"),
    ("entry_fill_window_ms", "1000"),
    ("close_retry_max_elapsed_ms", "1500"),
];

impl Bot {
    /// A fresh installation: no plan, never reconciled.
    pub fn new() -> Bot {
        Bot::default()
    }

    /// Sets config key `key` — `"lock_timeout_ms"` at the top level, `"execution.stop_ack_timeout_ms"`
    /// in its table — to the TOML literal `value` (strings with their quotes), over the finisher's
    /// defaults.
    pub fn set(mut self, key: &str, value: &str) -> Bot {
        let (table, key) = key.split_once('.').unwrap_or(("", key));
        self.settings.push((table.into(), key.into(), value.into()));
        self
    }

    /// Starts reconciled and flat with one PLANNED long (`plan::seed`).
    pub fn planned_long(mut self) -> Bot {
        self.planned_long = true;
        self
    }

    /// The real binary on the paper exchange (`BASE_CONFIG` plus the settings).
    pub fn paper(self) -> TestEnv {
        self.at_wall_clock(&[("exchange", "kind", "\"paper\"")])
    }

    /// The real binary on the Binance adapter pointed at `base_url`.
    pub fn binance(self, base_url: &str) -> TestEnv {
        let url = format!("\"{base_url}\"");
        self.at_wall_clock(&binance_at(&url))
    }

    /// The real binary on the Binance adapter against a fresh stateful mock, with execution
    /// timeouts short enough for tests (`MOCK_EXECUTION`).
    pub fn mock(self) -> Scenario {
        let mock = MockBinance::start();
        let url = format!("\"{}\"", mock.url());
        let mut defaults = binance_at(&url).to_vec();
        defaults.extend(MOCK_EXECUTION.iter().map(|(k, v)| ("execution", *k, *v)));
        Scenario { env: self.at_wall_clock(&defaults), mock }
    }

    /// The engine in-process over the scripted fake (mark 40000) on a `ManualClock` at `T0`; the
    /// config is also written to the temp dir, the state DB open.
    pub fn fake(self) -> Rig {
        let env =
            self.install(&[("exchange", "kind", "\"paper\""), ("execution", "close_retry_max_elapsed_ms", "20000")]);
        let text = std::fs::read_to_string(env.config_path()).unwrap();
        let cfg = mcbot::config::parse(&text, env.path()).unwrap();
        let store = Store::open(&cfg.state_db, T0).unwrap();
        if self.planned_long {
            plan::seed(&store, T0);
        }
        Rig::new(env, cfg, store)
    }

    /// `install`, and the plan seeded at the wall clock when asked for.
    fn at_wall_clock(self, defaults: &[(&str, &str, &str)]) -> TestEnv {
        let env = self.install(defaults);
        if self.planned_long {
            let now = now_ms();
            plan::seed(&Store::open(&env.db_path(), now).unwrap(), now);
        }
        env
    }

    /// A temp dir with `state/` and `mcbot.toml`: the identity, the finisher's `defaults`, then
    /// the settings, each replacing what came before.
    fn install(&self, defaults: &[(&str, &str, &str)]) -> TestEnv {
        let mut config = Table::new();
        let settings = self.settings.iter().map(|(t, k, v)| (t.as_str(), k.as_str(), v.as_str()));
        for (table, key, value) in IDENTITY.iter().copied().chain(defaults.iter().copied()).chain(settings) {
            let value = format!("v = {value}").parse::<Table>().unwrap().remove("v").unwrap();
            let table = match table {
                "" => &mut config,
                t => config.entry(t).or_insert(Table::new().into()).as_table_mut().unwrap(),
            };
            table.insert(key.into(), value);
        }
        let env = TestEnv::empty();
        std::fs::create_dir_all(env.path().join("state")).unwrap();
        env.write_config(&config.to_string());
        env
    }
}

/// Who the installation is; the same for every finisher.
const IDENTITY: &[(&str, &str, &str)] = &[
    ("", "bot_id", "\"mc\""),
    ("", "symbol", "\"BTCUSDT\""),
    ("", "state_db", "\"state/mcbot.db\""),
    ("", "lock_timeout_ms", "300"),
];

/// The Binance adapter at `url` (a TOML string).
fn binance_at(url: &str) -> [(&str, &str, &str); 3] {
    [("exchange", "kind", "\"binance\""), ("exchange", "base_url", url), ("exchange", "http_timeout_ms", "2000")]
}

#[test]
fn the_paper_finisher_writes_the_base_config() {
    let env = Bot::new().paper();
    let written: Table = std::fs::read_to_string(env.config_path()).unwrap().parse().unwrap();
    assert_eq!(written, super::BASE_CONFIG.parse::<Table>().unwrap());
}
