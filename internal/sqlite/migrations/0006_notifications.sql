-- The customer notification outbox. Rows are written in the same transaction
-- as the change they announce and delivered later by the dispatcher. data is
-- a JSON object of masked values only; sent_at is NULL until delivered.
CREATE TABLE notifications (
	id              TEXT    PRIMARY KEY,
	customer_id     TEXT    NOT NULL,
	kind            TEXT    NOT NULL,
	data            TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	attempts        INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	sent_at         INTEGER
) STRICT;
-- The dispatcher's query: unsent rows that are due, oldest first.
CREATE INDEX notifications_due ON notifications (sent_at, next_attempt_at);
