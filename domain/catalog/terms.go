package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"golang.org/x/text/currency"

	"github.com/xpromo/xpromo/domain/vocab"
)

// Attribution models.
const (
	LastClick  = "last_click"
	FirstClick = "first_click"
)

// Terms statuses.
const (
	StatusActive   = "active"
	StatusPaused   = "paused"
	StatusArchived = "archived"
)

// Defaults applied by Terms.Defaults to fields left at their zero value.
const (
	DefaultAttributionWindowDays = 30
	DefaultRevenueWindowDays     = 365
	MaxWindowDays                = 3650
)

// Audit vocabulary for terms changes.
const (
	EntityPartnership = "partnership"
	ActionSetTerms    = "set_terms"
)

// Terms is one version of a partnership's agreement. Inbound terms are what
// we pay the partner for users it sends us; outbound terms are what the
// partner pays us for users we send it. Money is in Currency; percentages
// are in percent (12.5 means 12.5%). Dates are UTC midnights; a zero
// EndDate means open-ended.
type Terms struct {
	Partnership   string    `json:"partnership"`
	Version       uint32    `json:"version"`
	EffectiveFrom time.Time `json:"effective_from"`
	Currency      string    `json:"currency"`

	InboundCPA               decimal.Decimal `json:"inbound_cpa"`
	InboundRevSharePct       decimal.Decimal `json:"inbound_revshare_pct"`
	InboundRevenueWindowDays uint16          `json:"inbound_revenue_window_days"`

	OutboundCPA               decimal.Decimal `json:"outbound_cpa"`
	OutboundRevSharePct       decimal.Decimal `json:"outbound_revshare_pct"`
	OutboundRevenueWindowDays uint16          `json:"outbound_revenue_window_days"`

	AttributionModel      string `json:"attribution_model"` // LastClick or FirstClick
	AttributionWindowDays uint16 `json:"attribution_window_days"`

	TargetInboundUsersMonth  uint32 `json:"target_inbound_users_month"` // 0 = no target
	TargetOutboundUsersMonth uint32 `json:"target_outbound_users_month"`

	StartDate time.Time `json:"start_date"`
	EndDate   time.Time `json:"end_date,omitzero"`
	Status    string    `json:"status"` // StatusActive, StatusPaused or StatusArchived

	FallbackURL           string `json:"fallback_url"`
	PartnerMayCreateLinks bool   `json:"partner_may_create_links"`

	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// Defaults fills the fields left at their zero value: last-click
// attribution over 30 days, active, and a 365-day revenue window each way
// (a year of a referred user's revenue is the usual rev-share horizon).
func (t *Terms) Defaults() {
	if t.AttributionModel == "" {
		t.AttributionModel = LastClick
	}
	if t.AttributionWindowDays == 0 {
		t.AttributionWindowDays = DefaultAttributionWindowDays
	}
	if t.Status == "" {
		t.Status = StatusActive
	}
	if t.InboundRevenueWindowDays == 0 {
		t.InboundRevenueWindowDays = DefaultRevenueWindowDays
	}
	if t.OutboundRevenueWindowDays == 0 {
		t.OutboundRevenueWindowDays = DefaultRevenueWindowDays
	}
}

var (
	maxAmount  = decimal.New(1, 14) // Decimal(18,4) holds 14 integer digits
	hundred    = decimal.NewFromInt(100)
	minDateVal = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDateVal = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC) // Date ends in 2106 on old servers
)

