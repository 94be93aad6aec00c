//! `doctor`'s verdicts (CONTRACT §10): a pure function from the facts the shell read to one
//! `ok`/`warn`/`fail` check each, with a sentence a person can act on. Also the pure parts of
//! `doctor --round-trip`: which hosts count as test/demo endpoints and the smallest order.

use crate::core::millis::Millis;
use crate::core::money::{PriceRounding, SymbolFilters};
use rust_decimal::Decimal;
use serde::Serialize;

/// A check's verdict. Ordered: the worst one is the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One named check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

fn check(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check { name, status, detail: detail.into() }
}

/// The worst status of all checks (`ok` for none).
pub(crate) fn outcome(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

/// Where `exchange.base_url` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Venue {
    /// `fapi.binance.com`: real money.
    Production,
    /// Binance's demo trading or futures testnet: no real money.
    Demo,
    /// A server on this machine (tests, a mock).
    Local,
    /// Anything else: neither known to be safe nor known to be production.
    Other,
}

/// The host of an `http(s)://host[:port]` origin, lower-cased.
fn host_of(base_url: &str) -> String {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if authority.starts_with('[') {
        authority.split(']').next().map_or("", |h| h.trim_start_matches('['))
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.to_ascii_lowercase()
}

/// Classifies `exchange.base_url` by its host.
pub(crate) fn classify_venue(base_url: &str) -> Venue {
    match host_of(base_url).as_str() {
        "fapi.binance.com" => Venue::Production,
        "demo-fapi.binance.com" | "testnet.binancefuture.com" => Venue::Demo,
        "127.0.0.1" | "localhost" | "::1" => Venue::Local,
        _ => Venue::Other,
    }
}

/// `doctor --round-trip` may open a position here without `--i-know-this-is-live`.
pub(crate) fn round_trip_allowed(venue: Venue) -> bool {
    matches!(venue, Venue::Demo | Venue::Local)
}

/// Why a read gave no answer, in the terms the verdicts need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadFail {
    /// The host could not be reached at all (connection refused, DNS, timeout before an answer).
    pub unreachable: bool,
    /// Binance refused the key or the signature (-1002, -1022, -2014, -2015).
    pub credentials: bool,
    /// The error as the adapter worded it (it names the read and the host).
    pub message: String,
}

pub(crate) type Read<T> = Result<T, ReadFail>;

/// Margin type and leverage of the symbol, and whether they could be changed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MarginFacts {
    pub isolated: bool,
    pub leverage: u32,
    /// No position and no open order on the symbol: Binance lets `enter` set ISOLATED and 1x.
    pub settable: bool,
}

/// What `GET /sapi/v1/account/apiRestrictions` says about the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyFacts {
    pub enable_withdrawals: bool,
    pub ip_restrict: bool,
    pub enable_futures: bool,
}

/// Request-weight and order-rate usage and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RateFacts {
    /// `X-MBX-USED-WEIGHT-1M` of the last answer; None when no answer carried it.
    pub used_weight_1m: Option<u64>,
    pub weight_limit_1m: u64,
    pub order_limit_1m: u64,
    pub order_limit_10s: Option<u64>,
}

/// Everything doctor read, as plain facts. `None` in an `Option<Read<_>>` means "not applicable".
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    /// `exchange.kind = "paper"`: no key, no venue, no limits.
    pub paper: bool,
    pub base_url: String,
    pub symbol: String,
    pub recv_window_ms: Millis,
    /// Server time minus local time, ms (midpoint of the round trip).
    pub clock_offset_ms: Read<i64>,
    pub dual_side: Read<bool>,
    pub multi_assets: Read<bool>,
    pub symbol_status: Read<String>,
    pub filters: Read<SymbolFilters>,
    pub margin: Read<MarginFacts>,
    /// Available balance in the margin asset (USDT).
    pub balance: Read<Decimal>,
    pub mark_price: Read<Decimal>,
    pub risk_per_trade_pct: Decimal,
    pub max_notional_usdt: Decimal,
    /// None: nothing answered, so no usage is known.
    pub rate: Option<RateFacts>,
    /// `Ok(None)`: this setup cannot read the key's permissions (no spot host for this base_url).
    pub key: Read<Option<KeyFacts>>,
    /// The host for the spot-side key read, when there is one (named in its detail).
    pub key_host: Option<String>,
}

