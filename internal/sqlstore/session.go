package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/session"
)

var _ session.Store = (*DB)(nil)

// Tokens are keyed by their HMAC; error messages never carry it, as a logged
// hash would be one guess away from a usable lookup key.

const familyColumns = `f.id, f.customer_id, f.device_id, f.jkt, f.generation, f.created_at, f.expires_at, f.revoked_at, f.revoke_reason`

// CreateSession stores a new family and its first tokens with the audit
// entry, only for an active device of the customer.
func (db *DB) CreateSession(ctx context.Context, f *session.Family, r *session.RefreshToken, a *session.AccessToken, e audit.Entry) error {
	if err := checkTimes(f.CreatedAt, f.ExpiresAt, r.ExpiresAt, a.ExpiresAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		if err := activeDevice(ctx, tx, f.DeviceID, f.CustomerID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO session_families (id, customer_id, device_id, jkt, generation, created_at, expires_at, revoked_at, revoke_reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, '')`, f.ID, f.CustomerID, f.DeviceID, f.JKT, f.Generation, nanos(f.CreatedAt), nanos(f.ExpiresAt))
		if tx.isUnique(err) {
			return fmt.Errorf("session family: %w", errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert session family: %w", err)
		}
		return db.insertTokens(ctx, tx, r, a, e)
	})
}

// liveDevices selects the devices that may hold sessions: active, of an
// institution that is not revoked. Revoking a bank ends its customers'
// sessions with it.
const liveDevices = `SELECT d.id FROM devices d JOIN clients c ON c.id = d.institution_id
	WHERE d.state = ? AND c.revoked_at IS NULL`

// activeDevice checks that the device is the customer's and live.
func activeDevice(ctx context.Context, tx *dbtx, deviceID, customerID string) error {
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM devices WHERE id = ? AND customer_id = ? AND id IN (`+liveDevices+`)`,
		deviceID, customerID, device.DeviceActive).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("active device of the customer: %w", errs.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("read device: %w", err)
	}
	return nil
}

// insertTokens adds one generation's tokens and the audit entry.
func (db *DB) insertTokens(ctx context.Context, tx *dbtx, r *session.RefreshToken, a *session.AccessToken, e audit.Entry) error {
	_, err := tx.exec(ctx, `INSERT INTO refresh_tokens (token_hash, family_id, generation, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		r.Hash, r.FamilyID, r.Generation, nanos(r.CreatedAt), nanos(r.ExpiresAt))
	if tx.isUnique(err) {
		return fmt.Errorf("refresh token: %w", errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert refresh token: %w", err)
	}
	_, err = tx.exec(ctx, `INSERT INTO access_tokens (token_hash, family_id, customer_id, device_id, jkt, scope, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.Hash, a.FamilyID, a.CustomerID, a.DeviceID, a.JKT, a.Scope, nanos(a.CreatedAt), nanos(a.ExpiresAt))
	if tx.isUnique(err) {
		return fmt.Errorf("access token: %w", errs.ErrConflict)
	} else if err != nil {
		return fmt.Errorf("insert access token: %w", err)
	}
	return db.appendAudit(ctx, tx, e)
}

// SessionRefresh finds a refresh token, current or rotated, with its family.
func (db *DB) SessionRefresh(ctx context.Context, hash []byte) (*session.Family, *session.RefreshToken, error) {
	var f session.Family
	r := session.RefreshToken{Hash: hash}
	err := db.read(ctx, func(tx *dbtx) error {
		var created, expires, revoked, rCreated, rExpires int64
		err := tx.queryRow(ctx, `SELECT `+familyColumns+`, r.generation, r.created_at, r.expires_at
			FROM refresh_tokens r JOIN session_families f ON f.id = r.family_id WHERE r.token_hash = ?`, hash).
			Scan(&f.ID, &f.CustomerID, &f.DeviceID, &f.JKT, &f.Generation, &created, &expires, &revoked, &f.RevokeReason,
				&r.Generation, &rCreated, &rExpires)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("refresh token: %w", errs.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("read refresh token: %w", err)
		}
		f.CreatedAt, f.ExpiresAt, f.RevokedAt = fromNanos(created), fromNanos(expires), fromNanos(revoked)
		r.FamilyID, r.CreatedAt, r.ExpiresAt = f.ID, fromNanos(rCreated), fromNanos(rExpires)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &f, &r, nil
}

// RotateSession is the compare-and-set on the family's generation. On
// PostgreSQL a racing rotation waits on the row lock and then finds the
// generation moved; on SQLite writers are serialized. Either way exactly one
// of racing rotations from the same generation succeeds.
func (db *DB) RotateSession(ctx context.Context, r session.Rotation) error {
	if r.Refresh == nil || r.Access == nil || r.Refresh.Generation != r.From+1 || r.Refresh.FamilyID != r.FamilyID {
		return fmt.Errorf("rotate session: tokens of the next generation required: %w", errs.ErrInvalid)
	}
	if err := checkTimes(r.Now, r.Refresh.ExpiresAt, r.Access.ExpiresAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `UPDATE session_families SET generation = ?
			WHERE id = ? AND generation = ? AND revoked_at = 0 AND expires_at > ?
			AND device_id IN (`+liveDevices+`)`,
			r.From+1, r.FamilyID, r.From, nanos(r.Now), device.DeviceActive)
		if err != nil {
			return fmt.Errorf("rotate session: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("rotate session: rows affected: %w", err)
		} else if n == 0 {
			return whyNotRotated(ctx, tx, r)
		}
		return db.insertTokens(ctx, tx, r.Refresh, r.Access, r.Entry)
	})
}

// whyNotRotated tells a moved generation (errs.ErrConflict: someone else
// rotated) from a family that is gone, revoked, expired or whose device is
// revoked (errs.ErrNotFound).
func whyNotRotated(ctx context.Context, tx *dbtx, r session.Rotation) error {
	var gen int64
	err := tx.queryRow(ctx, `SELECT generation FROM session_families WHERE id = ?`, r.FamilyID).Scan(&gen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("session family: %w", errs.ErrNotFound)
	case err != nil:
		return fmt.Errorf("read session family: %w", err)
	case gen != r.From:
		return fmt.Errorf("session family moved to generation %d: %w", gen, errs.ErrConflict)
	}
	return fmt.Errorf("live session family: %w", errs.ErrNotFound)
}

// RevokeSessionFamily revokes one family and deletes its access tokens;
// its refresh tokens stay, so that later presentations are still refused.
func (db *DB) RevokeSessionFamily(ctx context.Context, familyID, reason string, now time.Time, e audit.Entry) error {
	_, err := db.revokeSessions(ctx, "id", familyID, reason, now, e)
	return err
}

// RevokeDeviceSessions revokes every live family of a device.
func (db *DB) RevokeDeviceSessions(ctx context.Context, deviceID, reason string, now time.Time, e audit.Entry) (int64, error) {
	return db.revokeSessions(ctx, "device_id", deviceID, reason, now, e)
}

// RevokeCustomerSessions revokes every live family of a customer.
func (db *DB) RevokeCustomerSessions(ctx context.Context, customerID, reason string, now time.Time, e audit.Entry) (int64, error) {
	return db.revokeSessions(ctx, "customer_id", customerID, reason, now, e)
}

// revokeSessions revokes the live families whose column equals value, with
// their access tokens and the audit entry, in one transaction. column is
// one of this file's constants, never input.
func (db *DB) revokeSessions(ctx context.Context, column, value, reason string, now time.Time, e audit.Entry) (int64, error) {
	if err := checkTimes(now); err != nil {
		return 0, err
	}
	var n int64
	err := db.write(ctx, func(tx *dbtx) error {
		live := `SELECT id FROM session_families WHERE ` + column + ` = ? AND revoked_at = 0`
		if _, err := tx.exec(ctx, `DELETE FROM access_tokens WHERE family_id IN (`+live+`)`, value); err != nil {
			return fmt.Errorf("delete access tokens: %w", err)
		}
		res, err := tx.exec(ctx, `UPDATE session_families SET revoked_at = ?, revoke_reason = ? WHERE `+column+` = ? AND revoked_at = 0`,
			nanos(now), reason, value)
		if err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("revoke sessions: rows affected: %w", err)
		}
		e.Details = withDetail(e.Details, "families_revoked", strconv.FormatInt(n, 10))
		return db.appendAudit(ctx, tx, e)
	})
	return n, err
}

// SessionAccess finds an access token of a live family on an active device.
func (db *DB) SessionAccess(ctx context.Context, hash []byte) (*session.AccessToken, error) {
	a := session.AccessToken{Hash: hash}
	err := db.read(ctx, func(tx *dbtx) error {
		var created, expires int64
		err := tx.queryRow(ctx, `SELECT a.family_id, a.customer_id, a.device_id, a.jkt, a.scope, a.created_at, a.expires_at
			FROM access_tokens a JOIN session_families f ON f.id = a.family_id
			WHERE a.token_hash = ? AND f.revoked_at = 0 AND f.device_id IN (`+liveDevices+`)`, hash, device.DeviceActive).
			Scan(&a.FamilyID, &a.CustomerID, &a.DeviceID, &a.JKT, &a.Scope, &created, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("access token: %w", errs.ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("read access token: %w", err)
		}
		a.CreatedAt, a.ExpiresAt = fromNanos(created), fromNanos(expires)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// PurgeSessions deletes families past their cap with all their tokens,
// expired access tokens and expired DPoP jtis.
func (db *DB) PurgeSessions(ctx context.Context, now time.Time) (int64, error) {
	if err := checkTimes(now); err != nil {
		return 0, err
	}
	const expired = `SELECT id FROM session_families WHERE expires_at <= ?`
	at := nanos(now)
	steps := []struct {
		query string
		args  []any
	}{
		{`DELETE FROM access_tokens WHERE expires_at <= ? OR family_id IN (` + expired + `)`, []any{at, at}},
		{`DELETE FROM refresh_tokens WHERE family_id IN (` + expired + `)`, []any{at}},
		{`DELETE FROM session_families WHERE expires_at <= ?`, []any{at}},
		{`DELETE FROM dpop_jtis WHERE expires_at <= ?`, []any{at}},
	}
	var total int64
	err := db.write(ctx, func(tx *dbtx) error {
		for _, s := range steps {
			res, err := tx.exec(ctx, s.query, s.args...)
			if err != nil {
				return fmt.Errorf("purge sessions: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("purge sessions: rows affected: %w", err)
			}
			total += n
		}
		return nil
	})
	return total, err
}
