//! The single integration-test binary: black-box tests through the real `mcbot` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod support;

mod cli_foundation;
