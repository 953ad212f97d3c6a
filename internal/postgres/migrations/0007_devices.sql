-- Device registration. A registration is one attempt, kept so that any node
-- continues it; only the SHA-256 of its challenge is stored. customer_id is
-- '' when the phone is no customer's; customer_key is then a blind index of
-- the phone, so unknown phones are counted like customers.
CREATE TABLE device_registrations (
	id             TEXT    PRIMARY KEY,
	institution_id TEXT    NOT NULL REFERENCES clients (id),
	customer_id    TEXT    NOT NULL,
	customer_key   TEXT    NOT NULL,
	fingerprint    TEXT    NOT NULL,
	challenge_hash BYTEA   NOT NULL,
	code_id        TEXT    NOT NULL,
	token_id       TEXT    NOT NULL,
	model          TEXT    NOT NULL,
	os             TEXT    NOT NULL,
	os_version     TEXT    NOT NULL,
	app_version    TEXT    NOT NULL,
	state          TEXT    NOT NULL CHECK (state IN ('started', 'code_verified', 'completed', 'failed')),
	expires_at     BIGINT  NOT NULL,
	created_at     BIGINT  NOT NULL,
	updated_at     BIGINT  NOT NULL
);
CREATE INDEX device_registrations_customer ON device_registrations (customer_id, state);

-- Registered devices. key_hash is unique: a public key binds to one device
-- only, ever.
CREATE TABLE devices (
	id              TEXT    PRIMARY KEY,
	institution_id  TEXT    NOT NULL REFERENCES clients (id),
	customer_id     TEXT    NOT NULL REFERENCES customers (id),
	registration_id TEXT    NOT NULL UNIQUE REFERENCES device_registrations (id),
	fingerprint     TEXT    NOT NULL,
	key_kind        TEXT    NOT NULL,
	public_key      BYTEA   NOT NULL,
	key_hash        BYTEA   NOT NULL UNIQUE,
	credential_id   BYTEA,
	model           TEXT    NOT NULL,
	os              TEXT    NOT NULL,
	os_version      TEXT    NOT NULL,
	app_version     TEXT    NOT NULL,
	state           TEXT    NOT NULL CHECK (state IN ('active', 'revoked')),
	created_at      BIGINT  NOT NULL,
	revoked_at      BIGINT,
	revoke_reason   TEXT    NOT NULL,
	CHECK ((state = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX devices_customer ON devices (customer_id, state);

-- Failure counters per subject (kind 'customer' or 'fingerprint'). They
-- move only in guarded single statements inside the transaction that
-- writes the attempt's audit event. 0 means "none" for every time column.
CREATE TABLE device_counters (
	kind             TEXT    NOT NULL CHECK (kind IN ('customer', 'fingerprint')),
	subject          TEXT    NOT NULL,
	failures         INTEGER NOT NULL CHECK (failures >= 0),
	restricted_until BIGINT  NOT NULL,
	blocked_at       BIGINT  NOT NULL,
	block_reason     TEXT    NOT NULL,
	released_at      BIGINT  NOT NULL,
	updated_at       BIGINT  NOT NULL,
	PRIMARY KEY (kind, subject)
);

-- Every restriction imposed, for the "3 restrictions in 30 days" rule.
CREATE TABLE device_restrictions (
	kind    TEXT    NOT NULL,
	subject TEXT    NOT NULL,
	at      BIGINT  NOT NULL
);
CREATE INDEX device_restrictions_subject ON device_restrictions (kind, subject, at);

-- Every recorded attempt: which customer (or unknown phone) a fingerprint
-- tried, for the many-customers rule and the risk scorer.
CREATE TABLE device_attempts (
	fingerprint  TEXT    NOT NULL,
	customer_key TEXT    NOT NULL,
	failed       BOOLEAN NOT NULL,
	at           BIGINT  NOT NULL
);
CREATE INDEX device_attempts_fingerprint ON device_attempts (fingerprint, at);
CREATE INDEX device_attempts_customer ON device_attempts (customer_key, at);

-- Integrity token ids seen: a token vouches for one attempt only.
CREATE TABLE device_integrity_tokens (
	token_id TEXT    PRIMARY KEY,
	used_at  BIGINT  NOT NULL
);

-- Call-center releases: requested by an agent, approved by another
-- operator. The reason is sealed (AAD device_releases/reason/<id>).
CREATE TABLE device_releases (
	id            TEXT    PRIMARY KEY,
	customer_id   TEXT    NOT NULL,
	reason_sealed BYTEA   NOT NULL,
	checklist     TEXT    NOT NULL,
	requested_by  TEXT    NOT NULL REFERENCES operators (id),
	requested_at  BIGINT  NOT NULL,
	expires_at    BIGINT  NOT NULL,
	state         TEXT    NOT NULL CHECK (state IN ('requested', 'approved')),
	approved_by   TEXT    REFERENCES operators (id),
	approved_at   BIGINT,
	CHECK (approved_by IS NULL OR approved_by <> requested_by)
);
CREATE INDEX device_releases_customer ON device_releases (customer_id);
