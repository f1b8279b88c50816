package catalog

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// wantFieldErr checks that err is a *FieldError naming field.
// wantVerdict checks fn's error for in: none when ok, else a field error
// on field.
func wantVerdict(t *testing.T, fn, in string, ok bool, err error, field string) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("%s(%q) = %v, want ok", fn, in, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("%s(%q) = nil, want an error", fn, in)
	}
	wantFieldErr(t, err, field)
}

func wantFieldErr(t *testing.T, err error, field string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FieldError", err, err)
	}
	if fe.Field != field {
		t.Fatalf("FieldError.Field = %q, want %q (error %q)", fe.Field, field, err)
	}
	if !strings.HasPrefix(err.Error(), field+": ") {
		t.Fatalf("error text %q does not start with the field name %q", err, field)
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"acme", true},
		{"a", true},
		{"0", true},
		{"acme-de", true},
		{"acme_de_2", true},
		{"9lives", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"Acme", false},
		{"ACME", false},
		{"-acme", false},
		{"_acme", false},
		{"acme de", false},
		{"acme.de", false},
		{"acme/de", false},
		{"acme\n", false},
		{"\nacme", false},
		{"acmé", false},
		{"acme'", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			wantVerdict(t, "ValidID", tt.id, tt.ok, ValidID("partner", tt.id), "partner")
		})
	}
}

func TestValidCode(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{"a", true},
		{"Z", true},
		{"7", true},
		{"AbC-123_x", true},
		{"spring-Sale_2024", true},
		{strings.Repeat("A", 64), true},
		{strings.Repeat("A", 65), false},
		{"", false},
		{"-abc", false},
		{"_abc", false},
		{"a b", false},
		{"a.b", false},
		{"a/b", false},
		{"a%20b", false},
		{"a?b", false},
		{"abc\n", false},
		{"ä", false},
		{"../etc", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := ValidCode(tt.code); got != tt.ok {
				t.Fatalf("ValidCode(%q) = %v, want %v", tt.code, got, tt.ok)
			}
		})
	}
}

// isoCodes are the 249 officially assigned ISO 3166-1 alpha-2 codes.
var isoCodes = strings.Fields(`
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
YE YT
ZA ZM ZW`)

func TestValidCountry(t *testing.T) {
	tests := []struct {
		cc string
		ok bool
	}{
		{"DE", true},
		{"GB", true},
		{"US", true},
		{"AT", true},
		{"FR", true},
		{"de", false},  // lower case
		{"De", false},  // mixed case
		{"ZZ", false},  // unknown region
		{"XX", false},  // user-assigned
		{"AA", false},  // user-assigned
		{"QO", false},  // user-assigned (CLDR: outlying Oceania)
		{"XA", false},  // user-assigned (pseudo-locale)
		{"EU", false},  // European Union: not a country
		{"D", false},   // one letter
		{"", false},    // empty
		{"DEU", false}, // alpha-3
		{"001", false}, // UN M.49 area
		{"276", false}, // numeric
		{"D1", false},
		{" D", false},
		{"D\n", false},
		{"ÄÖ", false},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			wantVerdict(t, "ValidCountry", tt.cc, tt.ok, ValidCountry("country", tt.cc), "country")
		})
	}
}

// TestValidCountryAcceptsEveryISOCode: every assigned ISO 3166-1 alpha-2
// code is a valid country.
func TestValidCountryAcceptsEveryISOCode(t *testing.T) {
	if len(isoCodes) != 249 {
		t.Fatalf("test table has %d codes, want the 249 assigned ISO 3166-1 codes", len(isoCodes))
	}
	for _, cc := range isoCodes {
		if err := ValidCountry("country", cc); err != nil {
			t.Errorf("ValidCountry(%q) = %v, want ok", cc, err)
		}
	}
}

