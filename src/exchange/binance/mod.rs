//! The Binance USDⓈ-M futures adapter (signed REST, Algo Order API). Not built yet.
