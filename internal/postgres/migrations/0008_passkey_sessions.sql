-- WebAuthn ceremony state between begin and finish. A row is taken (deleted)
-- by the finish that answers it, so each challenge is answered at most once;
-- expired rows are left for PurgePasskeySessions.
CREATE TABLE passkey_sessions (
	id         TEXT   PRIMARY KEY,
	data       BYTEA  NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX passkey_sessions_expires ON passkey_sessions (expires_at);
