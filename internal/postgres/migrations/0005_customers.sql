-- Customers of institutions. Every PII column is sealed (AES-256-GCM, AAD
-- customers/<column>/<id>); phone and RRN are found by blind index. A phone
-- identifies one customer of an institution, which registration relies on.
CREATE TABLE customers (
	id             TEXT   PRIMARY KEY,
	institution_id TEXT   NOT NULL REFERENCES clients (id),
	name_sealed    BYTEA  NOT NULL,
	birth_sealed   BYTEA  NOT NULL,
	phone_sealed   BYTEA  NOT NULL,
	rrn_sealed     BYTEA,
	phone_index    BYTEA  NOT NULL,
	rrn_index      BYTEA,
	created_at     BIGINT NOT NULL,
	UNIQUE (institution_id, phone_index),
	CHECK ((rrn_sealed IS NULL) = (rrn_index IS NULL))
);
CREATE INDEX customers_rrn ON customers (rrn_index);

-- One-time codes (SMS, 1-won memo), stored only as a keyed hash. attempts
-- moves in single guarded UPDATEs, so it never passes max_attempts.
CREATE TABLE one_time_codes (
	id           TEXT    PRIMARY KEY,
	purpose      TEXT    NOT NULL,
	subject      TEXT    NOT NULL,
	hash         BYTEA   NOT NULL,
	expires_at   BIGINT  NOT NULL,
	attempts     INTEGER NOT NULL,
	max_attempts INTEGER NOT NULL,
	used_at      BIGINT,
	created_at   BIGINT  NOT NULL,
	CHECK (max_attempts > 0 AND attempts >= 0 AND attempts <= max_attempts)
);
