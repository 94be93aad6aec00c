//! replay tests (to be written).
