package postback

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xpromo/xpromo/testkit/testenv"
)

// The test vectors of docs/POSTBACKS.md.
const (
	vectorSecret = "xps_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	vectorSig    = "e3481d1c8751a3f77edfbb0c2082b2b61523a32dac951c9a0743ce64ea9bf7f1"
	vectorMsg    = "amount=19.99\nclick_id=01KB8ZQ0W6M5R2X4T7Y9A3C5E7\ncurrency=EUR\noccurred_at=2026-01-31T17:58:12Z\norder_id=A-1001\nts=1769882400\ntype=purchase\nuser_id=u-42"
	vectorTS     = 1769882400 // 2026-01-31T18:00:00Z
	vector2Sig   = "803c980c4ce82db58d2947943fa7e7fcc909d6f72cb9be369244be4b979d8f8a"
	// vector2Query is vector 2 as a query string: spaces as '+', UTF-8 percent-encoded.
	vector2Query = "ts=1769882400&type=signup&click_id=01KB8ZQ0W6M5R2X4T7Y9A3C5E7&user_id=J%C3%BCrgen+Gro%C3%9F+%E6%9D%B1%E4%BA%AC"
)

func vectorParams() map[string]string {
	return map[string]string{
		"click_id": "01KB8ZQ0W6M5R2X4T7Y9A3C5E7", "type": "purchase", "order_id": "A-1001", "user_id": "u-42",
		"amount": "19.99", "currency": "EUR", "occurred_at": "2026-01-31T17:58:12Z", "ts": "1769882400",
	}
}

func TestVector(t *testing.T) {
	p := vectorParams()
	if got := Message(p); got != vectorMsg {
		t.Fatalf("Message =\n%s\nwant\n%s", got, vectorMsg)
	}
	if got := Sign(vectorSecret, p); got != vectorSig {
		t.Fatalf("Sign = %s, want %s", got, vectorSig)
	}
	p[ParamSig] = vectorSig
	if got := Sign(vectorSecret, p); got != vectorSig {
		t.Fatalf("Sign ignores sig: %s", got)
	}
	at := time.Unix(vectorTS, 0).Add(2 * time.Minute)
	if sig, err := Verify(p, []string{vectorSecret}, at); err != nil || sig != vectorSig {
		t.Fatalf("Verify(vector) = %q, %v", sig, err)
	}

	p2, err := ParseParams(vector2Query + "&sig=" + strings.ToUpper(vector2Sig))
	if err != nil {
		t.Fatal(err)
	}
	if p2["user_id"] != "Jürgen Groß 東京" {
		t.Fatalf("decoded user_id %q", p2["user_id"])
	}
	if got := Sign(vectorSecret, p2); got != vector2Sig {
		t.Fatalf("Sign(vector 2) = %s, want %s", got, vector2Sig)
	}
	if sig, err := Verify(p2, []string{vectorSecret}, at); err != nil || sig != vector2Sig {
		t.Fatalf("Verify(vector 2, upper-case sig) = %q, %v; want the lower-case sig", sig, err)
	}
}

