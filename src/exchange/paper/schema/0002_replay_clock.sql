-- The paper exchange's schema v2: the replay clock for file-driven runs outside `sim`. Each
-- `tick` advances it by one candle, every other command reads it. Absent for live (binance)
-- market data. (Until 2026-12 the bot's own migration 0003; `paper::schema` adopts it as v2.)
CREATE TABLE paper_clock (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    now_ms  INTEGER NOT NULL
);
