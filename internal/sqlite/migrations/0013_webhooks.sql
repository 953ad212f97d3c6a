-- The webhook outbox: events to institutions and merchants, written in the
-- same transaction as the change they announce, delivered (at least once)
-- by the dispatcher. payload is the JSON body, masked values only.
CREATE TABLE webhook_events (
	id              TEXT    PRIMARY KEY,
	owner           TEXT    NOT NULL,
	type            TEXT    NOT NULL,
	payload         TEXT    NOT NULL,
	created_at      INTEGER  NOT NULL,
	attempts        INTEGER NOT NULL,
	next_attempt_at INTEGER  NOT NULL,
	delivered_at    INTEGER
) STRICT;
CREATE INDEX webhook_events_due ON webhook_events (delivered_at, next_attempt_at);
-- One endpoint per owner. secrets is sealed (AAD bound to the owner): a JSON
-- list of base64 secrets, newest first.
CREATE TABLE webhook_endpoints (
	owner      TEXT    PRIMARY KEY,
	url        TEXT    NOT NULL,
	secrets    TEXT    NOT NULL,
	updated_at INTEGER  NOT NULL
) STRICT;
