DROP TRIGGER IF EXISTS artifacts_lifecycle ON artifacts;
--bun:split
DROP FUNCTION IF EXISTS artifacts_lifecycle();
--bun:split
DROP TABLE IF EXISTS chronicle_events;
--bun:split
DROP FUNCTION IF EXISTS guildhall_append_only();
--bun:split
ALTER TABLE signatures DROP COLUMN IF EXISTS public_key;
--bun:split
ALTER TABLE signatures DROP COLUMN IF EXISTS key_id;
