//! execution tests (to be written).