// Validate checks every field and returns a *FieldError naming the first
// bad one. The currency must already be upper case (SetTerms upper-cases
// it); dates count by their UTC calendar day.
func (t Terms) Validate() error {
	if len(t.Currency) != 3 || strings.ToUpper(t.Currency) != t.Currency {
		return fieldErr("currency", "%q must be an upper-case ISO 4217 code", t.Currency)
	}
	for _, r := range t.Currency {
		if r < 'A' || r > 'Z' {
			return fieldErr("currency", "%q must be three letters A-Z", t.Currency)
		}
	}
	if _, err := currency.ParseISO(t.Currency); err != nil {
		return fieldErr("currency", "%q is not an ISO 4217 currency", t.Currency)
	}
	for _, a := range []struct {
		field string
		v     decimal.Decimal
	}{{"inbound_cpa", t.InboundCPA}, {"outbound_cpa", t.OutboundCPA}} {
		if err := checkAmount(a.field, a.v); err != nil {
			return err
		}
		if !a.v.LessThan(maxAmount) {
			return fieldErr(a.field, "%s is too large", a.v)
		}
	}
	for _, p := range []struct {
		field string
		v     decimal.Decimal
	}{{"inbound_revshare_pct", t.InboundRevSharePct}, {"outbound_revshare_pct", t.OutboundRevSharePct}} {
		if err := checkAmount(p.field, p.v); err != nil {
			return err
		}
		if p.v.GreaterThan(hundred) {
			return fieldErr(p.field, "%s must be at most 100 (percent)", p.v)
		}
	}
	for _, w := range []struct {
		field string
		v     uint16
	}{
		{"inbound_revenue_window_days", t.InboundRevenueWindowDays},
		{"outbound_revenue_window_days", t.OutboundRevenueWindowDays},
		{"attribution_window_days", t.AttributionWindowDays},
	} {
		if w.v < 1 || w.v > MaxWindowDays {
			return fieldErr(w.field, "%d must be 1-%d days", w.v, MaxWindowDays)
		}
	}
	switch t.AttributionModel {
	case LastClick, FirstClick:
	default:
		return fieldErr("attribution_model", "%q must be %s or %s", t.AttributionModel, LastClick, FirstClick)
	}
	switch t.Status {
	case StatusActive, StatusPaused, StatusArchived:
	default:
		return fieldErr("status", "%q must be %s, %s or %s", t.Status, StatusActive, StatusPaused, StatusArchived)
	}
	if t.EffectiveFrom.IsZero() {
		return fieldErr("effective_from", "is required")
	}
	if err := checkDate("effective_from", t.EffectiveFrom); err != nil {
		return err
	}
	if t.StartDate.IsZero() {
		return fieldErr("start_date", "is required")
	}
	if err := checkDate("start_date", t.StartDate); err != nil {
		return err
	}
	if !t.EndDate.IsZero() {
		if err := checkDate("end_date", t.EndDate); err != nil {
			return err
		}
		if dateOf(t.EndDate).Before(dateOf(t.StartDate)) {
			return fieldErr("end_date", "%s is before start_date %s", day(t.EndDate), day(t.StartDate))
		}
	}
	if t.FallbackURL != "" {
		if _, err := ValidDestination(t.FallbackURL, false, nil); err != nil {
			if fe, ok := err.(*FieldError); ok {
				return &FieldError{Field: "fallback_url", Reason: fe.Reason}
			}
			return fieldErr("fallback_url", "%v", err)
		}
	}
	return nil
}

// checkAmount refuses negatives and more than the 4 decimals the columns
// keep (the rest would be silently cut).
func checkAmount(field string, v decimal.Decimal) error {
	if v.IsNegative() {
		return fieldErr(field, "%s must not be negative", v)
	}
	if !v.Equal(v.Truncate(4)) {
		return fieldErr(field, "%s has more than 4 decimals", v)
	}
	return nil
}

func checkDate(field string, t time.Time) error {
	d := dateOf(t)
	if d.Before(minDateVal) || d.After(maxDateVal) {
		return fieldErr(field, "%s must be between %s and %s", day(t), day(minDateVal), day(maxDateVal))
	}
	return nil
}

// dateOf is t's UTC calendar day at midnight.
func dateOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// calendarDay keeps the wall-clock day of a date read from the database,
// whatever zone the driver returns it in.
func calendarDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// TermsInForce returns the version in force at the UTC calendar day of at:
// the greatest EffectiveFrom on or before that day, the highest Version on
// a tie. versions need not be sorted. It does not look at Status or the
// start and end dates; callers decide what a paused or ended term means.
func TermsInForce(versions []Terms, at time.Time) (Terms, bool) {
	i := inForce(versions, at)
	if i < 0 {
		return Terms{}, false
	}
	return versions[i], true
}

// inForce is the index in versions (in any order) of the version in force
// at at, -1 for none: the greatest EffectiveFrom on or before at's day, the
// highest version on a tie.
func inForce(versions []Terms, at time.Time) int {
	d := dateOf(at)
	best := -1
	for i := range versions {
		ef := dateOf(versions[i].EffectiveFrom)
		if ef.After(d) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		bf := dateOf(versions[best].EffectiveFrom)
		if ef.After(bf) || (ef.Equal(bf) && versions[i].Version > versions[best].Version) {
			best = i
		}
	}
	return best
}

