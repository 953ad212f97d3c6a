package payment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/crypto"
	"github.com/haechi/haechi/internal/errs"
	"github.com/haechi/haechi/internal/institution"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/webhook"
)

// Where a merchant's TID key is sealed; the AAD binds it to its row.
const (
	merchantTable  = "merchants"
	colTIDKey      = "tid_key"
	merchantPrefix = "mch_"
	maxURLLen      = 2048
	maxNameLen     = 100
)

// ErrBadLookupURL refuses a lookup URL the gateway would not call.
var ErrBadLookupURL = errs.New(errs.Invalid, "invalid_lookup_url",
	"The lookup URL must be an absolute https URL without credentials or fragment.",
	"주문 조회 URL은 자격 증명이나 프래그먼트가 없는 절대 https URL이어야 합니다.").WithField("lookup_url")

func (s *Service) registerMerchant(ctx context.Context, actor string, n NewMerchant) (*MerchantCredentials, error) {
	if s.Institutions == nil || s.Webhooks == nil {
		return nil, errs.ErrUnavailable.WithCause(errors.New("merchant registration is not configured"))
	}
	n, err := s.checkMerchant(n)
	if err != nil {
		return nil, err
	}
	id := crypto.NewID(merchantPrefix)
	cl, _, err := s.Institutions.CreateClient(ctx, actor, n.Name, []string{institution.ScopePayment})
	if err != nil {
		return nil, err
	}
	creds, err := s.provision(ctx, actor, id, cl, n)
	if err != nil {
		// Half a merchant must not keep a live API key.
		if rerr := s.Institutions.RevokeClient(context.WithoutCancel(ctx), actor, cl.ID); rerr != nil {
			s.logger().Error("revoking the client of a failed merchant registration", "client", cl.ID, "error", rerr)
		}
		return nil, err
	}
	return creds, nil
}

// provision gives a new merchant its API key, webhook endpoint and TID
// key, and stores it.
func (s *Service) provision(ctx context.Context, actor, id string, cl *institution.Client, n NewMerchant) (*MerchantCredentials, error) {
	apiKey, _, err := s.Institutions.IssueAPIKey(ctx, actor, cl.ID, nil, 0)
	if err != nil {
		return nil, err
	}
	whsec, err := s.Webhooks.SetEndpoint(ctx, actor, id, n.WebhookURL)
	if err != nil {
		return nil, err
	}
	key := make([]byte, payinfo.TIDKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	sealed, err := s.Ring.Seal(key, tidKeyAAD(id))
	if err != nil {
		return nil, fmt.Errorf("seal TID key of %s: %w", id, err)
	}
	now := s.now()
	m := &MerchantRecord{ID: id, ClientID: cl.ID, Name: n.Name, LookupURL: n.LookupURL, Mode: n.Mode,
		SealedTIDKey: sealed, CreatedAt: now}
	lookup, _ := url.Parse(n.LookupURL)
	e := audit.Entry{Time: now, Actor: actor, Action: actMerchantCreate, Target: id, Result: audit.ResultSuccess,
		Details: map[string]string{"client": cl.ID, "mode": string(n.Mode), "lookup_host": lookup.Host}}
	if err := s.Store.CreateMerchant(ctx, m, e); err != nil {
		return nil, err
	}
	return &MerchantCredentials{Merchant: m.view(), APIKey: apiKey, TIDKey: hex.EncodeToString(key), WebhookSecret: whsec}, nil
}

// checkMerchant validates a registration before anything is created, so a
// bad URL leaves no client behind.
func (s *Service) checkMerchant(n NewMerchant) (NewMerchant, error) {
	n.Name = strings.TrimSpace(n.Name)
	if n.Name == "" || len(n.Name) > maxNameLen || strings.ContainsFunc(n.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return n, errs.ErrInvalid.WithField("name")
	}
	switch n.Mode {
	case "":
		n.Mode = Protected
	case Protected:
	case Legacy:
		if !s.AllowLegacy {
			return n, ErrLegacyNotAllowed
		}
	default:
		return n, errs.ErrInvalid.WithField("mode")
	}
	if !s.callableURL(n.LookupURL) {
		return n, ErrBadLookupURL
	}
	if !s.callableURL(n.WebhookURL) {
		return n, webhook.ErrBadURL.WithField("webhook_url")
	}
	return n, nil
}

// callableURL follows the webhook endpoints' rules: absolute https (http
// only where the webhook service allows it, i.e. the demo), no
// credentials, no fragment. The dialler refuses private addresses.
func (s *Service) callableURL(raw string) bool {
	if raw == "" || len(raw) > maxURLLen || strings.TrimSpace(raw) != raw {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http" && s.Webhooks != nil && s.Webhooks.AllowHTTP
}

func (s *Service) merchants(ctx context.Context) ([]*Merchant, error) {
	recs, err := s.Store.Merchants(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Merchant, 0, len(recs))
	for _, m := range recs {
		out = append(out, m.view())
	}
	return out, nil
}

func (s *Service) merchantForClient(ctx context.Context, clientID string) (*Merchant, error) {
	if clientID == "" {
		return nil, ErrMerchantNotFound
	}
	m, err := s.Store.MerchantByClient(ctx, clientID)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, ErrMerchantNotFound
	} else if err != nil {
		return nil, err
	}
	if m.DisabledAt != nil {
		return nil, ErrMerchantNotFound
	}
	return m.view(), nil
}

// activeMerchant is the merchant a checkout names; nil when there is no
// such merchant or it is disabled.
func (s *Service) activeMerchant(ctx context.Context, id string) (*MerchantRecord, error) {
	m, err := s.Store.Merchant(ctx, id)
	if errors.Is(err, errs.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if m.DisabledAt != nil {
		return nil, nil
	}
	return m, nil
}

// tidKey opens a merchant's TID key. Callers must not keep or log it.
func (s *Service) tidKey(m *MerchantRecord) ([]byte, error) {
	key, err := s.Ring.Open(m.SealedTIDKey, tidKeyAAD(m.ID))
	if err != nil {
		return nil, fmt.Errorf("open TID key of %s: %w", m.ID, err)
	}
	return key, nil
}

func tidKeyAAD(id string) crypto.AAD {
	return crypto.AAD{Table: merchantTable, Column: colTIDKey, RowID: id}
}

func (m *MerchantRecord) view() *Merchant {
	return &Merchant{ID: m.ID, ClientID: m.ClientID, Name: m.Name, LookupURL: m.LookupURL, Mode: m.Mode, CreatedAt: m.CreatedAt}
}
