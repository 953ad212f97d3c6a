package api_test

import (
	"strings"
	"testing"

	"github.com/haechi/haechi/internal/customer"
)

const kimBody = `{"name":"김민수","birth_date":"1990-01-01","phone":"010-1234-5678","rrn":"900101-1234567"}`

// customerClient is an institution with a device-scoped API key.
func (e *env) customerClient() string {
	e.t.Helper()
	c, _ := e.newClient("device", "ekyc")
	key, _ := e.newKey(c.ID, "device")
	return key
}

func (e *env) createCustomer(key, body string) response {
	e.t.Helper()
	return e.send(withKey(e.request("POST", "/v1/customers", body), key))
}

// wantNoPII fails when a body holds any unmasked form of the test
// customer's phone or RRN.
func wantNoPII(t *testing.T, body []byte) {
	t.Helper()
	for _, pii := range []string{"01012345678", "010-1234-5678", "1234-5678", "9001011234567", "900101-1234567", "1234567", "김민수"} {
		if strings.Contains(string(body), pii) {
			t.Fatalf("response holds %q: %s", pii, body)
		}
	}
}

func TestCustomerCreateAndGet(t *testing.T) {
	e := newEnv(t)
	key := e.customerClient()
	res := e.createCustomer(key, kimBody)
	if res.StatusCode != 201 {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	wantNoPII(t, res.body)
	created := decodeJSON[customer.View](t, res)
	want := customer.View{ID: created.ID, Name: "김*수", BirthDate: "1990-**-**", Phone: "010-****-5678", RRN: "900101-1******", CreatedAt: e.clock.Now()}
	if created != want || !strings.HasPrefix(created.ID, "cus_") {
		t.Fatalf("created %+v, want %+v", created, want)
	}
	if loc := res.Header.Get("Location"); loc != "/v1/customers/"+created.ID {
		t.Fatalf("Location %q", loc)
	}

	res = e.send(withKey(e.request("GET", "/v1/customers/"+created.ID, ""), key))
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("get: %d %s (Cache-Control %q)", res.StatusCode, res.body, res.Header.Get("Cache-Control"))
	}
	wantNoPII(t, res.body)
	if got := decodeJSON[customer.View](t, res); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	evs := e.events()
	last := evs[len(evs)-1]
	if last.Action != "customer.create" || last.Target != created.ID || last.Details["phone"] != "010-****-5678" {
		t.Fatalf("audit %+v", last.Entry)
	}
}

func TestCustomerErrors(t *testing.T) {
	e := newEnv(t)
	key := e.customerClient()
	if res := e.createCustomer(key, kimBody); res.StatusCode != 201 {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"error/invalid rrn", `{"name":"이영희","birth_date":"1991-05-05","phone":"01055556666","rrn":"911305-2234567"}`, 400, "invalid_rrn", "rrn"},
		{"error/rrn disagrees with birth date", `{"name":"이영희","birth_date":"1991-05-05","phone":"01055556666","rrn":"910506-2234567"}`, 400, "rrn_birth_date_mismatch", "rrn"},
		{"error/invalid phone", `{"name":"이영희","birth_date":"1991-05-05","phone":"02-123-4567"}`, 400, "invalid_phone", "phone"},
		{"error/future birth date", `{"name":"이영희","birth_date":"2030-01-01","phone":"01055556666"}`, 400, "invalid_birth_date", "birth_date"},
		{"error/unknown field", `{"name":"이영희","birth_date":"1991-05-05","phone":"01055556666","vip":true}`, 400, "unknown_field", "vip"},
		{"error/duplicate phone", `{"name":"이영희","birth_date":"1991-05-05","phone":"+82 10 1234 5678"}`, 409, "customer_exists", "phone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.events())
			p := e.wantProblem(e.createCustomer(key, tc.body), tc.status, tc.code)
			if p.Field != tc.field {
				t.Fatalf("field %q, want %q", p.Field, tc.field)
			}
			if len(e.events()) != before {
				t.Fatal("a refused customer was audited")
			}
		})
	}
}

func TestCustomerScoping(t *testing.T) {
	e := newEnv(t)
	owner, other := e.customerClient(), e.customerClient()
	res := e.createCustomer(owner, kimBody)
	if res.StatusCode != 201 {
		t.Fatalf("create: %d %s", res.StatusCode, res.body)
	}
	id := decodeJSON[customer.View](t, res).ID
	c, secret := e.newClient("ekyc")
	noScope, _ := e.newKey(c.ID, "ekyc")

	t.Run("error/another institution's customer is not found", func(t *testing.T) {
		res := e.send(withKey(e.request("GET", "/v1/customers/"+id, ""), other))
		e.wantProblem(res, 404, "not_found")
		wantNoPII(t, res.body)
	})
	t.Run("error/unknown id is not found", func(t *testing.T) {
		e.wantProblem(e.send(withKey(e.request("GET", "/v1/customers/cus_nope", ""), owner)), 404, "not_found")
	})
	t.Run("ok/the same phone at another institution is another customer", func(t *testing.T) {
		if res := e.createCustomer(other, kimBody); res.StatusCode != 201 {
			t.Fatalf("create at another institution: %d %s", res.StatusCode, res.body)
		}
	})
	t.Run("error/api key without the device scope", func(t *testing.T) {
		e.wantProblem(e.createCustomer(noScope, kimBody), 403, "insufficient_scope")
		e.wantProblem(e.send(withKey(e.request("GET", "/v1/customers/"+id, ""), noScope)), 403, "insufficient_scope")
	})
	t.Run("error/token without the device scope", func(t *testing.T) {
		tok := e.tokenFor(c.ID, secret, "ekyc")
		e.wantProblem(e.send(withBearer(e.request("POST", "/v1/customers", kimBody), tok)), 403, "insufficient_scope")
	})
	t.Run("error/no credential", func(t *testing.T) {
		e.wantProblem(e.send(e.request("POST", "/v1/customers", kimBody)), 401, "unauthenticated")
	})
}
