-- The transactional outbox: every event is written in the transaction of the change it
-- reports, and the relay publishes rows in `seq` order, marking each sent on the broker's ack.
-- Rows are written only while events are configured (--nats-url); sent rows are pruned after
-- --outbox-retention. `data` never holds a secret, a hash or a token.
CREATE TABLE outbox_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    verb        TEXT NOT NULL,
    data        TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    sent_at     TIMESTAMPTZ
);
CREATE INDEX outbox_events_pending ON outbox_events (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_events_sent ON outbox_events (sent_at) WHERE sent_at IS NOT NULL;
