//! Binance's request checks as the paper exchange applies them (BINANCE.md §4.1 filters, §5 client
//! ids, §6 codes). Each failure names the port's [`Refusal`] itself — what the bot acts on — and
//! carries Binance's code and message only so that transcripts and journals read as they will
//! live (issue 16 item 3).

use crate::core::money::SymbolFilters;
use crate::exchange::error::{ErrorClass, ExchangeError, ExchangeErrorKind, Refusal};
use rust_decimal::Decimal;

/// An API error as Binance would answer it.
pub fn api(code: i64, class: ErrorClass, msg: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Api { code }, class, msg)
}

/// A refusal in the port's words, with the code Binance would send for it.
fn refused(refusal: Refusal, code: i64, class: ErrorClass, msg: impl Into<String>) -> ExchangeError {
    api(code, class, msg).with_refusal(Some(refusal))
}

/// A symbol filter the request breaks: change it (re-quantise, resize) before sending again.
fn filter(code: i64, msg: impl Into<String>) -> ExchangeError {
    refused(Refusal::FilterViolation, code, ErrorClass::RetryableWithModification, msg)
}

pub fn bad_symbol() -> ExchangeError {
    api(-1121, ErrorClass::Fatal, "Invalid symbol.")
}

pub fn would_trigger() -> ExchangeError {
    refused(Refusal::WouldTrigger, -2021, ErrorClass::Fatal, "Order would immediately trigger.")
}

pub fn reduce_only_reject() -> ExchangeError {
    refused(Refusal::NothingToReduce, -2022, ErrorClass::RetryableWithModification, "ReduceOnly Order is rejected.")
}

pub fn duplicate_client_id() -> ExchangeError {
    // Binance's -4116 says an earlier send with this id exists: not a refusal of the order but an
    // answer to look up (the Binance adapter's class; exec resolves it by client id).
    refused(Refusal::DuplicateClientId, -4116, ErrorClass::Ambiguous, "ClientOrderId is duplicated.")
}

pub fn margin_insufficient() -> ExchangeError {
    refused(Refusal::InsufficientMargin, -2019, ErrorClass::RetryableWithModification, "Margin is insufficient.")
}

/// `POST /fapi/v1/marginType` for the margin type the symbol already has: Binance's "no need",
/// which the Binance adapter takes as success (idempotent).
pub fn margin_type_unchanged() -> ExchangeError {
    api(-4046, ErrorClass::IdempotentSafe, "No need to change margin type.")
}

pub fn margin_type_with_position() -> ExchangeError {
    api(-4048, ErrorClass::Fatal, "Margin type cannot be changed if there exists position.")
}

pub fn margin_type_with_open_orders() -> ExchangeError {
    api(-4047, ErrorClass::Fatal, "Margin type cannot be changed if there exists open orders.")
}

pub fn leverage_invalid(leverage: u32) -> ExchangeError {
    api(-4028, ErrorClass::Fatal, format!("Leverage {leverage} is not valid"))
}

pub fn leverage_reduction_with_position() -> ExchangeError {
    api(-4161, ErrorClass::Fatal, "Leverage reduction is not supported in Isolated Margin Mode with open positions")
}

/// The market has no candle at the exchange's now (before the data starts, or after it ends).
pub fn no_market(now_ms: i64) -> ExchangeError {
    ExchangeError::new(
        ExchangeErrorKind::Local,
        ErrorClass::Fatal,
        format!("paper exchange: no market data covers time {now_ms} ms"),
    )
}

/// HTTP 503 during an injected outage: refused before execution, so safe to send again.
pub fn outage() -> ExchangeError {
    ExchangeError::new(
        ExchangeErrorKind::Http { status: 503 },
        ErrorClass::Retryable,
        "Service Unavailable (paper outage)",
    )
}

/// The answer of an executed request never arrived.
pub fn ack_lost() -> ExchangeError {
    ExchangeError::new(
        ExchangeErrorKind::Transport { sent: true },
        ErrorClass::Ambiguous,
        "timeout waiting for the response (paper: the request was executed, the answer lost)",
    )
}

/// The paper exchange's own DB failed; nothing was changed (the mirror is reloaded).
pub fn state_db(e: impl std::fmt::Display) -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Local, ErrorClass::Retryable, format!("paper exchange state DB: {e}"))
}

pub fn check_symbol(want: &str, got: &str) -> Result<(), ExchangeError> {
    if want == got {
        Ok(())
    } else {
        Err(bad_symbol())
    }
}

/// `^[.A-Z:/a-z0-9_-]{1,36}$` (-1118 when empty, -4015 otherwise).
pub fn check_client_id(id: &str) -> Result<(), ExchangeError> {
    if id.is_empty() {
        return Err(api(-1118, ErrorClass::Fatal, "New client order ID was empty."));
    }
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/' | '_' | '-');
    if id.len() > 36 || !id.chars().all(ok_char) {
        return Err(api(-4015, ErrorClass::Fatal, "Client order id is not valid."));
    }
    Ok(())
}

fn on_grid(value: Decimal, origin: Decimal, step: Decimal) -> bool {
    step <= Decimal::ZERO || ((value - origin) % step).is_zero()
}

/// More decimals than the step itself has: Binance answers -1111 before the grid check.
fn too_precise(value: Decimal, step: Decimal) -> bool {
    step > Decimal::ZERO && value.normalize().scale() > step.normalize().scale()
}

