//! The Binance adapter against httpmock: signing, every endpoint parsed from real fixtures
//! (`tests/fixtures/binance/`, provenance in its SOURCES.md), each error class from real error
//! bodies, retries and rate limits on a `ManualClock`, bad input, and secret hygiene.

pub(crate) mod harness;

mod bad_input;
mod bans;
mod doctor_reads;
mod errors;
mod fee_history;
mod income;
mod orders;
mod reads;
mod secrets;
mod shapes;
mod standing;
mod throttling;
mod wiring;
