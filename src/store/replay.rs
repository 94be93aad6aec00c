//! The whole-DB replay: every plan's lifecycle rebuilt from the journal (`core::replay`) and
//! the hash chain checked. `mcbot replay` words it; `sim` runs it after a simulated run.

use crate::core::replay::{replay_journal, replay_plan, rule, PlanReplay, Violation};
use crate::store::journal::{journal_facts, verify_entries, BrokenLink, JournalEntry};
use crate::store::{Store, StoreResult};
use std::collections::BTreeSet;

/// The hash chain over the whole journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainCheck {
    /// Rows in the journal.
    pub rows: usize,
    /// The first link that does not hold.
    pub broken: Option<BrokenLink>,
}

impl ChainCheck {
    pub fn of(entries: &[JournalEntry]) -> Self {
        ChainCheck { rows: entries.len(), broken: verify_entries(entries).err() }
    }
    /// A broken chain, as a `journal_chain` violation naming the first bad seq.
    pub fn violation(&self) -> Option<Violation> {
        self.broken.as_ref().map(|b| Violation { rule: rule::JOURNAL_CHAIN, seq: b.seq, detail: b.problem.clone() })
    }
}

/// Every plan of a DB replayed, and its chain checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DbReplay {
    pub chain: ChainCheck,
    /// Plans with journal rows (by first row), then plans from `trade_plan` without any.
    pub plans: Vec<PlanReplay>,
}

impl DbReplay {
    /// Every violation, chain first, each with its plan id (`None` for the chain).
    pub fn violations(&self) -> Vec<(Option<&str>, Violation)> {
        let chain = self.chain.violation().map(|v| (None, v));
        let plans = self.plans.iter().flat_map(|p| p.violations.iter().map(|v| (Some(p.plan_id.as_str()), v.clone())));
        chain.into_iter().chain(plans).collect()
    }
    pub fn is_clean(&self) -> bool {
        self.chain.broken.is_none() && self.plans.iter().all(PlanReplay::is_clean)
    }
}

/// Replays every plan in the DB (from `trade_plan` and from the journal) and checks the chain.
pub fn replay_store(store: &Store) -> StoreResult<DbReplay> {
    let entries = store.full_journal()?;
    let mut plans = replay_journal(&journal_facts(&entries));
    let seen: BTreeSet<String> = plans.iter().map(|p| p.plan_id.clone()).collect();
    for p in store.all_plans()? {
        if !seen.contains(&p.id) {
            plans.push(replay_plan(&p.id, &[]));
        }
    }
    Ok(DbReplay { chain: ChainCheck::of(&entries), plans })
}