// TestValidCountryRejectsNonISOCodes: ValidCountry promises ISO 3166-1
// alpha-2 codes, but language.ParseRegion/IsCountry also accept CLDR
// regions that are not assigned ISO 3166-1 codes: "exceptionally reserved"
// codes (UK for GB, EU-adjacent AC/CP/DG/EA/IC/TA, EZ, UN), withdrawn
// codes (SU, YU, CS, DD, ...) and so on. A partnership in "UK" would never
// match a hit, whose country comes from the geo table as "GB".
func TestValidCountryRejectsNonISOCodes(t *testing.T) {
	tests := []struct{ cc, why string }{
		{"UK", "exceptionally reserved; the ISO code of the United Kingdom is GB"},
		{"UN", "exceptionally reserved for the United Nations"},
		{"EZ", "exceptionally reserved for the Eurozone"},
		{"AC", "exceptionally reserved (Ascension Island; ISO: SH)"},
		{"TA", "exceptionally reserved (Tristan da Cunha; ISO: SH)"},
		{"DG", "exceptionally reserved (Diego Garcia; ISO: IO)"},
		{"EA", "exceptionally reserved (Ceuta, Melilla; ISO: ES)"},
		{"IC", "exceptionally reserved (Canary Islands; ISO: ES)"},
		{"CP", "exceptionally reserved (Clipperton Island)"},
		{"SU", "withdrawn (USSR)"},
		{"YU", "withdrawn (Yugoslavia)"},
		{"CS", "withdrawn (Serbia and Montenegro)"},
		{"DD", "withdrawn (East Germany)"},
		{"AN", "withdrawn (Netherlands Antilles)"},
		{"ZR", "withdrawn (Zaire; now CD)"},
		{"BU", "withdrawn (Burma; now MM)"},
		{"TP", "withdrawn (East Timor; now TL)"},
		{"FX", "withdrawn (Metropolitan France)"},
		{"NT", "withdrawn (Neutral Zone)"},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			err := ValidCountry("country", tt.cc)
			if err == nil {
				t.Fatalf("ValidCountry(%q) = nil, want an error: %s", tt.cc, tt.why)
			}
			wantFieldErr(t, err, "country")
		})
	}
}

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		in, want string // want "" means rejected
	}{
		{"acme.example", "acme.example"},
		{"ACME.Example", "acme.example"},
		{"  acme.example  ", "acme.example"},
		{"acme.example.", "acme.example"},
		{"shop.acme.example", "shop.acme.example"},
		{"a-b.acme.example", "a-b.acme.example"},
		{"1und1.de", "1und1.de"},
		{"xn--80ak6aa92e.com", "xn--80ak6aa92e.com"},
		{"xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"},
		{strings.Repeat("a", 63) + ".example", strings.Repeat("a", 63) + ".example"},
		{strings.Repeat("a", 64) + ".example", ""},                   // label > 63
		{strings.Repeat(strings.Repeat("a", 50)+".", 5) + "com", ""}, // longer than 253
		{"", ""},
		{"localhost", ""},         // no dot
		{"example", ""},           // single label
		{"acme..example", ""},     // empty label
		{".acme.example", ""},     // leading dot
		{"acme.example..", ""},    // two trailing dots
		{"-acme.example", ""},     // label starts with '-'
		{"acme-.example", ""},     // label ends with '-'
		{"acme.123", ""},          // numeric TLD
		{"1.2.3.4", ""},           // IP address
		{"acme_shop.example", ""}, // underscore
		{"*.acme.example", ""},    // wildcard
		{"acme.example:443", ""},  // port
		{"acme.example/path", ""},
		{"https://acme.example", ""},
		{"user@acme.example", ""},
		{"acme .example", ""},
		{"acme.example\n", "acme.example"}, // surrounding white space is trimmed
		{"acme.exa\nmple", ""},
		{"bücher.example", ""}, // IDN must be given in punycode
		{"[::1]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeDomain(tt.in)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("NormalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("NormalizeDomain(%q) = %q, want an error", tt.in, got)
			}
			if got != "" {
				t.Errorf("NormalizeDomain(%q) returned %q with its error, want \"\"", tt.in, got)
			}
			wantFieldErr(t, err, "domains")
		})
	}
	long := strings.Repeat(strings.Repeat("a", 50)+".", 5) + "com"
	if len(long) <= 253 {
		t.Fatalf("test domain is %d bytes, want > 253", len(long))
	}
	ok := strings.Repeat(strings.Repeat("a", 49)+".", 4) + strings.Repeat("b", 49) + ".com"
	if len(ok) != 253 {
		t.Fatalf("test domain is %d bytes, want 253", len(ok))
	}
	if _, err := NormalizeDomain(ok); err != nil {
		t.Errorf("NormalizeDomain(%d bytes) = %v, want ok", len(ok), err)
	}
}