/// LOT_SIZE / MARKET_LOT_SIZE for a market (or triggered market) quantity.
pub fn check_qty(f: &SymbolFilters, qty: Decimal) -> Result<(), ExchangeError> {
    if qty <= Decimal::ZERO {
        return Err(filter(-4003, "Quantity less than zero."));
    }
    if too_precise(qty, f.step_size) {
        return Err(filter(-1111, "Precision is over the maximum defined for this asset."));
    }
    if qty < f.min_qty {
        return Err(filter(-4004, "Quantity less than min quantity."));
    }
    let max = if f.market_max_qty > Decimal::ZERO { f.market_max_qty } else { f.max_qty };
    if max > Decimal::ZERO && qty > max {
        return Err(filter(-4005, "Quantity greater than max quantity."));
    }
    if !on_grid(qty, f.min_qty, f.step_size) {
        return Err(filter(-4023, "Qty not increased by step size."));
    }
    Ok(())
}

/// PRICE_FILTER applied to a trigger price.
pub fn check_trigger(f: &SymbolFilters, price: Decimal) -> Result<(), ExchangeError> {
    if price <= Decimal::ZERO {
        return Err(filter(-4006, "Stop price less than zero."));
    }
    if too_precise(price, f.tick_size) {
        return Err(filter(-1111, "Precision is over the maximum defined for this asset."));
    }
    if f.max_price > Decimal::ZERO && price > f.max_price {
        return Err(filter(-4007, "Stop price greater than max price."));
    }
    if price < f.min_price {
        return Err(filter(-4013, "Price less than min price."));
    }
    if !on_grid(price, f.min_price, f.tick_size) {
        return Err(filter(-4014, "Price not increased by tick size."));
    }
    Ok(())
}

/// MIN_NOTIONAL at the mark price; reduce-only orders are exempt (BINANCE.md §7).
pub fn check_notional(f: &SymbolFilters, qty: Decimal, mark: Decimal, reduce_only: bool) -> Result<(), ExchangeError> {
    if !reduce_only && qty * mark < f.min_notional {
        return Err(filter(
            -4164,
            format!(
                "Order's notional must be no smaller than {} (unless you choose reduce only).",
                f.min_notional.normalize()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn code(r: Result<(), ExchangeError>) -> Option<i64> {
        r.err().and_then(|e| e.code())
    }

    #[test]
    fn filter_codes() {
        let f = SymbolFilters::btcusdt_default();
        assert_eq!(code(check_qty(&f, dec!(0.010))), None);
        assert_eq!(code(check_qty(&f, dec!(0))), Some(-4003));
        assert_eq!(code(check_qty(&f, dec!(0.0105))), Some(-1111));
        assert_eq!(code(check_qty(&f, dec!(121))), Some(-4005));
        assert_eq!(code(check_trigger(&f, dec!(43000.1))), None);
        assert_eq!(code(check_trigger(&f, dec!(43000.15))), Some(-1111));
        assert_eq!(code(check_trigger(&f, dec!(-1))), Some(-4006));
        assert_eq!(code(check_trigger(&f, dec!(100))), Some(-4013));
        assert_eq!(code(check_notional(&f, dec!(0.002), dec!(43000), false)), Some(-4164));
        assert_eq!(code(check_notional(&f, dec!(0.002), dec!(43000), true)), None);
        let coarse = SymbolFilters { step_size: dec!(0.002), ..f.clone() };
        assert_eq!(code(check_qty(&coarse, dec!(0.004))), Some(-4023));
    }

    #[test]
    fn client_ids() {
        assert!(check_client_id("mc_abc123_ENTRY_1").is_ok());
        assert_eq!(code(check_client_id("")), Some(-1118));
        assert_eq!(code(check_client_id("has space")), Some(-4015));
        assert_eq!(code(check_client_id(&"x".repeat(37))), Some(-4015));
    }

    /// Issue 16 item 3: the paper exchange raises the port's kinds itself, and they are the kinds
    /// the Binance adapter maps the same codes to, so `exec/` meets one vocabulary on both.
    #[test]
    fn refusals_are_the_ports_kinds() {
        let f = SymbolFilters::btcusdt_default();
        let coarse = SymbolFilters { step_size: dec!(0.002), ..f.clone() };
        let cases: Vec<(ExchangeError, Option<Refusal>)> = vec![
            (would_trigger(), Some(Refusal::WouldTrigger)),
            (reduce_only_reject(), Some(Refusal::NothingToReduce)),
            (duplicate_client_id(), Some(Refusal::DuplicateClientId)),
            (margin_insufficient(), Some(Refusal::InsufficientMargin)),
            (check_qty(&f, dec!(0.0105)).unwrap_err(), Some(Refusal::FilterViolation)),
            (check_qty(&f, dec!(121)).unwrap_err(), Some(Refusal::FilterViolation)),
            (check_qty(&coarse, dec!(0.004)).unwrap_err(), Some(Refusal::FilterViolation)),
            (check_qty(&f, dec!(0)).unwrap_err(), Some(Refusal::FilterViolation)),
            (check_trigger(&f, dec!(100)).unwrap_err(), Some(Refusal::FilterViolation)),
            (check_notional(&f, dec!(0.002), dec!(43000), false).unwrap_err(), Some(Refusal::FilterViolation)),
            (check_client_id("").unwrap_err(), None),
            (bad_symbol(), None),
            (outage(), None),
        ];
        for (e, kind) in cases {
            assert_eq!(e.refusal, kind, "{e}");
            assert_eq!(e.is_would_trigger(), kind == Some(Refusal::WouldTrigger), "{e}");
            if let Some(code) = e.code().filter(|c| crate::exchange::binance::codes::is_known_code(*c)) {
                assert_eq!(
                    crate::exchange::binance::codes::refusal_of_code(code),
                    kind,
                    "{e}: Binance maps {code} alike"
                );
            }
        }
    }
}
