-- Whether the user proved their email address (or an admin or an import vouched for it).
-- Existing users have not.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