/// Below this clock offset nothing needs doing.
pub(crate) const CLOCK_OK_MS: i64 = 1_000;
/// Request-weight use (percent of the 1m limit) from which doctor warns, and fails.
pub(crate) const WEIGHT_WARN_PCT: u64 = 50;
pub(crate) const WEIGHT_FAIL_PCT: u64 = 90;
/// The smallest order is sized this much above MIN_NOTIONAL, so the mark moving between the
/// read and the fill cannot push it under (percent).
pub(crate) const NOTIONAL_BUFFER_PCT: Decimal = Decimal::from_parts(2, 0, 0, false, 0);

/// A failed read as a check: unreachable host, refused key, or the read's own error.
fn not_read(name: &'static str, what: &str, f: &ReadFail, base_url: &str) -> Check {
    let detail = if f.unreachable {
        format!("{what} not checked: the exchange at {base_url} (exchange.base_url) is unreachable: {}", f.message)
    } else if f.credentials {
        format!("{what} not checked: Binance refused the API key (see `api_key`)")
    } else {
        format!("{what} could not be read: {}", f.message)
    };
    check(name, Status::Fail, detail)
}

/// All checks, in a fixed order.
pub(crate) fn verdicts(f: &Facts) -> Vec<Check> {
    vec![
        base_url_check(f),
        api_key_check(f),
        clock_check(f),
        position_mode_check(f),
        multi_assets_check(f),
        symbol_check(f),
        filters_check(f),
        margin_check(f),
        balance_check(f),
        rate_check(f),
        withdrawals_check(f),
    ]
}

fn base_url_check(f: &Facts) -> Check {
    const N: &str = "base_url";
    if f.paper {
        return check(N, Status::Ok, "paper exchange: no order leaves this machine");
    }
    match classify_venue(&f.base_url) {
        Venue::Production => {
            check(N, Status::Warn, format!("{} is Binance's production host: orders trade real money", f.base_url))
        }
        Venue::Demo => check(N, Status::Ok, format!("{} is a Binance demo/test host: no real money", f.base_url)),
        Venue::Local => check(N, Status::Ok, format!("{} is a server on this machine (a test server)", f.base_url)),
        Venue::Other => check(
            N,
            Status::Warn,
            format!("{} is neither Binance's production nor its demo host: check exchange.base_url", f.base_url),
        ),
    }
}

fn api_key_check(f: &Facts) -> Check {
    const N: &str = "api_key";
    if f.paper {
        return check(N, Status::Ok, "paper exchange, no key needed");
    }
    // Signed reads: any of them answering proves the key; a refusal of any names what Binance said.
    let signed: [Result<(), &ReadFail>; 4] = [
        f.dual_side.as_ref().map(|_| ()),
        f.multi_assets.as_ref().map(|_| ()),
        f.margin.as_ref().map(|_| ()),
        f.balance.as_ref().map(|_| ()),
    ];
    if let Some(refused) = signed.iter().filter_map(|r| r.err()).find(|e| e.credentials) {
        return check(N, Status::Fail, format!("Binance refused the key: {}", refused.message));
    }
    if signed.iter().any(Result::is_ok) {
        return check(N, Status::Ok, "Binance accepted the API key and its signature");
    }
    match signed.iter().find_map(|r| r.err()) {
        Some(e) => not_read(N, "the API key", e, &f.base_url),
        None => check(N, Status::Fail, "no signed read was made"),
    }
}

