package catalog

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// FieldError names the field that failed validation and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

var (
	idRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	codeRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	hostRe = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$`)
)

// ValidID checks a partner or partnership id: lower-case letters, digits,
// '-' and '_', at most 64 characters.
func ValidID(field, id string) error {
	if !idRe.MatchString(id) {
		return fieldErr(field, "%q must be 1-64 of a-z, 0-9, '-', '_', starting with a letter or digit", id)
	}
	return nil
}

// ValidCode reports whether s has the shape of a link code; the tracker
// uses it to answer 404 without a map lookup for junk.
func ValidCode(s string) bool { return codeRe.MatchString(s) }

// ValidCountry checks an ISO 3166-1 alpha-2 country code (upper case).
func ValidCountry(field, cc string) error {
	if len(cc) != 2 || strings.ToUpper(cc) != cc {
		return fieldErr(field, "%q must be an upper-case ISO 3166-1 alpha-2 code", cc)
	}
	if !isoCountries[cc] {
		return fieldErr(field, "%q is not an ISO 3166-1 country code", cc)
	}
	return nil
}

// NormalizeDomain lower-cases a domain and checks it is a host name.
func NormalizeDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if len(d) > 253 || !hostRe.MatchString(d) {
		return "", fieldErr("domains", "%q is not a domain name", d)
	}
	return d, nil
}

// maxURL bounds a destination; longer URLs break some browsers and proxies.
const maxURL = 2048

// ValidDestination parses a link's destination URL: absolute http(s), a
// host, no credentials, no control characters. For outbound links the host
// must be one of the partner's domains or a subdomain of one.
func ValidDestination(raw string, outbound bool, domains []string) (*url.URL, error) {
	if raw == "" {
		return nil, fieldErr("url", "is required")
	}
	if len(raw) > maxURL {
		return nil, fieldErr("url", "longer than %d bytes", maxURL)
	}
	if !utf8.ValidString(raw) {
		return nil, fieldErr("url", "is not valid UTF-8")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f {
			return nil, fieldErr("url", "contains a space or control character")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fieldErr("url", "cannot be parsed: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fieldErr("url", "scheme %q: only http and https are allowed", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fieldErr("url", "must be absolute with a host")
	}
	if u.User != nil {
		return nil, fieldErr("url", "must not contain user info")
	}
	if u.Hostname() == "" {
		return nil, fieldErr("url", "must have a host")
	}
	// The click id placeholder may stand in the path, query or fragment,
	// never in the scheme or host, so it cannot change where a click goes.
	if i := strings.Index(raw, ClickIDPlaceholder); i >= 0 && i < len(u.Scheme)+len("://")+len(u.Host) {
		return nil, fieldErr("url", "%s may appear only after the host", ClickIDPlaceholder)
	}
	// Compare hosts as browsers resolve them: IDNA mapping turns some
	// Unicode characters into '/', '?', '#' or '@' and would split the host
	// ("evil.example／.acme.example"); such hosts are refused.
	host, err := idna.Lookup.ToASCII(u.Hostname())
	if err != nil {
		return nil, fieldErr("url", "host %q is not a valid domain name: %v", u.Hostname(), err)
	}
	host = strings.ToLower(host)
	if outbound && !hostAllowed(host, domains) {
		return nil, fieldErr("url", "host %q is not one of the partner's domains %v (outbound links lead to the partner)", host, domains)
	}
	return u, nil
}

func hostAllowed(host string, domains []string) bool {
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

func normalizeDomains(in []string) ([]string, error) {
	seen := map[string]bool{}
	out := []string{}
	for _, d := range in {
		if strings.TrimSpace(d) == "" {
			continue
		}
		n, err := NormalizeDomain(d)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func normalizeCountries(in []string) ([]string, error) {
	out := []string{}
	for _, c := range in {
		c = strings.ToUpper(strings.TrimSpace(c))
		if err := ValidCountry("countries", c); err != nil {
			return nil, err
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}
