package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

// UseDPoPJTI records a DPoP proof's jti for its key. The primary key
// (jkt, jti) and the upsert make the one statement the decision: of racing
// requests on any node exactly one inserts (or takes over a row already
// expired at now), the others affect no row and get false, without an
// aborted transaction. Expired rows are not purged here, where every
// authenticated request would contend for the same old rows; PurgeSessions
// deletes them, and until then they only wait to be taken over.
func (db *DB) UseDPoPJTI(ctx context.Context, jkt, jti string, now, expires time.Time) (bool, error) {
	if jkt == "" || jti == "" || !expires.After(now) {
		return false, fmt.Errorf("dpop jti: a key, an id and a future expiry are required: %w", errs.ErrInvalid)
	}
	if err := checkTimes(now, expires); err != nil {
		return false, err
	}
	var fresh bool
	err := db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `INSERT INTO dpop_jtis (jkt, jti, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_jtis.expires_at <= ?`,
			jkt, jti, nanos(expires), nanos(now))
		if err != nil {
			return fmt.Errorf("insert dpop jti: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("insert dpop jti: rows affected: %w", err)
		}
		fresh = n == 1
		return nil
	})
	return fresh, err
}
