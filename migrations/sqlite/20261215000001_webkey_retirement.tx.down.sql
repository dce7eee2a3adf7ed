ALTER TABLE web_keys DROP COLUMN retire_reason;
--bun:split
ALTER TABLE web_keys DROP COLUMN retired_by;
--bun:split
ALTER TABLE web_keys DROP COLUMN retired_at;
