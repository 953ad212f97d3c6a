-- Payment gateway. A merchant is an institution client (its API keys) with
-- a lookup URL and a TID key, sealed (AES-256-GCM, AAD merchants/tid_key/<id>).
-- One client is at most one merchant.
CREATE TABLE merchants (
	id          TEXT    PRIMARY KEY,
	client_id   TEXT    NOT NULL UNIQUE REFERENCES clients (id),
	name        TEXT    NOT NULL,
	lookup_url  TEXT    NOT NULL,
	mode        TEXT    NOT NULL CHECK (mode IN ('protected', 'legacy')),
	tid_key     BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	disabled_at INTEGER
) STRICT;

-- Checkout transactions and their payments. info is what is (or was)
-- charged and claimed what the checkout client sent, both JSON; order_no is
-- info's order number, a column of its own for the index below. merchant_id
-- has no foreign key: a transaction is kept for forensics whatever merchant
-- it names. The PAN is sealed (AAD payment_transactions/pan/<id>) and
-- masked; only the MAC of the client secret is kept. version moves by one
-- on every change, which writers compare-and-set on.
CREATE TABLE payment_transactions (
	id                TEXT    PRIMARY KEY,
	merchant_id       TEXT    NOT NULL,
	order_no          TEXT    NOT NULL,
	info              TEXT    NOT NULL,
	claimed           TEXT    NOT NULL,
	mode              TEXT    NOT NULL CHECK (mode IN ('protected', 'legacy')),
	code              TEXT    NOT NULL CHECK (code IN ('NORMAL', 'ABNORMAL')),
	reason            TEXT    NOT NULL,
	status            TEXT    NOT NULL CHECK (status IN ('abnormal', 'verified', 'expired', 'authorizing',
		'approved', 'confirmed', 'declined', 'refused', 'failed', 'net_cancelled', 'partially_refunded', 'refunded')),
	client_secret_mac BLOB,
	pan_sealed        BLOB,
	pan_masked        TEXT    NOT NULL,
	approval_code     TEXT    NOT NULL,
	decline_reason    TEXT    NOT NULL,
	auth_attempts     INTEGER NOT NULL CHECK (auth_attempts >= 0),
	auth_lease_end    INTEGER,
	refunded_amount   INTEGER NOT NULL CHECK (refunded_amount >= 0),
	confirmed_at      INTEGER,
	expires_at        INTEGER NOT NULL,
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL,
	version           INTEGER NOT NULL
) STRICT;
-- At most one payment per order: of an order's transactions, only one may
-- be in a status that holds it (payment.Status.HoldsOrder). Two concurrent
-- authorizations of one order cannot both commit.
CREATE UNIQUE INDEX payment_transactions_order_holder ON payment_transactions (merchant_id, order_no)
	WHERE status IN ('authorizing', 'approved', 'confirmed', 'partially_refunded', 'refunded');
-- The sweeper's deadlines: verified and approved by expires_at, authorizing
-- by updated_at.
CREATE INDEX payment_transactions_due ON payment_transactions (status, expires_at);
CREATE INDEX payment_transactions_authorizing ON payment_transactions (status, updated_at);
CREATE INDEX payment_transactions_merchant ON payment_transactions (merchant_id, created_at);

-- Reversals at the card network (net-cancels, refunds, reversals of
-- unanswered authorizations). The id is also the network's idempotency
-- key; a pending row is retried by the sweeper with it.
CREATE TABLE payment_refunds (
	id             TEXT    PRIMARY KEY,
	transaction_id TEXT    NOT NULL REFERENCES payment_transactions (id),
	kind           TEXT    NOT NULL CHECK (kind IN ('net_cancel', 'refund', 'reversal')),
	amount         INTEGER NOT NULL CHECK (amount > 0),
	reason         TEXT    NOT NULL,
	status         TEXT    NOT NULL CHECK (status IN ('pending', 'done')),
	network_ref    TEXT    NOT NULL,
	created_at     INTEGER NOT NULL,
	done_at        INTEGER,
	CHECK ((status = 'done') = (done_at IS NOT NULL))
) STRICT;
CREATE INDEX payment_refunds_status ON payment_refunds (status, transaction_id);
CREATE INDEX payment_refunds_transaction ON payment_refunds (transaction_id, created_at);
