-- The W3C trace context of the request that wrote an event (CloudEvents distributed-tracing
-- extension), when that request was traced; NULL otherwise.
ALTER TABLE outbox_events ADD COLUMN traceparent TEXT;
