package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
)

// TestSpecRefusesHostileText: a token's name (it reaches the audit log,
// API answers and log lines as the actor) is refused when it holds a
// line break, another control character or bytes that are not UTF-8.
func TestSpecRefusesHostileText(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"a\nb", "a\r\nlevel=ERROR msg=forged", "tab\there", "nul\x00", "bad \xff utf8", "\xc3", "del\x7f"} {
		_, err := Spec{Role: access.RoleAdmin, Name: name}.Validate(now)
		var fe *catalog.FieldError
		if !errors.As(err, &fe) || fe.Field != "name" {
			t.Errorf("name %q: %v, want a name field error", name, err)
		}
	}
	for _, name := range []string{"", "shop-backend", "O'Brien \\ `x`; DROP TABLE tokens --", "Zürich 東京 ‮rtl"} {
		if _, err := (Spec{Role: access.RoleAdmin, Name: name}).Validate(now); err != nil {
			t.Errorf("name %q refused: %v", name, err)
		}
	}
}
