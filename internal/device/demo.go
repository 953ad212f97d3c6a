package device

// The demo app's identity. `serve --demo` configures DemoPolicy and the demo
// device client reports these values, so both sides read them from here.
// They name no real build: a production server must configure its own app's
// signing digests and never accept this one.
const (
	// DemoAppDigest is the SHA-256 (hex) of the demo app's signing
	// certificate; for the demo it is the digest of the text
	// "haechi demo app signing certificate".
	DemoAppDigest = "3bc38f815c2d489508a43111e4a34a27e38f16041a955e50fceb2f5a46342e69"
	// DemoAppVersion is the version the demo app reports.
	DemoAppVersion = "3.2.0"
	// DemoMinAppVersion is the lowest app version the demo policy accepts.
	DemoMinAppVersion = "3.0.0"
)

// DemoPolicy is the bank default policy accepting only the demo app.
func DemoPolicy() Policy {
	p := DefaultPolicy()
	p.MinAppVersion = DemoMinAppVersion
	p.AllowedDigests = []string{DemoAppDigest}
	return p
}
