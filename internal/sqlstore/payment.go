package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/webhook"
)

var _ payment.Store = (*DB)(nil)

// holdingStatuses are the statuses of payment.Status.HoldsOrder, written
// out as in the unique index of migration 0017: a query must name them
// literally for the planner to use that partial index.
const holdingStatuses = `'authorizing', 'approved', 'confirmed', 'partially_refunded', 'refunded'`

const paymentTxColumns = `id, merchant_id, order_no, info, claimed, mode, code, reason, status, client_secret_mac,
	pan_sealed, pan_masked, approval_code, decline_reason, auth_attempts, auth_lease_end, refunded_amount,
	confirmed_at, expires_at, created_at, updated_at, version`

// paymentTxRow is a transaction in its stored form, in paymentTxColumns
// order (id first).
func paymentTxRow(t *payment.Transaction) ([]any, error) {
	info, err := json.Marshal(t.Info)
	if err != nil {
		return nil, fmt.Errorf("encode payment info of %s: %w", t.ID, err)
	}
	claimed, err := json.Marshal(t.Claimed)
	if err != nil {
		return nil, fmt.Errorf("encode claimed payment info of %s: %w", t.ID, err)
	}
	return []any{t.ID, t.MerchantID, t.Info.OrderNo, string(info), string(claimed), string(t.Mode), string(t.Code),
		string(t.Reason), string(t.Status), nullBytes(t.ClientSecretMAC), nullBytes(t.PANSealed), t.PANMasked,
		t.ApprovalCode, t.DeclineReason, t.AuthAttempts, nullNanos(t.AuthLeaseEnd), t.RefundedAmount,
		nullNanos(t.ConfirmedAt), nanos(t.ExpiresAt), nanos(t.CreatedAt), nanos(t.UpdatedAt), t.Version}, nil
}

func checkPaymentTx(t *payment.Transaction) error {
	if t == nil || t.ID == "" || t.MerchantID == "" {
		return fmt.Errorf("payment transaction without an id or merchant: %w", errs.ErrInvalid)
	}
	ts := []time.Time{t.ExpiresAt, t.CreatedAt, t.UpdatedAt}
	for _, p := range []*time.Time{t.AuthLeaseEnd, t.ConfirmedAt} {
		if p != nil {
			ts = append(ts, *p)
		}
	}
	return checkTimes(ts...)
}

// CreatePaymentTransaction stores a new transaction with its webhook events
// and audit entry. An id already taken is errs.ErrConflict; a transaction
// created in a status that holds its order while another holds it is
// payment.ErrOrderTaken. Either way nothing is written.
func (db *DB) CreatePaymentTransaction(ctx context.Context, t *payment.Transaction, evs []webhook.Event, e audit.Entry) error {
	if err := checkPaymentTx(t); err != nil {
		return err
	}
	row, err := paymentTxRow(t)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		// The id is checked first because a unique violation on insert does
		// not say which index it broke, and ids are random: a clash there
		// is a caller's mistake, one on the order index a lost race.
		var n int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM payment_transactions WHERE id = ?`, t.ID).Scan(&n); err != nil {
			return fmt.Errorf("find payment transaction %s: %w", t.ID, err)
		}
		if n > 0 {
			return fmt.Errorf("payment transaction %s: %w", t.ID, errs.ErrConflict)
		}
		_, err := tx.exec(ctx, `INSERT INTO payment_transactions (`+paymentTxColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, row...)
		if tx.isUnique(err) {
			return orderTaken(t)
		} else if err != nil {
			return fmt.Errorf("insert payment transaction %s: %w", t.ID, err)
		}
		return db.finishPaymentChange(ctx, tx, evs, []audit.Entry{e})
	})
}

func orderTaken(t *payment.Transaction) error {
	return fmt.Errorf("payment transaction %s: order %q of %s: %w", t.ID, t.Info.OrderNo, t.MerchantID, payment.ErrOrderTaken)
}

// PaymentTransaction returns a transaction of any merchant; the service
// scopes it to the caller.
func (db *DB) PaymentTransaction(ctx context.Context, id string) (*payment.Transaction, error) {
	return db.findPaymentTx(ctx, `id = ?`, id)
}

// OrderHolder returns the order's transaction in a status that holds it;
// the unique index makes it at most one.
func (db *DB) OrderHolder(ctx context.Context, merchantID, orderNo string) (*payment.Transaction, error) {
	return db.findPaymentTx(ctx, `merchant_id = ? AND order_no = ? AND status IN (`+holdingStatuses+`)`, merchantID, orderNo)
}

func (db *DB) findPaymentTx(ctx context.Context, where string, args ...any) (*payment.Transaction, error) {
	var t *payment.Transaction
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		t, err = scanPaymentTx(tx.queryRow(ctx, `SELECT `+paymentTxColumns+` FROM payment_transactions WHERE `+where, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("payment transaction: %w", errs.ErrNotFound)
		}
		return err
	})
	return t, err
}

// SavePaymentTransaction replaces a transaction as a compare-and-set on
// c.PrevVersion, with its refunds (inserted or updated by id), webhook
// events and audit entries, in one transaction. A transaction changed
// meanwhile is errs.ErrConflict; a change that would make it a second
// holder of its order is payment.ErrOrderTaken. Nothing is written then.
func (db *DB) SavePaymentTransaction(ctx context.Context, c payment.Change) error {
	t := c.T
	if err := checkPaymentTx(t); err != nil {
		return err
	}
	if t.Version != c.PrevVersion+1 {
		return fmt.Errorf("payment transaction %s: version %d does not follow %d: %w", t.ID, t.Version, c.PrevVersion, errs.ErrInvalid)
	}
	if err := checkRefunds(t.ID, c.Refunds); err != nil {
		return err
	}
	row, err := paymentTxRow(t)
	if err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE payment_transactions SET merchant_id = ?, order_no = ?, info = ?, claimed = ?,
			mode = ?, code = ?, reason = ?, status = ?, client_secret_mac = ?, pan_sealed = ?, pan_masked = ?,
			approval_code = ?, decline_reason = ?, auth_attempts = ?, auth_lease_end = ?, refunded_amount = ?,
			confirmed_at = ?, expires_at = ?, created_at = ?, updated_at = ?, version = ?
			WHERE id = ? AND version = ?`, append(row[1:], t.ID, c.PrevVersion)...)
		if tx.isUnique(err) {
			return orderTaken(t)
		} else if err != nil {
			return fmt.Errorf("update payment transaction %s: %w", t.ID, err)
		}
		if err := expectOne(res, "payment transaction "+t.ID); err != nil {
			return fmt.Errorf("payment transaction %s changed meanwhile: %w", t.ID, errs.ErrConflict)
		}
		for i := range c.Refunds {
			if err := upsertRefund(ctx, tx, &c.Refunds[i]); err != nil {
				return err
			}
		}
		return db.finishPaymentChange(ctx, tx, c.Events, c.Audit)
	})
}

