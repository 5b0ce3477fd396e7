-- Browser login (authorization code + PKCE): the redirect URIs a client registered, one per
-- line, matched exactly (loopback http URIs on any port, RFC 8252 §7.3); and whether it is a
-- first-party client, whose users are not asked for consent.
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN first_party INTEGER NOT NULL DEFAULT 0;
