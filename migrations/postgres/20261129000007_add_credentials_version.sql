-- A user's credentials_version goes up with every change that must end every session (a new
-- password, disabling, withdrawing admin). A session (refresh family) records the version its
-- login checked and is created only while that is still the user's version, so a login that
-- verified the old password before a reset cannot start a session after it; refresh refuses
-- a family whose version is no longer the user's.
ALTER TABLE users ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;