// finishPaymentChange writes the events and audit entries of a change; the
// audit entries come last, as appendAudit asks.
func (db *DB) finishPaymentChange(ctx context.Context, tx *dbtx, evs []webhook.Event, entries []audit.Entry) error {
	if err := insertWebhookEvents(ctx, tx, evs); err != nil {
		return err
	}
	for _, e := range entries {
		if err := db.appendAudit(ctx, tx, e); err != nil {
			return err
		}
	}
	return nil
}

// DuePaymentTransactions returns up to limit transactions the sweeper has
// work on at now, oldest change first: verified or approved ones whose
// ExpiresAt has come, authorizing ones unchanged since now−giveUp whose
// lease (if any) has run out, and any with a pending refund.
func (db *DB) DuePaymentTransactions(ctx context.Context, now time.Time, giveUp time.Duration, limit int) ([]*payment.Transaction, error) {
	if giveUp < 0 {
		return nil, fmt.Errorf("negative authorization give-up: %w", errs.ErrInvalid)
	}
	abandoned := now.Add(-giveUp)
	if err := checkTimes(now, abandoned); err != nil {
		return nil, err
	}
	return list(ctx, db, "due payment transactions", scanPaymentTx, `SELECT `+paymentTxColumns+`
		FROM payment_transactions WHERE (status IN (?, ?) AND expires_at <= ?)
		OR (status = ? AND updated_at < ? AND (auth_lease_end IS NULL OR auth_lease_end <= ?))
		OR id IN (SELECT transaction_id FROM payment_refunds WHERE status = ?)
		ORDER BY updated_at, id LIMIT ?`,
		string(payment.StatusVerified), string(payment.StatusApproved), nanos(now),
		string(payment.StatusAuthorizing), nanos(abandoned), nanos(now),
		string(payment.RefundPending), limit)
}

func scanPaymentTx(s scanner) (*payment.Transaction, error) {
	var t payment.Transaction
	var orderNo, info, claimed, mode, code, reason, status string
	var leaseEnd, confirmed sql.NullInt64
	var expires, created, updated int64
	err := s.Scan(&t.ID, &t.MerchantID, &orderNo, &info, &claimed, &mode, &code, &reason, &status,
		&t.ClientSecretMAC, &t.PANSealed, &t.PANMasked, &t.ApprovalCode, &t.DeclineReason, &t.AuthAttempts,
		&leaseEnd, &t.RefundedAmount, &confirmed, &expires, &created, &updated, &t.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("scan payment transaction: %w", err)
	}
	if err := json.Unmarshal([]byte(info), &t.Info); err != nil {
		return nil, fmt.Errorf("decode payment info of %s: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(claimed), &t.Claimed); err != nil {
		return nil, fmt.Errorf("decode claimed payment info of %s: %w", t.ID, err)
	}
	t.Mode, t.Code, t.Reason, t.Status = payment.Mode(mode), payment.Code(code), payinfo.Reason(reason), payment.Status(status)
	t.AuthLeaseEnd, t.ConfirmedAt = fromNullNanos(leaseEnd), fromNullNanos(confirmed)
	t.ExpiresAt, t.CreatedAt, t.UpdatedAt = fromNanos(expires), fromNanos(created), fromNanos(updated)
	return &t, nil
}
