package webhook

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/haechi/haechi/internal/errs"
)

// ErrPrivateAddress is why a delivery to a loopback, private, link-local or
// otherwise non-public address was refused.
var ErrPrivateAddress = errs.New(errs.Invalid, "webhook_private_address",
	"The webhook URL reaches a non-public address.", "웹훅 URL이 공개되지 않은 주소를 가리킵니다.")

// nonPublic are ranges an owner's URL must not reach: the server's own
// host and network, cloud metadata services and the like. Owners choose
// their URL, so without this an institution could make haechi probe its
// internal network.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 reaches IPv4 inside
}

// NewClient returns the HTTP client deliveries should use: no redirects,
// no proxy from the environment and, unless allowPrivate (the demo and
// tests, whose receivers run on loopback), connections to public addresses
// only. The address is checked after name resolution, on the socket about
// to connect, so a name that resolves to a private address is refused too.
func NewClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = refusePrivate
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        100,
			MaxIdleConnsPerHost: DefaultWorkers,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: noRedirect,
	}
}

func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrPrivateAddress, address)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrPrivateAddress, ap.Addr())
	}
	return nil
}

// publicAddr reports whether a is a global unicast address outside the
// ranges above.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
