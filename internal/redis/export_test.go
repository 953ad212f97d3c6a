package redis

import (
	"context"
	"time"

	"github.com/haechi/haechi/internal/fds"
)

// VelocityBatch reads several subjects in one round trip, for the benchmark
// that compares it with one round trip per subject.
func VelocityBatch(ctx context.Context, v *Velocity, kinds []fds.SubjectKind, values []string, now time.Time) ([]fds.Velocity, error) {
	pipe := v.Client.Pipeline()
	reads := make([]func() (fds.Velocity, bool, error), len(kinds))
	for i := range kinds {
		reads[i] = v.queueVelocity(ctx, pipe, subject{kinds[i], values[i]}, now)
	}
	_, _ = pipe.Exec(ctx)
	out := make([]fds.Velocity, len(kinds))
	for i, read := range reads {
		vel, _, err := read()
		if err != nil {
			return nil, err
		}
		out[i] = vel
	}
	return out, nil
}
