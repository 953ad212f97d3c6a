package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/haechi/haechi/internal/device"
	"github.com/haechi/haechi/internal/errs"
)

// Headers of a device-signed request.
const (
	headerDeviceID  = "Haechi-Device-Id"
	headerNonce     = "Haechi-Nonce"
	headerTimestamp = "Haechi-Timestamp"
	headerSignature = "Haechi-Signature"
)

// maxNonceHeader bounds the nonce header; ours are 32 characters.
const maxNonceHeader = 64

type deviceKey struct{}

// deviceFrom returns the device that signed the request.
func deviceFrom(ctx context.Context) (*device.Device, bool) {
	d, ok := ctx.Value(deviceKey{}).(*device.Device)
	return d, ok && d != nil
}

// authDevice verifies a device-signed request: the headers, the body's
// hash, the signature with the device's registered key, the timestamp
// (±60 s by the server's clock) and the single-use nonce. The body is read
// here, within the body limit, and handed on unchanged.
func (s *Server) authDevice(w http.ResponseWriter, r *http.Request) (*http.Request, error) {
	sr, err := signedHeaders(r)
	if err != nil {
		return r, s.deviceAuthFailed(w, r, err)
	}
	body, err := readSignedBody(w, r, s.BodyLimit)
	if err != nil {
		return r, err
	}
	sum := sha256.Sum256(body)
	sr.Method, sr.Path, sr.BodySHA256 = r.Method, r.URL.RequestURI(), sum[:]
	dev, err := s.DeviceRequests.Verify(r.Context(), sr)
	if err != nil {
		return r, s.deviceAuthFailed(w, r, err)
	}
	// A revoked bank's devices lose their keys' authority with it: revoking
	// an institution must end every session it let begin.
	if err := s.deviceInstitution(r.Context(), dev.InstitutionID); errors.Is(err, errInstitutionUnknown) {
		return r, s.deviceAuthFailed(w, r, device.ErrDeviceRevoked)
	} else if err != nil {
		return r, err
	}
	if err := s.limit(r.Context(), "device:"+dev.ID, s.ClientLimit); err != nil {
		return r, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r.WithContext(context.WithValue(r.Context(), deviceKey{}, dev)), nil
}

// signedHeaders reads the four headers, each exactly once.
func signedHeaders(r *http.Request) (device.SignedRequest, error) {
	var sr device.SignedRequest
	vals := make(map[string]string, 4)
	for _, name := range []string{headerDeviceID, headerNonce, headerTimestamp, headerSignature} {
		v := r.Header.Values(name)
		if len(v) != 1 || v[0] == "" {
			return sr, device.ErrSignatureInvalid
		}
		vals[name] = v[0]
	}
	unix, ok := parseUnix(vals[headerTimestamp])
	sig, err := base64.RawURLEncoding.Strict().DecodeString(vals[headerSignature])
	if !ok || err != nil || len(vals[headerNonce]) > maxNonceHeader {
		return sr, device.ErrSignatureInvalid
	}
	sr.DeviceID, sr.Nonce, sr.Unix, sr.Signature = vals[headerDeviceID], vals[headerNonce], unix, sig
	return sr, nil
}

// parseUnix accepts 1 to 12 decimal digits: no sign, space or exponent.
// The signature covers the value, not its spelling.
func parseUnix(s string) (int64, bool) {
	if len(s) < 1 || len(s) > 12 || !isDigits(s, len(s)) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// readSignedBody reads the whole body (empty for a GET) within limit.
func readSignedBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errTooLarge
	case err != nil:
		return nil, errMalformed
	}
	return body, nil
}

// deviceAuthFailed records a refused device signature by its reason code
// and challenges the caller. Internal errors pass unrecorded.
func (s *Server) deviceAuthFailed(w http.ResponseWriter, r *http.Request, err error) error {
	if e := errs.As(err); e != nil && e.Kind == errs.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `HaechiDevice realm="haechi"`)
		s.auditFailure(r.Context(), e.Code)
	}
	return err
}

type nonceRequest struct {
	DeviceID string `json:"device_id"`
}

func (q *nonceRequest) Validate() error {
	if q.DeviceID == "" {
		return errs.ErrInvalid.WithField("device_id")
	}
	return nil
}

func (s *Server) issueDeviceNonce(w http.ResponseWriter, r *http.Request) error {
	var req nonceRequest
	if err := decode(w, r, &req, s.BodyLimit); err != nil {
		return err
	}
	nonce, expires, err := s.DeviceRequests.IssueNonce(r.Context(), req.DeviceID)
	if err != nil {
		return err
	}
	respond(w, http.StatusCreated, map[string]any{"nonce": nonce, "expires_at": expires})
	return nil
}

func (s *Server) currentDevice(w http.ResponseWriter, r *http.Request) error {
	dev, ok := deviceFrom(r.Context())
	if !ok {
		return device.ErrSignatureInvalid
	}
	respond(w, http.StatusOK, deviceView{DeviceID: dev.ID, CustomerID: dev.CustomerID, Kind: dev.KeyKind, CreatedAt: dev.CreatedAt})
	return nil
}
