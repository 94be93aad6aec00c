-- mcbot state schema v2: once the paper exchange's tables. They are the paper exchange's own
-- schema now (src/exchange/paper/schema/, versioned in its own `paper_schema` table), so a state
-- DB for a real exchange holds none of them. This step is kept, empty, so that the version
-- numbers stay what released builds wrote: a DB migrated past it before keeps its paper tables,
-- and the paper exchange adopts them as its schema v1 (issue 16 item 3).
SELECT 1;
