//! Use cases over the ports: the sequences of exchange calls and journal writes that enter,
//! protect, exit and reconcile. Decisions come from `core`; this layer carries them out.

/// `evaluate`: fetch closed candles and market inputs, decide, record plan or regime exit.
pub mod evaluate;

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::Report;

/// `halt --flatten`: close the position after halting.
pub fn flatten_after_halt(_ctx: &mut Ctx) -> Result<Report> {
    Err(Error::NotAvailable("halt --flatten"))
}
