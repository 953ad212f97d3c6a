package sqlstore

import (
	"context"
	"fmt"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/fds"
)

const fdsListColumns = `id, list, value, block, reason, created_by, created_at`

func listKnown(l fds.ListKind) bool {
	switch l {
	case fds.ListDevice, fds.ListIP, fds.ListCustomer, fds.ListBIN:
		return true
	}
	return false
}

// AddListEntry stores an allow- or block-list entry with its audit entry.
// A value already on that list (or a taken id) is errs.ErrConflict and
// writes nothing. An IP entry must be an address or a CIDR prefix: one
// that is neither would be stored and silently never match.
func (db *DB) AddListEntry(ctx context.Context, le *fds.ListEntry, e audit.Entry) error {
	if !listKnown(le.List) || le.ID == "" || le.Value == "" || (le.List == fds.ListIP && !ipEntryValid(le.Value)) {
		return fmt.Errorf("fds list entry %q on list %q: %w", le.ID, le.List, errs.ErrInvalid)
	}
	if err := checkText(le.ID, le.Value, le.Reason, le.CreatedBy); err != nil {
		return err
	}
	if err := checkTimes(le.CreatedAt); err != nil {
		return err
	}
	return db.write(ctx, func(tx *dbtx) error {
		_, err := tx.exec(ctx, `INSERT INTO fds_lists (`+fdsListColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			le.ID, string(le.List), le.Value, le.Block, le.Reason, le.CreatedBy, nanos(le.CreatedAt))
		if tx.isUnique(err) {
			return fmt.Errorf("fds list entry %s: %w", le.ID, errs.ErrConflict)
		} else if err != nil {
			return fmt.Errorf("insert fds list entry %s: %w", le.ID, err)
		}
		return db.appendAudit(ctx, tx, e)
	})
}

// RemoveListEntry deletes an entry with its audit entry; an unknown one is
// errs.ErrNotFound and writes nothing.
func (db *DB) RemoveListEntry(ctx context.Context, id string, e audit.Entry) error {
	return db.write(ctx, func(tx *dbtx) error {
		res, err := tx.exec(ctx, `DELETE FROM fds_lists WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete fds list entry %s: %w", id, err)
		}
		if err := expectOne(res, "fds list entry"); err != nil {
			return err
		}
		return db.appendAudit(ctx, tx, e)
	})
}

// ListEntries returns the entries of one list, or of all when list is "",
// oldest first.
func (db *DB) ListEntries(ctx context.Context, list fds.ListKind) ([]fds.ListEntry, error) {
	if list == "" {
		return listOf(ctx, db, `SELECT `+fdsListColumns+` FROM fds_lists ORDER BY created_at, id`)
	}
	return listOf(ctx, db, `SELECT `+fdsListColumns+` FROM fds_lists WHERE list = ? ORDER BY created_at, id`, string(list))
}

func listOf(ctx context.Context, db *DB, query string, args ...any) ([]fds.ListEntry, error) {
	return list(ctx, db, "fds list entries", scanFDSListEntry, query, args...)
}

func scanFDSListEntry(s scanner) (fds.ListEntry, error) {
	var le fds.ListEntry
	var kind string
	var created int64
	if err := s.Scan(&le.ID, &kind, &le.Value, &le.Block, &le.Reason, &le.CreatedBy, &created); err != nil {
		return le, fmt.Errorf("scan fds list entry: %w", err)
	}
	le.List, le.CreatedAt = fds.ListKind(kind), fromNanos(created)
	return le, nil
}
