DROP TABLE IF EXISTS custody_events;
--bun:split
DROP FUNCTION IF EXISTS custody_events_append_only();
--bun:split
DROP TABLE IF EXISTS signatures;
--bun:split
DROP TABLE IF EXISTS ceremonies;
--bun:split
DROP TABLE IF EXISTS artifacts;
--bun:split
DROP TABLE IF EXISTS witnesses;
