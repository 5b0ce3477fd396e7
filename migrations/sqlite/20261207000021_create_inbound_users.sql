-- Users a directory elsewhere owns (--inbound-users): `external_id` is the directory's id,
-- `external_time` the CloudEvents `time` of the last directory event applied to the user (an
-- older one is stale and ignored). Users sigil owns have neither.
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD COLUMN external_time TEXT;
CREATE UNIQUE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;

-- The inbox of directory events: one row per event id (or, for a message without a usable id,
-- per broker position), written in the transaction of the change it made, so a redelivered
-- event finds its row and changes nothing. `outcome`: applied, stale (older than what the user
-- has), ignored (nothing to apply it to, or sigil's own event), rejected (malformed: `error`
-- says why and `payload` keeps its first bytes).
CREATE TABLE inbound_events (
    event_id     TEXT PRIMARY KEY NOT NULL,
    received_at  TEXT NOT NULL,
    kind         TEXT,
    external_id  TEXT,
    outcome      TEXT NOT NULL,
    error        TEXT,
    payload      TEXT
);
CREATE INDEX inbound_events_received ON inbound_events (received_at);
