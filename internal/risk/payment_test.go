package risk_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/haechi/haechi/internal/audit"
	"github.com/haechi/haechi/internal/fds"
	"github.com/haechi/haechi/internal/payinfo"
	"github.com/haechi/haechi/internal/payment"
	"github.com/haechi/haechi/internal/risk"
)

const buyerIP = "198.51.100.23"

func abnormalEvent(id string, at time.Time) payment.RiskEvent {
	return payment.RiskEvent{TransactionID: id, InstitutionID: "cl_shop", MerchantID: "mch_1",
		Reason: payinfo.ReasonAmount, AmountKRW: 1000, IP: buyerIP, Time: at}
}

func authorizeEvent(ip string, at time.Time) payment.RiskEvent {
	return payment.RiskEvent{TransactionID: "ptx_pay", InstitutionID: "cl_shop", MerchantID: "mch_1",
		AmountKRW: 6900, BIN: "411111", IP: ip, Time: at}
}

// TestPaymentReviewAuthorization: only a deny refuses; every outcome is
// recorded with the authorization's features and its decision named.
func TestPaymentReviewAuthorization(t *testing.T) {
	tests := []struct {
		name    string
		outcome fds.Outcome
		deny    bool
	}{
		{"allow", fds.Allow, false},
		{"step_up goes on", fds.StepUp, false},
		{"review goes on, to an analyst", fds.Review, false},
		{"deny refuses", fds.Deny, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.force(t, fds.KindPayment, tt.outcome)
			v := risk.Payment{Engine: f.eng, Log: f.log}.ReviewAuthorization(t.Context(), authorizeEvent(buyerIP, base))
			d := f.only(t)
			if v.Deny != tt.deny || v.DecisionID != d.ID || d.Outcome != tt.outcome {
				t.Fatalf("verdict %+v, decision %s %s", v, d.ID, d.Outcome)
			}
			if d.Kind != fds.KindPayment || d.InstitutionID != "cl_shop" || d.Features["action"] != "payment.authorize" ||
				d.Features["result"] != "" || d.Features["amount"] != int64(6900) {
				t.Fatalf("decision %+v", d)
			}
		})
	}
}

// TestPaymentBINReachesTheEngine: a block-listed BIN denies through the
// default pack, which only the event's BIN can match.
func TestPaymentBINReachesTheEngine(t *testing.T) {
	f := newFixture(t)
	if _, err := f.eng.AddListEntry(t.Context(), "op_test", fds.ListEntry{List: fds.ListBIN, Value: "411111", Block: true, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	h := risk.Payment{Engine: f.eng, Log: f.log}
	if v := h.ReviewAuthorization(t.Context(), authorizeEvent(buyerIP, base)); !v.Deny {
		t.Fatalf("block-listed BIN: %+v", v)
	}
	other := authorizeEvent(buyerIP, base)
	other.BIN = "555555"
	if v := h.ReviewAuthorization(t.Context(), other); v.Deny {
		t.Fatalf("another BIN: %+v", v)
	}
}

func TestPaymentObserveAbnormal(t *testing.T) {
	f := newFixture(t)
	risk.Payment{Engine: f.eng, Log: f.log}.ObserveAbnormal(t.Context(), abnormalEvent("ptx_bad", base))
	d := f.only(t)
	if d.Kind != fds.KindPayment || d.EventID != "ptx_bad" || d.InstitutionID != "cl_shop" ||
		d.Features["action"] != "payment.abnormal" || d.Features["result"] != "failure" || d.Features["amount"] != int64(1000) {
		t.Fatalf("decision %+v", d)
	}
}

// TestPaymentIPFromRequest: without an address in the event, the
// request's counts, so ABNORMAL checkouts still add to its failures.
func TestPaymentIPFromRequest(t *testing.T) {
	f := newFixture(t)
	ctx := audit.WithMeta(context.Background(), audit.Meta{ClientIP: buyerIP})
	h := risk.Payment{Engine: f.eng, Log: f.log}
	ev := abnormalEvent("ptx_bad", base)
	ev.IP = ""
	h.ObserveAbnormal(ctx, ev)
	auth := authorizeEvent("", base.Add(time.Second))
	h.ReviewAuthorization(ctx, auth)
	var seen bool
	for _, d := range f.decisions(t) {
		if d.Features["action"] == "payment.authorize" {
			seen = true
			if toInt(d.Features["ip_failures_10m"]) != 1 {
				t.Fatalf("the request's address counted %v failures, want 1", d.Features["ip_failures_10m"])
			}
		}
	}
	if !seen {
		t.Fatal("no authorization decided")
	}
}

// TestPaymentRepeatedAbnormalFromOneIP: with the default pack, five
// ABNORMAL checkouts from one address send its next authorization to an
// analyst (a case) without refusing it; four do not, nor does another
// address, and the ABNORMAL events themselves open no cases.
func TestPaymentRepeatedAbnormalFromOneIP(t *testing.T) {
	tests := []struct {
		name     string
		abnormal int
		ip       string
		want     fds.Outcome
	}{
		{"five from the address: review", 5, buyerIP, fds.Review},
		{"four from the address: allow", 4, buyerIP, fds.Allow},
		{"five from another address: allow", 5, "203.0.113.99", fds.Allow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			h := risk.Payment{Engine: f.eng, Log: f.log}
			for i := range tt.abnormal {
				h.ObserveAbnormal(t.Context(), abnormalEvent(fmt.Sprintf("ptx_bad%d", i), base.Add(time.Duration(i)*time.Second)))
			}
			v := h.ReviewAuthorization(t.Context(), authorizeEvent(tt.ip, base.Add(time.Minute)))
			ds := f.decisions(t)
			if len(ds) != tt.abnormal+1 {
				t.Fatalf("%d decisions, want %d", len(ds), tt.abnormal+1)
			}
			for _, d := range ds {
				if d.Features["action"] == "payment.abnormal" && d.CaseID != "" {
					t.Fatalf("an ABNORMAL event opened case %s: %+v", d.CaseID, d.Matched)
				}
				if d.ID != v.DecisionID {
					continue
				}
				if d.Outcome != tt.want || v.Deny || (tt.want == fds.Review) != (d.CaseID != "") {
					t.Fatalf("authorization %s (score %d, %+v, case %q), verdict %+v; want %s", d.Outcome, d.Score, d.Matched, d.CaseID, v, tt.want)
				}
			}
		})
	}
}

// TestPaymentEngineDown: the payment goes on, and the failure is logged.
func TestPaymentEngineDown(t *testing.T) {
	f := newFixture(t)
	h := risk.Payment{Engine: broken(t), Log: f.log}
	if v := h.ReviewAuthorization(t.Context(), authorizeEvent(buyerIP, base)); v.Deny || v.DecisionID != "" {
		t.Fatalf("verdict %+v", v)
	}
	h.ObserveAbnormal(t.Context(), abnormalEvent("ptx_bad", base))
	if n := strings.Count(f.logs.String(), "fraud engine could not decide"); n != 2 {
		t.Fatalf("%d failures logged:\n%s", n, f.logs.String())
	}
	if v := (risk.Payment{}).ReviewAuthorization(t.Context(), authorizeEvent(buyerIP, base)); v != (payment.RiskVerdict{}) {
		t.Fatalf("no engine: %+v", v)
	}
}
