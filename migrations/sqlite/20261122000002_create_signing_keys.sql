-- The shared key ring. sealed_private_key is a compact JWE (dir + A256GCM) made with the
-- key-encryption key, which never enters the database.
CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY NOT NULL,
    alg                TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    public_jwk         TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    activated_at       TEXT,
    retired_at         TEXT
);
-- At most one current and one next key: conditional inserts race safely on these.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (state) WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';
