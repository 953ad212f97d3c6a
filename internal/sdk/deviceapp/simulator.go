package deviceapp

import (
	"context"
	"net/http"
	"net/url"

	"github.com/haechi/haechi/internal/device"
)

// The routes below exist only on a server started with simulators on
// (`serve --demo`): they stand in for the phone platform that attests the
// app and for the SMS the carrier would deliver. A production server has
// neither, and these calls then fail with 404.

type mintRequest struct {
	AppDigest       string `json:"app_digest"`
	AppVersion      string `json:"app_version"`
	DeviceIntegrity bool   `json:"device_integrity"`
	Nonce           string `json:"nonce"`
}

// MintIntegrityToken has the simulated platform attest this app, bound to
// nonce. The platform vouches for the device unless the report says rooted
// or emulator, as a real one would notice.
func (a *App) MintIntegrityToken(ctx context.Context, nonce string) (string, error) {
	in := mintRequest{AppDigest: a.Report.AppDigest, AppVersion: a.Report.AppVersion,
		DeviceIntegrity: !a.Report.Rooted && !a.Report.Emulator, Nonce: nonce}
	var out struct {
		Token string `json:"token"`
	}
	if err := a.post(ctx, "/v1/simulator/integrity-tokens", in, &out); err != nil {
		return "", err
	}
	return out.Token, nil
}

// IntegrityToken mints a token bound to this app's current report.
func (a *App) IntegrityToken(ctx context.Context) (string, error) {
	return a.MintIntegrityToken(ctx, device.IntegrityNonce(a.Report))
}

// LastSMSCode reads the last code the carrier simulator "sent" to phone.
func (a *App) LastSMSCode(ctx context.Context, phone string) (string, error) {
	req := request{method: http.MethodGet, url: endpoint(a.Server, "/v1/simulator/sms/"+url.PathEscape(phone))}
	var out struct {
		Code string `json:"code"`
	}
	if err := send(ctx, orDefault(a.HTTP), req, &out); err != nil {
		return "", err
	}
	return out.Code, nil
}
