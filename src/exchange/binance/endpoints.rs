//! Every REST endpoint the adapter calls, with its method, security and rate-limit cost. The rate
//! gate reads the weights from here; `docs/binance.md` embeds [`markdown`]'s output.
//!
//! Weights: BINANCE.md §3–4 (official SDK doc comments). Order endpoints cost 0 IP weight and 1 on
//! the account's order counters.

use crate::exchange::binance::http::Method;

/// What a request costs against the per-minute limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weight {
    Fixed(u32),
    /// Klines: 1 below 100 rows, 2 below 500, 5 up to 1000, 10 above.
    ByKlineLimit,
}

/// One endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub signed: bool,
    pub weight: Weight,
    /// Counts against `X-MBX-ORDER-COUNT-*` (new orders only; cancels do not).
    pub counts_order: bool,
    /// Changes state on the exchange: sent once, never retried by the adapter (except -1021).
    pub write: bool,
    pub used_for: &'static str,
}

impl Endpoint {
    /// The IP weight of a call with `kline_limit` rows (only klines depend on it).
    pub(crate) fn weight_for(&self, kline_limit: usize) -> u32 {
        match self.weight {
            Weight::Fixed(w) => w,
            Weight::ByKlineLimit => match kline_limit {
                0..=99 => 1,
                100..=499 => 2,
                500..=1000 => 5,
                _ => 10,
            },
        }
    }
}

const fn ep(method: Method, path: &'static str, signed: bool, weight: u32, used_for: &'static str) -> Endpoint {
    let write = !matches!(method, Method::Get);
    Endpoint { method, path, signed, weight: Weight::Fixed(weight), counts_order: false, write, used_for }
}

const fn order_ep(path: &'static str, used_for: &'static str) -> Endpoint {
    Endpoint {
        method: Method::Post,
        path,
        signed: true,
        weight: Weight::Fixed(0),
        counts_order: true,
        write: true,
        used_for,
    }
}

use Method::{Delete, Get, Post};

pub(crate) const TIME: Endpoint = ep(Get, "/fapi/v1/time", false, 1, "clock offset (`server_time`, -1021 resync)");
pub(crate) const EXCHANGE_INFO: Endpoint =
    ep(Get, "/fapi/v1/exchangeInfo", false, 1, "`filters` (cached per symbol), rate limits");
pub(crate) const KLINES: Endpoint = Endpoint {
    method: Get,
    path: "/fapi/v1/klines",
    signed: false,
    weight: Weight::ByKlineLimit,
    counts_order: false,
    write: false,
    used_for: "`klines`",
};
pub(crate) const PREMIUM_INDEX: Endpoint =
    ep(Get, "/fapi/v1/premiumIndex", false, 1, "`mark_info` (mark price, funding)");
pub(crate) const POSITION_RISK: Endpoint = ep(Get, "/fapi/v3/positionRisk", true, 5, "`position` (empty array = flat)");
pub(crate) const OPEN_ORDERS: Endpoint = ep(Get, "/fapi/v1/openOrders", true, 1, "`open_orders`");
pub(crate) const OPEN_ALGO_ORDERS: Endpoint = ep(Get, "/fapi/v1/openAlgoOrders", true, 1, "`open_conditional_orders`");
pub(crate) const NEW_ORDER: Endpoint = order_ep("/fapi/v1/order", "`place_market` (MARKET, RESULT; CLOSE reduceOnly)");
pub(crate) const NEW_ALGO_ORDER: Endpoint =
    order_ep("/fapi/v1/algoOrder", "`place_conditional` (STOP_MARKET / TAKE_PROFIT_MARKET)");
pub(crate) const QUERY_ORDER: Endpoint = ep(
    Get,
    "/fapi/v1/order",
    true,
    1,
    "`query_order` by origClientOrderId; a fill's price or a triggered STOP's child by orderId",
);
pub(crate) const QUERY_ALGO_ORDER: Endpoint =
    ep(Get, "/fapi/v1/algoOrder", true, 1, "`query_conditional` by clientAlgoId");
pub(crate) const ALL_ALGO_ORDERS: Endpoint =
    ep(Get, "/fapi/v1/allAlgoOrders", true, 5, "`query_conditional` fallback when /algoOrder forgot it");
pub(crate) const ALL_ORDERS: Endpoint =
    ep(Get, "/fapi/v1/allOrders", true, 5, "`order_history`: which own ENTRY built a position the journal lost");
