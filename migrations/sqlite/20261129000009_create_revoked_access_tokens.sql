-- Revoked access tokens without a session (client_credentials), by jti, until they expire:
-- introspection, userinfo and the admin check refuse them. Pruned after expires_at.
CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens (expires_at);
