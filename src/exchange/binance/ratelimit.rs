//! Rate-limit awareness: backs off *before* Binance's per-minute limits, not after.
//!
//! Every answer reports the minute's usage (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-1M`). When
//! the next request would take usage past [`THRESHOLD_PCT`] of the limit (read from
//! `exchangeInfo.rateLimits`, 2400 weight / 1200 orders until then), the request waits for the next
//! minute boundary of server time; the same for orders and `X-MBX-ORDER-COUNT-10S` (300 / 10 s,
//! next 10-second window). A 429 sets a back-off until its Retry-After; a 418 (ban) makes
//! every request fail at once until the ban ends, without touching the network. Pure state: the
//! caller sleeps on its Clock.

use std::sync::Mutex;

/// Share of a limit mcbot allows itself before waiting for the window to reset.
pub(crate) const THRESHOLD_PCT: u64 = 80;
/// Limits used until `exchangeInfo` is read (BINANCE.md §3).
pub(crate) const DEFAULT_WEIGHT_LIMIT: u64 = 2400;
pub(crate) const DEFAULT_ORDER_LIMIT: u64 = 1200;
/// The account's 10-second order limit (BINANCE.md §3), tracked from `X-MBX-ORDER-COUNT-10S`.
pub(crate) const ORDER_LIMIT_10S: u64 = 300;
const TEN_S_MS: i64 = 10_000;
/// Slack after the minute boundary, so a small clock-offset error cannot land us in the old window.
pub(crate) const BOUNDARY_SLACK_MS: i64 = 1000;
/// A 418 without Retry-After or ban time: the shortest ban Binance documents.
pub(crate) const DEFAULT_BAN_MS: u64 = 120_000;

const MINUTE_MS: i64 = 60_000;

/// What the gate decided for the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Go,
    /// Sleep this long, then send.
    Wait {
        ms: u64,
        why: &'static str,
    },
    /// Banned (418) until this server time: do not send.
    Banned {
        until_ms: i64,
    },
}

#[derive(Debug, Default)]
struct State {
    weight_limit: u64,
    order_limit: u64,
    used_weight: u64,
    weight_minute: i64,
    order_count: u64,
    order_minute: i64,
    backoff_until_ms: i64,
    banned_until_ms: i64,
    order_count_10s: u64,
    order_window_10s: i64,
    /// Highest used share of any limit an answer reported, percent (posture evidence).
    peak_pct: u64,
}

fn pct(used: u64, limit: u64) -> u64 {
    used.saturating_mul(100).checked_div(limit).unwrap_or(0)
}

/// The shared limiter (one per adapter).
#[derive(Debug)]
pub(crate) struct RateGate {
    state: Mutex<State>,
}

/// The `why` of the wait a 429's `Retry-After` imposes (reads never wait it past their budget).
pub(crate) const RETRY_AFTER_WAIT: &str = "429 Retry-After";

impl Default for RateGate {
    fn default() -> Self {
        RateGate {
            state: Mutex::new(State {
                weight_limit: DEFAULT_WEIGHT_LIMIT,
                order_limit: DEFAULT_ORDER_LIMIT,
                weight_minute: i64::MIN,
                order_minute: i64::MIN,
                order_window_10s: i64::MIN,
                ..State::default()
            }),
        }
    }
}

fn minute(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS)
}

fn until_next_minute(now_ms: i64) -> u64 {
    let next = (minute(now_ms) + 1) * MINUTE_MS + BOUNDARY_SLACK_MS;
    u64::try_from(next - now_ms).unwrap_or(0)
}

fn over(used: u64, adding: u64, limit: u64) -> bool {
    (used + adding).saturating_mul(100) > limit.saturating_mul(THRESHOLD_PCT)
}

impl RateGate {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update; the counters are still
        // usable numbers, so keep going rather than panic here too.
        let mut guard = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Limits from `exchangeInfo.rateLimits` (per-minute windows only).
    pub(crate) fn set_limits(&self, weight_per_minute: Option<u64>, orders_per_minute: Option<u64>) {
        self.with(|s| {
            if let Some(w) = weight_per_minute.filter(|w| *w > 0) {
                s.weight_limit = w;
            }
            if let Some(o) = orders_per_minute.filter(|o| *o > 0) {
                s.order_limit = o;
            }
        });
    }

