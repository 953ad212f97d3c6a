package errs

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrorIdentity(t *testing.T) {
	base := New(Invalid, "bad_thing", "Bad.", "나쁨.")
	derived := base.WithField("x").WithCause(errors.New("db exploded")).WithRetryAfter(time.Second)
	wrapped := fmt.Errorf("context: %w", derived)
	if !errors.Is(wrapped, base) {
		t.Fatal("a derived, wrapped error no longer matches its base by code")
	}
	if errors.Is(wrapped, ErrConflict) {
		t.Fatal("matched a different code")
	}
	if e := As(wrapped); e == nil || e.Field != "x" || e.RetryAfter != time.Second || KindOf(wrapped) != Invalid {
		t.Fatalf("As = %+v", e)
	}
	if base.Field != "" || base.Cause != nil {
		t.Fatal("With* modified the shared base error")
	}
	if KindOf(errors.New("plain")) != Internal || As(nil) != nil {
		t.Fatal("plain errors must be internal")
	}
}
