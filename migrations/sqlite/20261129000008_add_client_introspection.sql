-- RFC 7662 §2.1: a client may introspect tokens issued to other clients only when it was
-- given that right (resource servers); every confidential client may introspect its own.
ALTER TABLE clients ADD COLUMN may_introspect BOOLEAN NOT NULL DEFAULT FALSE;
