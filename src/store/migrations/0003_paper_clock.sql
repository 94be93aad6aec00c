-- The paper exchange's clock for file-driven runs outside `sim`: each `tick` advances it by one
-- candle, every other command reads it. Absent for live (binance) market data.
CREATE TABLE paper_clock (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    now_ms  INTEGER NOT NULL
);
