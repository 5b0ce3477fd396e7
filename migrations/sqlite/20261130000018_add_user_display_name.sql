-- A user's display name (OIDC `name`): set by an admin or brought over by `sigil user import`.
ALTER TABLE users ADD COLUMN display_name TEXT;
