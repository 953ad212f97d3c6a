package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/haechi/haechi/internal/errs"
)

// dbtx is a transaction that speaks the store's ? placeholders. Unexported
// helpers take one, so a public method decides the transaction's extent and
// the helpers cannot commit half of it.
type dbtx struct {
	tx *sql.Tx
	db *DB
}

func (t *dbtx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.Rebind(query), args...)
}

func (t *dbtx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.Rebind(query), args...)
}

func (t *dbtx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.Rebind(query), args...)
}

// isUnique reports whether err is a unique or primary key violation.
func (t *dbtx) isUnique(err error) bool {
	return t.db.d.IsUniqueViolation != nil && t.db.d.IsUniqueViolation(err)
}

// write runs fn in a writing transaction and commits only if fn succeeds.
// Writing transactions on SQLite begin IMMEDIATE (the engine's DSN sets it),
// so they never fail half way for want of the write lock.
func (db *DB) write(ctx context.Context, fn func(*dbtx) error) error {
	release, err := db.acquireWriter(ctx)
	if err != nil {
		return err
	}
	defer release()
	return db.inTx(ctx, nil, fn)
}

// read runs fn in a read-only transaction, so that a method reading several
// tables sees one snapshot.
func (db *DB) read(ctx context.Context, fn func(*dbtx) error) error {
	return db.inTx(ctx, &sql.TxOptions{ReadOnly: true}, fn)
}

func (db *DB) inTx(ctx context.Context, opts *sql.TxOptions, fn func(*dbtx) error) (err error) {
	tx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", db.d.Name, err)
	}
	defer func() {
		if err == nil {
			return
		}
		if rbErr := ignoreDone(tx.Rollback()); rbErr != nil {
			err = errors.Join(err, fmt.Errorf("%s: rollback: %w", db.d.Name, rbErr))
		}
	}()
	if err := fn(&dbtx{tx: tx, db: db}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", db.d.Name, err)
	}
	return nil
}

// ignoreDone drops the error of rolling back a transaction the driver has
// already ended (a failed commit, a cancelled context).
func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// acquireWriter waits for the single writer slot when the engine has one.
func (db *DB) acquireWriter(ctx context.Context) (func(), error) {
	if db.writer == nil {
		return func() {}, nil
	}
	select {
	case db.writer <- struct{}{}:
		return func() { <-db.writer }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// rebindNumbered turns each ? outside quotes into $1, $2, … in order.
func rebindNumbered(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte // the quote character we are inside, or 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// expectOne turns an update or delete that matched no row into not-found.
func expectOne(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: rows affected: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, errs.ErrNotFound)
	}
	return nil
}

// list runs one query in a read transaction and scans every row.
func list[T any](ctx context.Context, db *DB, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := db.read(ctx, func(tx *dbtx) error {
		var err error
		out, err = queryAll(ctx, tx, what, scan, query, args...)
		return err
	})
	return out, err
}

// queryAll scans every row of query with scan.
func queryAll[T any](ctx context.Context, tx *dbtx, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
