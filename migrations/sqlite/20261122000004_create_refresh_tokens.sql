-- A family is one login session: every refresh token rotated from the same password grant.
-- Revoking the family (reuse detected, logout, revocation) kills all of its tokens at once.
-- Deleting the user or the client deletes its families and their tokens.
CREATE TABLE refresh_families (
    family_id  TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    auth_time  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);
CREATE INDEX refresh_families_client ON refresh_families (client_id);

-- Refresh tokens are stored only as SHA-256 hashes; used_at marks a consumed token.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    family_id  TEXT NOT NULL REFERENCES refresh_families (family_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
