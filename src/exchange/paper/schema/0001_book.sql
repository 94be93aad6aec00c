-- The paper exchange's schema v1: its book. It lives in the state DB so that it survives a
-- (simulated) process crash exactly like a real exchange's state would; only the paper exchange
-- reads or writes these tables, through its own connection. Decimals are TEXT.
-- What a request changed is committed before its answer; what follows from time alone (stops
-- triggering, funding, partial fills completing) is re-derived from processed_ms and the market
-- data on the next call, and written with the next request. Read them through the exchange.
-- (Until 2026-12 this was the bot's own migration 0002; DBs made then keep the tables, and
-- `paper::schema` adopts them as v1.)
CREATE TABLE paper_account (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    symbol        TEXT    NOT NULL,
    balance       TEXT    NOT NULL,
    fees_paid     TEXT    NOT NULL,
    funding_paid  TEXT    NOT NULL,
    realized_pnl  TEXT    NOT NULL,
    leverage      INTEGER NOT NULL CHECK (leverage BETWEEN 1 AND 125),
    -- every price event up to this time has been applied
    processed_ms  INTEGER NOT NULL,
    -- +1 on every write: another process's write since our load shows up as a mismatch
    version       INTEGER NOT NULL
);

CREATE TABLE paper_position (
    symbol       TEXT    PRIMARY KEY,
    qty          TEXT    NOT NULL,   -- signed: positive long, negative short
    entry_price  TEXT    NOT NULL,
    update_ms    INTEGER NOT NULL
);

-- Regular (MARKET) orders, including the child orders of triggered conditional orders.
CREATE TABLE paper_order (
    id              INTEGER PRIMARY KEY,   -- the exchange order id
    client_id       TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    orig_qty        TEXT    NOT NULL,
    executed_qty    TEXT    NOT NULL,
    avg_price       TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    reduce_only     INTEGER NOT NULL CHECK (reduce_only IN (0, 1)),
    complete_at_ms  INTEGER,               -- a partial fill's remainder fills by itself then
    algo_id         INTEGER,               -- parent conditional order of a triggered child
    created_ms      INTEGER NOT NULL,
    update_ms       INTEGER NOT NULL
);
CREATE INDEX paper_order_client ON paper_order(client_id, id);

-- Conditional (algo) orders: STOP_MARKET and TAKE_PROFIT_MARKET.
CREATE TABLE paper_conditional (
    id               INTEGER PRIMARY KEY,  -- the algo id
    client_id        TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('STOP_MARKET', 'TAKE_PROFIT_MARKET')),
    side             TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    trigger_price    TEXT    NOT NULL,
    qty              TEXT    NOT NULL,
    working_type     TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    actual_order_id  INTEGER REFERENCES paper_order(id),
    actual_price     TEXT,
    actual_qty       TEXT,
    created_ms       INTEGER NOT NULL,
    update_ms        INTEGER NOT NULL
);
CREATE INDEX paper_conditional_client ON paper_conditional(client_id, id);

-- Executions, for order_fills.
CREATE TABLE paper_fill (
    id            INTEGER PRIMARY KEY,
    order_id      INTEGER NOT NULL REFERENCES paper_order(id),
    price         TEXT    NOT NULL,
    qty           TEXT    NOT NULL,
    commission    TEXT    NOT NULL,
    realized_pnl  TEXT    NOT NULL,
    time_ms       INTEGER NOT NULL
);
CREATE INDEX paper_fill_order ON paper_fill(order_id, id);
