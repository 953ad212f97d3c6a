package webhook_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// hmacTool computes hex HMAC-SHA256(key, message) outside Go.
type hmacTool struct {
	name string
	cmd  func(key string) *exec.Cmd // the message goes to stdin
	// hex extracts the digest from the tool's output.
	hex func(out string) string
}

var hmacTools = []hmacTool{
	{
		name: "openssl",
		cmd:  func(key string) *exec.Cmd { return exec.Command("openssl", "dgst", "-sha256", "-hmac", key) },
		// "SHA2-256(stdin)= <hex>" (OpenSSL 3) or "(stdin)= <hex>" (1.1).
		hex: func(out string) string { _, h, _ := strings.Cut(strings.TrimSpace(out), "= "); return h },
	},
	{
		name: "python3",
		cmd: func(key string) *exec.Cmd {
			return exec.Command("python3", "-c", `import hashlib, hmac, sys
print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())`, key)
		},
		hex: strings.TrimSpace,
	},
}

// TestSignatureIndependently checks real deliveries, captured by the
// receiver, with HMAC implementations that share no code with this
// package: the header is split here by hand and every v1 recomputed by
// openssl and python3 over "<t>.<body>" with the secret as SetEndpoint
// returned it.
func TestSignatureIndependently(t *testing.T) {
	var tools []hmacTool
	for _, tool := range hmacTools {
		if _, err := exec.LookPath(tool.name); err == nil {
			tools = append(tools, tool)
		}
	}
	if len(tools) == 0 {
		t.Skip("neither openssl nor python3 is installed: no independent HMAC to compare with")
	}
	e := newEnv(t)
	rcv := newReceiver(t, e.clock.Now)
	old := e.setEndpoint("cl_1", rcv.URL)
	current := e.setEndpoint("cl_1", rcv.URL) // a rotation: two v1, newest first
	rcv.setSecrets(current)
	for _, p := range []string{payload, `{"binary":"\u0000","crlf":"a\r\nb"}`} {
		e.enqueue(e.event("cl_1", p))
	}
	if n := e.run(e.dispatcher()); n != 2 {
		t.Fatalf("delivered %d, want 2", n)
	}
	got, _ := rcv.got()
	for _, d := range got {
		ts, v1 := splitHeader(t, d.header.Get("Haechi-Signature"))
		message := append([]byte(ts+"."), d.body...)
		for _, tool := range tools {
			for i, secret := range []string{current, old} {
				want := run(t, tool, secret, message)
				if len(want) != 64 || v1[i] != want {
					t.Errorf("%s: v1[%d] = %s, %s computes %s", tool.name, i, v1[i], tool.name, want)
				}
			}
		}
	}
}

// splitHeader reads "t=<ts>,v1=<hex>,v1=<hex>" without the package's parser.
func splitHeader(t *testing.T, h string) (ts string, v1 []string) {
	t.Helper()
	for _, part := range strings.Split(h, ",") {
		switch {
		case strings.HasPrefix(part, "t="):
			ts = part[2:]
		case strings.HasPrefix(part, "v1="):
			v1 = append(v1, part[3:])
		}
	}
	if ts == "" || len(v1) != 2 {
		t.Fatalf("header %q: want t and two v1", h)
	}
	return ts, v1
}

func run(t *testing.T, tool hmacTool, key string, message []byte) string {
	t.Helper()
	cmd := tool.cmd(key)
	cmd.Stdin = bytes.NewReader(message)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", tool.name, err)
	}
	return tool.hex(string(out))
}
