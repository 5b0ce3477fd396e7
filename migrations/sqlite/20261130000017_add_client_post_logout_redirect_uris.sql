-- RP-initiated logout: where a client may send the browser after logout (OIDC RP-Initiated
-- Logout §3), one per line, matched like redirect URIs. Until now logout accepted the
-- client's redirect URIs; existing clients keep those, so no deployed logout link breaks.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
UPDATE clients SET post_logout_redirect_uris = redirect_uris;