// query encodes params in the given key order (then the rest), with sig.
func query(params map[string]string, sig string, order ...string) string {
	var parts []string
	seen := map[string]bool{}
	for _, k := range order {
		if v, ok := params[k]; ok {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
			seen[k] = true
		}
	}
	for k, v := range params {
		if !seen[k] {
			parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	if sig != "" {
		parts = append(parts, "sig="+sig)
	}
	return strings.Join(parts, "&")
}

func TestSignVerify(t *testing.T) {
	rdb := testenv.NewRedis(t)
	guard := replays{rdb.Client, rdb.Prefix}
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	ts := func(d time.Duration) string { return formatTS(now.Add(d)) }
	const secret, previous = "xps_current", "xps_previous"
	base := func() map[string]string {
		return map[string]string{"click_id": "01KB8ZQ0W6M5R2X4T7Y9A3C5E7", "type": "purchase", "order_id": "o-1", "amount": "10.50", "currency": "eur", "ts": ts(0)}
	}
	with := func(k, v string) map[string]string {
		p := base()
		if v == "\x00delete" {
			delete(p, k)
		} else {
			p[k] = v
		}
		return p
	}
	signed := func(p map[string]string, s string, order ...string) string { return query(p, Sign(s, p), order...) }

	// The partner signs in its order; we verify in ours.
	reordered := with("order_id", "o-2")
	q1 := signed(reordered, secret, "ts", "type", "amount", "click_id", "currency", "order_id")
	q2 := signed(reordered, secret, "order_id", "currency", "click_id", "amount", "type", "ts")

	if a, b := mustParse(t, q1), mustParse(t, q2); a[ParamSig] != b[ParamSig] || Message(a) != Message(b) {
		t.Fatalf("reordered encodings differ: %q vs %q", Message(a), Message(b))
	}

	unicodeP := with("user_id", "Jürgen Groß 東京 🚀 ✓")
	unicodeP["order_id"] = "Bestellung-Nr. 5 & 6 = 11; 100% \"fertig\""

	tests := []struct {
		name    string
		raw     string
		secrets []string
		replay  bool   // send it twice: the second is "replayed"
		want    string // "" ok, an AuthError reason, or "param:" and a ParamError substring
	}{
		{name: "good", raw: signed(base(), secret), secrets: []string{secret}, replay: true},
		{name: "signed with the previous secret", raw: signed(base(), previous), secrets: []string{secret, previous}},
		{name: "reordered params, same sig (a)", raw: q1, secrets: []string{secret}},
		{name: "reordered params, same sig (b)", raw: q2, secrets: []string{secret}, want: seenBefore},
		{name: "unicode and reserved characters", raw: signed(unicodeP, secret), secrets: []string{secret}},
		{name: "empty value is signed", raw: signed(with("user_id", ""), secret), secrets: []string{secret}},
		{name: "unknown parameter is signed", raw: signed(with("sub_id.x-Y", "a"), secret), secrets: []string{secret}},
		{name: "wrong secret", raw: signed(base(), "xps_other"), secrets: []string{secret}, want: ReasonBadSignature},
		{name: "revoked (third) secret", raw: signed(base(), "xps_old"), secrets: []string{secret, previous}, want: ReasonBadSignature},
		{name: "unknown partner (no secrets)", raw: signed(base(), secret), secrets: nil, want: ReasonBadSignature},
		{name: "value changed after signing", raw: strings.Replace(signed(base(), secret), "amount=10.50", "amount=1000.50", 1), secrets: []string{secret}, want: ReasonBadSignature},
		{name: "parameter added after signing", raw: signed(base(), secret) + "&user_id=x", secrets: []string{secret}, want: ReasonBadSignature},
		{name: "parameter removed after signing", raw: query(with("amount", "\x00delete"), Sign(secret, base())), secrets: []string{secret}, want: ReasonBadSignature},
		{name: "sig not hex", raw: query(base(), strings.Repeat("zz", 32)), secrets: []string{secret}, want: ReasonBadSignature},
		{name: "sig truncated", raw: query(base(), Sign(secret, base())[:62]), secrets: []string{secret}, want: ReasonBadSignature},
		{name: "signed the encoded, not the decoded values", raw: query(unicodeP, Sign(secret, encodedValues(unicodeP))), secrets: []string{secret}, want: ReasonBadSignature},
		{name: "missing sig", raw: query(base(), ""), secrets: []string{secret}, want: ReasonMissingSig},
		{name: "missing ts", raw: signed(with("ts", "\x00delete"), secret), secrets: []string{secret}, want: ReasonMissingTS},
		{name: "ts not a number", raw: signed(with("ts", "2026-01-31T18:00:00Z"), secret), secrets: []string{secret}, want: ReasonBadTS},
		{name: "negative ts", raw: signed(with("ts", "-1"), secret), secrets: []string{secret}, want: ReasonBadTS},
		{name: "ts in milliseconds", raw: signed(with("ts", formatTS(now)+"000"), secret), secrets: []string{secret}, want: ReasonBadTS},
		{name: "stale ts (6 min ago)", raw: signed(with("ts", ts(-6*time.Minute)), secret), secrets: []string{secret}, want: ReasonStaleTS},
		{name: "future ts (6 min ahead)", raw: signed(with("ts", ts(6*time.Minute)), secret), secrets: []string{secret}, want: ReasonStaleTS},
		{name: "ts exactly 5 min ago", raw: signed(with("ts", ts(-5*time.Minute)), secret), secrets: []string{secret}, want: ReasonStaleTS},
		{name: "ts 4m59s ago", raw: signed(with("ts", ts(-4*time.Minute-59*time.Second)), secret), secrets: []string{secret}},
		{name: "ts 4m59s ahead", raw: signed(with("ts", ts(4*time.Minute+59*time.Second)), secret), secrets: []string{secret}},
		{name: "duplicated param", raw: signed(base(), secret) + "&amount=10.50", secrets: []string{secret}, want: "param:given more than once"},
		{name: "duplicated sig", raw: signed(base(), secret) + "&sig=" + Sign(secret, base()), secrets: []string{secret}, want: "param:given more than once"},
		{name: "duplicated, once encoded", raw: signed(base(), secret) + "&%61mount=1", secrets: []string{secret}, want: "param:given more than once"},
		{name: "newline in a value", raw: signed(with("user_id", "a\nts=1"), secret), secrets: []string{secret}, want: "param:control character"},
		{name: "tab in a value", raw: signed(with("user_id", "a\tb"), secret), secrets: []string{secret}, want: "param:control character"},
		{name: "C1 control in a value", raw: signed(with("user_id", "a\u0085b"), secret), secrets: []string{secret}, want: "param:control character"},
		{name: "invalid UTF-8", raw: "ts=" + ts(0) + "&user_id=%FF&sig=00", secrets: []string{secret}, want: "param:UTF-8"},
		{name: "name with =", raw: "ts=" + ts(0) + "&a%3Db=c&sig=00", secrets: []string{secret}, want: "param:not a parameter name"},
		{name: "empty name", raw: "ts=" + ts(0) + "&=c&sig=00", secrets: []string{secret}, want: "param:not a parameter name"},
		{name: "bad percent-encoding", raw: "ts=" + ts(0) + "&user_id=%zz&sig=00", secrets: []string{secret}, want: "param:percent-encoding"},
		{name: "too many parameters", raw: manyParams(MaxParams + 1), secrets: []string{secret}, want: "param:more than"},
		{name: "value too long", raw: signed(with("user_id", strings.Repeat("a", MaxValue+1)), secret), secrets: []string{secret}, want: "param:longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func() error {
				p, err := ParseParams(tt.raw)
				if err != nil {
					return err
				}
				sig, err := Verify(p, tt.secrets, now)
				if err != nil {
					return err
				}
				if first, _, err := guard.first(ctx, sig); err != nil {
					return err
				} else if !first {
					return &AuthError{seenBefore}
				}
				return nil
			}
			err := check()
			assertCheck(t, err, tt.want)
			if tt.replay {
				assertCheck(t, check(), seenBefore)
			}
		})
	}
}

