//! The one place tests and benches call the exec use cases (reconcile, enter, exit, protect,
//! tick): when their result type changes, this file and the assertions on it change, nothing else.

use mcbot::core::position::ExitReason;
use mcbot::error::Error;
use mcbot::exec::Engine;
use mcbot::outcome::Report;

pub fn reconcile(e: &mut Engine<'_>) -> Result<Report, Error> {
    mcbot::exec::reconcile::reconcile(e)
}

pub fn enter(e: &mut Engine<'_>) -> Result<Report, Error> {
    mcbot::exec::entry::enter(e)
}

pub fn exit(e: &mut Engine<'_>, reason: &ExitReason) -> Result<Report, Error> {
    mcbot::exec::close::exit_position(e, reason)
}

pub fn protect(e: &mut Engine<'_>) -> Result<Report, Error> {
    mcbot::exec::protect::protect_command(e)
}

pub fn tick(e: &mut Engine<'_>) -> Result<Report, Error> {
    mcbot::exec::tick::tick(e)
}
