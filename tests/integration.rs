//! The single integration-test binary: black-box tests through the real `mcbot` binary, and
//! shell tests of the adapters against httpmock and temp dirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

mod alerts;
mod architecture;
mod binance;
mod cli_foundation;
mod config_fuzz;
mod doctor;
mod exec_binance;
mod execution;
mod first_hour;
mod human_output;
mod paper;
mod paper_modes;
mod posture;
mod read_faults;
mod reconcile;
mod reminders;
mod replay;
mod sim;
mod strategy;
mod systemd;
mod trades;