fn clock_check(f: &Facts) -> Check {
    const N: &str = "clock";
    let off = match &f.clock_offset_ms {
        Ok(o) => *o,
        Err(e) => return not_read(N, "the clock offset", e, &f.base_url),
    };
    if f.paper {
        return check(N, Status::Ok, "paper exchange: it runs on this machine's clock");
    }
    let window = f.recv_window_ms.as_i64();
    let abs = off.saturating_abs();
    if abs < CLOCK_OK_MS {
        check(N, Status::Ok, format!("clock offset to the exchange {off} ms (recvWindow {window} ms)"))
    } else if abs < window {
        check(
            N,
            Status::Warn,
            format!(
                "clock offset {off} ms: mcbot corrects signed requests for it, but candle times use this \
                 machine's clock; sync it (chrony or systemd-timesyncd)"
            ),
        )
    } else {
        check(
            N,
            Status::Fail,
            format!(
                "clock offset {off} ms is beyond recvWindow ({window} ms): a drift during a run gets orders \
                 refused with -1021; sync this machine's clock (chrony or systemd-timesyncd)"
            ),
        )
    }
}

fn position_mode_check(f: &Facts) -> Check {
    const N: &str = "position_mode";
    match &f.dual_side {
        Err(e) => not_read(N, "the position mode", e, &f.base_url),
        Ok(false) => check(N, Status::Ok, "one-way position mode"),
        Ok(true) => check(
            N,
            Status::Fail,
            "the account is in hedge (dual-side) mode; switch it to one-way mode in Binance Futures \
             (Preferences → Position Mode) with no position open: mcbot never changes it itself",
        ),
    }
}

fn multi_assets_check(f: &Facts) -> Check {
    const N: &str = "margin_mode";
    match &f.multi_assets {
        Err(e) => not_read(N, "the margin mode", e, &f.base_url),
        Ok(false) => check(N, Status::Ok, "single-asset margin mode"),
        Ok(true) => check(
            N,
            Status::Fail,
            "Multi-Assets mode is on, which rules out ISOLATED margin; switch to Single-Asset mode in \
             Binance Futures (Preferences → Asset Mode)",
        ),
    }
}

fn symbol_check(f: &Facts) -> Check {
    const N: &str = "symbol";
    match &f.symbol_status {
        Err(e) => not_read(N, &format!("{}'s status", f.symbol), e, &f.base_url),
        Ok(s) if s == "TRADING" => check(N, Status::Ok, format!("{} is TRADING", f.symbol)),
        Ok(s) => check(
            N,
            Status::Fail,
            format!("{} is {s}, not TRADING: Binance takes no orders for it; wait, or set another symbol", f.symbol),
        ),
    }
}

fn filters_check(f: &Facts) -> Check {
    const N: &str = "filters";
    match &f.filters {
        Err(e) => not_read(N, &format!("{}'s filters", f.symbol), e, &f.base_url),
        Ok(x) if x.tick_size <= Decimal::ZERO || x.step_size <= Decimal::ZERO || x.min_qty <= Decimal::ZERO => check(
            N,
            Status::Fail,
            format!(
                "{}'s filters are unusable (tick {}, step {}, min qty {}): no price or quantity can be quantised",
                f.symbol, x.tick_size, x.step_size, x.min_qty
            ),
        ),
        Ok(x) => check(
            N,
            Status::Ok,
            format!(
                "tick {}, step {}, min qty {}, market max qty {}, min notional {}",
                x.tick_size, x.step_size, x.min_qty, x.market_max_qty, x.min_notional
            ),
        ),
    }
}

