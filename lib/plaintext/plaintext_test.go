package plaintext

import "testing"

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{"Acme GmbH", true},
		{"Société Générale – 日本", true},
		{"tab\there", false},
		{"line\nbreak", false},
		{"cr\rhere", false},
		{"del\x7f", false},
		{"nul\x00", false},
		{"bad \xff utf8", false},
		{"truncated \xe2\x82", false},
	} {
		if got := Valid(tc.in); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
