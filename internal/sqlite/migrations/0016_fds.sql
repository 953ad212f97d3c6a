-- Fraud detection. Events are what the engine decided on, kept as the
-- history later decisions compute their features from: velocity is read by
-- customer, device fingerprint or IP over a time range, hence one index per
-- subject on (subject, time), followed by the columns the counts read so
-- that they are answered from the index without a visit to the table per
-- event. Optional identifiers are NULL when absent, so they never match
-- each other and COUNT(DISTINCT) skips them. Locations are pairs, both NULL
-- when unknown. No PII: ids, blind-index fingerprints, the IP the request
-- came from, a card BIN.
CREATE TABLE fds_events (
	id             TEXT    PRIMARY KEY,
	institution_id TEXT    NOT NULL,
	kind           TEXT    NOT NULL,
	action         TEXT    NOT NULL,
	customer_id    TEXT,
	fingerprint    TEXT,
	ip             TEXT,
	gps_lat        REAL,
	gps_lon        REAL,
	ip_lat         REAL,
	ip_lon         REAL,
	country        TEXT    NOT NULL,
	anonymous      INTEGER NOT NULL CHECK (anonymous IN (0, 1)),
	result         TEXT    NOT NULL CHECK (result IN ('', 'success', 'failure')),
	amount         INTEGER NOT NULL,
	bin            TEXT,
	bot            INTEGER NOT NULL CHECK (bot IN (0, 1)),
	time           INTEGER NOT NULL,
	CHECK ((gps_lat IS NULL) = (gps_lon IS NULL)),
	CHECK ((ip_lat IS NULL) = (ip_lon IS NULL))
) STRICT;
CREATE INDEX fds_events_customer ON fds_events (customer_id, time, result, kind, amount);
CREATE INDEX fds_events_fingerprint ON fds_events (fingerprint, time, result, customer_id);
CREATE INDEX fds_events_ip ON fds_events (ip, time, result, customer_id);

-- Decisions with their explanation: matched rules, rule errors and the
-- feature values used, as JSON. Backtests page them by (created_at, id).
CREATE TABLE fds_decisions (
	id               TEXT    PRIMARY KEY,
	event_id         TEXT    NOT NULL UNIQUE REFERENCES fds_events (id),
	institution_id   TEXT    NOT NULL,
	customer_id      TEXT,
	kind             TEXT    NOT NULL,
	rule_set_version INTEGER NOT NULL,
	score            INTEGER NOT NULL,
	outcome          TEXT    NOT NULL CHECK (outcome IN ('allow', 'step_up', 'review', 'deny')),
	matched          TEXT    NOT NULL,
	errors           TEXT    NOT NULL,
	features         TEXT    NOT NULL,
	case_id          TEXT,
	created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX fds_decisions_created ON fds_decisions (created_at, id);

-- Rule sets are immutable once saved; version is one more than the highest.
-- rules and thresholds are JSON.
CREATE TABLE fds_rule_sets (
	version      INTEGER PRIMARY KEY CHECK (version > 0),
	name         TEXT    NOT NULL,
	rules        TEXT    NOT NULL,
	thresholds   TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	created_by   TEXT    NOT NULL,
	activated_at INTEGER
) STRICT;

-- One row: the active rule set's version, 0 for none. Activation is a
-- compare-and-set on it, so of two concurrent activations one wins.
CREATE TABLE fds_active (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
) STRICT;
INSERT INTO fds_active (id, version) VALUES (1, 0);

-- Analysts' cases, opened by review and deny decisions. comments is JSON;
-- version moves by one on every change, which writers compare-and-set on.
CREATE TABLE fds_cases (
	id             TEXT    PRIMARY KEY,
	decision_id    TEXT    NOT NULL REFERENCES fds_decisions (id),
	institution_id TEXT    NOT NULL,
	customer_id    TEXT,
	outcome        TEXT    NOT NULL CHECK (outcome IN ('allow', 'step_up', 'review', 'deny')),
	status         TEXT    NOT NULL CHECK (status IN ('open', 'closed')),
	assignee       TEXT    NOT NULL,
	resolution     TEXT    NOT NULL,
	comments       TEXT    NOT NULL,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	version        INTEGER NOT NULL
) STRICT;
CREATE INDEX fds_cases_status ON fds_cases (status, created_at);
CREATE INDEX fds_cases_created ON fds_cases (created_at);

-- Operators' allow- and block-lists. An IP entry's value is an address or
-- a CIDR prefix, matched in Go; the others match exactly.
CREATE TABLE fds_lists (
	id         TEXT    PRIMARY KEY,
	list       TEXT    NOT NULL CHECK (list IN ('device', 'ip', 'customer', 'bin')),
	value      TEXT    NOT NULL,
	block      INTEGER NOT NULL CHECK (block IN (0, 1)),
	reason     TEXT    NOT NULL,
	created_by TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (list, value)
) STRICT;