fn margin_check(f: &Facts) -> Check {
    const N: &str = "isolated_1x";
    let m = match &f.margin {
        Ok(m) => m,
        Err(e) => return not_read(N, "margin type and leverage", e, &f.base_url),
    };
    let now = format!("{} {}x", if m.isolated { "ISOLATED" } else { "CROSSED" }, m.leverage);
    if m.isolated && m.leverage == 1 {
        check(N, Status::Ok, format!("{} is ISOLATED at 1x", f.symbol))
    } else if m.settable {
        check(
            N,
            Status::Ok,
            format!("{} is {now}; nothing is open, so `enter` sets ISOLATED and 1x before its first order", f.symbol),
        )
    } else {
        check(
            N,
            Status::Fail,
            format!(
                "{} is {now} with a position or open orders, so Binance refuses to change it; close them, \
                 then `enter` sets ISOLATED and 1x",
                f.symbol
            ),
        )
    }
}

fn balance_check(f: &Facts) -> Check {
    const N: &str = "balance";
    let bal = match &f.balance {
        Ok(b) => b.normalize(),
        Err(e) => return not_read(N, "the balance", e, &f.base_url),
    };
    let Ok(filters) = &f.filters else {
        return check(N, Status::Warn, format!("{bal} USDT available; the minimum order is unknown (see `filters`)"));
    };
    let min_order = f
        .mark_price
        .as_ref()
        .ok()
        .and_then(|m| smallest_order_qty(filters, *m).map(|q| (q * *m).round_dp(2).normalize()))
        .unwrap_or(filters.min_notional);
    let risk = (bal * f.risk_per_trade_pct / Decimal::ONE_HUNDRED).round_dp(2).normalize();
    if f.max_notional_usdt < filters.min_notional {
        return check(
            N,
            Status::Fail,
            format!(
                "risk.max_notional_usdt {} is below {}'s minimum notional {}: every plan would be refused; raise it",
                f.max_notional_usdt, f.symbol, filters.min_notional
            ),
        );
    }
    if bal < min_order {
        return check(
            N,
            Status::Fail,
            format!("{bal} USDT available, below the smallest order ({min_order} USDT at 1x): fund the futures wallet"),
        );
    }
    if bal < f.max_notional_usdt {
        return check(
            N,
            Status::Warn,
            format!(
                "{bal} USDT available (risk per trade {risk} USDT at {} %): enough for the smallest order \
                 ({min_order} USDT), but positions are capped below risk.max_notional_usdt ({}) at 1x",
                f.risk_per_trade_pct, f.max_notional_usdt
            ),
        );
    }
    check(
        N,
        Status::Ok,
        format!(
            "{bal} USDT available: risk per trade {risk} USDT at {} %; the smallest order is {min_order} USDT",
            f.risk_per_trade_pct
        ),
    )
}

fn rate_check(f: &Facts) -> Check {
    const N: &str = "rate_limits";
    if f.paper {
        return check(N, Status::Ok, "paper exchange: no rate limits");
    }
    let Some(r) = &f.rate else {
        return check(N, Status::Fail, format!("no answer from {} (exchange.base_url): headroom unknown", f.base_url));
    };
    let orders = match r.order_limit_10s {
        Some(t) => format!("{} orders/min and {t} per 10 s", r.order_limit_1m),
        None => format!("{} orders/min", r.order_limit_1m),
    };
    let Some(used) = r.used_weight_1m else {
        return check(
            N,
            Status::Warn,
            format!(
                "no answer carried X-MBX-USED-WEIGHT-1M: request-weight headroom unknown (limit {}/min; {orders})",
                r.weight_limit_1m
            ),
        );
    };
    let pct = used.saturating_mul(100) / r.weight_limit_1m.max(1);
    let detail = format!("request weight {used} of {}/min used ({pct} %); {orders}", r.weight_limit_1m);
    if pct >= WEIGHT_FAIL_PCT {
        check(
            N,
            Status::Fail,
            format!("{detail}: something else on this IP uses nearly all of it; stop it before trading"),
        )
    } else if pct >= WEIGHT_WARN_PCT {
        check(
            N,
            Status::Warn,
            format!(
                "{detail}: another client on this IP shares the limit; mcbot will wait for the next minute near it"
            ),
        )
    } else {
        check(N, Status::Ok, detail)
    }
}

