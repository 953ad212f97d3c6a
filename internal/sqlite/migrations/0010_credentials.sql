-- Customers' PINs and patterns, one row per (customer, method), held only as
-- Argon2id hashes. history is a JSON array of the hashes the current one
-- replaced, newest first, so a new secret can be refused if recently used.
-- must_change is set when protection mode ends: the secret then no longer
-- logs in until it is replaced.
CREATE TABLE credentials (
	customer_id TEXT    NOT NULL REFERENCES customers (id),
	method      TEXT    NOT NULL CHECK (method IN ('pin', 'pattern')),
	hash        TEXT    NOT NULL,
	history     TEXT    NOT NULL,
	must_change INTEGER NOT NULL CHECK (must_change IN (0, 1)),
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (customer_id, method)
) STRICT;
