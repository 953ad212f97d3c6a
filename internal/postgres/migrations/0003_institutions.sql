-- Institutions calling the API and their API keys. Scopes are JSON arrays.
CREATE TABLE clients (
	id          TEXT   PRIMARY KEY,
	name        TEXT   NOT NULL,
	scopes      TEXT   NOT NULL,
	secret_hash BYTEA  NOT NULL,
	created_at  BIGINT NOT NULL,
	revoked_at  BIGINT
);

CREATE TABLE api_keys (
	id          TEXT   PRIMARY KEY,
	client_id   TEXT   NOT NULL REFERENCES clients (id),
	secret_hash BYTEA  NOT NULL,
	scopes      TEXT   NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	revoked_at  BIGINT
);
CREATE INDEX api_keys_client ON api_keys (client_id);
