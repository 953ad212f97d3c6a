-- Staff accounts of the console and their sessions. Roles are a JSON array.
CREATE TABLE operators (
	id             TEXT    PRIMARY KEY,
	username       TEXT    NOT NULL UNIQUE,
	roles          TEXT    NOT NULL,
	password_hash  TEXT    NOT NULL,
	totp_sealed    BYTEA   NOT NULL,
	disabled       BOOLEAN NOT NULL,
	failed_logins  INTEGER NOT NULL,
	locked_until   BIGINT  NOT NULL,
	last_totp_step BIGINT  NOT NULL,
	created_at     BIGINT  NOT NULL
);

-- Keyed by the HMAC of the session token; the token itself is never stored.
CREATE TABLE operator_sessions (
	token_hash  BYTEA  PRIMARY KEY,
	csrf_hash   BYTEA  NOT NULL,
	operator_id TEXT   NOT NULL REFERENCES operators (id),
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);
