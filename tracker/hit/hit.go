// Package hit defines what the tracker records for each request and the
// compact binary form a hit travels in through the Redis stream and the
// spill journal.
package hit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/xpromo/xpromo/domain/vocab"
)

// Kind says what a hit records.
type Kind uint8

const (
	KindClick      Kind = 1 // a tracking link was followed
	KindView       Kind = 2 // a pixel with a link code was loaded
	KindConversion Kind = 3 // a pixel reported a signup or purchase
	KindRejected   Kind = 4 // a malformed hit, kept with its reason
)

func (k Kind) String() string {
	switch k {
	case KindClick:
		return "click"
	case KindView:
		return "view"
	case KindConversion:
		return "conversion"
	case KindRejected:
		return "rejected"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Device is a coarse device class taken from the User-Agent.
type Device uint8

const (
	DeviceOther   Device = 0
	DeviceDesktop Device = 1
	DeviceMobile  Device = 2
	DeviceTablet  Device = 3
	DeviceBot     Device = 4
)

func (d Device) String() string {
	switch d {
	case DeviceDesktop:
		return "desktop"
	case DeviceMobile:
		return "mobile"
	case DeviceTablet:
		return "tablet"
	case DeviceBot:
		return "bot"
	}
	return "other"
}

// Hit is one recorded request. The raw client IP is deliberately absent:
// only the country derived from it is kept.
type Hit struct {
	ID          string    // time-ordered unique id (package ids); the click id for clicks
	Time        time.Time // when the tracker received it
	Kind        Kind
	Link        string // link code
	Partner     string
	Partnership string
	Direction   vocab.Direction // its byte is the wire form
	Campaign    string
	Country     string // ISO 3166-1 alpha-2, "ZZ" when unknown
	Visitor     string // first-party visitor id (cookie xp_vid)
	RefHost     string // host of the Referer header
	Device      Device
	Bot         bool
	Fallback    bool // a click sent to the partnership's fallback URL (link inactive)

	// Conversions (pixel e=..., the conversions API, partner postbacks).
	Event    string // vocab.TypeSignup, TypePurchase or TypeRefund
	ClickRef string // click id the conversion names
	OrderID  string
	Amount   string // exact decimal as text, "" when none
	Currency string // ISO 4217
	// Encoding version 2 and later.
	UserID      string    // our product's user id, or the partner's for postbacks
	Source      string    // vocab.SourceOurs or SourcePartnerPrefix+id (attribution scopes users and orders by it)
	Fingerprint string    // daily-salted hash of IP and User-Agent, "" when unknown
	OccurredAt  time.Time // when the conversion happened (Time is when it was received); zero: Time
	Existing    bool      // the product says the user existed before
	Duplicate   bool      // an order or signup already seen from this source: stored, never counted
	// Encoding version 3 and later.
	SubID string // the partner's sub-id of a click (/r/{code}?sub=...), for breakdowns

	// Rejected hits.
	Endpoint string // the path that received it
	Reason   string // why it was rejected
	Query    string // the raw query, made valid UTF-8 and truncated
}

// Encoding versions: 1 lacks the conversion fields added in 2, 2 the sub-id
// added in 3; all decode, so streams and journals written before an
// upgrade are still read.
const encVersion = 3

// Append appends the binary form of h to b.
func (h *Hit) Append(b []byte) []byte {
	b = append(b, encVersion, byte(h.Kind), byte(h.Direction), byte(h.Device))
	var flags byte
	if h.Bot {
		flags |= 1
	}
	if h.Fallback {
		flags |= 2
	}
	if h.Existing {
		flags |= 4
	}
	if h.Duplicate {
		flags |= 8
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, h.Time.UnixMilli())
	for _, s := range h.strings() {
		b = binary.AppendUvarint(b, uint64(len(*s)))
		b = append(b, *s...)
	}
	var occurred int64
	if !h.OccurredAt.IsZero() {
		occurred = h.OccurredAt.UnixMilli()
	}
	b = binary.AppendVarint(b, occurred)
	for _, s := range h.stringsV2() {
		b = binary.AppendUvarint(b, uint64(len(*s)))
		b = append(b, *s...)
	}
	b = binary.AppendUvarint(b, uint64(len(h.SubID)))
	return append(b, h.SubID...)
}

func (h *Hit) stringsV2() [3]*string {
	return [3]*string{&h.UserID, &h.Source, &h.Fingerprint}
}

// Marshal returns the binary form of h.
func (h *Hit) Marshal() []byte { return h.Append(make([]byte, 0, 160)) }

func (h *Hit) strings() [16]*string {
	return [16]*string{&h.ID, &h.Link, &h.Partner, &h.Partnership, &h.Campaign,
		&h.Country, &h.Visitor, &h.RefHost, &h.Event, &h.ClickRef, &h.OrderID,
		&h.Amount, &h.Currency, &h.Endpoint, &h.Reason, &h.Query}
}

// ErrCorrupt is returned by Unmarshal for bytes that are not a hit.
var ErrCorrupt = errors.New("hit: corrupt encoding")

// maxField bounds one string field; the tracker truncates long to far less.
const maxField = 64 << 10

// Unmarshal decodes b into h.
func (h *Hit) Unmarshal(b []byte) error {
	if len(b) < 5 || b[0] < 1 || b[0] > encVersion {
		return ErrCorrupt
	}
	version := b[0]
	h.Kind, h.Direction, h.Device = Kind(b[1]), vocab.Direction(b[2]), Device(b[3])
	h.Bot = b[4]&1 != 0
	h.Fallback = b[4]&2 != 0
	h.Existing = b[4]&4 != 0
	h.Duplicate = b[4]&8 != 0
	if h.Kind < KindClick || h.Kind > KindRejected || h.Direction > vocab.DirectionOutbound || h.Device > DeviceBot {
		return ErrCorrupt
	}
	// One string holds every field's text; the fields are slices of it: one
	// allocation per hit instead of one per field (the ingester decodes
	// hundreds of thousands of hits a second).
	src := string(b)
	b = b[5:]
	ms, n := binary.Varint(b)
	if n <= 0 {
		return ErrCorrupt
	}
	h.Time = time.UnixMilli(ms).UTC()
	b = b[n:]
	v1 := h.strings()
	b, ok := readStrings(b, src, v1[:])
	if !ok {
		return ErrCorrupt
	}
	h.UserID, h.Source, h.Fingerprint, h.OccurredAt, h.SubID = "", "", "", time.Time{}, ""
	if version >= 2 {
		ms, n := binary.Varint(b)
		if n <= 0 {
			return ErrCorrupt
		}
		if ms != 0 {
			h.OccurredAt = time.UnixMilli(ms).UTC()
		}
		v2 := h.stringsV2()
		if b, ok = readStrings(b[n:], src, v2[:]); !ok {
			return ErrCorrupt
		}
	}
	if version >= 3 {
		if b, ok = readStrings(b, src, []*string{&h.SubID}); !ok {
			return ErrCorrupt
		}
	}
	if len(b) != 0 {
		return ErrCorrupt
	}
	return nil
}

// readStrings reads len(dst) strings from b, a suffix of src's bytes; the
// strings are slices of src.
func readStrings(b []byte, src string, dst []*string) ([]byte, bool) {
	for _, s := range dst {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > maxField || l > uint64(len(b)-n) {
			return b, false
		}
		at := len(src) - len(b) + n
		*s = src[at : at+int(l)]
		b = b[n+int(l):]
	}
	return b, true
}

// A group is the stream entry the tracker writes: the hits of one group
// commit, each in its binary form. One entry per group keeps Redis and the
// ingester at one command per group instead of one per hit.
//
//	uvarint count | count × (uvarint length | hit)

// AppendGroup appends the group of encoded hits to dst.
func AppendGroup(dst []byte, hits [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(hits)))
	for _, h := range hits {
		dst = binary.AppendUvarint(dst, uint64(len(h)))
		dst = append(dst, h...)
	}
	return dst
}

// GroupLen returns the number of hits in a group without decoding it.
func GroupLen(g []byte) (int, error) {
	n, k := binary.Uvarint(g)
	if k <= 0 || n > uint64(len(g)) {
		return 0, ErrCorrupt
	}
	return int(n), nil
}

// EachInGroup calls fn with each encoded hit of a group, in order, without
// allocating; the slices alias g. It stops at fn's first error, and reports
// a corrupt group only once it reaches the damage, so a caller that must
// take a group whole or not at all keeps what fn saw until it returns nil.
func EachInGroup(g []byte, fn func(i int, hit []byte) error) error {
	n, err := GroupLen(g)
	if err != nil {
		return err
	}
	_, k := binary.Uvarint(g)
	g = g[k:]
	for i := range n {
		l, k := binary.Uvarint(g)
		if k <= 0 || l > uint64(len(g)-k) {
			return ErrCorrupt
		}
		if err := fn(i, g[k:k+int(l):k+int(l)]); err != nil {
			return err
		}
		g = g[k+int(l):]
	}
	if len(g) != 0 {
		return ErrCorrupt
	}
	return nil
}

// SplitGroup returns the encoded hits of a group; they alias g.
func SplitGroup(g []byte) ([][]byte, error) {
	n, err := GroupLen(g)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, n)
	if err := EachInGroup(g, func(_ int, h []byte) error { out = append(out, h); return nil }); err != nil {
		return nil, err
	}
	return out, nil
}
