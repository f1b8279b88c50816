package postback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: Verify accepts a parameter set exactly when its ts is fresh
// and its sig is the HMAC of its message under one of the secrets (hex in
// either case); any change to a value, a name, the secret or the sig makes
// it fail. Seeded with the documented vector, signed.
func FuzzVerify(f *testing.F) {
	vq := query(vectorParams(), vectorSig)
	f.Add(vq, vectorSecret, int64(0), "")
	f.Add(vq, vectorSecret, int64(0), "amount=1999")
	f.Add(vq, vectorSecret, int64(299), "")
	f.Add(vq, vectorSecret, int64(-300), "")
	f.Add(vector2Query+"&sig="+strings.ToUpper(vector2Sig), vectorSecret, int64(0), "")
	f.Add(vector2Query+"&sig="+vector2Sig[:63], vectorSecret, int64(0), "")
	f.Add("ts=1769882400&sig=", "", int64(0), "x=1")
	f.Add("ts=1769882400&type=signup", "xps_other", int64(10), "sig=00")
	f.Fuzz(func(t *testing.T, q, secret string, skew int64, extra string) {
		p, err := ParseParams(q, extra)
		if err != nil {
			return // refused before any signature is checked
		}
		now := time.Unix(vectorTS, 0).Add(time.Duration(skew%3600) * time.Second)
		_, tsErr := CheckTS(p, now)
		want := tsErr == nil && p[ParamSig] != "" && strings.EqualFold(p[ParamSig], Sign(secret, p)) && len(p[ParamSig]) == SigHexLen
		got, err := Verify(p, []string{secret}, now)
		if (err == nil) != want {
			t.Fatalf("Verify(%q) under %q at %v: %v, want accepted=%v", q, secret, now, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("refusal %v is not ErrUnauthorized", err)
			}
			if got != "" {
				t.Fatalf("refused but returned %q", got)
			}
		} else if got != strings.ToLower(p[ParamSig]) {
			t.Fatalf("canonical sig %q for %q", got, p[ParamSig])
		}
		if tsErr != nil {
			return
		}
		// Signed properly now, it passes, under the right secret only, and
		// not once anything signed is changed.
		p[ParamSig] = Sign(secret, p)
		if _, err := Verify(p, []string{"xps_wrong", secret}, now); err != nil {
			t.Fatalf("a signed set is refused: %v (%q)", err, Message(p))
		}
		if _, err := Verify(p, []string{secret + "x"}, now); err == nil {
			t.Fatal("accepted under another secret")
		}
		if _, err := Verify(p, nil, now); err == nil {
			t.Fatal("accepted with no secret (unknown partner)")
		}
		for k, v := range p {
			if k == ParamSig || k == ParamTS {
				continue
			}
			p[k] = v + "x"
			if _, err := Verify(p, []string{secret}, now); err == nil {
				t.Fatalf("accepted with %s changed", k)
			}
			p[k] = v
		}
		p["zz_added"] = "1"
		if _, err := Verify(p, []string{secret}, now); err == nil {
			t.Fatal("accepted with a parameter added")
		}
		delete(p, "zz_added")
		sig := p[ParamSig]
		b, _ := hex.DecodeString(sig)
		b[len(b)-1] ^= 1
		p[ParamSig] = hex.EncodeToString(b)
		if _, err := Verify(p, []string{secret}, now); err == nil {
			t.Fatal("accepted a sig with one bit flipped")
		}
		// Sign is the plain HMAC the partner guide describes.
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(Message(p)))
		if hex.EncodeToString(m.Sum(nil)) != sig {
			t.Fatal("Sign is not HMAC-SHA256 of the message")
		}
	})
}
