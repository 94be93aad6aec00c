-- Belief-debt posture (issue 15, CONTRACT §13). Append-only file.
-- One row: the controller state carried between cron runs.
CREATE TABLE posture_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    mode           TEXT    NOT NULL CHECK (mode IN ('GREEN', 'YELLOW', 'ORANGE', 'RED')),
    since_ms       INTEGER NOT NULL,
    score          INTEGER NOT NULL CHECK (score >= 0),
    calm_since_ms  INTEGER,
    -- Consecutive runs whose reconcile could not read the exchange (evidence, kept by the shell).
    failed_runs    INTEGER NOT NULL DEFAULT 0 CHECK (failed_runs >= 0),
    updated_ms     INTEGER NOT NULL
);

-- Every mode change, with the evidence that caused it (JSON of core::posture::Evidence).
CREATE TABLE posture_transition (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms      INTEGER NOT NULL,
    from_mode  TEXT    NOT NULL,
    to_mode    TEXT    NOT NULL,
    score      INTEGER NOT NULL,
    growth     INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    evidence   TEXT    NOT NULL
);
CREATE INDEX posture_transition_at ON posture_transition (at_ms);
