-- Belief-debt posture (issue 15): when each mismatch kind still open was first seen, so its age
-- can weigh in the debt (an old mismatch counts more than a fresh one). NULL = not open.
-- Append-only file.
ALTER TABLE posture_state ADD COLUMN position_mismatch_since_ms INTEGER;
ALTER TABLE posture_state ADD COLUMN protection_missing_since_ms INTEGER;
ALTER TABLE posture_state ADD COLUMN orphan_orders_since_ms INTEGER;
ALTER TABLE posture_state ADD COLUMN foreign_exposure_since_ms INTEGER;
