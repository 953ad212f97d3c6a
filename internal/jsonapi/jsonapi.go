// Package jsonapi is the one HTTP client behind every adapter to an external
// authority (carrier, attestation, ID authenticity): JSON POSTs with a
// bearer token, a deadline on every call, a bounded response, no redirects.
// Its errors never carry a request or response body, which may hold
// personal data; they wrap errs.ErrUnavailable, since to our own client an
// authority that fails is a service briefly unavailable.
package jsonapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

// Defaults of a zero Config field.
const (
	DefaultTimeout = 5 * time.Second
	// maxResponse bounds what an authority may send back; the answers we
	// expect are a few hundred bytes.
	maxResponse = 64 << 10
)

// Config says where an authority is and how to call it.
type Config struct {
	// BaseURL is absolute, http or https, without query or user info.
	// Production uses https; plain http is for a sidecar or a test server.
	BaseURL string
	// Token is sent as "Authorization: Bearer <token>".
	Token string
	// Timeout bounds each call, on top of the caller's context.
	Timeout time.Duration
	// HTTPClient, when set, is used as given (its own Timeout applies too);
	// otherwise a client that does not follow redirects is used.
	HTTPClient *http.Client
}

// Client posts JSON to one authority. Safe for concurrent use.
type Client struct {
	base    *url.URL
	token   string
	timeout time.Duration
	http    *http.Client
}

// New checks c and returns a client.
func New(c Config) (*Client, error) {
	base, err := parseBase(c.BaseURL)
	if err != nil {
		return nil, err
	}
	if c.Token == "" || strings.ContainsAny(c.Token, "\r\n") {
		return nil, errors.New("jsonapi: a bearer token is required")
	}
	cl := &Client{base: base, token: c.Token, timeout: c.Timeout, http: c.HTTPClient}
	if cl.timeout <= 0 {
		cl.timeout = DefaultTimeout
	}
	if cl.http == nil {
		cl.http = &http.Client{Timeout: cl.timeout, CheckRedirect: noRedirect}
	}
	return cl, nil
}

// noRedirect keeps a body of personal data from being re-sent wherever a
// redirect points.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("jsonapi: base URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("jsonapi: base URL %q must be an absolute http(s) URL without query or user info", u.Redacted())
	}
	return u, nil
}

// Post sends in as JSON to base/path and decodes a 200 answer into out.
// Any other status, a malformed or oversized body, or a timeout is an
// error wrapping errs.ErrUnavailable.
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.request(ctx, path, in)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return unavailable(path, fmt.Errorf("send: %w", scrubURLError(err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse)) // lets the connection be reused
		return unavailable(path, fmt.Errorf("status %d", resp.StatusCode))
	}
	if err := decode(resp.Body, out); err != nil {
		return unavailable(path, err)
	}
	return nil
}

func (c *Client) request(ctx context.Context, path string, in any) (*http.Request, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("jsonapi: encode request to %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("jsonapi: request to %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// decode reads exactly one JSON value of at most maxResponse bytes.
func decode(r io.Reader, out any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxResponse+1))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("answer larger than %d bytes", maxResponse)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("malformed answer: %w", err)
	}
	if dec.More() {
		return errors.New("malformed answer: data after the JSON value")
	}
	return nil
}

// scrubURLError keeps the failure but drops the URL, whose query a future
// caller might fill; the path is named by unavailable instead.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func unavailable(path string, err error) error {
	return errs.ErrUnavailable.WithCause(fmt.Errorf("jsonapi: POST %s: %w", path, err))
}
