package fds

import (
	"context"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
)

// MaxListReason bounds an entry's reason, in characters.
const MaxListReason = 500

// Audit actions of list management.
const (
	ActionListAdd    = "fds.list.add"
	ActionListRemove = "fds.list.remove"
)

var ErrInvalidListEntry = errs.New(errs.Invalid, "invalid_list_entry",
	"The list entry is not valid.", "목록 항목이 올바르지 않습니다.")

// AddListEntry, RemoveListEntry and ListEntries manage the allow- and
// block-lists; changes are audited. Values are checked per list and
// stored canonical: fingerprints in lower case, an IP in its plain form,
// a CIDR prefix masked ("10.1.2.3/8" becomes "10.0.0.0/8").
func (e *Engine) AddListEntry(ctx context.Context, actor string, le ListEntry) (*ListEntry, error) {
	if err := checkActor(actor); err != nil {
		return nil, err
	}
	if !knownList(le.List) {
		return nil, ErrInvalidListEntry.WithField("list")
	}
	value, ok := canonicalListValue(le.List, strings.TrimSpace(le.Value))
	if !ok {
		return nil, ErrInvalidListEntry.WithField("value")
	}
	reason := strings.TrimSpace(le.Reason)
	if reason == "" || !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > MaxListReason {
		return nil, ErrInvalidListEntry.WithField("reason")
	}
	now := e.Now().UTC()
	out := &ListEntry{ID: crypto.NewID("lst_"), List: le.List, Value: value, Block: le.Block,
		Reason: reason, CreatedBy: actor, CreatedAt: now}
	// The value (an IP, a customer) stays out of the audit details; the
	// entry id leads to it for those allowed to see lists.
	entry := audit.Fill(ctx, audit.Entry{Time: now, Actor: actor, Action: ActionListAdd, Target: out.ID,
		Result: audit.ResultSuccess, Details: map[string]string{"list": string(le.List), "mode": boolWord(le.Block)}})
	if err := e.Store.AddListEntry(ctx, out, entry); err != nil {
		return nil, err
	}
	return out, nil
}

func (e *Engine) RemoveListEntry(ctx context.Context, actor, id string) error {
	if err := checkActor(actor); err != nil {
		return err
	}
	if !saneID(id) {
		return errs.ErrNotFound
	}
	entry := audit.Fill(ctx, audit.Entry{Time: e.Now().UTC(), Actor: actor, Action: ActionListRemove,
		Target: id, Result: audit.ResultSuccess})
	return e.Store.RemoveListEntry(ctx, id, entry)
}

// ListEntries lists one list, or every list for "".
func (e *Engine) ListEntries(ctx context.Context, list ListKind) ([]ListEntry, error) {
	if list != "" && !knownList(list) {
		return nil, ErrInvalidListEntry.WithField("list")
	}
	return e.Store.ListEntries(ctx, list)
}

func knownList(l ListKind) bool {
	switch l {
	case ListDevice, ListIP, ListCustomer, ListBIN:
		return true
	}
	return false
}

// canonicalListValue checks a value for its list: a device is a hex
// fingerprint (16–128 digits), an IP an address or CIDR prefix, a customer
// an id, a BIN six digits. Prefixes wider than /8 (IPv4) or /16 (IPv6)
// are refused: one typo would block or allow a continent.
func canonicalListValue(l ListKind, v string) (string, bool) {
	switch l {
	case ListDevice:
		v = strings.ToLower(v)
		return v, isHex(v) && len(v) >= 16 && len(v) <= 128
	case ListIP:
		return canonicalIP(v)
	case ListCustomer:
		return v, saneID(v)
	case ListBIN:
		return v, isBIN(v)
	}
	return "", false
}

func canonicalIP(v string) (string, bool) {
	if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
		return a.Unmap().String(), true
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return "", false
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	minBits := 16
	if p.Addr().Is4() {
		minBits = 8
	}
	return p.Masked().String(), p.Bits() >= minBits
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func boolWord(b bool) string {
	if b {
		return "block"
	}
	return "allow"
}
