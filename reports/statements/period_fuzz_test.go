package statements

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
)

// FuzzParsePeriod: ?period= (API) and --period (CLI) accept exactly the
// months 2000-01 to 2105-12 written YYYY-MM; anything else is
// ErrBadPeriod with a one-line message, before any query runs.
func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"2026-10", "2026-1", "2026-13", "1999-12", "2106-01", "2026-10-01", " 2026-10", "2026-10\n",
		"2026-10' OR 1=1 --", "２０２６-１０", "+2026-10", "2026-00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		y, m, err := parsePeriod(s)
		if err != nil {
			if !errors.Is(err, ErrBadPeriod) || strings.ContainsFunc(err.Error(), func(r rune) bool { return unicode.IsControl(r) }) {
				t.Fatalf("parsePeriod(%q): %q", s, err)
			}
			return
		}
		if y < 2000 || y > 2105 || m < 1 || m > 12 || fmt.Sprintf("%04d-%02d", y, int(m)) != s {
			t.Fatalf("parsePeriod(%q) = %d, %d", s, y, m)
		}
	})
}
