-- A web vouching key an operator retired (after rotating SESSION_SECRET): the
-- workflows stop trusting it, and a web replica still holding the old secret
-- refuses to start. The row stays, so the chain and evidence bundles keep
-- naming the key that vouched earlier signatures.
ALTER TABLE web_keys ADD COLUMN retired_at TIMESTAMPTZ;
--bun:split
ALTER TABLE web_keys ADD COLUMN retired_by TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE web_keys ADD COLUMN retire_reason TEXT NOT NULL DEFAULT '';
