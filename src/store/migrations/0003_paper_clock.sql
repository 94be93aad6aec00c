-- mcbot state schema v3: once the paper replay clock. It is the paper exchange's schema v2 now
-- (src/exchange/paper/schema/0002_replay_clock.sql); kept, empty, for the version numbers (see
-- 0002_paper.sql).
SELECT 1;
