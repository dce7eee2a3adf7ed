ALTER TABLE signatures DROP COLUMN held_roles;
--bun:split
ALTER TABLE signatures DROP COLUMN assurance_method;
--bun:split
ALTER TABLE signatures DROP COLUMN assurance;
--bun:split
DROP TABLE IF EXISTS web_keys;
--bun:split
DROP TABLE IF EXISTS templates;
--bun:split
DROP INDEX IF EXISTS witnesses_identity;
--bun:split
ALTER TABLE witnesses DROP COLUMN synced_at;
--bun:split
ALTER TABLE witnesses DROP COLUMN identity;
--bun:split
ALTER TABLE witnesses DROP COLUMN deactivated_at;
--bun:split
ALTER TABLE witnesses DROP COLUMN idp_roles;
--bun:split
ALTER TABLE witnesses DROP COLUMN admin_roles;
