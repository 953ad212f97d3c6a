-- Staff accounts of the console and their sessions. Roles are a JSON array.
CREATE TABLE operators (
	id             TEXT    PRIMARY KEY,
	username       TEXT    NOT NULL UNIQUE,
	roles          TEXT    NOT NULL,
	password_hash  TEXT    NOT NULL,
	totp_sealed    BLOB    NOT NULL,
	disabled       INTEGER NOT NULL CHECK (disabled IN (0, 1)),
	failed_logins  INTEGER NOT NULL,
	locked_until   INTEGER NOT NULL,
	last_totp_step INTEGER NOT NULL,
	created_at     INTEGER NOT NULL
) STRICT;

-- Keyed by the HMAC of the session token; the token itself is never stored.
CREATE TABLE operator_sessions (
	token_hash  BLOB    PRIMARY KEY,
	csrf_hash   BLOB    NOT NULL,
	operator_id TEXT    NOT NULL REFERENCES operators (id),
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);
