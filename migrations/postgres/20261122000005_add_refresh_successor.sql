-- Rotation in one statement: consuming a token records the hash of its successor (and the
-- successor's scope and issue time) in the consumed row, and this trigger inserts the
-- successor in the same statement (one round trip per rotation, no explicit transaction).
ALTER TABLE refresh_tokens
    ADD COLUMN next_hash BYTEA,
    ADD COLUMN next_scope TEXT,
    ADD COLUMN next_issued_at TIMESTAMPTZ;

CREATE FUNCTION refresh_tokens_issue_next() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO refresh_tokens (token_hash, family_id, scope, issued_at)
    VALUES (NEW.next_hash, NEW.family_id, NEW.next_scope, NEW.next_issued_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER refresh_tokens_issue_next AFTER UPDATE OF next_hash ON refresh_tokens
FOR EACH ROW WHEN (NEW.next_hash IS NOT NULL)
EXECUTE FUNCTION refresh_tokens_issue_next();
