package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/api"
	"github.com/haechi/haechi/internal/ekyc"
	"github.com/haechi/haechi/internal/face"
)

// withEKYCStepUp lets passed verification sessions count for registration
// and login step-up, as serve wires it.
func withEKYCStepUp(s *api.Server) {
	up := ekyc.StepUp{Sessions: s.Verifications, Next: s.Devices.StepUp}
	s.Devices.StepUp = up
	s.Login.StepUp = up
}

// TestLoginStepUpWithVerificationSession: a customer in protection mode
// re-verifies through an eKYC session opened for them (id_card and
// existing_account, neither of which the step-up route takes directly);
// naming the passed session lifts protection, and only once.
func TestLoginStepUpWithVerificationSession(t *testing.T) {
	a := newAppWith(t, []string{"device", "login", "ekyc"}, withEKYC(t), withEKYCStepUp)
	a.setSecret("pin", `{"secret":"`+firstPIN+`"}`)
	a.climb(t, protectionSteps())
	stepUp := func(body string) response {
		return a.e.send(withKey(a.e.request("POST", "/v1/customers/"+a.customer+"/login-step-up", body), a.key))
	}
	o := a.e.open(verifier{id: "", key: a.key}, `{"customer_id":"`+a.customer+`"}`)
	id, tok := o.Session.ID, o.ApplicantToken

	t.Run("error/a pending session lifts nothing", func(t *testing.T) {
		a.e.wantProblem(stepUp(`{"ekyc_session":"`+id+`"}`), 403, "stepup_insufficient")
	})
	t.Run("error/malformed session id", func(t *testing.T) {
		a.e.wantProblem(stepUp(`{"ekyc_session":"../x"}`), 400, "invalid_request")
	})
	a.e.mustStep(id, tok, "id-card", kimCardBody(std64(face.IDPhotoFixture("kim"))))
	if res := a.e.applicantPost(id, tok, "existing-account", `{"bank":"004","account_number":"11012345678901"}`); res.StatusCode != http.StatusOK {
		t.Fatalf("existing-account: %d %s", res.StatusCode, res.body)
	}
	if v := a.e.mustStep(id, tok, "existing-account/confirm", `{"code":"`+a.e.memo("004", "11012345678901")+`"}`); v.Status != "passed" {
		t.Fatalf("session %+v", v)
	}
	t.Run("ok/the passed session lifts protection", func(t *testing.T) {
		res := stepUp(`{"ekyc_session":"` + id + `"}`)
		if res.StatusCode != 200 || !strings.Contains(string(res.body), `"lifted":["pin"]`) {
			t.Fatalf("step-up: %d %s", res.StatusCode, res.body)
		}
	})
	t.Run("error/the session is spent", func(t *testing.T) {
		res := a.e.send(withKey(a.e.request("POST", "/v1/customers/"+a.customer+"/registration-step-up", `{"ekyc_session":"`+id+`"}`), a.key))
		a.e.wantProblem(res, 403, "stepup_insufficient")
	})
}
