package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// Export writes every event as one JSON object per line, in seq order, so
// that an auditor can keep a copy outside haechi and check it independently.
// Hashes are base64. It returns how many events it wrote.
func Export(ctx context.Context, s Store, w io.Writer) (int64, error) {
	enc := json.NewEncoder(w)
	var n, after int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		page, err := s.AuditEvents(ctx, after, pageSize)
		if err != nil {
			return n, fmt.Errorf("audit: read events after %d: %w", after, err)
		}
		if len(page) == 0 {
			return n, nil
		}
		for i := range page {
			// A store that goes backwards would make us loop forever.
			if page[i].Seq <= after {
				return n, fmt.Errorf("audit: store returned seq %d after %d", page[i].Seq, after)
			}
			if err := enc.Encode(&page[i]); err != nil {
				return n, fmt.Errorf("audit: write event %d: %w", page[i].Seq, err)
			}
			after = page[i].Seq
			n++
		}
	}
}
