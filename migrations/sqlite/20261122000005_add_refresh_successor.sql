-- Rotation in one statement: consuming a token records the hash of its successor (and the
-- successor's scope and issue time) in the consumed row, and this trigger inserts the
-- successor in the same statement. One round trip to the single SQLite writer per rotation
-- instead of four (BEGIN, UPDATE, INSERT, COMMIT).
ALTER TABLE refresh_tokens ADD COLUMN next_hash BLOB;
ALTER TABLE refresh_tokens ADD COLUMN next_scope TEXT;
ALTER TABLE refresh_tokens ADD COLUMN next_issued_at TEXT;

CREATE TRIGGER refresh_tokens_issue_next AFTER UPDATE OF next_hash ON refresh_tokens
WHEN NEW.next_hash IS NOT NULL
BEGIN
    INSERT INTO refresh_tokens (token_hash, family_id, scope, issued_at)
    VALUES (NEW.next_hash, NEW.family_id, NEW.next_scope, NEW.next_issued_at);
END;
