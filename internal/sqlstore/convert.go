package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

// Times are stored as Unix nanoseconds, which an int64 holds from 1677 to
// 2262. Anything outside is refused rather than silently wrapped around.
var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos is the stored form of t; the zero time is stored as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos reverses nanos, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nullNanos is the stored form of an optional time: NULL when absent.
func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

// checkTimes refuses times that nanos cannot represent.
func checkTimes(ts ...time.Time) error {
	for _, t := range ts {
		if !t.IsZero() && (t.Before(minTime) || t.After(maxTime)) {
			return fmt.Errorf("time %s outside the storable range: %w", t.UTC().Format(time.RFC3339), errs.ErrInvalid)
		}
	}
	return nil
}

// encodeList stores a list of names (scopes, roles) as a JSON array, which
// survives any character a name might hold.
func encodeList[S ~string](xs []S) (string, error) {
	if xs == nil {
		xs = []S{}
	}
	b, err := json.Marshal(xs)
	if err != nil {
		return "", fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

func decodeList[S ~string](s string) ([]S, error) {
	var xs []S
	if err := json.Unmarshal([]byte(s), &xs); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	return xs, nil
}

// encodeDetails stores audit details as a JSON object; empty is "{}".
func encodeDetails(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode details: %w", err)
	}
	return string(b), nil
}

// decodeDetails reverses encodeDetails; empty details come back nil.
func decodeDetails(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode details: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}
