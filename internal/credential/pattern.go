package credential

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/haechi/haechi/internal/errs"
)

// Pattern is a path over the 3×3 grid, its nodes numbered 1–9 row by row:
//
//	1 2 3
//	4 5 6
//	7 8 9
type Pattern []int

// MinPatternNodes is the shortest pattern accepted. Android's lock screen
// asks for the same; shorter patterns are too few to resist guessing.
const MinPatternNodes = 4

// maxPatternInput bounds what ParsePattern decodes: nine nodes need well
// under 64 bytes of JSON, so anything much longer is refused unread.
const maxPatternInput = 256

// Pattern refusals share one code, pattern_invalid, and say why in their
// messages; none echoes the pattern.
var (
	ErrPatternInvalid = errs.New(errs.Invalid, "pattern_invalid",
		"The pattern must be a list of grid nodes from 1 to 9.",
		"패턴은 1부터 9까지의 점 목록이어야 합니다.").WithField("pattern")
	errPatternRepeat = errs.New(errs.Invalid, "pattern_invalid",
		"The pattern must not pass through the same node twice.",
		"패턴은 같은 점을 두 번 지날 수 없습니다.").WithField("pattern")
	errPatternSkip = errs.New(errs.Invalid, "pattern_invalid",
		"The pattern jumps over a node it has not yet passed through, which a finger cannot do.",
		"패턴이 아직 지나지 않은 점을 건너뛰었습니다. 손가락으로 그릴 수 없는 패턴입니다.").WithField("pattern")
	ErrPatternTooShort = errs.New(errs.Invalid, "pattern_too_short",
		"The pattern must connect at least 4 nodes.",
		"패턴은 점을 4개 이상 이어야 합니다.").WithField("pattern")
)

// ParsePattern reads a pattern sent as a JSON array of node numbers, e.g.
// [1,2,3,6], and checks that a finger could draw it.
func ParsePattern(s string) (Pattern, error) {
	if len(s) > maxPatternInput {
		return nil, ErrPatternInvalid
	}
	buf := []byte(s)
	defer clear(buf) // the copy is ours to wipe; s itself cannot be
	var p Pattern
	if err := json.Unmarshal(buf, &p); err != nil {
		return nil, ErrPatternInvalid
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks the drawing rules: nodes 1–9, none twice, no move that
// passes over an unvisited node, and at least MinPatternNodes nodes. A move
// that passes over a node already visited is fine (it is drawn over it), and
// so is a knight's move such as 1→6, which crosses no node's centre.
func (p Pattern) Validate() error {
	var seen [10]bool
	for i, n := range p {
		switch {
		case n < 1 || n > 9:
			return ErrPatternInvalid
		case seen[n]:
			return errPatternRepeat
		case i > 0 && skipsUnvisited(p[i-1], n, &seen):
			return errPatternSkip
		}
		seen[n] = true
	}
	if len(p) < MinPatternNodes {
		return ErrPatternTooShort
	}
	return nil
}

// skipsUnvisited reports whether the straight move a→b passes over the
// centre of a node not yet in seen. On a 3×3 grid a move crosses a node only
// when both its row and its column distances are even (0 or 2), and then the
// node crossed is the midpoint.
func skipsUnvisited(a, b int, seen *[10]bool) bool {
	ra, ca := (a-1)/3, (a-1)%3
	rb, cb := (b-1)/3, (b-1)%3
	if (ra+rb)%2 != 0 || (ca+cb)%2 != 0 {
		return false
	}
	mid := (ra+rb)/2*3 + (ca+cb)/2 + 1
	return !seen[mid]
}

// canonical is the form that is hashed, e.g. "1-2-3-6".
func (p Pattern) canonical() string {
	parts := make([]string, len(p))
	for i, n := range p {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, "-")
}
