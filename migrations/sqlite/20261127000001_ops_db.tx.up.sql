-- The five Ops DB tables. JSON columns are TEXT holding canonical JSON so both
-- dialects store byte-identical values.
CREATE TABLE witnesses (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    email        TEXT NOT NULL DEFAULT '',
    roles        TEXT NOT NULL DEFAULT '[]',
    credentials  TEXT NOT NULL DEFAULT '[]',
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
--bun:split
CREATE TABLE artifacts (
    digest     TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    uri        TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
--bun:split
CREATE TABLE ceremonies (
    id              TEXT PRIMARY KEY,
    workflow_id     TEXT NOT NULL,
    run_id          TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    title           TEXT NOT NULL,
    artifact_digest TEXT NOT NULL REFERENCES artifacts (digest),
    initiator       TEXT NOT NULL,
    status          TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    spec            TEXT NOT NULL,
    witness_ids     TEXT NOT NULL DEFAULT '[]',
    pending_ids     TEXT NOT NULL DEFAULT '[]',
    threshold       INTEGER NOT NULL,
    approvals       INTEGER NOT NULL DEFAULT 0,
    rejections      INTEGER NOT NULL DEFAULT 0,
    epoch           INTEGER NOT NULL DEFAULT 0,
    deadline        TIMESTAMP NOT NULL,
    opened_at       TIMESTAMP NOT NULL,
    closed_at       TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX ceremonies_status_opened ON ceremonies (status, opened_at DESC);
--bun:split
CREATE INDEX ceremonies_opened ON ceremonies (opened_at DESC);
--bun:split
CREATE INDEX ceremonies_artifact ON ceremonies (artifact_digest);
--bun:split
CREATE TABLE signatures (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    ceremony_id     TEXT NOT NULL REFERENCES ceremonies (id),
    epoch           INTEGER NOT NULL DEFAULT 0,
    witness_id      TEXT NOT NULL,
    decision        TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    comment         TEXT NOT NULL DEFAULT '',
    roles           TEXT NOT NULL DEFAULT '[]',
    statement       TEXT NOT NULL DEFAULT '',
    proof           TEXT NOT NULL DEFAULT '',
    via             TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL,
    signed_at       TIMESTAMP NOT NULL,
    voided_at       TIMESTAMP,
    UNIQUE (ceremony_id, epoch, witness_id)
);
--bun:split
CREATE INDEX signatures_witness ON signatures (witness_id);
--bun:split
CREATE TABLE custody_events (
    seq             BIGINT PRIMARY KEY,
    type            TEXT NOT NULL,
    ceremony_id     TEXT,
    artifact_digest TEXT,
    actor           TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL UNIQUE,
    occurred_at     TIMESTAMP NOT NULL,
    body            TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL UNIQUE
);
--bun:split
CREATE INDEX custody_events_ceremony ON custody_events (ceremony_id, seq);
--bun:split
CREATE INDEX custody_events_artifact ON custody_events (artifact_digest, seq);
--bun:split
-- The chain is append-only: the application never updates or deletes a row, and
-- the database refuses it too.
CREATE TRIGGER custody_events_no_update BEFORE UPDATE ON custody_events
BEGIN
    SELECT RAISE(ABORT, 'custody_events is append-only (UPDATE refused)');
END;
--bun:split
CREATE TRIGGER custody_events_no_delete BEFORE DELETE ON custody_events
BEGIN
    SELECT RAISE(ABORT, 'custody_events is append-only (DELETE refused)');
END;
