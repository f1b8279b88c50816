// Package ids makes the time-ordered unique ids that name hits and clicks.
//
// An id is 128 bits: 48 bits of Unix milliseconds followed by 80 random
// bits (the ULID layout), written as 26 characters of Crockford base32 so
// that ids sort by time as plain strings. The random part makes ids
// unguessable, so a forged click id names no stored click.
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"time"
)

// Len is the length of an id in text form.
const Len = 26

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var decodeMap [256]byte

func init() {
	for i := range decodeMap {
		decodeMap[i] = 0xFF
	}
	for i := 0; i < len(alphabet); i++ {
		decodeMap[alphabet[i]] = byte(i)
		// Accept lower case too: ids are sometimes retyped.
		if c := alphabet[i]; c >= 'A' && c <= 'Z' {
			decodeMap[c+32] = byte(i)
		}
	}
}

// New returns a new id for time t.
func New(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(b[6:])
	return encode(b)
}

func encode(b [16]byte) string {
	var out [Len]byte
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	// 130 bits of output for 128 bits of input: the top 2 bits are zero.
	for i := Len - 1; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// ErrInvalid is returned by Parse for anything that is not an id.
var ErrInvalid = errors.New("invalid id")

// Parse checks s and returns the id's time. Lower-case input is accepted;
// Canonical returns the stored form.
func Parse(s string) (time.Time, error) {
	if len(s) != Len {
		return time.Time{}, ErrInvalid
	}
	if decodeMap[s[0]] > 7 { // first char carries only 3 bits
		return time.Time{}, ErrInvalid
	}
	var ms uint64
	for i := 0; i < 10; i++ { // the first 10 chars hold 50 bits: 2 zero + 48 ms
		v := decodeMap[s[i]]
		if v == 0xFF {
			return time.Time{}, ErrInvalid
		}
		ms = ms<<5 | uint64(v)
	}
	for i := 10; i < Len; i++ {
		if decodeMap[s[i]] == 0xFF {
			return time.Time{}, ErrInvalid
		}
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

// Canonical returns s in upper case, the form ids are stored in.
func Canonical(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// Valid reports whether s is a well-formed id.
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}
