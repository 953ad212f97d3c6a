package deviceapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxAnswer bounds what a client reads of any answer.
const maxAnswer = 1 << 20

// defaultTimeout applies when a client is given no *http.Client.
const defaultTimeout = 15 * time.Second

// request is one call to the server.
type request struct {
	method string
	url    string
	body   []byte // JSON; nil for none
	header http.Header
}

// send performs req and decodes a 2xx JSON answer into out (nil discards
// it); any other status becomes a *Problem.
func send(ctx context.Context, c *http.Client, req request, out any) error {
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", req.method, req.url, err)
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	hr.Header.Set("Accept", "application/json")
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(hr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.method, req.url, err)
	}
	defer res.Body.Close()
	return answer(res, out)
}

// answer reads one response.
func answer(res *http.Response, out any) error {
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return DecodeProblem(res.StatusCode, res.Header, b)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode answer of %s: %w", res.Request.URL.Path, err)
	}
	return nil
}

// jsonRequest builds a request with in encoded as its JSON body (nil: none).
func jsonRequest(method, url string, in any) (request, error) {
	req := request{method: method, url: url, header: http.Header{}}
	if in == nil {
		return req, nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return req, fmt.Errorf("encode %s body: %w", url, err)
	}
	req.body = b
	return req, nil
}

// endpoint joins the server's base URL and a path.
func endpoint(server, path string) string {
	return strings.TrimRight(server, "/") + path
}

func orDefault(c *http.Client) *http.Client {
	if c == nil {
		return &http.Client{Timeout: defaultTimeout}
	}
	return c
}

func nowOr(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}
