//! The one place tests and benches call the exec use cases (reconcile, enter, exit, protect,
//! tick): each typed outcome is worded as its command words it (`cmd::render`), so the tests
//! assert on the same `Report` the binary prints; when a use case changes, this file changes.

use mcbot::cmd::render;
use mcbot::core::position::ExitReason;
use mcbot::error::Error;
use mcbot::exec::Engine;
use mcbot::outcome::Report;

pub fn reconcile(e: &mut Engine<'_>) -> Result<Report, Error> {
    mcbot::exec::reconcile::reconcile(e).map(|o| render::reconcile(&o))
}

pub fn enter(e: &mut Engine<'_>) -> Result<Report, Error> {
    mcbot::exec::entry::enter(e).map(|o| render::entry(&o))
}

pub fn exit(e: &mut Engine<'_>, reason: &ExitReason) -> Result<Report, Error> {
    mcbot::exec::exit::exit_position(e, reason).map(|o| render::close(&o))
}

pub fn protect(e: &mut Engine<'_>) -> Result<Report, Error> {
    mcbot::exec::protect::protect_command(e).map(|o| render::protect(&o))
}

pub fn tick(e: &mut Engine<'_>) -> Result<Report, Error> {
    mcbot::exec::tick::tick(e).map(|o| render::tick(&o))
}

/// `reconcile` as `mcbot enter` runs it: its read round also serves the pre-flight.
pub fn reconcile_before_entry(e: &mut Engine<'_>) -> Result<Report, Error> {
    mcbot::exec::reconcile::reconcile_before_entry(e).map(|o| render::reconcile(&o))
}
