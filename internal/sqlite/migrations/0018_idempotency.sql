-- Idempotency keys of state-changing gateway calls, one row per (scope,
-- key). A claim inserts the row pending with a lease; the call's response
-- is then kept sealed (AES-256-GCM, AAD idempotency_keys/response/<scope>
-- NUL <key>) and the row is done. The request is kept only as a keyed MAC
-- (fingerprint), never in the clear. A pending row whose lease is past, or
-- any row past expires_at, may be taken over by a new claim in the same
-- statement that would insert it, so racing claimants get one winner.
CREATE TABLE idempotency_keys (
	scope       TEXT    NOT NULL,
	key         TEXT    NOT NULL,
	fingerprint BLOB    NOT NULL,
	state       TEXT    NOT NULL,
	status      INTEGER NOT NULL,
	response    BLOB,
	created_at  INTEGER NOT NULL,
	lease_until INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	PRIMARY KEY (scope, key),
	CHECK ((state = 'pending' AND status = 0 AND response IS NULL)
		OR (state = 'done' AND status BETWEEN 100 AND 599 AND response IS NOT NULL))
) STRICT;
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
