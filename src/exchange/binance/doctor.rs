//! The reads only `doctor` makes: Multi-Assets mode, the key's permissions (on the spot host) and
//! the rate usage the answers reported.

use super::{parse, BinanceFutures};
use crate::exchange::binance::sign::Query;
use crate::exchange::binance::{endpoints, wire};
use crate::exchange::error::ExResult;
use crate::exchange::{KeyPermissions, RateUsage};

/// The spot host that serves `/sapi` for the futures host `base_url`, when there is one: the
/// production and demo-trading hosts have one; the futures testnet's keys are not spot keys. A
/// server on this machine (a test server) stands in for both hosts.
pub(crate) fn spot_host_for(base_url: &str) -> Option<String> {
    let b = base_url.trim_end_matches('/').to_ascii_lowercase();
    match b.as_str() {
        "https://fapi.binance.com" => Some("https://api.binance.com".into()),
        "https://demo-fapi.binance.com" => Some("https://demo-api.binance.com".into()),
        _ if b.starts_with("http://127.0.0.1:") || b.starts_with("http://localhost:") => Some(b),
        _ => None,
    }
}

impl BinanceFutures {
    /// `GET /fapi/v1/multiAssetsMargin`.
    pub(super) fn get_multi_assets_margin(&self) -> ExResult<bool> {
        self.read("binance.multi_assets_margin", "", || {
            let reply = self.rest.call(&endpoints::MULTI_ASSETS_MARGIN, &Query::new(), 0)?;
            parse::<wire::MultiAssetsMargin>(&reply, false).map(|m| m.multi_assets_margin.0)
        })
    }

    /// `GET /sapi/v1/account/apiRestrictions` on the spot host; `Ok(None)` without one.
    pub(super) fn get_key_permissions(&self) -> ExResult<Option<KeyPermissions>> {
        let Some(host) = spot_host_for(self.rest.base_url()) else {
            return Ok(None);
        };
        let read = || {
            let reply = self.rest.call_signed_at(&host, &endpoints::API_RESTRICTIONS, &Query::new())?;
            parse::<wire::ApiRestrictions>(&reply, false).map(|r| KeyPermissions {
                enable_withdrawals: r.enable_withdrawals.0,
                ip_restrict: r.ip_restrict.0,
                enable_futures: r.enable_futures.0,
            })
        };
        self.read("binance.api_restrictions", "", read).map(Some).map_err(|mut e| {
            e.message = e.message.replacen(self.rest.base_url(), &host, 1);
            e
        })
    }

    pub(super) fn current_rate_usage(&self) -> RateUsage {
        let (used_weight_1m, weight_limit_1m, order_limit_1m) = self.rest.gate.usage();
        RateUsage { used_weight_1m, weight_limit_1m, order_limit_1m }
    }
}

#[cfg(test)]
mod tests {
    use super::spot_host_for;

    #[test]
    fn spot_hosts() {
        assert_eq!(spot_host_for("https://fapi.binance.com/").as_deref(), Some("https://api.binance.com"));
        assert_eq!(spot_host_for("https://demo-fapi.binance.com").as_deref(), Some("https://demo-api.binance.com"));
        assert_eq!(spot_host_for("http://127.0.0.1:4567").as_deref(), Some("http://127.0.0.1:4567"));
        assert_eq!(spot_host_for("https://testnet.binancefuture.com"), None);
        assert_eq!(spot_host_for("https://fapi.binance.com.example"), None);
    }
}
