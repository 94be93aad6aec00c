//! reconcile tests (to be written).
