package gen

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
)

// crockford is the alphabet of lib/ids.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newID returns an id in the layout of lib/ids (48 bits of Unix
// milliseconds, 80 random bits, 26 characters of Crockford base32, sorting
// by time), with the random bits from r instead of crypto/rand: ids.New
// cannot be seeded, and the same seed must give the same rows. 80 bits
// from a seeded PCG stream per (seed, unit) make collisions as unlikely
// as ids.New's.
func newID(r *rand.Rand, unixMilli int64) string {
	hi := uint64(unixMilli)<<16 | r.Uint64()&0xFFFF
	lo := r.Uint64()
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// mix is SplitMix64's finaliser: a cheap, well-spread hash of x.
func mix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

// visitorID is the 22-character cookie id (base64url of 16 bytes, as the
// tracker makes them) of visitor key k.
func visitorID(k uint64) string {
	var b [16]byte
	a, c := mix(k), mix(k^0x5bd1e995)
	for i := range 8 {
		b[i], b[8+i] = byte(a>>(8*i)), byte(c>>(8*i))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// fingerprint is the 32-hex-digit daily fingerprint of visitor key k on
// day (days since the Unix epoch): the same visitor on the same day gives
// the same fingerprint, another day another one, as the daily salt does.
func fingerprint(k uint64, day int64) string {
	var b [16]byte
	a := mix(k ^ uint64(day)*0x9E3779B97F4A7C15)
	c := mix(a ^ 0x6670)
	for i := range 8 {
		b[i], b[8+i] = byte(a>>(8*i)), byte(c>>(8*i))
	}
	return hex.EncodeToString(b[:])
}
