-- End users. email_normalized (lower-cased) makes addresses unique case-insensitively;
-- password_hash is an argon2id PHC string.
CREATE TABLE users (
    user_id          TEXT PRIMARY KEY NOT NULL,
    email            TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    is_admin         INTEGER NOT NULL DEFAULT 0,
    disabled         INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
