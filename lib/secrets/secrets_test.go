package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func rawKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func mustKey(t *testing.T, raw []byte) *Key {
	t.Helper()
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := mustKey(t, rawKey(1))
	plain := []byte("xps_the-partner-secret")
	a, err := k.Seal(plain, []byte("acme"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.Seal(plain, []byte("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal: the nonce is not random")
	}
	if bytes.Contains(a, plain) {
		t.Fatal("sealed value holds the plaintext")
	}
	if len(a) != len(plain)+overhead {
		t.Fatalf("sealed length %d, want %d", len(a), len(plain)+overhead)
	}
	for _, s := range [][]byte{a, b} {
		got, err := k.Open(s, []byte("acme"))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	// Empty plaintext and aad work too.
	e, err := k.Seal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(e, nil); err != nil || len(got) != 0 {
		t.Fatalf("Open(empty) = %q, %v", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	k := mustKey(t, rawKey(1))
	other := mustKey(t, rawKey(2))
	sealed, err := k.Seal([]byte("secret"), []byte("acme"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 1
		return c
	}
	tests := []struct {
		name   string
		key    *Key
		sealed []byte
		aad    string
		want   error
	}{
		{"wrong key", other, sealed, "acme", ErrWrongKey},
		{"wrong aad (another partner)", k, sealed, "beta", ErrCorrupt},
		{"empty aad", k, sealed, "", ErrCorrupt},
		{"altered ciphertext", k, flip(len(sealed) - 1), "acme", ErrCorrupt},
		{"altered nonce", k, flip(1 + keyIDSize), "acme", ErrCorrupt},
		{"altered key id", k, flip(1), "acme", ErrWrongKey},
		{"unknown format", k, flip(0), "acme", ErrFormat},
		{"too short", k, sealed[:overhead-1], "acme", ErrFormat},
		{"nil", k, nil, "acme", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.key.Open(tt.sealed, []byte(tt.aad))
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
	if ErrWrongKey.Error() != "cannot decrypt: wrong XPROMO_SECRET_KEY?" {
		t.Fatalf("ErrWrongKey = %q", ErrWrongKey)
	}
}

func TestParseKey(t *testing.T) {
	raw := make([]byte, KeySize)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	want := mustKey(t, raw).ID()
	good := []string{
		hex.EncodeToString(raw),
		strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw),
		"  " + base64.StdEncoding.EncodeToString(raw) + "\n",
	}
	for _, s := range good {
		k, err := ParseKey(s)
		if err != nil || k.ID() != want {
			t.Errorf("ParseKey(%q) = %v, %v", s, k, err)
		}
	}
	bad := []string{
		"",
		"short",
		hex.EncodeToString(raw[:31]),
		base64.StdEncoding.EncodeToString(raw[:16]),
		base64.StdEncoding.EncodeToString(append(bytes.Clone(raw), 1)),
		strings.Repeat("z", 64), // 64 chars, not hex; base64 of 48 bytes
	}
	for _, s := range bad {
		if k, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) = %v, want an error", s, k)
		} else if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("ParseKey error repeats the key: %v", err)
		}
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	raw := rawKey(0xab)
	k := mustKey(t, raw)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("loaded", "key", k)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "key", k)
	out := fmt.Sprintf("%v %+v %#v %s %q", k, k, k, k, k) + logged.String()
	for _, enc := range []string{hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw)[:20]} {
		if strings.Contains(strings.ToLower(out), strings.ToLower(enc)) {
			t.Fatalf("key material printed: %s", out)
		}
	}
	if !strings.Contains(out, k.ID()) {
		t.Fatalf("key id not printed: %s", out)
	}
}

func TestLoadEnvWins(t *testing.T) {
	raw := rawKey(3)
	t.Setenv(EnvKey, base64.StdEncoding.EncodeToString(raw))
	file := filepath.Join(t.TempDir(), "k")
	k, src, err := Load(file)
	if err != nil || src != FromEnv || k.ID() != mustKey(t, raw).ID() {
		t.Fatalf("Load = %v, %q, %v", k, src, err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load created the file although the env var is set: %v", err)
	}
	t.Setenv(EnvKey, "not a key")
	if _, _, err := Load(file); err == nil || !strings.Contains(err.Error(), EnvKey) || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("Load with a bad env key: %v", err)
	}
	t.Setenv(EnvKey, "")
	if _, _, err := Load(""); err == nil || !strings.Contains(err.Error(), EnvKey) {
		t.Fatalf("Load with no env and no file: %v", err)
	}
}

func TestLoadFileCreates(t *testing.T) {
	t.Setenv(EnvKey, "")
	file := filepath.Join(t.TempDir(), "sub", "secret.key")
	k1, src, err := Load(file)
	if err != nil || src != FromCreatedFile {
		t.Fatalf("first Load = %v, %q, %v", k1, src, err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(file)); di.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %04o, want 0700", di.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".secret-key-*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	k2, src, err := Load(file)
	if err != nil || src != FromFile || k2.ID() != k1.ID() {
		t.Fatalf("second Load = %v, %q, %v (want the same key from the file)", k2, src, err)
	}
	sealed, _ := k1.Seal([]byte("x"), []byte("p"))
	if got, err := k2.Open(sealed, []byte("p")); err != nil || string(got) != "x" {
		t.Fatalf("the reloaded key does not open: %q, %v", got, err)
	}
	// The file holds the key as base64, usable as XPROMO_SECRET_KEY.
	b, _ := os.ReadFile(file)
	t.Setenv(EnvKey, string(b))
	if k3, _, err := Load(""); err != nil || k3.ID() != k1.ID() {
		t.Fatalf("the file's text as %s: %v, %v", EnvKey, k3, err)
	}

	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvKey, "")
	if _, _, err := Load(file); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Load of a world-readable key file: %v", err)
	}
}

func TestLoadFileConcurrentCreation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret.key")
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			k, _, err := LoadFile(file)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("processes racing to create the key file got different keys: %v", ids)
		}
	}
}

func TestLoadFileBad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(file, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadFile(file); err == nil || strings.Contains(err.Error(), "hello") {
		t.Fatalf("LoadFile(bad) = %v", err)
	}
	if _, _, err := LoadFile(dir); err == nil {
		t.Fatal("LoadFile(a directory) succeeded")
	}
}
