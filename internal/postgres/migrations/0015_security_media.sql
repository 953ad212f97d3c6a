-- Security media (보안매체): OTP generators institutions issue to people.
-- The seed and the holder's fields are sealed (AES-256-GCM, AAD
-- security_media/<column>/<id>); the holder is matched by a blind index of
-- the normalised name, birth date and phone. last_step (TOTP), counter
-- (HOTP) and failures move only in guarded UPDATEs, so a code is accepted
-- once and parallel wrong codes all count.
CREATE TABLE security_media (
	id                  TEXT    PRIMARY KEY,
	institution_id      TEXT    NOT NULL REFERENCES clients (id),
	serial              TEXT    NOT NULL,
	kind                TEXT    NOT NULL CHECK (kind IN ('totp', 'hotp')),
	seed_sealed         BYTEA   NOT NULL,
	digits              INTEGER NOT NULL CHECK (digits IN (6, 8)),
	period              INTEGER NOT NULL,
	algorithm           TEXT    NOT NULL CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
	holder_index        BYTEA   NOT NULL,
	holder_name_sealed  BYTEA   NOT NULL,
	holder_birth_sealed BYTEA   NOT NULL,
	holder_phone_sealed BYTEA   NOT NULL,
	counter             BIGINT  NOT NULL CHECK (counter >= 0),
	last_step           BIGINT  NOT NULL,
	failures            INTEGER NOT NULL CHECK (failures >= 0),
	registered_at       BIGINT  NOT NULL,
	UNIQUE (institution_id, serial),
	CHECK ((kind = 'totp' AND period IN (30, 60)) OR (kind = 'hotp' AND period = 0))
);
