package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkServer measures requests per second against a running server
// (real TCP on loopback, real middleware, SQLite) for an unauthenticated
// route and the authenticated no-op route, in the same run, so their ratio
// is the cost of authentication.
func BenchmarkServer(b *testing.B) {
	b.Setenv("HAECHI_RATE_IP_PER_SEC", "1000000")
	b.Setenv("HAECHI_RATE_IP_BURST", "1000000")
	b.Setenv("HAECHI_RATE_CLIENT_PER_SEC", "1000000")
	b.Setenv("HAECHI_RATE_CLIENT_BURST", "1000000")
	d := startDemo(b, b.TempDir())
	defer d.stop()
	jwt := fetchToken(b, d)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	cases := []struct {
		name, path, header, value string
	}{
		{"unauthenticated-healthz", "/healthz", "", ""},
		{"apikey-ping", "/v1/ping", "X-Api-Key", d.apiKey},
		{"jwt-ping", "/v1/ping", "Authorization", "Bearer " + jwt},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					hit(b, client, d.base+c.path, c.header, c.value)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

func hit(b *testing.B, client *http.Client, u, header, value string) {
	req, _ := http.NewRequest("GET", u, nil)
	if header != "" {
		req.Header.Set(header, value)
	}
	res, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Errorf("%s = %d", u, res.StatusCode)
	}
}

func fetchToken(b *testing.B, d *demoServer) string {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest("POST", d.base+"/v1/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(d.clientID, d.clientSecret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: %v", err)
	}
	return tok.AccessToken
}
