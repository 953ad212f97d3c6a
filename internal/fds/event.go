package fds

import (
	"math"
	"net/netip"
	"strings"

	"github.com/haechi/haechi/internal/errs"
)

// ErrInvalidEvent is an event the engine cannot decide; Field names the
// offending input.
var ErrInvalidEvent = errs.New(errs.Invalid, "invalid_event",
	"The event is not valid.", "이벤트가 올바르지 않습니다.")

// MaxIDLen bounds every identifier an event carries.
const MaxIDLen = 128

// normalizeEvent checks an event and puts it in canonical form: UTC time,
// a hex fingerprint in lower case, the IP address in its plain form (an IPv4-mapped IPv6 address counts
// with its IPv4 address).
func normalizeEvent(ev *Event) error {
	if field := invalidEventField(ev); field != "" {
		return ErrInvalidEvent.WithField(field)
	}
	ev.Time = ev.Time.UTC()
	// Device list entries are stored in lower case; a hex fingerprint
	// spelled in upper case must still meet its block entry and history.
	if lower := strings.ToLower(ev.Fingerprint); isHex(lower) {
		ev.Fingerprint = lower
	}
	if ev.IP != "" {
		a, _ := netip.ParseAddr(ev.IP)
		ev.IP = a.Unmap().WithZone("").String()
	}
	return nil
}

func invalidEventField(ev *Event) string {
	switch {
	case !knownKind(ev.Kind):
		return "kind"
	case ev.Time.IsZero():
		return "time"
	case ev.Result != ResultNone && ev.Result != ResultSuccess && ev.Result != ResultFailure:
		return "result"
	case ev.ID != "" && !saneID(ev.ID):
		return "id"
	case ev.InstitutionID != "" && !saneID(ev.InstitutionID):
		return "institution_id"
	case ev.CustomerID != "" && !saneID(ev.CustomerID):
		return "customer_id"
	case ev.Fingerprint != "" && !saneID(ev.Fingerprint):
		return "fingerprint"
	case ev.Action != "" && (len(ev.Action) > 64 || !saneID(ev.Action)):
		return "action"
	case ev.IP != "" && !validAddr(ev.IP):
		return "ip"
	case ev.GPS != nil && !validLocation(*ev.GPS):
		return "gps"
	case ev.AmountKRW < 0:
		return "amount_krw"
	case ev.BIN != "" && !isBIN(ev.BIN):
		return "bin"
	}
	return ""
}

func knownKind(k Kind) bool {
	switch k {
	case KindLogin, KindRegistration, KindVerification, KindPayment, KindOperator:
		return true
	}
	return false
}

// saneID accepts opaque identifiers: 1–MaxIDLen printable ASCII letters,
// digits and _-.:@ — nothing that could smuggle markup or control bytes
// into logs and consoles.
func saneID(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == ':' || c == '@') {
			return false
		}
	}
	return true
}

func validAddr(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.IsValid()
}

func validLocation(l Location) bool {
	return !math.IsNaN(l.Lat) && !math.IsNaN(l.Lon) && l.Lat >= -90 && l.Lat <= 90 && l.Lon >= -180 && l.Lon <= 180
}

func isBIN(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// locate fills country, IP location and anonymity from the IP database;
// callers cannot set them. Without a database, or for an address it does
// not know, the country is unknown.
func (e *Engine) locate(ev *Event) {
	ev.Country, ev.IPLoc, ev.Anonymous = "", nil, false
	if e.Geo == nil || ev.IP == "" {
		return
	}
	a, err := netip.ParseAddr(ev.IP)
	if err != nil {
		return
	}
	info, ok := e.Geo.Lookup(a)
	if !ok {
		return
	}
	ev.Country, ev.Anonymous = info.Country, info.Anonymous
	if info.Loc != nil && validLocation(*info.Loc) {
		loc := *info.Loc
		ev.IPLoc = &loc
	}
}

// checkActor refuses an operator id that could not have come from
// authentication; audit entries need a real actor.
func checkActor(actor string) error {
	if !saneID(actor) {
		return errs.ErrInvalid.WithField("actor")
	}
	return nil
}
