//! binance tests (to be written).
