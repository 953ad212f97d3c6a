-- eKYC verification sessions. The applicant's name, birth date and phone
-- are sealed (AES-256-GCM, AAD ekyc_sessions/<column>/<id>) and the phone is
-- found by blind index; a purge sets all four to NULL and purged_at. Only
-- the MAC of the applicant token is kept. policy and methods are JSON;
-- version moves by one on every change, which writers compare-and-set on.
CREATE TABLE ekyc_sessions (
	id             TEXT    PRIMARY KEY,
	institution_id TEXT    NOT NULL REFERENCES clients (id),
	reference      TEXT    NOT NULL,
	customer_id    TEXT    REFERENCES customers (id),
	token_hash     BYTEA   NOT NULL,
	name_sealed    BYTEA,
	birth_sealed   BYTEA,
	phone_sealed   BYTEA,
	phone_index    BYTEA,
	policy         TEXT    NOT NULL,
	status         TEXT    NOT NULL,
	reason         TEXT    NOT NULL,
	methods        TEXT    NOT NULL,
	created_at     BIGINT  NOT NULL,
	expires_at     BIGINT  NOT NULL,
	decided_at     BIGINT,
	consumed_at    BIGINT,
	purged_at      BIGINT,
	version        BIGINT  NOT NULL,
	CHECK (status IN ('pending', 'passed', 'failed', 'expired')),
	CHECK ((purged_at IS NULL) = (name_sealed IS NOT NULL AND birth_sealed IS NOT NULL
		AND phone_sealed IS NOT NULL AND phone_index IS NOT NULL)),
	CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE INDEX ekyc_sessions_due ON ekyc_sessions (status, expires_at);
CREATE INDEX ekyc_sessions_created ON ekyc_sessions (created_at);
CREATE INDEX ekyc_sessions_institution ON ekyc_sessions (institution_id, created_at);
CREATE INDEX ekyc_sessions_phone ON ekyc_sessions (phone_index);
CREATE INDEX ekyc_sessions_customer ON ekyc_sessions (customer_id);

-- Evidence of sessions: ID images, RRNs, account numbers, recording
-- references, each sealed (AAD ekyc_evidence/data/<session id>/<id>); RRNs and
-- accounts are found by blind index. Deleted by the purge.
CREATE TABLE ekyc_evidence (
	id             TEXT    PRIMARY KEY,
	session_id     TEXT    NOT NULL REFERENCES ekyc_sessions (id),
	institution_id TEXT    NOT NULL,
	method         TEXT    NOT NULL,
	kind           TEXT    NOT NULL,
	content_type   TEXT    NOT NULL,
	size           BIGINT  NOT NULL,
	sealed         BYTEA   NOT NULL,
	blind_index    BYTEA,
	created_at     BIGINT  NOT NULL
);
CREATE INDEX ekyc_evidence_session ON ekyc_evidence (session_id);
CREATE INDEX ekyc_evidence_index ON ekyc_evidence (kind, blind_index);

-- Biometric liveness nonces, stored as a MAC. A nonce is consumed (deleted)
-- by one statement, so it serves at most once on any node.
CREATE TABLE ekyc_nonces (
	hash       BYTEA   PRIMARY KEY,
	session_id TEXT    NOT NULL REFERENCES ekyc_sessions (id),
	expires_at BIGINT  NOT NULL,
	created_at BIGINT  NOT NULL
);
CREATE INDEX ekyc_nonces_session ON ekyc_nonces (session_id);
CREATE INDEX ekyc_nonces_expires ON ekyc_nonces (expires_at);
