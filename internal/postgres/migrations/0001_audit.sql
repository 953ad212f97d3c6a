-- The tamper-evident audit log. Times are Unix nanoseconds (UTC) in every
-- table, so that hashes and signatures are the same on every engine.
CREATE TABLE audit_events (
	seq        BIGINT PRIMARY KEY,
	time       BIGINT NOT NULL,
	actor      TEXT   NOT NULL,
	action     TEXT   NOT NULL,
	target     TEXT   NOT NULL,
	result     TEXT   NOT NULL,
	request_id TEXT   NOT NULL,
	client_ip  TEXT   NOT NULL,
	details    TEXT   NOT NULL,
	prev_hash  BYTEA  NOT NULL,
	hash       BYTEA  NOT NULL
);

CREATE TABLE audit_checkpoints (
	seq       BIGINT PRIMARY KEY,
	hash      BYTEA  NOT NULL,
	time      BIGINT NOT NULL,
	signature BYTEA  NOT NULL
);

-- One row: the last sequence number and hash, signed. Appends lock it with
-- SELECT … FOR UPDATE, which orders them across every process.
CREATE TABLE audit_head (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	seq       BIGINT  NOT NULL,
	hash      BYTEA   NOT NULL,
	time      BIGINT  NOT NULL,
	signature BYTEA   NOT NULL
);
INSERT INTO audit_head (id, seq, hash, time, signature) VALUES (1, 0, decode(repeat('00', 32), 'hex'), 0, '');

-- Append-only: the application never changes or removes a past event. The
-- chain detects tampering by anyone who bypasses this; the triggers stop
-- mistakes and casual edits.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_head_keep BEFORE DELETE OR TRUNCATE ON audit_head
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
