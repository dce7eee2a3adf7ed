-- The witness directory: where each role came from (the identity provider's
-- groups, or an admin), whether the person is active, and the identity-provider
-- subject bound to the record at the first verified login. roles stays the
-- effective set (the union), which lists and the composer read.
ALTER TABLE witnesses ADD COLUMN admin_roles TEXT NOT NULL DEFAULT '[]';
--bun:split
ALTER TABLE witnesses ADD COLUMN idp_roles TEXT NOT NULL DEFAULT '[]';
--bun:split
ALTER TABLE witnesses ADD COLUMN deactivated_at TIMESTAMP;
--bun:split
ALTER TABLE witnesses ADD COLUMN identity TEXT;
--bun:split
ALTER TABLE witnesses ADD COLUMN synced_at TIMESTAMP;
--bun:split
-- Roles that existed before the directory were given by hand.
UPDATE witnesses SET admin_roles = roles;
--bun:split
CREATE UNIQUE INDEX witnesses_identity ON witnesses (identity) WHERE identity IS NOT NULL;
--bun:split
-- Approval templates: named, versioned policies. A version is never changed;
-- applying a different body adds the next version.
CREATE TABLE templates (
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (name, version)
);
--bun:split
-- Keys the web app vouches with (derived from its session secret): a workflow
-- counts a signature as a session or token one only with a vouch by one of them.
CREATE TABLE web_keys (
    key_id     TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    added_at   TIMESTAMP NOT NULL
);
--bun:split
-- How each signer was authenticated (operator, token, session, key), by what
-- means, and the roles they held in the directory when they signed.
ALTER TABLE signatures ADD COLUMN assurance TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE signatures ADD COLUMN assurance_method TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE signatures ADD COLUMN held_roles TEXT NOT NULL DEFAULT '[]';
