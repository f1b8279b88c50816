package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestGenerateParse(t *testing.T) {
	if secretLen != base64.RawURLEncoding.EncodedLen(SecretBytes) || TokenLen != 60 {
		t.Fatalf("secretLen %d, TokenLen %d", secretLen, TokenLen)
	}
	seen := map[string]bool{}
	for range 200 {
		tok, id, hash, err := generate()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != TokenLen || !strings.HasPrefix(tok, Prefix+id+"_") {
			t.Fatalf("token %q: wrong shape for id %q", tok, id)
		}
		if !ValidTokenID(id) || seen[id] {
			t.Fatalf("id %q invalid or repeated", id)
		}
		seen[id] = true
		pid, secret, err := Parse(tok)
		if err != nil {
			t.Fatalf("Parse(generated): %v", err)
		}
		if pid != id || len(secret) != SecretBytes || sha256.Sum256(secret) != hash {
			t.Fatalf("Parse = %q, %x; want id %q and the hashed secret", pid, secret, id)
		}
		if HashSecret(secret) != hex.EncodeToString(hash[:]) {
			t.Fatal("HashSecret differs from the stored hash")
		}
	}
}

func TestParseStrict(t *testing.T) {
	good, _, _, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	sec := good[len(Prefix)+IDLen+1:]
	// The last of 43 characters for 32 bytes carries 2 spare bits, which
	// must be zero; setting one gives the same bytes, spelled differently.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	nonCanon := sec[:42] + string(alphabet[strings.IndexByte(alphabet, sec[42])|1])
	bad := map[string]string{
		"empty":             "",
		"no prefix":         good[len(Prefix):],
		"other prefix":      "xpu_" + good[len(Prefix):],
		"upper-case prefix": "XPT_" + good[len(Prefix):],
		"upper-case id":     Prefix + strings.ToUpper(good[len(Prefix):len(Prefix)+IDLen]) + good[len(Prefix)+IDLen:],
		"id with 0 or 1":    Prefix + "0000000000o1" + good[len(Prefix)+IDLen:],
		"missing separator": good[:len(Prefix)+IDLen] + "-" + sec,
		"short secret":      good[:len(good)-1],
		"long secret":       good + "A",
		"padded secret":     good[:len(good)-1] + "=",
		"std base64 char":   good[:len(good)-1] + "+",
		"non-canonical":     good[:len(Prefix)+IDLen+1] + nonCanon,
		"space":             " " + good,
		"newline":           good[:len(good)-1] + "\n",
		"bearer":            "Bearer " + good,
	}
	for name, s := range bad {
		t.Run(name, func(t *testing.T) {
			id, secret, err := Parse(s)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %q, %x, %v; want ErrMalformed", s, id, secret, err)
			}
			if id != "" || secret != nil {
				t.Fatalf("Parse returned %q, %x with its error", id, secret)
			}
			if strings.Contains(err.Error(), sec) {
				t.Fatal("error repeats the secret")
			}
		})
	}
}