    /// (used weight this minute if an answer reported it, weight limit, order limit) for doctor.
    pub(crate) fn usage(&self) -> (Option<u64>, u64, u64) {
        self.with(|s| {
            let used = (s.weight_minute != i64::MIN).then_some(s.used_weight);
            (used, s.weight_limit, s.order_limit)
        })
    }

    /// Before sending a request costing `weight` (and one order if `is_order`) at server time `now`.
    pub(crate) fn check(&self, now_ms: i64, weight: u32, is_order: bool) -> Gate {
        self.with(|s| {
            if now_ms < s.banned_until_ms {
                return Gate::Banned { until_ms: s.banned_until_ms };
            }
            if now_ms < s.backoff_until_ms {
                let ms = u64::try_from(s.backoff_until_ms - now_ms).unwrap_or(0);
                return Gate::Wait { ms, why: RETRY_AFTER_WAIT };
            }
            let this_minute = minute(now_ms);
            if weight > 0 && s.weight_minute == this_minute && over(s.used_weight, u64::from(weight), s.weight_limit) {
                return Gate::Wait { ms: until_next_minute(now_ms), why: "request weight near the 1m limit" };
            }
            let window = now_ms.div_euclid(TEN_S_MS);
            if is_order && s.order_window_10s == window && over(s.order_count_10s, 1, ORDER_LIMIT_10S) {
                let next = (window + 1) * TEN_S_MS + BOUNDARY_SLACK_MS;
                return Gate::Wait {
                    ms: u64::try_from(next - now_ms).unwrap_or(0),
                    why: "order count near the 10s limit",
                };
            }
            if is_order && s.order_minute == this_minute && over(s.order_count, 1, s.order_limit) {
                return Gate::Wait { ms: until_next_minute(now_ms), why: "order count near the 1m limit" };
            }
            Gate::Go
        })
    }

    /// After an answer received at server time `now`.
    pub(crate) fn record(&self, now_ms: i64, used_weight: Option<u64>, order_count: Option<u64>) {
        self.with(|s| {
            if let Some(w) = used_weight {
                s.used_weight = w;
                s.weight_minute = minute(now_ms);
                s.peak_pct = s.peak_pct.max(pct(w, s.weight_limit));
            }
            if let Some(o) = order_count {
                s.order_count = o;
                s.order_minute = minute(now_ms);
                s.peak_pct = s.peak_pct.max(pct(o, s.order_limit));
            }
        });
    }

    /// After an answer carrying `X-MBX-ORDER-COUNT-10S`.
    pub(crate) fn record_orders_10s(&self, now_ms: i64, order_count: Option<u64>) {
        if let Some(o) = order_count {
            self.with(|s| {
                s.order_count_10s = o;
                s.order_window_10s = now_ms.div_euclid(TEN_S_MS);
                s.peak_pct = s.peak_pct.max(pct(o, ORDER_LIMIT_10S));
            });
        }
    }

    /// The highest used share of a limit (request weight per minute, orders per minute or per
    /// 10 s) any answer of this process reported, in percent: what `X-MBX-USED-WEIGHT-1M`,
    /// `X-MBX-ORDER-COUNT-1M` and `X-MBX-ORDER-COUNT-10S` said at their worst.
    pub(crate) fn peak_used_pct(&self) -> u32 {
        self.with(|s| u32::try_from(s.peak_pct).unwrap_or(u32::MAX))
    }

    /// A 429: nothing goes out before `retry_after_ms` has passed.
    pub(crate) fn back_off(&self, now_ms: i64, retry_after_ms: u64) {
        let until = now_ms.saturating_add(i64::try_from(retry_after_ms).unwrap_or(i64::MAX));
        self.with(|s| s.backoff_until_ms = s.backoff_until_ms.max(until));
    }

    /// The ban and back-off ends (server ms), to persist them.
    pub(crate) fn restrictions(&self) -> (i64, i64) {
        self.with(|s| (s.banned_until_ms, s.backoff_until_ms))
    }

