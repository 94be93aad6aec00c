-- mcbot state schema v1. Append-only file: later changes go in new migrations.

CREATE TABLE system_state (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    mode                  TEXT    NOT NULL CHECK (mode IN ('RUNNING', 'HALTED')),
    halt_reason           TEXT,
    mode_since_ms         INTEGER NOT NULL,
    last_reconcile_ms     INTEGER,
    last_reconcile_clean  INTEGER NOT NULL DEFAULT 0,
    mismatch_streak       INTEGER NOT NULL DEFAULT 0,
    cooldown_until_ms     INTEGER,
    entry_block_reason    TEXT
);

CREATE TABLE trade_plan (
    id               TEXT    PRIMARY KEY,
    symbol           TEXT    NOT NULL,
    interval         TEXT    NOT NULL,
    candle_close_ms  INTEGER NOT NULL,
    side             TEXT    NOT NULL CHECK (side IN ('LONG', 'SHORT')),
    entry_ref        TEXT    NOT NULL,
    stop_price       TEXT    NOT NULL,
    qty              TEXT    NOT NULL,
    risk_usdt        TEXT    NOT NULL,
    valid_until_ms   INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    decision_json    TEXT,
    created_ms       INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL
);
CREATE INDEX trade_plan_status ON trade_plan(status, candle_close_ms);

CREATE TABLE position (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    trade_plan_id          TEXT REFERENCES trade_plan(id),
    symbol                 TEXT    NOT NULL,
    side                   TEXT    NOT NULL CHECK (side IN ('LONG', 'SHORT')),
    state                  TEXT    NOT NULL CHECK (state IN ('OPENING', 'OPEN', 'CLOSING', 'CLOSED')),
    qty                    TEXT    NOT NULL,
    entry_price            TEXT    NOT NULL,
    stop_price             TEXT,
    tp_price               TEXT,
    opened_ms              INTEGER NOT NULL,
    entry_filled_ms        INTEGER,
    stop_acked_ms          INTEGER,
    unprotected_window_ms  INTEGER,
    pending_exit_reason    TEXT,
    exit_reason            TEXT,
    exit_price             TEXT,
    realized_pnl           TEXT,
    fees                   TEXT,
    closed_ms              INTEGER,
    adopted                INTEGER NOT NULL DEFAULT 0
);
-- One active position per symbol, enforced by the DB itself.
CREATE UNIQUE INDEX one_active_position ON position(symbol) WHERE state != 'CLOSED';

-- The journal: one hash chain across order_event and audit_event (seq is shared).
CREATE TABLE order_event (
    seq                INTEGER PRIMARY KEY,
    ts_ms              INTEGER NOT NULL,
    trade_plan_id      TEXT,
    role               TEXT    NOT NULL CHECK (role IN ('ENTRY', 'STOP', 'TP', 'CLOSE')),
    attempt            INTEGER NOT NULL CHECK (attempt >= 1),
    client_id          TEXT    NOT NULL,
    correlation_id     TEXT,
    event              TEXT    NOT NULL,
    exchange_order_id  TEXT,
    status             TEXT,
    price              TEXT,
    qty                TEXT,
    detail             TEXT,
    raw                TEXT,
    prev_hash          TEXT    NOT NULL,
    hash               TEXT    NOT NULL
);
CREATE INDEX order_event_plan ON order_event(trade_plan_id, seq);
CREATE INDEX order_event_client ON order_event(client_id, seq);

CREATE TABLE audit_event (
    seq            INTEGER PRIMARY KEY,
    ts_ms          INTEGER NOT NULL,
    severity       TEXT    NOT NULL CHECK (severity IN ('INFO', 'WARN', 'CRITICAL')),
    kind           TEXT    NOT NULL,
    trade_plan_id  TEXT,
    message        TEXT    NOT NULL,
    data           TEXT,
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL
);
CREATE INDEX audit_event_plan ON audit_event(trade_plan_id, seq);

CREATE TRIGGER order_event_no_update BEFORE UPDATE ON order_event
BEGIN SELECT RAISE(ABORT, 'order_event is append-only'); END;
CREATE TRIGGER order_event_no_delete BEFORE DELETE ON order_event
BEGIN SELECT RAISE(ABORT, 'order_event is append-only'); END;
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END;
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END;
