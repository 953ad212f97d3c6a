-- Data-encryption keys, wrapped under a master key version.
CREATE TABLE data_keys (
	id          TEXT    PRIMARY KEY,
	kek_version INTEGER NOT NULL,
	wrapped     BLOB    NOT NULL,
	created_at  INTEGER NOT NULL
) STRICT;

-- JWT signing keys, sealed with the data keyring.
CREATE TABLE signing_keys (
	id         TEXT    PRIMARY KEY,
	sealed     BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	retired_at INTEGER
) STRICT;
-- At most one key signs at a time.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
