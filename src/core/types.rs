//! Sides of orders and positions, and the conversions between them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Direction of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PositionSide {
    Long,
    Short,
}

/// Direction of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderSide {
    Buy,
    Sell,
}

impl PositionSide {
    /// The order side that opens this position.
    pub fn entry_side(self) -> OrderSide {
        match self {
            PositionSide::Long => OrderSide::Buy,
            PositionSide::Short => OrderSide::Sell,
        }
    }
    /// The order side that reduces or closes this position (STOP, TP, CLOSE).
    pub fn exit_side(self) -> OrderSide {
        self.entry_side().opposite()
    }
    /// +1 for long, -1 for short: multiply a price move by it to get PnL per unit.
    pub fn sign(self) -> rust_decimal::Decimal {
        match self {
            PositionSide::Long => rust_decimal::Decimal::ONE,
            PositionSide::Short => rust_decimal::Decimal::NEGATIVE_ONE,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            PositionSide::Long => "LONG",
            PositionSide::Short => "SHORT",
        }
    }
}

impl OrderSide {
    pub fn opposite(self) -> OrderSide {
        match self {
            OrderSide::Buy => OrderSide::Sell,
            OrderSide::Sell => OrderSide::Buy,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            OrderSide::Buy => "BUY",
            OrderSide::Sell => "SELL",
        }
    }
}

impl fmt::Display for PositionSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for OrderSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PositionSide {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "LONG" => Ok(PositionSide::Long),
            "SHORT" => Ok(PositionSide::Short),
            other => Err(format!("not a position side: {other:?}")),
        }
    }
}

impl FromStr for OrderSide {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "BUY" => Ok(OrderSide::Buy),
            "SELL" => Ok(OrderSide::Sell),
            other => Err(format!("not an order side: {other:?}")),
        }
    }
}
