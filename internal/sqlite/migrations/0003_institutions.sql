-- Institutions calling the API and their API keys. Scopes are JSON arrays.
CREATE TABLE clients (
	id          TEXT    PRIMARY KEY,
	name        TEXT    NOT NULL,
	scopes      TEXT    NOT NULL,
	secret_hash BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER
) STRICT;

CREATE TABLE api_keys (
	id          TEXT    PRIMARY KEY,
	client_id   TEXT    NOT NULL REFERENCES clients (id),
	secret_hash BLOB    NOT NULL,
	scopes      TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	revoked_at  INTEGER
) STRICT;
CREATE INDEX api_keys_client ON api_keys (client_id);
