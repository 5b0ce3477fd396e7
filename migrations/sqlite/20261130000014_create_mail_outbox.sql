-- Mail sigil sends (verification and password-reset links), queued in the transaction of the
-- request that asks for it and delivered by the mail relay, so an SMTP outage fails no
-- request. A row holds no link: the relay makes the one-time token when it sends (see
-- link_tokens), so no usable secret ever waits in the database. `state` is pending, sent,
-- skipped (nothing to send any more: the user is gone, already verified, or the password
-- changed since the request) or dead (given up after the last attempt). `last_error` holds the
-- SMTP server's reply, never a link.
CREATE TABLE mail_outbox (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    credentials_version BIGINT NOT NULL,
    requested_at        TEXT NOT NULL,
    state               TEXT NOT NULL DEFAULT 'pending',
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     TEXT NOT NULL,
    last_error          TEXT,
    done_at             TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX mail_outbox_done ON mail_outbox (done_at) WHERE state <> 'pending';

-- One-time link tokens (256 bits), stored only as their SHA-256. Using one deletes it (single
-- use). A reset token carries the user's credentials_version when it was made and dies with
-- any later password change.
CREATE TABLE link_tokens (
    token_hash          BLOB PRIMARY KEY NOT NULL,
    kind                TEXT NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    credentials_version BIGINT NOT NULL,
    created_at          TEXT NOT NULL,
    expires_at          TEXT NOT NULL
);
CREATE INDEX link_tokens_user ON link_tokens (user_id);
CREATE INDEX link_tokens_expiry ON link_tokens (expires_at);