var partnerDomains = []string{"acme.example", "acme-shop.example"}

func TestValidDestination(t *testing.T) {
	const prefix = "https://x.example/"
	maxOK := prefix + strings.Repeat("a", 2048-len(prefix))
	tests := []struct {
		name     string
		raw      string
		outbound bool
		domains  []string
		ok       bool
		host     string // the parsed URL's Host when ok
	}{
		{"http", "http://x.example/landing?a=1#top", false, nil, true, "x.example"},
		{"https", "https://x.example", false, nil, true, "x.example"},
		{"https with port", "https://x.example:8443/p", false, nil, true, "x.example:8443"},
		{"upper-case scheme", "HTTPS://x.example/", false, nil, true, "x.example"},
		{"exactly 2048 bytes", maxOK, false, nil, true, "x.example"},
		{"non-ASCII path", "https://x.example/bücher", false, nil, true, "x.example"},

		{"empty", "", false, nil, false, ""},
		{"javascript", "javascript:alert(1)", false, nil, false, ""},
		{"javascript upper", "JavaScript:alert(document.cookie)", false, nil, false, ""},
		{"javascript with slashes", "javascript://x.example/%0aalert(1)", false, nil, false, ""},
		{"data", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", false, nil, false, ""},
		{"ftp", "ftp://x.example/file", false, nil, false, ""},
		{"mailto", "mailto:a@x.example", false, nil, false, ""},
		{"file", "file:///etc/passwd", false, nil, false, ""},
		{"scheme-relative", "//evil.example/x", false, nil, false, ""},
		{"relative path", "/landing", false, nil, false, ""},
		{"no scheme", "x.example/landing", false, nil, false, ""},
		{"opaque https", "https:x.example", false, nil, false, ""},
		{"user and password", "https://user:pw@x.example/", false, nil, false, ""},
		{"user only", "https://user@x.example/", false, nil, false, ""},
		{"empty user info", "https://@x.example/", false, nil, false, ""},
		{"good host as user", "https://good.example@evil.example/", false, nil, false, ""},
		{"backslash user info", `https://acme.example\@evil.example/`, true, partnerDomains, false, ""},
		{"backslash in host", `https://evil.example\.acme.example/`, true, partnerDomains, false, ""},
		{"space", "https://x.example/a b", false, nil, false, ""},
		{"leading space", " https://x.example/", false, nil, false, ""},
		{"trailing space", "https://x.example/ ", false, nil, false, ""},
		{"tab", "https://x.example/a\tb", false, nil, false, ""},
		{"newline", "https://x.example/a\nb", false, nil, false, ""},
		{"CRLF injection", "https://x.example/\r\nSet-Cookie:a=b", false, nil, false, ""},
		{"NUL", "https://x.example/\x00", false, nil, false, ""},
		{"DEL", "https://x.example/\x7f", false, nil, false, ""},
		{"escape", "https://x.example/\x1b[31m", false, nil, false, ""},
		{"invalid UTF-8", "https://x.example/\xff\xfe", false, nil, false, ""},
		{"truncated UTF-8", "https://x.example/\xc3", false, nil, false, ""},
		{"2049 bytes", maxOK + "a", false, nil, false, ""},
		{"empty host", "https:///path", false, nil, false, ""},
		{"no host at all", "https://", false, nil, false, ""},
		{"port only", "https://:443/path", false, nil, false, ""},
		{"bad port", "https://x.example:port/", false, nil, false, ""},
		{"percent-encoded dot in host", "https://evil.example%2eacme.example/", true, partnerDomains, false, ""},
		{"percent-encoded slash in host", "https://evil.example%2f.acme.example/", true, partnerDomains, false, ""},

		{"outbound on partner domain", "https://acme.example/offer", true, partnerDomains, true, "acme.example"},
		{"outbound on second domain", "https://acme-shop.example/", true, partnerDomains, true, "acme-shop.example"},
		{"outbound on subdomain", "https://www.acme.example/offer", true, partnerDomains, true, "www.acme.example"},
		{"outbound on deep subdomain", "http://a.b.c.acme.example", true, partnerDomains, true, "a.b.c.acme.example"},
		{"outbound upper-case host", "https://WWW.ACME.EXAMPLE/Offer", true, partnerDomains, true, "WWW.ACME.EXAMPLE"},
		{"outbound mixed-case host", "https://Acme.Example:443/", true, partnerDomains, true, "Acme.Example:443"},
		{"outbound lookalike prefix", "https://evilacme.example/", true, partnerDomains, false, ""},
		{"outbound lookalike hyphen", "https://evil-acme.example/", true, partnerDomains, false, ""},
		{"outbound partner as subdomain", "https://acme.example.evil.example/", true, partnerDomains, false, ""},
		{"outbound parent domain", "https://example/", true, partnerDomains, false, ""},
		{"outbound foreign", "https://evil.example/", true, partnerDomains, false, ""},
		{"outbound partner in query", "https://evil.example/?next=https://acme.example/", true, partnerDomains, false, ""},
		{"outbound partner in fragment", "https://evil.example#.acme.example", true, partnerDomains, false, ""},
		{"outbound partner in path", "https://evil.example/.acme.example", true, partnerDomains, false, ""},
		{"outbound trailing-dot host", "https://acme.example.evil.example./", true, partnerDomains, false, ""},
		{"outbound no domains", "https://acme.example/", true, nil, false, ""},
		{"outbound user info", "https://acme.example@evil.example/", true, partnerDomains, false, ""},
		{"outbound IP", "https://192.0.2.1/", true, partnerDomains, false, ""},
		{"inbound ignores domains", "https://ours.example/landing", false, partnerDomains, true, "ours.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ValidDestination(tt.raw, tt.outbound, tt.domains)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidDestination(%q, %v, %v) = %v, want ok", tt.raw, tt.outbound, tt.domains, err)
				}
				if u == nil || u.Host != tt.host {
					t.Fatalf("ValidDestination(%q) URL = %v, want host %q", tt.raw, u, tt.host)
				}
				if u.Scheme != "http" && u.Scheme != "https" {
					t.Fatalf("scheme %q", u.Scheme)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidDestination(%q, %v, %v) = %v, want an error", tt.raw, tt.outbound, tt.domains, u)
			}
			if u != nil {
				t.Errorf("a URL (%v) was returned with the error", u)
			}
			wantFieldErr(t, err, "url")
		})
	}
}

