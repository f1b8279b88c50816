package attribution

import (
	"cmp"
	"strings"

	"github.com/xpromo/xpromo/domain/vocab"
)

// The processing order: a total order on clicks and on conversions, so
// that Attribute's results do not depend on the order of its inputs.

func compareClick(a, b *Click) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return cmp.Or(
		strings.Compare(a.ID, b.ID),
		strings.Compare(a.Partnership, b.Partnership),
		strings.Compare(a.Partner, b.Partner),
		strings.Compare(a.Direction, b.Direction),
		strings.Compare(a.Visitor, b.Visitor),
		strings.Compare(a.Fingerprint, b.Fingerprint),
		strings.Compare(a.Country, b.Country),
		boolCmp(a.Bot, b.Bot),
	)
}

func typeRank(t string) int {
	switch t {
	case vocab.TypeSignup:
		return 0
	case vocab.TypePurchase:
		return 1
	case vocab.TypeRefund:
		return 2
	}
	return 3
}

// compareConv is the processing order: time, then signups before
// purchases before refunds, then the one the capture answered as new
// before its repeats (stored times have whole seconds, and ids of requests
// a millisecond apart need not be in their order), then id, then every
// other field so that only identical conversions tie.
func compareConv(a, b *Conversion) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return cmp.Or(
		cmp.Compare(typeRank(a.Type), typeRank(b.Type)),
		boolCmp(a.Repeat, b.Repeat),
		strings.Compare(a.ID, b.ID),
		strings.Compare(a.Type, b.Type),
		strings.Compare(a.Source, b.Source),
		strings.Compare(a.UserID, b.UserID),
		strings.Compare(a.OrderID, b.OrderID),
		strings.Compare(a.ClickID, b.ClickID),
		strings.Compare(a.Visitor, b.Visitor),
		strings.Compare(a.Fingerprint, b.Fingerprint),
		a.Amount.Cmp(b.Amount),
		strings.Compare(a.Amount.String(), b.Amount.String()),
		strings.Compare(a.Currency, b.Currency),
		boolCmp(a.Existing, b.Existing),
	)
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
