package api

import (
	"encoding/json"
	"net/http"
	"regexp"

	"github.com/haechi/haechi/internal/errs"
)

// respond writes v as JSON with status.
func respond(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Our response types always encode; this is a programming error.
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// pathIDPattern is the shape of every id haechi makes: a short prefix and
// lowercase base32. Anything else cannot exist, so it is refused before a
// lookup.
var pathIDPattern = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// pathID returns the {id} path value, or not_found when it cannot be an id.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !pathIDPattern.MatchString(id) {
		return "", errs.ErrNotFound
	}
	return id, nil
}
