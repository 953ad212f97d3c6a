package face

import (
	"context"
	"errors"
	"sync"

	"github.com/haechi/haechi/internal/errs"
)

// Scores the simulator gives.
const (
	simSamePerson  = 0.97
	simOtherPerson = 0.12
	simLive        = 0.98
	simNotLive     = 0.05
)

// errOutage is the cause of the failures FailNext injects.
var errOutage = errors.New("face simulator: injected engine outage")

// Simulator is an Engine for the demo and tests. It is a SIMULATOR, not a
// face engine: it recognises no faces, only the fixture images this
// package builds (see IDPhotoFixture and SelfieFixture). Compare gives
// 0.97 for two fixtures of the same person and 0.12 for different people;
// Liveness gives Live with score 0.98 for a selfie and not Live with 0.05
// for any other variant. Liveness reports the nonce embedded in the
// capture, or none, and does not itself compare it with the nonce asked
// for: binding the result to the server's nonce is the caller's check, as
// with a real engine, and a capture replayed under another nonce must fail
// there. Any other image is ErrNoFace. The real path is HTTP. Safe for
// concurrent use.
type Simulator struct {
	mu       sync.Mutex
	failNext int
}

var _ Engine = (*Simulator)(nil)

// NewSimulator returns a simulator.
func NewSimulator() *Simulator { return &Simulator{} }

// Compare scores the two fixtures.
func (s *Simulator) Compare(ctx context.Context, selfie, idPhoto []byte) (float64, error) {
	if err := s.begin(ctx, selfie, idPhoto); err != nil {
		return 0, err
	}
	a, ok := parseFixture(selfie)
	if !ok {
		return 0, ErrNoFace.WithField(FieldSelfie)
	}
	b, ok := parseFixture(idPhoto)
	if !ok {
		return 0, ErrNoFace.WithField(FieldIDPhoto)
	}
	if a.person == b.person {
		return simSamePerson, nil
	}
	return simOtherPerson, nil
}

// Liveness judges the capture by its variant and reads its nonce.
func (s *Simulator) Liveness(ctx context.Context, selfie []byte, nonce string) (Liveness, error) {
	if err := CheckNonce(nonce); err != nil {
		return Liveness{}, err
	}
	if err := s.begin(ctx, selfie); err != nil {
		return Liveness{}, err
	}
	f, ok := parseFixture(selfie)
	if !ok {
		return Liveness{}, ErrNoFace.WithField(FieldSelfie)
	}
	if !f.live() {
		return Liveness{Live: false, Nonce: f.nonce, Score: simNotLive}, nil
	}
	return Liveness{Live: true, Nonce: f.nonce, Score: simLive}, nil
}

// begin does what every call does first: honour ctx, refuse images no
// engine would take, then meet any injected outage.
func (s *Simulator) begin(ctx context.Context, images ...[]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fields := []string{FieldSelfie, FieldIDPhoto} // in the order Compare passes them
	for i, img := range images {
		if err := checkImage(fields[i], img); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return errs.ErrUnavailable.WithCause(errOutage)
	}
	return nil
}

// FailNext makes the next n calls fail with an error wrapping
// errs.ErrUnavailable, as when the engine is down. n ≤ 0 ends a pending
// outage.
func (s *Simulator) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = max(n, 0)
}
