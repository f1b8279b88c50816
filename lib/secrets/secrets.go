// Package secrets seals small secrets (partners' postback secrets) with a
// server key before they are stored, so a copy of the database alone does
// not give them away.
//
// The key is 32 bytes for AES-256-GCM. It comes from the environment
// variable XPROMO_SECRET_KEY (base64 or hex), or else from a key file that
// is created with random content (mode 0600) when missing: that suits a
// single development host; every server and CLI that shares a database
// must use the same key.
//
// A sealed value is
//
//	0x01 | key id (4 bytes) | nonce (12 random bytes) | AES-256-GCM ciphertext and tag
//
// with the caller's additional data (aad, e.g. the partner id) bound in,
// so a value sealed for one partner does not open for another. The key id
// (a hash of the key, not secret) lets Open tell a wrong key from altered
// data.
//
// Neither keys nor plaintexts are ever logged: Key prints as its id.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// EnvKey is the environment variable holding the key.
const EnvKey = "XPROMO_SECRET_KEY"

// KeySize is the key length in bytes (AES-256).
const KeySize = 32

const (
	formatV1  = 0x01
	keyIDSize = 4
	nonceSize = 12
	overhead  = 1 + keyIDSize + nonceSize + 16 // format, key id, nonce, GCM tag
)

// Errors of Open. ErrWrongKey is what a server started with another key
// than the one that sealed the data sees.
var (
	ErrWrongKey = errors.New("cannot decrypt: wrong " + EnvKey + "?")
	ErrCorrupt  = errors.New("cannot decrypt: the sealed data was altered or sealed for another owner")
	ErrFormat   = errors.New("cannot decrypt: not a sealed value (unknown format or too short)")
)

// Key is a loaded server key. Its String, GoString and LogValue show only
// its id.
type Key struct {
	aead cipher.AEAD
	id   [keyIDSize]byte
}

// NewKey makes a Key of 32 raw bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("secret key: %d bytes, want %d", len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	k := &Key{aead: aead}
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("xpromo secret key id"))
	copy(k.id[:], m.Sum(nil))
	return k, nil
}

// ParseKey reads a key written as hex (64 digits) or base64 (standard or
// URL alphabet, padded or not) of 32 bytes. The error never repeats s.
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if raw, err := hex.DecodeString(s); err == nil {
			return NewKey(raw)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil && len(raw) == KeySize {
			return NewKey(raw)
		}
	}
	return nil, fmt.Errorf("secret key: want %d bytes as base64 or hex (make one with `openssl rand -base64 32`)", KeySize)
}

// Generate returns a new random key and its base64 text.
func Generate() (*Key, string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", err
	}
	k, err := NewKey(raw)
	return k, base64.StdEncoding.EncodeToString(raw), err
}

// ID is a short hex name of the key (a keyed hash; it reveals nothing
// about the key), for logs and error messages.
func (k *Key) ID() string { return hex.EncodeToString(k.id[:]) }

func (k *Key) String() string               { return "secrets.Key(" + k.ID() + ")" }
func (k *Key) GoString() string             { return k.String() }
func (k *Key) LogValue() slog.Value         { return slog.StringValue(k.String()) }
func (k *Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Seal encrypts plaintext bound to aad (e.g. the owner's id).
func (k *Key) Seal(plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+keyIDSize+nonceSize, overhead+len(plaintext))
	out[0] = formatV1
	copy(out[1:], k.id[:])
	if _, err := rand.Read(out[1+keyIDSize:]); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	nonce := out[1+keyIDSize:]
	return k.aead.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts what Seal returned for the same aad. It fails with
// ErrWrongKey when another key sealed it, ErrCorrupt when the data was
// changed or aad differs, ErrFormat when sealed is not a sealed value.
func (k *Key) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < overhead || sealed[0] != formatV1 {
		return nil, ErrFormat
	}
	if !bytes.Equal(sealed[1:1+keyIDSize], k.id[:]) {
		return nil, ErrWrongKey
	}
	nonce := sealed[1+keyIDSize : 1+keyIDSize+nonceSize]
	pt, err := k.aead.Open(nil, nonce, sealed[1+keyIDSize+nonceSize:], aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

// Source says where Load found the key.
type Source string

// Sources of a key.
const (
	FromEnv         Source = "env " + EnvKey
	FromFile        Source = "key file"
	FromCreatedFile Source = "new key file"
)

// DefaultFile is the key file used when none is named: secret.key in the
// user's configuration directory (~/.config/xpromo/secret.key), or in the
// working directory when there is none.
func DefaultFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "xpromo-secret.key"
	}
	return filepath.Join(dir, "xpromo", "secret.key")
}

// Load returns the key of XPROMO_SECRET_KEY when it is set (not empty),
// otherwise that of file, which is created first when it does not exist.
// file "" means no file: the variable must then be set.
func Load(file string) (*Key, Source, error) {
	if v := os.Getenv(EnvKey); strings.TrimSpace(v) != "" {
		k, err := ParseKey(v)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvKey, err)
		}
		return k, FromEnv, nil
	}
	if file == "" {
		return nil, "", fmt.Errorf("no secret key: set %s (32 bytes as base64 or hex, e.g. from `openssl rand -base64 32`) or name a key file", EnvKey)
	}
	k, created, err := LoadFile(file)
	if err != nil {
		return nil, "", err
	}
	if created {
		return k, FromCreatedFile, nil
	}
	return k, FromFile, nil
}

// LoadFile reads the key in path (as ParseKey does), creating the file
// with a random key and mode 0600 (and its directory with 0700) when it
// does not exist. A key file that others may read is refused.
func LoadFile(path string) (k *Key, created bool, err error) {
	k, err = readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	if err := createKeyFile(path); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process made it first
			k, err := readKeyFile(path)
			return k, false, err
		}
		return nil, false, err
	}
	k, err = readKeyFile(path)
	return k, err == nil, err
}

func readKeyFile(path string) (*Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secret key file %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret key file %s: mode %04o lets others read it; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, nil
}

// createKeyFile writes a new key to a temporary file and links it into
// place, so no reader ever sees a half-written file and an existing key is
// never replaced (fs.ErrExist).
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secret key file: %w", err)
	}
	_, text, err := Generate()
	if err != nil {
		return fmt.Errorf("secret key file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secret-key-*")
	if err != nil {
		return fmt.Errorf("secret key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("secret key file: %w", err)
	}
	if _, err := tmp.WriteString(text + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("secret key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("secret key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secret key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("secret key file: %w", err)
	}
	return nil
}
