-- The durable alert outbox (CONTRACT §12): a row is inserted in the same transaction as the audit
-- event that raises it, so no alert is lost to a crash or a sink that is down. Delivery later
-- marks it delivered (once, on a 2xx) or reschedules it; past expires_ms it is given up.
-- Holds the message only: sink URLs and tokens stay in the environment.
CREATE TABLE alert_outbox (
    id               TEXT PRIMARY KEY,
    audit_seq        INTEGER NOT NULL UNIQUE,
    created_ms       INTEGER NOT NULL,
    level            TEXT NOT NULL CHECK (level IN ('info', 'warn', 'critical')),
    kind             TEXT NOT NULL,
    trade_plan_id    TEXT,
    message          TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    expires_ms       INTEGER NOT NULL,
    delivered_ms     INTEGER,
    expired          INTEGER NOT NULL DEFAULT 0 CHECK (expired IN (0, 1)),
    last_error       TEXT
);
CREATE INDEX alert_outbox_pending ON alert_outbox (next_attempt_ms) WHERE delivered_ms IS NULL AND expired = 0;
