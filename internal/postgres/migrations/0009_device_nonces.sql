-- Server nonces of device-signed requests. A nonce is consumed (deleted) by
-- the one request that signs it, in a single statement, so it serves at
-- most once on any node; expired rows are purged when new nonces are issued.
CREATE TABLE device_nonces (
	id         TEXT   PRIMARY KEY,
	device_id  TEXT   NOT NULL REFERENCES devices (id),
	expires_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX device_nonces_expires ON device_nonces (expires_at);
