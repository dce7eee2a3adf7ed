-- The Graph bridge's deployments: one row per sealed ceremony with an Intune
-- target, recording what is being carried out (the decision: released or
-- revoked) and how far it got. The custody chain has every step; this row is
-- what pages, the CLI and the drift check read.
CREATE TABLE intune_deployments (
    ceremony_id     TEXT PRIMARY KEY,
    artifact_digest TEXT NOT NULL,
    app_id          TEXT NOT NULL,
    target          TEXT NOT NULL,
    decision        TEXT NOT NULL,
    state           TEXT NOT NULL,
    cause           TEXT NOT NULL,
    requested_by    TEXT NOT NULL,
    requested_at    TIMESTAMPTZ NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    applied_at      TIMESTAMPTZ,
    managed         TEXT NOT NULL DEFAULT '[]',
    checked_at      TIMESTAMPTZ,
    drift           TEXT NOT NULL DEFAULT '[]',
    check_error     TEXT NOT NULL DEFAULT '',
    lease_owner     TEXT NOT NULL DEFAULT '',
    lease_until     TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX intune_deployments_artifact ON intune_deployments (artifact_digest);
