DROP TABLE IF EXISTS key_challenges;
--bun:split
DROP INDEX IF EXISTS web_sessions_witness;
--bun:split
DROP TABLE IF EXISTS web_sessions;
