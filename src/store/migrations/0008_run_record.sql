-- Issue 13 §2/§1: what the last run of each command ended with, and the last balance and mark
-- price an exchange read returned. Append-only file.
-- One row per command name: the metrics textfile's "last tick", and the streak behind the
-- "same command failed N runs in a row" alert.
CREATE TABLE command_run (
    command      TEXT    PRIMARY KEY,
    last_exit    INTEGER NOT NULL CHECK (last_exit >= 0),
    last_at_ms   INTEGER NOT NULL,
    fail_streak  INTEGER NOT NULL DEFAULT 0 CHECK (fail_streak >= 0)
);

-- One row: what `status` and the metrics show as balance and unrealised PnL (as of its time).
CREATE TABLE market_seen (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    balance     TEXT,
    balance_ms  INTEGER,
    mark_price  TEXT,
    mark_ms     INTEGER
);
