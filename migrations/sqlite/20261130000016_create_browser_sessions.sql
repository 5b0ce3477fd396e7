-- Browser login (authorization code + PKCE). A browser session is what the sign-in cookie
-- names: stored only as the cookie's SHA-256, it gives single sign-on across clients until it
-- expires or ends (logout), and dies with the user's credentials (password, disabling). Its
-- public id `sid` is never the cookie.
CREATE TABLE browser_sessions (
    session_hash        BLOB PRIMARY KEY NOT NULL,
    sid                 TEXT NOT NULL UNIQUE,
    user_id             TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    credentials_version BIGINT NOT NULL,
    auth_time           TEXT NOT NULL,
    expires_at          TEXT NOT NULL,
    ended_at            TEXT
);
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);
CREATE INDEX browser_sessions_expiry ON browser_sessions (expires_at);

-- Authorization codes (RFC 6749 §4.1.2): 256 bits, stored as SHA-256, single use, a minute
-- long, bound to the client, the redirect URI, the PKCE challenge, the nonce and the browser
-- session. The exchange records the session (refresh family) and access token it issued, so
-- a second use of the code revokes them.
CREATE TABLE authorization_codes (
    code_hash      BLOB PRIMARY KEY NOT NULL,
    client_id      TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    sid            TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce          TEXT,
    scope          TEXT NOT NULL,
    auth_time      TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT,
    family_id      TEXT,
    jti            TEXT,
    jti_expires_at TEXT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- The browser session a refresh family was started from (authorization code grant), so that
-- logging out of the browser session ends the sessions it gave clients.
ALTER TABLE refresh_families ADD COLUMN browser_sid TEXT;
CREATE INDEX refresh_families_browser_sid ON refresh_families (browser_sid);
