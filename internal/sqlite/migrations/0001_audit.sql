-- Tables are STRICT: a value of the wrong type is refused, not coerced.
-- The tamper-evident audit log. Times are Unix nanoseconds (UTC) in every
-- table, so that hashes and signatures are the same on every engine.
CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY,
	time       INTEGER NOT NULL,
	actor      TEXT    NOT NULL,
	action     TEXT    NOT NULL,
	target     TEXT    NOT NULL,
	result     TEXT    NOT NULL,
	request_id TEXT    NOT NULL,
	client_ip  TEXT    NOT NULL,
	details    TEXT    NOT NULL,
	prev_hash  BLOB    NOT NULL,
	hash       BLOB    NOT NULL
) STRICT;

CREATE TABLE audit_checkpoints (
	seq       INTEGER PRIMARY KEY,
	hash      BLOB    NOT NULL,
	time      INTEGER NOT NULL,
	signature BLOB    NOT NULL
) STRICT;

-- One row: the last sequence number and hash, signed. Appends read and move
-- it in their transaction, which is what orders them.
CREATE TABLE audit_head (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	seq       INTEGER NOT NULL,
	hash      BLOB    NOT NULL,
	time      INTEGER NOT NULL,
	signature BLOB    NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, hash, time, signature) VALUES (1, 0, zeroblob(32), 0, X'');

-- Append-only: the application never changes or removes a past event. The
-- chain detects tampering by anyone who bypasses this; the triggers stop
-- mistakes and casual edits.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END;