func TestFieldError(t *testing.T) {
	err := fieldErr("code", "%q is bad", "x y")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "code" || fe.Reason != `"x y" is bad` {
		t.Fatalf("fieldErr = %#v", err)
	}
	if err.Error() != `code: "x y" is bad` {
		t.Fatalf("Error() = %q", err.Error())
	}
}

// TestValidDestinationRejectsHostSplitting: url.Parse keeps non-ASCII
// host characters as they are, so a host like "evil.example／.acme.example"
// (U+FF0F FULLWIDTH SOLIDUS) ends in ".acme.example" for hostAllowed. IDNA
// mapping (UTS #46, which browsers and many HTTP clients apply to hosts)
// turns U+FF0F into '/', U+2100 '℀' into "a/c", U+FF1F into '?', U+FF03 into
// '#', U+FF20 into '@': the host a client actually resolves is "evil.example"
// (the "HostSplit" class of open redirects). Current browsers refuse such
// URLs, other clients split them. An outbound link must not be accepted
// unless its host, mapped as clients map it, is under a partner domain.
func TestValidDestinationRejectsHostSplitting(t *testing.T) {
	for _, raw := range []string{
		"https://evil.example\uff0f.acme.example/",
		"https://evil.exampl\u2100.acme.example/",
		"https://evil.example\uff1f.acme.example/",
		"https://evil.example\uff03.acme.example/",
		"https://evil.example\uff20.acme.example/",
	} {
		t.Run(raw, func(t *testing.T) {
			u, err := ValidDestination(raw, true, partnerDomains)
			if err == nil {
				mapped, merr := whatwgIDNA.ToASCII(u.Hostname())
				t.Fatalf("ValidDestination(%q, outbound) accepted host %q; IDNA maps it to %q (%v)", raw, u.Hostname(), mapped, merr)
			}
			wantFieldErr(t, err, "url")
		})
	}
}

