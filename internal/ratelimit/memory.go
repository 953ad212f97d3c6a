package ratelimit

import (
	"time"

	"github.com/throttled/throttled/v2"
	"github.com/throttled/throttled/v2/store/memstore"
)

// DefaultMaxKeys bounds the memory store of NewMemory.
const DefaultMaxKeys = 100_000

// NewMemory returns a single-node Limiter remembering at most DefaultMaxKeys
// keys on the wall clock.
func NewMemory() *GCRA { return NewMemorySized(DefaultMaxKeys, nil) }

// NewMemorySized returns a single-node Limiter that remembers at most maxKeys
// keys (DefaultMaxKeys when not positive), evicting the least recently used,
// so a flood of distinct clients cannot exhaust memory. now is the clock
// (time.Now when nil).
func NewMemorySized(maxKeys int, now func() time.Time) *GCRA {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	st, err := memstore.New(maxKeys)
	if err != nil {
		// The LRU refuses only a non-positive size, ruled out above.
		panic(err)
	}
	if now != nil {
		st.SetTimeNow(now)
	}
	return NewGCRA(throttled.WrapStoreWithContext(st))
}
