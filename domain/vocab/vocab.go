// Package vocab is the business's shared words, defined once: which way a
// partnership sends users, and the types and sources of conversions. The
// catalog, attribution, the tracker and the statements all speak them, so
// they live on the lowest floor that knows the business and import nothing.
package vocab

import "fmt"

// Directions as text: in the catalog, JSON, CSV and ClickHouse columns.
// Both is a partnership's only: each of its links is one or the other.
const (
	Inbound  = "inbound"  // the partner sends users to us
	Outbound = "outbound" // we send our users to the partner
	Both     = "both"
)

// Direction is a link's or click's direction as a one-byte code, the form
// a hit carries through the stream (its value is the byte on the wire).
type Direction uint8

const (
	DirectionNone     Direction = 0
	DirectionInbound  Direction = 1
	DirectionOutbound Direction = 2
)

// String returns Inbound or Outbound, "" for DirectionNone or an unknown code.
func (d Direction) String() string {
	switch d {
	case DirectionInbound:
		return Inbound
	case DirectionOutbound:
		return Outbound
	}
	return ""
}

// ParseDirection parses Inbound or Outbound.
func ParseDirection(s string) (Direction, error) {
	switch s {
	case Inbound:
		return DirectionInbound, nil
	case Outbound:
		return DirectionOutbound, nil
	}
	return DirectionNone, fmt.Errorf("direction %q: want inbound or outbound", s)
}

// Conversion types.
const (
	TypeSignup   = "signup"
	TypePurchase = "purchase"
	TypeRefund   = "refund"
)

// Conversion sources: SourceOurs for our product's events (they credit
// inbound clicks), SourcePartnerPrefix+partner id for a partner's
// postbacks (they credit outbound clicks). Users and orders are scoped by
// source.
const (
	SourceOurs          = "ours"
	SourcePartnerPrefix = "partner:"
)