// browserHost extracts the host the way the WHATWG URL parser (what
// browsers follow on a redirect) splits a special URL's authority:
// it ends at '/', '\', '?' or '#', and user info ends at the last '@'.
func browserHost(raw string) (host string, userinfo bool) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", false
	}
	rest := raw[i+3:]
	if j := strings.IndexAny(rest, `/\?#`); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.LastIndex(rest, "@"); j >= 0 {
		userinfo = true
		rest = rest[j+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if j := strings.Index(rest, "]"); j >= 0 {
			return rest[:j+1], userinfo
		}
		return rest, userinfo
	}
	if j := strings.LastIndex(rest, ":"); j >= 0 {
		rest = rest[:j]
	}
	if h, err := url.PathUnescape(rest); err == nil {
		rest = h
	}
	return rest, userinfo
}

func underDomains(host string, domains []string) bool {
	host = strings.ToLower(host)
	hl := strings.Split(host, ".")
	for _, d := range domains {
		dl := strings.Split(d, ".")
		if len(hl) < len(dl) {
			continue
		}
		match := true
		for i := range dl {
			if hl[len(hl)-len(dl)+i] != dl[i] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// whatwgIDNA maps a host as browsers do (UTS #46, non-transitional, no
// STD3 rules) before they resolve it.
var whatwgIDNA = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false), idna.BidiRule(), idna.CheckJoiners(true))

func FuzzValidDestination(f *testing.F) {
	seeds := []string{
		"https://acme.example/offer", "http://www.acme.example", "https://acme-shop.example:8443/x?y#z",
		"https://evilacme.example/", "https://acme.example.evil.example/", "//acme.example/",
		"https://good.example@acme.example", "https://acme.example@evil.example", "javascript:alert(1)",
		"data:text/html,x", "https:///acme.example", `https://acme.example\@evil.example`,
		"https://evil.example%2f.acme.example", "https://acme.example\u3002evil.example/",
		"https://ACME.EXAMPLE", "https://[::1]/", "https://acme.example:99999/", "HTTP://Acme.Example./",
		"https://x.example/\xff", "https://x.example/a b", "mailto:a@acme.example", "ftp://acme.example/",
	}
	for _, s := range seeds {
		f.Add(s, true)
		f.Add(s, false)
	}
	domains := []string{"acme.example", "acme-shop.example"}
	f.Fuzz(func(t *testing.T, raw string, outbound bool) {
		u, err := ValidDestination(raw, outbound, domains)
		if err != nil {
			if u != nil {
				t.Fatalf("URL %v returned with error %v", u, err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "url" {
				t.Fatalf("error %v is not a FieldError on url", err)
			}
			return
		}
		if len(raw) > 2048 || !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("accepted %q: too long, invalid UTF-8 or control characters", raw)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted %q with scheme %q", raw, u.Scheme)
		}
		if u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
			t.Fatalf("accepted %q without a host", raw)
		}
		if u.User != nil {
			t.Fatalf("accepted %q with user info", raw)
		}
		// What the redirect sends must parse back to the same host.
		back, err := url.Parse(u.String())
		if err != nil || !strings.EqualFold(back.Hostname(), u.Hostname()) || (back.Scheme != "http" && back.Scheme != "https") {
			t.Fatalf("accepted %q: its String() %q parses back to %v, %v", raw, u.String(), back, err)
		}
		bh, userinfo := browserHost(raw)
		if userinfo {
			t.Fatalf("accepted %q: a browser sees user info", raw)
		}
		if bh == "" {
			t.Fatalf("accepted %q: a browser sees no host", raw)
		}
		if !outbound {
			return
		}
		if !underDomains(u.Hostname(), domains) {
			t.Fatalf("accepted outbound %q: host %q is not under %v", raw, u.Hostname(), domains)
		}
		if !underDomains(bh, domains) {
			t.Fatalf("accepted outbound %q: a browser goes to host %q, not under %v", raw, bh, domains)
		}
		if ascii, err := whatwgIDNA.ToASCII(strings.ToLower(bh)); err == nil {
			if strings.ContainsAny(ascii, "/\\?#@:%[]<>^| ") || !underDomains(ascii, domains) {
				t.Fatalf("accepted outbound %q: a browser maps host %q to %q, not under %v", raw, bh, ascii, domains)
			}
		}
	})
}
