-- Login sessions and API tokens, one row each, so either can be ended at once on
-- every replica: logging out, the person on their account page, an admin, or a
-- deactivation. The cookie or token carries a random secret id; only its SHA-256
-- is kept here, so reading this table does not let anyone in.
CREATE TABLE web_sessions (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    witness_id   TEXT NOT NULL,
    via          TEXT NOT NULL,
    label        TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    client_ip    TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    ended_at     TIMESTAMP,
    ended_by     TEXT NOT NULL DEFAULT '',
    end_reason   TEXT NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX web_sessions_witness ON web_sessions (witness_id, kind);
--bun:split
-- Challenges a key holder signs to register an ed25519 key (proof of
-- possession): issued for one person, used once, short-lived.
CREATE TABLE key_challenges (
    nonce      TEXT PRIMARY KEY,
    witness_id TEXT NOT NULL,
    issued_at  TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP
);
