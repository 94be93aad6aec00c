-- Issue 16 item 6: the last measured exchange clock offset and when it was measured, so the next
-- process signs its first request with it instead of paying a `/fapi/v1/time` round trip while it
-- is young. One row. Append-only file.
CREATE TABLE clock_sync (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    offset_ms    INTEGER NOT NULL,
    measured_ms  INTEGER NOT NULL
);
