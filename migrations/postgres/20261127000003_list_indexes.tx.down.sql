DROP INDEX IF EXISTS ceremonies_updated;
--bun:split
DROP INDEX IF EXISTS ceremonies_status_closed;
