-- The login ladder, one row per customer and method (never per device, so a
-- reinstall keeps the count). A row moves only inside a transaction that
-- holds it locked, and every write bumps version, which the write is guarded
-- on. protected_since = 0 means not in protection mode. recent holds the
-- last failure times (JSON array of Unix nanoseconds) for bot detection;
-- pending is the attempt reserved and being verified, if any.
CREATE TABLE lockout_states (
	customer_id     TEXT    NOT NULL,
	method          TEXT    NOT NULL CHECK (method IN ('pin', 'pattern', 'biometric')),
	failures        INTEGER NOT NULL CHECK (failures >= 0),
	last_failure    INTEGER NOT NULL,
	next_allowed    INTEGER NOT NULL,
	locked_until    INTEGER NOT NULL,
	protected_since INTEGER NOT NULL,
	recent          TEXT    NOT NULL,
	pending         TEXT    NOT NULL,
	pending_until   INTEGER NOT NULL,
	version         INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	PRIMARY KEY (customer_id, method)
) STRICT;

-- Spraying: sources are 'fp:<fingerprint>' or 'ip:<address>'. A source's
-- row is locked while its failure is logged and counted, so two nodes
-- cannot both miss the threshold; failures older than the window are
-- purged as new ones come.
CREATE TABLE lockout_sources (
	source          TEXT    PRIMARY KEY,
	throttled_until INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE lockout_source_failures (
	source      TEXT    NOT NULL,
	customer_id TEXT    NOT NULL,
	at          INTEGER NOT NULL
) STRICT;
CREATE INDEX lockout_source_failures_source ON lockout_source_failures (source, at);
