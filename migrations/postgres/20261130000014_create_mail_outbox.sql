-- Mail sigil sends (verification and password-reset links), queued in the transaction of the
-- request that asks for it and delivered by the mail relay, so an SMTP outage fails no
-- request. A row holds no link: the relay makes the one-time token when it sends (see
-- link_tokens), so no usable secret ever waits in the database. `state` is pending, sent,
-- skipped (nothing to send any more: the user is gone, already verified, or the password
-- changed since the request) or dead (given up after the last attempt). `last_error` holds the
-- SMTP server's reply, never a link.
CREATE TABLE mail_outbox (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    credentials_version BIGINT NOT NULL,
    requested_at        TIMESTAMPTZ NOT NULL,
    state               TEXT NOT NULL DEFAULT 'pending',
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     TIMESTAMPTZ NOT NULL,
    last_error          TEXT,
    done_at             TIMESTAMPTZ
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX mail_outbox_done ON mail_outbox (done_at) WHERE state <> 'pending';

-- One-time link tokens (256 bits), stored only as their SHA-256. Using one deletes it (single
-- use). A reset token carries the user's credentials_version when it was made and dies with
-- any later password change.
CREATE TABLE link_tokens (
    token_hash          BYTEA PRIMARY KEY NOT NULL,
    kind                TEXT NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    credentials_version BIGINT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    expires_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX link_tokens_user ON link_tokens (user_id);
CREATE INDEX link_tokens_expiry ON link_tokens (expires_at);