fn withdrawals_check(f: &Facts) -> Check {
    const N: &str = "withdrawals";
    if f.paper {
        return check(N, Status::Ok, "paper exchange, no key");
    }
    const BY_HAND: &str = "check by hand in Binance API Management that \"Enable Withdrawals\" is off for this key";
    match &f.key {
        Ok(Some(k)) if k.enable_withdrawals => check(
            N,
            Status::Warn,
            format!(
                "WARNING: THIS API KEY CAN WITHDRAW FUNDS. A leaked key empties the account: turn \"Enable \
                 Withdrawals\" off in Binance API Management{}",
                if k.ip_restrict { "" } else { ", and restrict the key to this machine's IP" }
            ),
        ),
        Ok(Some(k)) => check(
            N,
            if k.enable_futures { Status::Ok } else { Status::Warn },
            format!(
                "the key cannot withdraw{}{}",
                if k.ip_restrict { "; it is IP-restricted" } else { "; consider restricting it to this machine's IP" },
                if k.enable_futures { "" } else { "; Binance reports futures trading NOT enabled for it" }
            ),
        ),
        Ok(None) => check(
            N,
            Status::Warn,
            format!(
                "the key's permissions cannot be read with this setup (no spot host for {}); {BY_HAND}",
                f.base_url
            ),
        ),
        Err(e) => check(
            N,
            Status::Warn,
            format!(
                "the key's permissions could not be read from {}: {}; {BY_HAND}",
                f.key_host.as_deref().unwrap_or("the spot host"),
                e.message
            ),
        ),
    }
}

/// The smallest MARKET quantity the filters allow at `mark`: at least `min_qty`, and meeting
/// MIN_NOTIONAL with [`NOTIONAL_BUFFER_PCT`] to spare, on the step grid. None when the filters
/// or the mark cannot give one (non-positive, or above the market maximum).
pub(crate) fn smallest_order_qty(filters: &SymbolFilters, mark: Decimal) -> Option<Decimal> {
    if mark <= Decimal::ZERO || filters.step_size <= Decimal::ZERO {
        return None;
    }
    let notional = filters.min_notional * (Decimal::ONE_HUNDRED + NOTIONAL_BUFFER_PCT) / Decimal::ONE_HUNDRED;
    let by_notional = ((notional / mark) / filters.step_size).ceil() * filters.step_size;
    let qty = by_notional.max(filters.min_qty).normalize();
    let max = if filters.market_max_qty > Decimal::ZERO { filters.market_max_qty } else { filters.max_qty };
    (max <= Decimal::ZERO || qty <= max).then_some(qty)
}

/// The round trip's LONG stop: `pct` percent under the mark, on the tick grid (rounded down).
pub(crate) fn round_trip_stop(filters: &SymbolFilters, mark: Decimal, pct: Decimal) -> Option<Decimal> {
    let raw = mark * (Decimal::ONE_HUNDRED - pct) / Decimal::ONE_HUNDRED;
    filters.quantize_price(raw, PriceRounding::Down).ok().filter(|s| *s < mark)
}

/// An open conditional order as the round trip reads it back (client id, still open, quantity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeenConditional {
    pub client_id: String,
    pub open: bool,
    pub qty: Decimal,
}

/// The plan's STOP and TP client ids found open on the exchange for the whole position, each
/// None when absent (another plan's, a closed one or one for another size does not count).
pub(crate) fn protection_seen(
    bot_id: &str,
    plan_id: &str,
    position_qty: Decimal,
    open: &[SeenConditional],
) -> (Option<String>, Option<String>) {
    let find = |role: &str| {
        let prefix = format!("{bot_id}_{plan_id}_{role}_");
        open.iter()
            .find(|c| c.client_id.starts_with(&prefix) && c.open && c.qty == position_qty && !position_qty.is_zero())
            .map(|c| c.client_id.clone())
    };
    (find("STOP"), find("TP"))
}

#[cfg(test)]
mod tests;
