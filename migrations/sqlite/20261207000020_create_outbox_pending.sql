-- Per-sink delivery state of the outbox: one row per event and configured sink (nats, kafka)
-- until that sink has acknowledged the event. An event is done (`sent_at` set, pruned after
-- --outbox-retention) when no sink still waits for it, so a sink that is down holds back only
-- its own rows. Each relay claims its own sink's rows in `seq` order.
CREATE TABLE outbox_pending (
    sink TEXT NOT NULL,
    seq  INTEGER NOT NULL REFERENCES outbox_events (seq) ON DELETE CASCADE,
    PRIMARY KEY (sink, seq)
);
CREATE INDEX outbox_pending_seq ON outbox_pending (seq);
-- Before this table NATS was the only sink: what it had not yet acknowledged waits for it.
INSERT INTO outbox_pending (sink, seq) SELECT 'nats', seq FROM outbox_events WHERE sent_at IS NULL;
