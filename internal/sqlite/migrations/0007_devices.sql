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
	challenge_hash BLOB    NOT NULL,
	code_id        TEXT    NOT NULL,
	token_id       TEXT    NOT NULL,
	model          TEXT    NOT NULL,
	os             TEXT    NOT NULL,
	os_version     TEXT    NOT NULL,
	app_version    TEXT    NOT NULL,
	state          TEXT    NOT NULL CHECK (state IN ('started', 'code_verified', 'completed', 'failed')),
	expires_at     INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
) STRICT;
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
	public_key      BLOB    NOT NULL,
	key_hash        BLOB    NOT NULL UNIQUE,
	credential_id   BLOB,
	model           TEXT    NOT NULL,
	os              TEXT    NOT NULL,
	os_version      TEXT    NOT NULL,
	app_version     TEXT    NOT NULL,
	state           TEXT    NOT NULL CHECK (state IN ('active', 'revoked')),
	created_at      INTEGER NOT NULL,
	revoked_at      INTEGER,
	revoke_reason   TEXT    NOT NULL,
	CHECK ((state = 'revoked') = (revoked_at IS NOT NULL))
) STRICT;
CREATE INDEX devices_customer ON devices (customer_id, state);

-- Failure counters per subject (kind 'customer' or 'fingerprint'). They
-- move only in guarded single statements inside the transaction that
-- writes the attempt's audit event. 0 means "none" for every time column.
CREATE TABLE device_counters (
	kind             TEXT    NOT NULL CHECK (kind IN ('customer', 'fingerprint')),
	subject          TEXT    NOT NULL,
	failures         INTEGER NOT NULL CHECK (failures >= 0),
	restricted_until INTEGER NOT NULL,
	blocked_at       INTEGER NOT NULL,
	block_reason     TEXT    NOT NULL,
	released_at      INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	PRIMARY KEY (kind, subject)
) STRICT;

-- Every restriction imposed, for the "3 restrictions in 30 days" rule.
CREATE TABLE device_restrictions (
	kind    TEXT    NOT NULL,
	subject TEXT    NOT NULL,
	at      INTEGER NOT NULL
) STRICT;
CREATE INDEX device_restrictions_subject ON device_restrictions (kind, subject, at);

-- Every recorded attempt: which customer (or unknown phone) a fingerprint
-- tried, for the many-customers rule and the risk scorer.
CREATE TABLE device_attempts (
	fingerprint  TEXT    NOT NULL,
	customer_key TEXT    NOT NULL,
	failed       INTEGER NOT NULL CHECK (failed IN (0, 1)),
	at           INTEGER NOT NULL
) STRICT;
CREATE INDEX device_attempts_fingerprint ON device_attempts (fingerprint, at);
CREATE INDEX device_attempts_customer ON device_attempts (customer_key, at);

-- Integrity token ids seen: a token vouches for one attempt only.
CREATE TABLE device_integrity_tokens (
	token_id TEXT    PRIMARY KEY,
	used_at  INTEGER NOT NULL
) STRICT;

-- Call-center releases: requested by an agent, approved by another
-- operator. The reason is sealed (AAD device_releases/reason/<id>).
CREATE TABLE device_releases (
	id            TEXT    PRIMARY KEY,
	customer_id   TEXT    NOT NULL,
	reason_sealed BLOB    NOT NULL,
	checklist     TEXT    NOT NULL,
	requested_by  TEXT    NOT NULL REFERENCES operators (id),
	requested_at  INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL,
	state         TEXT    NOT NULL CHECK (state IN ('requested', 'approved')),
	approved_by   TEXT    REFERENCES operators (id),
	approved_at   INTEGER,
	CHECK (approved_by IS NULL OR approved_by <> requested_by)
) STRICT;
CREATE INDEX device_releases_customer ON device_releases (customer_id);
