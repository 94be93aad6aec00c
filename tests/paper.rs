//! paper tests (to be written).
