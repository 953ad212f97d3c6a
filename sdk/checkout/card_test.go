package checkout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestCardNeverPrintsPANOrCVV(t *testing.T) {
	card := Card{PAN: "4111111111111111", Expiry: "12/30", CVV: "987"}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%X", "%10.3v"} {
		outs = append(outs, fmt.Sprintf(verb, card), fmt.Sprintf(verb, &card), fmt.Sprintf(verb, []Card{card}))
	}
	outs = append(outs, fmt.Sprint(struct{ C Card }{card}), fmt.Sprintf("%+v", struct{ C Card }{card}))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, noTime)).Info("pay", "card", card)
	outs = append(outs, buf.String())
	j, _ := json.Marshal(map[string]any{"card": card})
	outs = append(outs, string(j))
	for _, out := range outs {
		if strings.Contains(out, card.PAN) || strings.Contains(out, "987") || strings.Contains(out, "34313131") /* hex of "4111" */ {
			t.Fatalf("card leaked: %s", out)
		}
		if !strings.Contains(out, "411111******1111") {
			t.Fatalf("masked form missing: %s", out)
		}
	}
	if got := (Card{PAN: "41111"}).String(); strings.Contains(got, "41111") {
		t.Fatalf("short PAN shown: %s", got)
	}
}

func TestTransactionNeverPrintsClientSecret(t *testing.T) {
	tx := Transaction{Payment: Payment{ID: "ptx_1", Code: CodeNormal, Status: StatusVerified}, ClientSecret: "cs_secret_value"}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, noTime)).Info("x", "tx", tx)
	j, _ := json.Marshal(tx)
	outs := []string{buf.String(), string(j)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		outs = append(outs, fmt.Sprintf(verb, tx), fmt.Sprintf(verb, &tx))
	}
	for _, out := range outs {
		if strings.Contains(out, "cs_secret") || strings.Contains(out, "63735f") /* hex of "cs_" */ {
			t.Fatalf("secret leaked: %s", out)
		}
		if !strings.Contains(out, "ptx_1") {
			t.Fatalf("id missing: %s", out)
		}
	}
}

// noTime leaves the timestamp out of test logs: its digits could contain
// the very secret a test looks for.
var noTime = &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}}
