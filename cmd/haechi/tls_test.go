package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned writes a throwaway certificate for 127.0.0.1.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "haechi test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func TestTLSIsVersion13OnlyWithHSTS(t *testing.T) {
	cheapHashes(t)
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, t.TempDir())
	t.Setenv("HAECHI_TLS_CERT", cert)
	t.Setenv("HAECHI_TLS_KEY", key)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--migrate", "--addr", "127.0.0.1:0", "--data-dir", dir}, pw, io.Discard)
		pw.Close()
	}()
	base := ""
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if i := strings.Index(sc.Text(), "listening on "); i >= 0 {
			base = strings.Fields(sc.Text()[i+len("listening on "):])[0]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("server did not announce https: %q", base)
	}
	tls12 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}}}
	if _, err := tls12.Get(base + "/healthz"); err == nil {
		t.Fatal("a TLS 1.2 client was served")
	}
	tls13 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}}}
	res, err := tls13.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if !strings.Contains(res.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("no HSTS header: %v", res.Header)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSigningKeyRotation(t *testing.T) {
	dir := t.TempDir()
	d := startDemo(t, dir)
	before := jwksKids(t, d.base)
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, dir, "keys", "rotate-signing")
	if err != nil || !strings.Contains(out, "is active") {
		t.Fatalf("rotate-signing: %v %q", err, out)
	}
	d2 := startDemo(t, dir)
	after := jwksKids(t, d2.base)
	if len(before) != 1 || len(after) != 2 || !strings.Contains(strings.Join(after, " "), before[0]) {
		t.Fatalf("kids before %v after %v: want the old key still published beside a new one", before, after)
	}
	_ = d2.stop()
}

func jwksKids(t *testing.T, base string) []string {
	t.Helper()
	code, body := get(t, base+"/.well-known/jwks.json", nil)
	if code != 200 {
		t.Fatalf("jwks = %d", code)
	}
	var kids []string
	for _, k := range body["keys"].([]any) {
		kids = append(kids, k.(map[string]any)["kid"].(string))
	}
	return kids
}
