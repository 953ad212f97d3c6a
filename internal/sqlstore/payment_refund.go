package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/payment"
)

const paymentRefundColumns = `id, transaction_id, kind, amount, reason, status, network_ref, created_at, done_at`

// checkRefunds refuses refunds of another transaction than the change's and
// times nanos cannot hold, before anything is written.
func checkRefunds(transactionID string, rs []payment.Refund) error {
	for _, r := range rs {
		if r.ID == "" || r.TransactionID != transactionID {
			return fmt.Errorf("refund %q is not of transaction %s: %w", r.ID, transactionID, errs.ErrInvalid)
		}
		if err := checkTimes(r.CreatedAt); err != nil {
			return err
		}
		if r.DoneAt != nil {
			if err := checkTimes(*r.DoneAt); err != nil {
				return err
			}
		}
	}
	return nil
}

// upsertRefund inserts a refund, or updates the outcome (status, network
// reference, done time) of the one stored under its id. What a refund is —
// its transaction, kind and amount — never changes: a stored refund that
// differs in them is errs.ErrConflict.
func upsertRefund(ctx context.Context, tx *dbtx, r *payment.Refund) error {
	res, err := tx.exec(ctx, `INSERT INTO payment_refunds (`+paymentRefundColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, network_ref = excluded.network_ref, done_at = excluded.done_at
		WHERE payment_refunds.transaction_id = excluded.transaction_id AND payment_refunds.kind = excluded.kind
		AND payment_refunds.amount = excluded.amount`,
		r.ID, r.TransactionID, string(r.Kind), r.Amount, r.Reason, string(r.Status), r.NetworkRef, nanos(r.CreatedAt),
		nullNanos(r.DoneAt))
	if err != nil {
		return fmt.Errorf("upsert payment refund %s: %w", r.ID, err)
	}
	if err := expectOne(res, "payment refund "+r.ID); err != nil {
		return fmt.Errorf("payment refund %s is stored with another transaction, kind or amount: %w", r.ID, errs.ErrConflict)
	}
	return nil
}

// PaymentRefunds lists a transaction's refunds, oldest first.
func (db *DB) PaymentRefunds(ctx context.Context, transactionID string) ([]payment.Refund, error) {
	return list(ctx, db, "payment refunds", scanRefund, `SELECT `+paymentRefundColumns+` FROM payment_refunds
		WHERE transaction_id = ? ORDER BY created_at, id`, transactionID)
}

func scanRefund(s scanner) (payment.Refund, error) {
	var r payment.Refund
	var kind, status string
	var created int64
	var done sql.NullInt64
	err := s.Scan(&r.ID, &r.TransactionID, &kind, &r.Amount, &r.Reason, &status, &r.NetworkRef, &created, &done)
	if errors.Is(err, sql.ErrNoRows) {
		return r, err
	} else if err != nil {
		return r, fmt.Errorf("scan payment refund: %w", err)
	}
	r.Kind, r.Status = payment.RefundKind(kind), payment.RefundStatus(status)
	r.CreatedAt, r.DoneAt = fromNanos(created), fromNullNanos(done)
	return r, nil
}