pub(crate) const CANCEL_ORDER: Endpoint = ep(Delete, "/fapi/v1/order", true, 1, "`cancel_order`");
pub(crate) const CANCEL_ALGO_ORDER: Endpoint = ep(Delete, "/fapi/v1/algoOrder", true, 1, "`cancel_conditional`");
pub(crate) const SYMBOL_CONFIG: Endpoint =
    ep(Get, "/fapi/v1/symbolConfig", true, 5, "`account_settings` (margin type, leverage)");
pub(crate) const POSITION_SIDE_DUAL: Endpoint =
    ep(Get, "/fapi/v1/positionSide/dual", true, 30, "`account_settings` (hedge mode)");
pub(crate) const MARGIN_TYPE: Endpoint =
    ep(Post, "/fapi/v1/marginType", true, 1, "`set_isolated_margin` (-4046 = done)");
pub(crate) const LEVERAGE: Endpoint = ep(Post, "/fapi/v1/leverage", true, 1, "`set_leverage`");
pub(crate) const BALANCE: Endpoint = ep(Get, "/fapi/v3/balance", true, 5, "`wallet_balance` (availableBalance)");
pub(crate) const USER_TRADES: Endpoint = ep(Get, "/fapi/v1/userTrades", true, 5, "`order_fills`");
pub(crate) const INCOME: Endpoint = ep(
    Get,
    "/fapi/v1/income",
    true,
    30,
    "`funding_history` (FUNDING_FEE, paged by 1000; the last 3 months only), journaled at close",
);
pub(crate) const MULTI_ASSETS_MARGIN: Endpoint =
    ep(Get, "/fapi/v1/multiAssetsMargin", true, 30, "`multi_assets_margin` (doctor: must be false)");
pub(crate) const API_RESTRICTIONS: Endpoint =
    ep(Get, "/sapi/v1/account/apiRestrictions", true, 1, "`key_permissions` (doctor; on the spot host, see below)");

/// All of them, in the order the docs list them.
#[cfg(test)]
pub(crate) const ALL: &[Endpoint] = &[
    TIME,
    EXCHANGE_INFO,
    KLINES,
    PREMIUM_INDEX,
    POSITION_RISK,
    OPEN_ORDERS,
    OPEN_ALGO_ORDERS,
    NEW_ORDER,
    NEW_ALGO_ORDER,
    QUERY_ORDER,
    QUERY_ALGO_ORDER,
    ALL_ALGO_ORDERS,
    ALL_ORDERS,
    CANCEL_ORDER,
    CANCEL_ALGO_ORDER,
    SYMBOL_CONFIG,
    POSITION_SIDE_DUAL,
    MARGIN_TYPE,
    LEVERAGE,
    BALANCE,
    USER_TRADES,
    INCOME,
    MULTI_ASSETS_MARGIN,
    API_RESTRICTIONS,
];

/// The endpoint table as Markdown, embedded verbatim in `docs/binance.md`.
#[cfg(test)]
pub(crate) fn markdown() -> String {
    let mut s = String::from(
        "| Method | Path | Signed | IP weight | Orders | Retried | Used for |\n|---|---|---|---|---|---|---|\n",
    );
    for e in ALL {
        let weight = match e.weight {
            Weight::Fixed(w) => w.to_string(),
            Weight::ByKlineLimit => "1/2/5/10 by limit".into(),
        };
        s.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} | {} |\n",
            e.method,
            e.path,
            if e.signed { "yes" } else { "no" },
            weight,
            if e.counts_order { "1" } else { "0" },
            if e.write { "never (only -1021, once)" } else { "reads: the command's budget" },
            e.used_for
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_carry_the_generated_table() {
        let doc = include_str!("../../../docs/binance.md");
        assert!(doc.contains(&markdown()), "docs/binance.md is out of date; the table is now:\n{}", markdown());
    }

    #[test]
    fn kline_weights() {
        assert_eq!(
            [1usize, 99, 100, 499, 500, 1000, 1001, 1500].map(|n| KLINES.weight_for(n)),
            [1, 1, 2, 2, 5, 5, 10, 10]
        );
    }

    #[test]
    fn stop_and_tp_never_go_to_the_order_endpoint() {
        // -4120: conditional types on /fapi/v1/order are refused since 2025-12-09 (BINANCE.md §0.1).
        assert_eq!(NEW_ALGO_ORDER.path, "/fapi/v1/algoOrder");
        assert_ne!(NEW_ALGO_ORDER.path, NEW_ORDER.path);
    }
}
