// Package plaintext checks short texts that come from outside (names,
// actors, order ids): they are stored and shown as they are, so they must
// be valid UTF-8 and hold no control characters that could split a log
// line, a CSV row or a header.
package plaintext

import (
	"strings"
	"unicode/utf8"
)

// Valid reports whether s is valid UTF-8 without C0 control characters
// or DEL.
func Valid(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}
