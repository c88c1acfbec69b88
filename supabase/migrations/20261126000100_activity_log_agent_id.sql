-- bridge.activity_log.agent_id is bigint, as the founding document declares activity_log
-- (sql/timescale/01_schema.sql). 20261125000300 declared it text: on a node that holds the
-- founding tables, every row's agent_id then failed public.mission_activity's result type
-- (DESIGN.md fact 8). A foreign table stores nothing, so this changes only the declaration;
-- where a refresh already imported bigint it is a no-op. public.mission_activity's result
-- follows in 20261126000200.

alter foreign table bridge.activity_log alter column agent_id type bigint;
