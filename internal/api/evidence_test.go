package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/haechi/haechi/internal/face"
	"github.com/haechi/haechi/internal/operator"
)

// TestEvidenceForOperators: agents and auditors list a session's evidence
// and view its ID image, each read audited with the operator as actor;
// the RRN item stays sealed; other roles are refused and leave no trace.
func TestEvidenceForOperators(t *testing.T) {
	e := newEnv(t, withEKYC(t))
	v := e.newVerifier()
	o := e.openKim(v)
	image := face.IDPhotoFixture("kim")
	e.mustStep(o.Session.ID, o.ApplicantToken, "id-card", kimCardBody(std64(image)))
	base := "/v1/operator/verifications/" + o.Session.ID + "/evidence"

	t.Run("error/teller may not read evidence", func(t *testing.T) {
		s := e.login(e.newOperator("tel.park", operator.RoleTeller))
		before := len(e.events())
		e.wantProblem(e.as(s, e.request("GET", base, "")), 403, "role_required")
		if n := len(e.events()) - before; n != 0 {
			t.Errorf("a refused read wrote %d audit events", n)
		}
	})
	auditor := e.newOperator("aud.lim", operator.RoleAuditor)
	s := e.login(auditor)
	res := e.as(s, e.request("GET", base, ""))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", res.StatusCode, res.body)
	}
	wantNoKimPII(t, res.body)
	var list struct {
		Evidence []struct{ ID, Kind, ContentType string }
	}
	if err := json.Unmarshal(res.body, &list); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, it := range list.Evidence {
		ids[it.Kind] = it.ID
	}
	if len(list.Evidence) != 2 || ids["id_image"] == "" || ids["rrn"] == "" {
		t.Fatalf("evidence %s", res.body)
	}
	t.Run("ok/the ID image, audited", func(t *testing.T) {
		before := len(e.events())
		res := e.as(s, e.request("GET", base+"/"+ids["id_image"], ""))
		if res.StatusCode != http.StatusOK || !bytes.Equal(res.body, image) {
			t.Fatalf("view: %d %q", res.StatusCode, res.body)
		}
		evs := e.events()[before:]
		if len(evs) != 1 || evs[0].Action != "ekyc.evidence.read" || evs[0].Actor != auditor.op.ID {
			t.Fatalf("audit %+v", evs)
		}
	})
	t.Run("error/the RRN stays sealed", func(t *testing.T) {
		res := e.as(s, e.request("GET", base+"/"+ids["rrn"], ""))
		e.wantProblem(res, 409, "evidence_not_viewable")
		if bytes.Contains(res.body, []byte("1234567")) {
			t.Fatalf("RRN leaked: %s", res.body)
		}
	})
	t.Run("error/unknown item and session", func(t *testing.T) {
		e.wantProblem(e.as(s, e.request("GET", base+"/evd_nosuch", "")), 404, "not_found")
		e.wantProblem(e.as(s, e.request("GET", "/v1/operator/verifications/vs_nosuch/evidence", "")), 404, "not_found")
	})
}
