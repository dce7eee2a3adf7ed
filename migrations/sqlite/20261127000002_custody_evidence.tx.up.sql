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
    occurred_at     TIMESTAMP NOT NULL,
    received_at     TIMESTAMP NOT NULL,
    body            TEXT NOT NULL,
    body_hash       TEXT NOT NULL,
    custody_seq     BIGINT NOT NULL REFERENCES custody_events (seq)
);
--bun:split
CREATE INDEX chronicle_events_seq ON chronicle_events (custody_seq DESC);
--bun:split
CREATE INDEX chronicle_events_artifact ON chronicle_events (artifact_digest, custody_seq);
--bun:split
CREATE TRIGGER chronicle_events_no_update BEFORE UPDATE ON chronicle_events
BEGIN
    SELECT RAISE(ABORT, 'chronicle_events is append-only (UPDATE refused)');
END;
--bun:split
CREATE TRIGGER chronicle_events_no_delete BEFORE DELETE ON chronicle_events
BEGIN
    SELECT RAISE(ABORT, 'chronicle_events is append-only (DELETE refused)');
END;
--bun:split
-- Artifact lifecycle: proposed -> attested -> released, and revoked from any of
-- them; revoked is final. The store checks this first and names the problem;
-- the trigger stops any other writer.
CREATE TRIGGER artifacts_lifecycle BEFORE UPDATE OF state ON artifacts
WHEN OLD.state IS NOT NEW.state AND NOT (
       (OLD.state = 'proposed' AND NEW.state = 'attested')
    OR (OLD.state = 'attested' AND NEW.state = 'released')
    OR (OLD.state IN ('proposed', 'attested', 'released') AND NEW.state = 'revoked'))
BEGIN
    SELECT RAISE(ABORT, 'artifact lifecycle: illegal state change');
END;
