package api_test

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/device"
)

// browser plays a browser with a platform authenticator answering
// navigator.credentials.create() with "none" attestation.
type browser struct {
	t      *testing.T
	origin string
	key    *ecdsa.PrivateKey
	credID []byte
}

func newBrowser(t *testing.T, origin string) *browser {
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &browser{t: t, origin: origin, key: newP256(t), credID: id}
}

// create answers the options with the browser's PublicKeyCredential JSON.
func (b *browser) create(options json.RawMessage) json.RawMessage {
	b.t.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &opts); err != nil {
		b.t.Fatal(err)
	}
	cd := []byte(jsonBody(b.t, map[string]any{"type": "webauthn.create", "challenge": opts.PublicKey.Challenge, "origin": b.origin, "crossOrigin": false}))
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": b.authData(opts.PublicKey.RP.ID)})
	if err != nil {
		b.t.Fatal(err)
	}
	return json.RawMessage(jsonBody(b.t, map[string]any{
		"id": b64.EncodeToString(b.credID), "rawId": b64.EncodeToString(b.credID), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response":               map[string]any{"clientDataJSON": b64.EncodeToString(cd), "attestationObject": b64.EncodeToString(att)},
	}))
}

// authData is rpIdHash | flags (UP, UV, AT) | counter 0 | aaguid | id | key.
func (b *browser) authData(rpID string) []byte {
	b.t.Helper()
	rp := sha256.Sum256([]byte(rpID))
	out := append(rp[:], 0x01|0x04|0x40)
	out = binary.BigEndian.AppendUint32(out, 0)
	out = append(out, make([]byte, 16)...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(b.credID)))
	out = append(out, b.credID...)
	pub, err := b.key.PublicKey.Bytes()
	if err != nil {
		b.t.Fatal(err)
	}
	key, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: pub[1:33], YCoord: pub[33:],
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return append(out, key...)
}

// passkeyOptions runs a registration to its code and asks for options.
func (p *phone) passkeyOptions() (started, string, json.RawMessage) {
	p.e.t.Helper()
	st := p.mustStart(kim)
	p.code(st.RegistrationID, p.sms(kim.Phone))
	res := p.e.send(p.e.request("POST", "/v1/device-registrations/"+st.RegistrationID+"/passkey/options", `{"institution_id":"`+p.bank.id+`"}`))
	if res.StatusCode != http.StatusOK {
		p.e.t.Fatalf("options: %d %s", res.StatusCode, res.body)
	}
	out := decodeJSON[struct {
		SessionID string          `json:"session_id"`
		Options   json.RawMessage `json:"options"`
	}](p.e.t, res)
	return st, out.SessionID, out.Options
}

func (p *phone) bindPasskey(st started, session string, cred json.RawMessage) response {
	p.e.t.Helper()
	body := jsonBody(p.e.t, map[string]any{"institution_id": p.bank.id, "challenge": st.Challenge, "session_id": session, "credential": cred})
	return p.e.send(p.e.request("POST", "/v1/device-registrations/"+st.RegistrationID+"/passkey", body))
}

func TestDeviceRegistrationPasskey(t *testing.T) {
	e := newEnv(t)
	b := e.newBank(kim)
	p := e.newPhone(b, "browser-0001")

	t.Run("error/options before the code", func(t *testing.T) {
		st := p.mustStart(kim)
		res := e.send(e.request("POST", "/v1/device-registrations/"+st.RegistrationID+"/passkey/options", `{"institution_id":"`+b.id+`"}`))
		e.wantProblem(res, http.StatusConflict, "registration_state")
	})
	t.Run("error/another origin is a counted proof failure", func(t *testing.T) {
		st, session, opts := p.passkeyOptions()
		pr := e.wantProblem(p.bindPasskey(st, session, newBrowser(t, "http://evil.localhost:8080").create(opts)), http.StatusForbidden, "proof_invalid")
		if pr.RemainingAttempts == nil {
			t.Fatal("no remaining_attempts on a counted failure")
		}
	})
	var dev string
	t.Run("ok/passkey bound", func(t *testing.T) {
		st, session, opts := p.passkeyOptions()
		res := p.bindPasskey(st, session, newBrowser(t, passkeyOrigin).create(opts))
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("bind passkey: %d %s", res.StatusCode, res.body)
		}
		got := decodeJSON[bound](t, res)
		if got.Kind != device.KeyKindWebAuthn {
			t.Fatalf("kind %q", got.Kind)
		}
		dev = got.DeviceID
	})
	t.Run("error/a passkey cannot sign requests", func(t *testing.T) {
		r := p.signed(p.key, dev, "GET", "/v1/devices/current", "", p.nonce(dev), e.clock.Now())
		e.wantProblem(e.send(r), http.StatusUnauthorized, "device_signature_invalid")
	})
	t.Run("error/passkey routes off", func(t *testing.T) {
		off := newEnv(t, func(s *api.Server) { s.WebAuthn = nil })
		q := off.newPhone(off.newBank(kim), "browser-0002")
		st := q.mustStart(kim)
		res := off.send(off.request("POST", "/v1/device-registrations/"+st.RegistrationID+"/passkey/options", `{"institution_id":"`+q.bank.id+`"}`))
		off.wantProblem(res, http.StatusServiceUnavailable, "passkey_not_configured")
	})
}
