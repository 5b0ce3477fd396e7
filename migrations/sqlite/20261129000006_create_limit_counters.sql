-- Attempt counters of the brute-force and registration limits, shared by every instance on
-- one database (SQLite instances count in memory and leave this table empty). counter_key is
-- the SHA-256 of the limited thing (a username, an IP), never the thing itself. A claim
-- counts one attempt in the window that started at window_start, up to max_count; granted
-- says whether the latest claim got a slot. Rows past their window are pruned.
CREATE TABLE limit_counters (
    counter_key  BLOB PRIMARY KEY NOT NULL,
    window_start TEXT        NOT NULL,
    count        BIGINT NOT NULL,
    max_count    BIGINT NOT NULL,
    granted      BOOLEAN NOT NULL
);
CREATE INDEX limit_counters_window ON limit_counters (window_start);