const (
	termsColumns = `partnership, version, effective_from, currency,
 inbound_cpa, inbound_revshare_pct, inbound_revenue_window_days,
 outbound_cpa, outbound_revshare_pct, outbound_revenue_window_days,
 attribution_model, attribution_window_days,
 target_inbound_users_month, target_outbound_users_month,
 start_date, end_date, status, fallback_url, partner_may_create_links,
 created_at, created_by`
	selectTerms    = `SELECT ` + termsColumns + ` FROM partnership_terms WHERE partnership = $1 ORDER BY version`
	selectAllTerms = `SELECT ` + termsColumns + ` FROM partnership_terms ORDER BY partnership, version`
	latestTerms    = `SELECT ` + termsColumns + ` FROM partnership_terms WHERE partnership = $1 ORDER BY version DESC LIMIT 1`
	insertTerms    = `INSERT INTO partnership_terms (` + termsColumns + `)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`
)

// SetTerms stores t as the next version of the partnership's terms and
// writes an audit entry. Zero fields get Defaults; the currency is
// upper-cased and dates are cut to their UTC day. EffectiveFrom must not be
// before the latest version's. Setting terms identical to the latest
// version (same EffectiveFrom included) writes nothing and returns it, so a
// retried call does not add a version.
func (s *Store) SetTerms(ctx context.Context, partnershipID string, t Terms, actor string) (Terms, error) {
	return s.setTerms(ctx, partnershipID, t, nil, actor)
}

// SetTermsIf is SetTerms for a change made from the terms at version
// latest (0: no terms yet): when the partnership's latest version is
// another, it refuses with ErrStale and writes nothing.
func (s *Store) SetTermsIf(ctx context.Context, partnershipID string, t Terms, latest uint32, actor string) (Terms, error) {
	return s.setTerms(ctx, partnershipID, t, &latest, actor)
}

// setTerms is SetTerms, checking the latest version against *latest
// unless latest is nil.
func (s *Store) setTerms(ctx context.Context, partnershipID string, t Terms, latest *uint32, actor string) (Terms, error) {
	const op = "set terms"
	if err := ValidID("partnership", partnershipID); err != nil {
		return t, err
	}
	actor, err := checkActor(actor)
	if err != nil {
		return t, err
	}
	t.Partnership = partnershipID
	if err := t.prepare(); err != nil {
		return t, err
	}

	var out Terms
	err = s.write(ctx, op, func(tx pgx.Tx) (bool, error) {
		// FOR UPDATE on the partnership: the writers of one partnership's
		// terms take turns, so each numbers its version after the last.
		ps, ok, err := rowFor(ctx, tx, partnershipFor+forUpdate, scanPartnership, partnershipID)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, fieldErr("partnership", "partnership %q does not exist", partnershipID)
		}
		if err := checkDirections(ps, t); err != nil {
			return false, err
		}
		prev, hasPrev, err := rowFor(ctx, tx, latestTerms, scanTerms, partnershipID)
		if err != nil {
			return false, err
		}
		// Checked under the partnership's lock: no version is added
		// between this check and the insert.
		if latest != nil && *latest != prev.Version {
			return false, &StaleError{What: "terms of partnership", ID: partnershipID, Current: int(prev.Version)}
		}
		out = t
		if hasPrev {
			// Versions are a timeline: a version effective earlier than the
			// latest would silently re-price events already computed.
			if t.EffectiveFrom.Before(prev.EffectiveFrom) {
				return false, fieldErr("effective_from", "%s is before %s, when the latest version (%d) took effect", day(t.EffectiveFrom), day(prev.EffectiveFrom), prev.Version)
			}
			if sameTerms(prev, t) {
				out = prev
				return false, nil
			}
			t.Version = prev.Version + 1
		} else {
			t.Version = 1
		}
		t.CreatedAt = s.now().UTC().Truncate(time.Second)
		t.CreatedBy = actor
		if _, err := tx.Exec(ctx, insertTerms, termsValues(t)...); err != nil {
			return false, err
		}
		out = t
		var before any
		if hasPrev {
			before = prev
		}
		return true, s.auditChange(ctx, tx, actor, ActionSetTerms, EntityPartnership, partnershipID, ps.Country, before, t)
	})
	return out, err
}

// prepare gives t its Defaults, upper-cases its currency, cuts its dates
// to their UTC day and validates it: what a version is before it is
// stored.
func (t *Terms) prepare() error {
	t.Currency = strings.ToUpper(strings.TrimSpace(t.Currency))
	t.Defaults()
	t.EffectiveFrom = dateOf(t.EffectiveFrom)
	t.StartDate = dateOf(t.StartDate)
	if !t.EndDate.IsZero() {
		t.EndDate = dateOf(t.EndDate)
	}
	return t.Validate()
}