    /// Restores a ban / back-off an earlier process persisted.
    pub(crate) fn restore(&self, banned_until_ms: i64, backoff_until_ms: i64) {
        self.with(|s| {
            s.banned_until_ms = s.banned_until_ms.max(banned_until_ms);
            s.backoff_until_ms = s.backoff_until_ms.max(backoff_until_ms);
        });
    }

    /// A 418: nothing goes out at all until the ban ends.
    pub(crate) fn ban(&self, now_ms: i64, retry_after_ms: Option<u64>) {
        let ms = retry_after_ms.unwrap_or(DEFAULT_BAN_MS);
        let until = now_ms.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
        self.with(|s| s.banned_until_ms = s.banned_until_ms.max(until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_010_000; // 30 s into a minute

    /// Posture evidence: the worst share any header reported, against the limit it belongs to.
    #[test]
    fn peak_used_pct_is_the_worst_header_seen() {
        let g = RateGate::default();
        assert_eq!(g.peak_used_pct(), 0);
        g.record(T0, Some(1200), None); // 50% of 2400
        assert_eq!(g.peak_used_pct(), 50);
        g.record(T0 + 1, Some(240), Some(600)); // weight 10%, orders 50% of 1200
        assert_eq!(g.peak_used_pct(), 50, "a lower answer never lowers the peak");
        g.record_orders_10s(T0 + 2, Some(270)); // 90% of 300
        assert_eq!(g.peak_used_pct(), 90);
        g.set_limits(Some(1000), None);
        g.record(T0 + 3, Some(990), None);
        assert_eq!(g.peak_used_pct(), 99);
    }

    #[test]
    fn waits_for_the_next_10s_window_near_the_10s_order_limit() {
        let g = RateGate::default();
        g.record_orders_10s(T0, Some(239)); // 80% of 300 = 240
        assert_eq!(g.check(T0, 0, true), Gate::Go);
        g.record_orders_10s(T0, Some(240));
        assert_eq!(g.check(T0, 0, true), Gate::Wait { ms: 11_000, why: "order count near the 10s limit" });
        assert_eq!(g.check(T0, 1, false), Gate::Go, "reads are not orders");
        assert_eq!(g.check(T0 + 10_000, 0, true), Gate::Go, "a new window");
    }

    #[test]
    fn waits_for_the_next_minute_past_the_threshold() {
        let g = RateGate::default();
        g.record(T0, Some(1919), None);
        assert_eq!(g.check(T0, 1, false), Gate::Go); // 1920 = 80 % exactly
        g.record(T0, Some(1920), None);
        let Gate::Wait { ms, .. } = g.check(T0, 1, false) else { panic!("should wait") };
        assert_eq!(minute(T0 + i64::try_from(ms).unwrap()), minute(T0) + 1);
        // Weight-free order requests are not held back by weight.
        assert_eq!(g.check(T0, 0, true), Gate::Go);
        // A reading from the previous minute is stale.
        assert_eq!(g.check(T0 + 60_000, 1, false), Gate::Go);
    }

    #[test]
    fn order_count_and_limits_from_exchange_info() {
        let g = RateGate::default();
        g.record(T0, Some(2000), Some(959));
        assert!(matches!(g.check(T0, 1, false), Gate::Wait { .. }));
        assert_eq!(g.check(T0, 0, true), Gate::Go);
        g.record(T0, None, Some(960));
        assert!(matches!(g.check(T0, 0, true), Gate::Wait { .. }));
        g.set_limits(Some(6000), Some(2400));
        assert_eq!(g.check(T0, 1, true), Gate::Go);
    }

    #[test]
    fn back_off_and_ban() {
        let g = RateGate::default();
        g.back_off(T0, 7000);
        assert_eq!(g.check(T0 + 2000, 1, false), Gate::Wait { ms: 5000, why: "429 Retry-After" });
        assert_eq!(g.check(T0 + 7000, 1, false), Gate::Go);
        g.ban(T0, None);
        assert_eq!(g.check(T0 + 1, 0, true), Gate::Banned { until_ms: T0 + 120_000 });
    }
}
