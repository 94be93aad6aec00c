//! The in-process paper exchange: state in the state DB, prices from a candles file. Not built yet.
