package api

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/fds"
)

// FuzzRiskEvent feeds event bodies to the strict decoder: a refusal is a
// client error, and an accepted event holds only values the engine can
// take as they are.
func FuzzRiskEvent(f *testing.F) {
	for _, s := range []string{
		`{"kind":"payment","customer_id":"cus_abc","fingerprint":"3f9a1c0d5e7b2a49","ip":"203.0.113.7","gps":{"lat":37.5,"lon":126.9},"amount_krw":2000000,"bin":"457973"}`,
		`{"kind":"login","result":"failure","ip":"::ffff:10.0.0.1","time":"2026-03-01T08:30:00+09:00"}`,
		`{"kind":"login","ip":"fe80::1%eth0"}`,
		`{"kind":"payment","gps":{"lat":90.0000001,"lon":0}}`,
		`{"kind":"payment","gps":{"lat":1e400,"lon":0}}`,
		`{"kind":"payment","amount_krw":-1}`,
		`{"kind":"payment","amount_krw":9223372036854775808}`,
		`{"kind":"registration","bin":"123456"}`,
		`{"kind":"verification","fingerprint":"ABCDEF0123456789"}`,
		`{"kind":"login","time":"2026-02-28T08:59:59Z"}`,
		`{"kind":"login","time":"9999-12-31T23:59:59Z"}`,
		`{"kind":"operator"}`,
		`{"kind":"payment","gps":null,"customer_id":null}`,
	} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		q := riskEventRequest{now: now}
		err := decodeJSON([]byte(body), &q)
		if err == nil {
			err = q.Validate()
		}
		wantClientError(t, err, body)
		if err != nil {
			return
		}
		checkAcceptedEvent(t, q.ev, now, body)
	})
}

func checkAcceptedEvent(t *testing.T, ev fds.Event, now time.Time, body string) {
	t.Helper()
	if _, ok := institutionKinds[string(ev.Kind)]; !ok {
		t.Fatalf("%q: kind %q accepted", body, ev.Kind)
	}
	if ev.IP != "" {
		ip, err := netip.ParseAddr(ev.IP)
		if err != nil || ip.String() != ev.IP || ip.Is4In6() || ip.Zone() != "" {
			t.Fatalf("%q: ip %q is not canonical", body, ev.IP)
		}
	}
	if g := ev.GPS; g != nil && (g.Lat < -90 || g.Lat > 90 || g.Lon < -180 || g.Lon > 180) {
		t.Fatalf("%q: gps %+v accepted", body, *g)
	}
	switch {
	case ev.AmountKRW < 0 || ev.AmountKRW > maxRiskAmount:
		t.Fatalf("%q: amount %d accepted", body, ev.AmountKRW)
	case (ev.AmountKRW != 0 || ev.BIN != "") && ev.Kind != fds.KindPayment:
		t.Fatalf("%q: payment fields on a %s", body, ev.Kind)
	case ev.BIN != "" && !isDigits(ev.BIN, 6):
		t.Fatalf("%q: bin %q accepted", body, ev.BIN)
	case ev.Fingerprint != "" && !validFingerprint(ev.Fingerprint):
		t.Fatalf("%q: fingerprint %q accepted", body, ev.Fingerprint)
	case ev.CustomerID != "" && !pathIDPattern.MatchString(ev.CustomerID):
		t.Fatalf("%q: customer %q accepted", body, ev.CustomerID)
	case ev.Time.Location() != time.UTC || ev.Time.Before(now.Add(-maxEventAge)):
		t.Fatalf("%q: time %v accepted", body, ev.Time)
	}
}

// FuzzRiskOperatorBodies feeds the analysts' request bodies to the strict
// decoder: every refusal is a client error.
func FuzzRiskOperatorBodies(f *testing.F) {
	f.Add(uint8(0), `{"assignee":""}`)
	f.Add(uint8(0), `{"assignee":"op_abc"}`)
	f.Add(uint8(0), `{"assignee":"<script>"}`)
	f.Add(uint8(1), `{"text":"called the customer"}`)
	f.Add(uint8(2), `{"resolution":"fraud"}`)
	f.Add(uint8(3), `{"name":"v2","rules":[{"name":"a","expr":"amount > 1","score":10,"description":"d"}],"thresholds":{"step_up":30,"review":60,"deny":90}}`)
	f.Add(uint8(3), `{"name":"v2","rules":[{"name":"a","expr":"x","score":"10"}]}`)
	f.Add(uint8(3), `{"rules":[],"thresholds":null}`)
	f.Add(uint8(4), `{"list":"device","value":"3f9a1c0d5e7b2a49","block":true,"reason":"stolen"}`)
	f.Add(uint8(4), `{"list":"ip","value":"10.0.0.0/8","reason":"x"}`)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		var dst any
		switch which % 5 {
		case 0:
			dst = &assignRequest{}
		case 1:
			dst = &commentRequest{}
		case 2:
			dst = &closeRequest{}
		case 3:
			dst = &ruleSetRequest{}
		case 4:
			dst = &listEntryRequest{}
		}
		err := decodeJSON([]byte(body), dst)
		if v, ok := dst.(validator); ok && err == nil {
			err = v.Validate()
		}
		wantClientError(t, err, body)
		if err != nil {
			return
		}
		switch q := dst.(type) {
		case *assignRequest:
			if q.Assignee != "" && !pathIDPattern.MatchString(q.Assignee) {
				t.Fatalf("assignee %q accepted", q.Assignee)
			}
		case *ruleSetRequest:
			if q.Rules == nil || q.Thresholds == nil {
				t.Fatalf("%q accepted without rules or thresholds", body)
			}
		case *listEntryRequest:
			if q.Block == nil {
				t.Fatalf("%q accepted without block", body)
			}
		}
	})
}

// FuzzRiskQueries feeds case filters, list filters and rule-set versions.
func FuzzRiskQueries(f *testing.F) {
	for _, s := range []string{"status=open&assignee=op_x&limit=10", "status=closed", "limit=0", "limit=501",
		"status=open&status=closed", "x=1", "assignee=%3Cscript%3E", "limit=-1", "limit=1e2", "%zz"} {
		f.Add(s, "1")
	}
	f.Add("", "01")
	f.Add("", "9223372036854775808")
	f.Add("", "-1")
	f.Add("", "+1")
	f.Fuzz(func(t *testing.T, query, version string) {
		if q, err := url.ParseQuery(query); err == nil {
			cf, err := parseCaseFilter(q)
			wantClientError(t, err, query)
			if err == nil && (cf.Limit < 1 || cf.Limit > maxCaseLimit ||
				(cf.Status != "" && cf.Status != fds.CaseOpen && cf.Status != fds.CaseClosed) ||
				(cf.Assignee != "" && !pathIDPattern.MatchString(cf.Assignee))) {
				t.Fatalf("%q accepted as %+v", query, cf)
			}
			wantClientError(t, onlyParams(q, "list"), query)
		}
		r := httptest.NewRequest("POST", "/v1/operator/risk/rule-sets/x/activate", nil)
		r.SetPathValue("id", version)
		v, err := pathVersion(r)
		wantClientError(t, err, version)
		if err == nil && (v < 1 || strconv.FormatInt(v, 10) != version) {
			t.Fatalf("version %q read as %d", version, v)
		}
	})
}
