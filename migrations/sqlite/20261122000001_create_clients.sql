-- OAuth clients. secret_hash is the SHA-256 of the client secret (NULL for public clients);
-- the secret itself is never stored.
CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    secret_hash BLOB,
    grant_types TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    audience    TEXT,
    created_at  TEXT NOT NULL
);
