// Package auth holds API tokens, the roles they carry and what each role may
// read or change, the scope that restricts the rows a query can return, and
// the echo middleware that authenticates and rate-limits API requests.
//
// A token is xpt_<id>_<secret>. The id is public (listed, logged); the
// secret is shown once when the token is created and only its SHA-256 is
// stored. Secrets never appear in errors or logs.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

const (
	// Prefix starts every token, so leaked tokens are easy to recognise
	// (secret scanners, logs).
	Prefix = "xpt_"
	// IDLen is the length of a token id: lower-case base32 characters.
	IDLen = 12
	// SecretBytes is the number of random bytes in a secret.
	SecretBytes = 32

	// TokenLen is the exact length of a well-formed token.
	TokenLen = len(Prefix) + IDLen + 1 + secretLen

	secretLen  = (SecretBytes*8 + 5) / 6 // unpadded base64: 43
	idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
)

// ErrMalformed is returned for a string that is not shaped like a token.
// It never says which part is wrong: the input may be a mistyped secret.
var ErrMalformed = errors.New("malformed token")

// Parse splits a token into its id and decoded secret. It is strict: the
// exact prefix, a 12-character lower-case base32 id, '_', and 43 characters
// of unpadded canonical base64url for 32 bytes.
func Parse(s string) (id string, secret []byte, err error) {
	if len(s) != TokenLen || s[:len(Prefix)] != Prefix || s[len(Prefix)+IDLen] != '_' {
		return "", nil, ErrMalformed
	}
	id = s[len(Prefix) : len(Prefix)+IDLen]
	if !ValidTokenID(id) {
		return "", nil, ErrMalformed
	}
	// Strict refuses non-zero padding bits, so each secret has one spelling.
	secret, err = base64.RawURLEncoding.Strict().DecodeString(s[len(Prefix)+IDLen+1:])
	if err != nil || len(secret) != SecretBytes {
		return "", nil, ErrMalformed
	}
	return id, secret, nil
}

// ValidTokenID reports whether id has the shape of a token id.
func ValidTokenID(id string) bool {
	if len(id) != IDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// generate returns a new token string, its id and the hash to store.
func generate() (token, id string, hash [sha256.Size]byte, err error) {
	raw := make([]byte, IDLen+SecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", "", hash, fmt.Errorf("generate token: %w", err)
	}
	b := make([]byte, IDLen)
	for i := range b {
		b[i] = idAlphabet[raw[i]&31] // 256 is a multiple of 32: no bias
	}
	id = string(b)
	secret := raw[IDLen:]
	token = Prefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
	return token, id, sha256.Sum256(secret), nil
}

// HashSecret is the stored form of a secret: hex SHA-256 of its bytes.
// A plain hash suffices: secrets are 256 random bits, not passwords.
func HashSecret(secret []byte) string {
	h := sha256.Sum256(secret)
	return hex.EncodeToString(h[:])
}

// dummyHash is compared against when the id is unknown, so an unknown id
// costs the same work as a wrong secret.
var dummyHash = sha256.Sum256([]byte("xpromo: no such token"))

func hashEqual(a, b [sha256.Size]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
