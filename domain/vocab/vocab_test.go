package vocab

import "testing"

func TestDirectionRoundTrip(t *testing.T) {
	for _, s := range []string{Inbound, Outbound} {
		d, err := ParseDirection(s)
		if err != nil || d.String() != s {
			t.Errorf("ParseDirection(%q) = %v, %v; want it back", s, d, err)
		}
	}
	for _, s := range []string{"", Both, "Inbound", "none"} {
		if d, err := ParseDirection(s); err == nil || d != DirectionNone {
			t.Errorf("ParseDirection(%q) = %v, %v; want an error", s, d, err)
		}
	}
	if s := DirectionNone.String(); s != "" {
		t.Errorf("DirectionNone.String() = %q, want \"\"", s)
	}
}
