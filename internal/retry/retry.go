// Package retry is the wait between attempts of work that failed and is
// tried again later from a durable outbox (customer notifications,
// webhooks): exponential, capped, with full jitter.
package retry

import (
	"math/rand/v2"
	"time"
)

const (
	base    = 5 * time.Second
	maxWait = time.Hour
)

// Backoff is the wait after the attempt-th failure (1-based): 5 s doubled
// per failure, capped at one hour, with full jitter (uniform in [0, d]) so
// that work failing together (a receiver down) does not retry together.
// Jitter needs no secrecy, hence math/rand.
func Backoff(attempt int) time.Duration {
	d := maxWait
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 { // 5 s << 20 is far past the cap; avoids overflow
		d = min(base<<(attempt-1), maxWait)
	}
	return rand.N(d + 1)
}
