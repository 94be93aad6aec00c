-- The plan an adopted position belongs to, read back from the client ids of the bot's own STOP/TP
-- that cover it (issue 10 items 2 and 4). No foreign key: after a lost state DB the plan row is
-- gone too, yet the working orders still carry its id and must be kept, not replaced.
ALTER TABLE position ADD COLUMN owner_plan_id TEXT;