// seenBefore: the replay guard already holds the signature (two
// spellings of one request sign the same).
const seenBefore = "seen before"

func assertCheck(t *testing.T, err error, want string) {
	t.Helper()
	var ae *AuthError
	var pe *ParamError
	switch {
	case want == "":
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
	case strings.HasPrefix(want, "param:"):
		if !errors.As(err, &pe) || !strings.Contains(pe.Error(), strings.TrimPrefix(want, "param:")) {
			t.Fatalf("err = %v, want a ParamError with %q", err, want)
		}
	default:
		if !errors.As(err, &ae) || ae.Reason != want || !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v, want %q", err, want)
		}
	}
}

func mustParse(t *testing.T, raw string) map[string]string {
	t.Helper()
	p, err := ParseParams(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func encodedValues(p map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		out[k] = url.QueryEscape(v)
	}
	return out
}

func manyParams(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, "p"+formatTS(time.Unix(int64(i), 0))+"=1")
	}
	return strings.Join(parts, "&")
}

func formatTS(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// FuzzParseParams: whatever the input, the parser either refuses it or
// returns a set whose message is unambiguous (one line per parameter but
// sig, sorted, no control characters) and which round-trips through an
// encoding in another order to the same set and signature.
func FuzzParseParams(f *testing.F) {
	f.Add("ts=1&type=purchase&amount=1.5&sig=ab", "")
	f.Add("a=1&a=2", "")
	f.Add("a=1", "a=2")
	f.Add(vector2Query, "order_id=%E6%9D%B1")
	f.Add("a%3Db=c", "")
	f.Add("user_id=%0A", "")
	f.Add("x=%C2%85&&&=", "y")
	f.Add("k=v;w=z+%2B", "")
	f.Fuzz(func(t *testing.T, q, body string) {
		p, err := ParseParams(q, body)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParamError", err)
			}
			return
		}
		if err := Check(p); err != nil {
			t.Fatalf("ParseParams accepted what Check refuses: %v", err)
		}
		msg := Message(p)
		lines := 0
		if msg != "" {
			lines = strings.Count(msg, "\n") + 1
		}
		want := len(p)
		if _, ok := p[ParamSig]; ok {
			want--
		}
		if want == 0 && msg != "" || want > 0 && lines != want {
			t.Fatalf("message has %d lines for %d parameters: %q", lines, want, msg)
		}
		if !utf8.ValidString(msg) || strings.ContainsFunc(msg, func(r rune) bool { return r != '\n' && unicode.IsControl(r) }) {
			t.Fatalf("message holds a control character: %q", msg)
		}
		prev := ""
		for i, line := range strings.Split(msg, "\n") {
			if msg == "" {
				break
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok || p[k] != v || k == ParamSig || (i > 0 && k <= prev) {
				t.Fatalf("line %q of %q does not match %v", line, msg, p)
			}
			prev = k
		}
		// Re-encoded in another order (our own, canonical), the set and its
		// signature are the same.
		p2, err := ParseParams(query(p, ""))
		if err != nil {
			t.Fatalf("re-encoded set refused: %v", err)
		}
		if Message(p2) != msg || Sign("xps_k", p2) != Sign("xps_k", p) {
			t.Fatalf("re-encoding changed the message: %q vs %q", Message(p2), msg)
		}
	})
}

// TestVectorDocumented keeps docs/POSTBACKS.md and the vectors above equal.
func TestVectorDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/POSTBACKS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	indented := "    " + strings.ReplaceAll(vectorMsg, "\n", "\n    ") + "\n"
	for _, want := range []string{vectorSecret, vectorSig, vector2Sig, vector2Query, indented, "ts=1769882400"} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/POSTBACKS.md lacks %q", want)
		}
	}
}
