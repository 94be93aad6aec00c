-- CONTRACT §14: the config a state DB belongs to. One row; written once by the first config that
-- opens the DB (also for DBs created before this migration), never changed afterwards.
CREATE TABLE state_identity (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    bot_id        TEXT    NOT NULL,
    symbol        TEXT    NOT NULL,
    exchange_kind TEXT    NOT NULL,
    base_url      TEXT    NOT NULL,
    adopted_ms    INTEGER NOT NULL
);
CREATE TRIGGER state_identity_no_update BEFORE UPDATE ON state_identity
BEGIN SELECT RAISE(ABORT, 'state_identity is write-once'); END;
CREATE TRIGGER state_identity_no_delete BEFORE DELETE ON state_identity
BEGIN SELECT RAISE(ABORT, 'state_identity is write-once'); END;
