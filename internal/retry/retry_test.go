package retry_test

import (
	"testing"
	"time"

	"github.com/haechi/haechi/internal/retry"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		max     time.Duration
	}{
		{-1, 5 * time.Second}, {0, 5 * time.Second}, {1, 5 * time.Second}, {2, 10 * time.Second},
		{5, 80 * time.Second}, {10, time.Hour}, {63, time.Hour}, {1 << 30, time.Hour},
	}
	for _, tc := range tests {
		var hi time.Duration
		for range 2000 {
			d := retry.Backoff(tc.attempt)
			if d < 0 || d > tc.max {
				t.Fatalf("attempt %d: %v outside [0, %v]", tc.attempt, d, tc.max)
			}
			hi = max(hi, d)
		}
		if hi < tc.max/2 { // full jitter spreads over the whole range
			t.Fatalf("attempt %d: largest of 2000 draws %v, want near %v", tc.attempt, hi, tc.max)
		}
	}
}
