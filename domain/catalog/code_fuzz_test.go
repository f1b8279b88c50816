package catalog

import (
	"net/url"
	"strings"
	"testing"

	"github.com/xpromo/xpromo/domain/vocab"
)

// FuzzLinkCode: a link code from a tracking URL's path is looked up only
// when ValidCode accepts it, and ValidCode accepts only 1-64 ASCII letters,
// digits, '-' and '_' starting with a letter or digit: nothing that could
// mean something else in a path, a query, a log line or SQL. Lookup finds
// exactly the stored code (case-sensitive, no normalisation).
func FuzzLinkCode(f *testing.F) {
	snap := NewSnapshot([]Partner{{ID: "acme", Domains: []string{"acme.example"}}},
		[]Partnership{{ID: "acme-de", Partner: "acme", Country: "DE", Direction: vocab.Both}},
		[]Link{{Code: "demo", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/x"},
			{Code: "Demo_2-b", Partnership: "acme-de", Direction: vocab.Inbound, URL: "https://ours.example/y"}})
	for _, s := range []string{"demo", "DEMO", "demo ", "Demo_2-b", "-x", "_x", "a/b", "..", "%2F", "demo\x00", "dèmo", "ｄｅｍｏ",
		strings.Repeat("a", 64), strings.Repeat("a", 65), "' OR 1=1 --", "{click_id}", "demo\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := ValidCode(s)
		if valid {
			if len(s) == 0 || len(s) > 64 || s[0] == '-' || s[0] == '_' {
				t.Fatalf("ValidCode(%q) accepted its length or first character", s)
			}
			for i := 0; i < len(s); i++ {
				c := s[i]
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
					t.Fatalf("ValidCode(%q) accepted %q", s, c)
				}
			}
			if url.PathEscape(s) != s || url.QueryEscape(s) != s {
				t.Fatalf("valid code %q changes when escaped", s)
			}
		}
		r := snap.Lookup(s)
		if r != nil && (!valid || r.Code != s || (s != "demo" && s != "Demo_2-b")) {
			t.Fatalf("Lookup(%q) found %q", s, r.Code)
		}
		if r == nil && (s == "demo" || s == "Demo_2-b") {
			t.Fatalf("Lookup(%q) found nothing", s)
		}
	})
}
