DROP TABLE IF EXISTS custody_events;
--bun:split
DROP TABLE IF EXISTS signatures;
--bun:split
DROP TABLE IF EXISTS ceremonies;
--bun:split
DROP TABLE IF EXISTS artifacts;
--bun:split
DROP TABLE IF EXISTS witnesses;
