-- Customer sessions (issue #4). A family is one login's chain of refresh
-- tokens; generation names its current refresh token and moves only by
-- compare-and-set. Tokens are stored as HMACs under the pepper. Rotated
-- refresh tokens stay until the family expires, so that their reuse is
-- recognised and revokes the family. revoked_at is 0 while live.
CREATE TABLE session_families (
	id            TEXT    PRIMARY KEY,
	customer_id   TEXT    NOT NULL REFERENCES customers (id),
	device_id     TEXT    NOT NULL REFERENCES devices (id),
	jkt           TEXT    NOT NULL,
	generation    BIGINT  NOT NULL CHECK (generation >= 1),
	created_at    BIGINT  NOT NULL,
	expires_at    BIGINT  NOT NULL,
	revoked_at    BIGINT  NOT NULL,
	revoke_reason TEXT    NOT NULL
);
CREATE INDEX session_families_customer ON session_families (customer_id);
CREATE INDEX session_families_device ON session_families (device_id);
CREATE INDEX session_families_expires ON session_families (expires_at);

CREATE TABLE refresh_tokens (
	token_hash BYTEA    PRIMARY KEY,
	family_id  TEXT    NOT NULL REFERENCES session_families (id),
	generation BIGINT  NOT NULL,
	created_at BIGINT  NOT NULL,
	expires_at BIGINT  NOT NULL,
	UNIQUE (family_id, generation)
);

-- Access tokens carry the key thumbprint (jkt) every request's DPoP proof
-- must match. Revoking a family deletes them.
CREATE TABLE access_tokens (
	token_hash  BYTEA    PRIMARY KEY,
	family_id   TEXT    NOT NULL REFERENCES session_families (id),
	customer_id TEXT    NOT NULL,
	device_id   TEXT    NOT NULL,
	jkt         TEXT    NOT NULL,
	scope       TEXT    NOT NULL,
	created_at  BIGINT  NOT NULL,
	expires_at  BIGINT  NOT NULL
);
CREATE INDEX access_tokens_family ON access_tokens (family_id);
CREATE INDEX access_tokens_expires ON access_tokens (expires_at);

-- DPoP proof ids seen, per key, until the proof's iat would be refused
-- anyway; the primary key makes each single use on every node.
CREATE TABLE dpop_jtis (
	jkt        TEXT    NOT NULL,
	jti        TEXT    NOT NULL,
	expires_at BIGINT  NOT NULL,
	PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_jtis_expires ON dpop_jtis (expires_at);
