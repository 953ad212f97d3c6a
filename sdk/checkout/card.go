package checkout

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/haechi/haechi/internal/mask"
)

// Card is what the buyer types. However it is printed, logged or
// marshalled, it shows the PAN masked to BIN + last 4 and never the CVV;
// only the authorize request carries the full card.
type Card struct {
	PAN    string // 13–19 digits
	Expiry string // "MM/YY"
	CVV    string // 3 or 4 digits; sent once, never shown
}

// Masked is the PAN as it may be shown: BIN (first 6) + last 4.
func (c Card) Masked() string { return mask.PAN(c.PAN) }

// String never shows the full PAN or the CVV.
func (c Card) String() string { return "card " + c.Masked() }

// GoString keeps %#v from printing the PAN or the CVV.
func (c Card) GoString() string { return "checkout.Card{" + c.Masked() + "}" }

// Format makes every verb print String, including the ones (%d, %x, %+v
// on a struct) that would otherwise print the fields.
func (c Card) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	fmt.Fprint(f, c.String())
}

// LogValue keeps slog from printing the PAN or the CVV.
func (c Card) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON writes the masked card only, so that a Card put in a log
// record or an analytics event by mistake leaks nothing.
func (c Card) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Card string `json:"card"`
	}{c.Masked()})
}
