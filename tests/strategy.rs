//! strategy tests (to be written).
