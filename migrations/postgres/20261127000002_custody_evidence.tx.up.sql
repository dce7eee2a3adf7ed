-- Chain of custody and evidence: signature key ids, the Chronicle projection,
-- and the artifact lifecycle enforced by the database as well as the store.
ALTER TABLE signatures ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
--bun:split
-- The public key the signature was checked with, as registered at signing time,
-- so evidence bundles do not depend on keys still being registered.
ALTER TABLE signatures ADD COLUMN public_key TEXT NOT NULL DEFAULT '';
--bun:split
-- Chronicle events as received, one row per event id: the id makes projection
-- idempotent, and custody_seq points at the custody link that records it.
CREATE TABLE chronicle_events (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    source          TEXT NOT NULL DEFAULT '',
    artifact_digest TEXT,
    occurred_at     TIMESTAMPTZ NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    body            TEXT NOT NULL,
    body_hash       TEXT NOT NULL,
    custody_seq     BIGINT NOT NULL REFERENCES custody_events (seq)
);
--bun:split
CREATE INDEX chronicle_events_seq ON chronicle_events (custody_seq DESC);
--bun:split
CREATE INDEX chronicle_events_artifact ON chronicle_events (artifact_digest, custody_seq);
--bun:split
CREATE FUNCTION guildhall_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
--bun:split
CREATE TRIGGER chronicle_events_no_update_delete
    BEFORE UPDATE OR DELETE ON chronicle_events
    FOR EACH ROW EXECUTE FUNCTION guildhall_append_only();
--bun:split
CREATE TRIGGER chronicle_events_no_truncate
    BEFORE TRUNCATE ON chronicle_events
    FOR EACH STATEMENT EXECUTE FUNCTION guildhall_append_only();
--bun:split
-- Belt and braces next to the triggers: no role but the owner may change the
-- chain, even if someone grants broad table privileges later.
REVOKE UPDATE, DELETE, TRUNCATE ON custody_events, chronicle_events FROM PUBLIC;
--bun:split
-- Artifact lifecycle: proposed -> attested -> released, and revoked from any of
-- them; revoked is final. The store checks this first and names the problem;
-- the trigger stops any other writer.
CREATE FUNCTION artifacts_lifecycle() RETURNS trigger AS $$
BEGIN
    IF NOT ((OLD.state = 'proposed' AND NEW.state = 'attested')
         OR (OLD.state = 'attested' AND NEW.state = 'released')
         OR (OLD.state IN ('proposed', 'attested', 'released') AND NEW.state = 'revoked')) THEN
        RAISE EXCEPTION 'artifact % cannot go from % to %', OLD.digest, OLD.state, NEW.state;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--bun:split
CREATE TRIGGER artifacts_lifecycle
    BEFORE UPDATE OF state ON artifacts
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION artifacts_lifecycle();