// checkDirections refuses money or targets for a direction the
// partnership does not run: they could never be earned or paid.
func checkDirections(ps Partnership, t Terms) error {
	if ps.Direction == vocab.Inbound {
		switch {
		case !t.OutboundCPA.IsZero():
			return fieldErr("outbound_cpa", "partnership %q runs inbound only", ps.ID)
		case !t.OutboundRevSharePct.IsZero():
			return fieldErr("outbound_revshare_pct", "partnership %q runs inbound only", ps.ID)
		case t.TargetOutboundUsersMonth != 0:
			return fieldErr("target_outbound_users_month", "partnership %q runs inbound only", ps.ID)
		}
	}
	if ps.Direction == vocab.Outbound {
		switch {
		case !t.InboundCPA.IsZero():
			return fieldErr("inbound_cpa", "partnership %q runs outbound only", ps.ID)
		case !t.InboundRevSharePct.IsZero():
			return fieldErr("inbound_revshare_pct", "partnership %q runs outbound only", ps.ID)
		case t.TargetInboundUsersMonth != 0:
			return fieldErr("target_inbound_users_month", "partnership %q runs outbound only", ps.ID)
		}
	}
	return nil
}

// sameTerms compares everything but the version and who made it when.
// Decimals marshal without trailing zeros, so 10 and 10.0000 compare equal.
func sameTerms(a, b Terms) bool {
	for _, t := range []*Terms{&a, &b} {
		t.Version, t.CreatedAt, t.CreatedBy = 0, time.Time{}, ""
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// termsValues are t's columns in termsColumns' order.
func termsValues(t Terms) []any {
	var end *time.Time
	if !t.EndDate.IsZero() {
		end = &t.EndDate
	}
	return []any{t.Partnership, t.Version, t.EffectiveFrom, t.Currency,
		t.InboundCPA, t.InboundRevSharePct, t.InboundRevenueWindowDays,
		t.OutboundCPA, t.OutboundRevSharePct, t.OutboundRevenueWindowDays,
		t.AttributionModel, t.AttributionWindowDays,
		t.TargetInboundUsersMonth, t.TargetOutboundUsersMonth,
		t.StartDate, end, t.Status, t.FallbackURL, t.PartnerMayCreateLinks,
		t.CreatedAt, t.CreatedBy}
}

// TermsVersions returns every version of the partnership's terms, oldest
// first; none is not an error.
func (s *Store) TermsVersions(ctx context.Context, partnershipID string) ([]Terms, error) {
	if !storable(partnershipID) {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, selectTerms, partnershipID)
	if err != nil {
		return nil, fmt.Errorf("terms versions %q: %w", partnershipID, err)
	}
	out, err := pgx.CollectRows(rows, scanTerms)
	if err != nil {
		return nil, fmt.Errorf("terms versions %q: %w", partnershipID, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	// ORDER BY already sorts; keep the guarantee independent of the query.
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func scanTerms(r pgx.CollectableRow) (Terms, error) {
	var (
		t   Terms
		end *time.Time
	)
	if err := r.Scan(&t.Partnership, &t.Version, &t.EffectiveFrom, &t.Currency,
		&t.InboundCPA, &t.InboundRevSharePct, &t.InboundRevenueWindowDays,
		&t.OutboundCPA, &t.OutboundRevSharePct, &t.OutboundRevenueWindowDays,
		&t.AttributionModel, &t.AttributionWindowDays,
		&t.TargetInboundUsersMonth, &t.TargetOutboundUsersMonth,
		&t.StartDate, &end, &t.Status, &t.FallbackURL, &t.PartnerMayCreateLinks,
		&t.CreatedAt, &t.CreatedBy); err != nil {
		return t, err
	}
	t.EffectiveFrom = calendarDay(t.EffectiveFrom)
	t.StartDate = calendarDay(t.StartDate)
	if end != nil {
		t.EndDate = calendarDay(*end)
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}

// TermsAt returns the version in force at at (see TermsInForce), false if
// none was effective yet.
func (s *Store) TermsAt(ctx context.Context, partnershipID string, at time.Time) (Terms, bool, error) {
	versions, err := s.TermsVersions(ctx, partnershipID)
	if err != nil {
		return Terms{}, false, fmt.Errorf("terms at: %w", err)
	}
	t, ok := TermsInForce(versions, at)
	return t, ok, nil
}
