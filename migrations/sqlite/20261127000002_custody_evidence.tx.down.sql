DROP TRIGGER IF EXISTS artifacts_lifecycle;
--bun:split
DROP TABLE IF EXISTS chronicle_events;
--bun:split
ALTER TABLE signatures DROP COLUMN public_key;
--bun:split
ALTER TABLE signatures DROP COLUMN key_id;
