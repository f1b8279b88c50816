package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/tracker/conversion"
	"github.com/xpromo/xpromo/tracker/geo"
	"github.com/xpromo/xpromo/tracker/hit"
)

// MaxConversionsBody bounds a conversions request: MaxBatch conversions of
// about 1 KiB each.
const MaxConversionsBody = 1 << 20

// ConversionResult is the answer for one conversion: its id and whether it
// repeats one already seen (same order, or a second signup of the user), or
// why it was refused.
type ConversionResult struct {
	Index     int    `json:"index"`
	ID        string `json:"id,omitempty"`
	Duplicate bool   `json:"duplicate"`
	Error     string `json:"error,omitempty"`
	Field     string `json:"field,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// ConversionsAnswer answers a batch.
type ConversionsAnswer struct {
	Accepted int                `json:"accepted"`
	Refused  int                `json:"refused"`
	Results  []ConversionResult `json:"results"`
}

// postConversions takes one conversion (a JSON object) or a batch (a JSON
// array of up to conversion.MaxBatch). A single bad conversion is a 422;
// in a batch each bad one is refused with its reason and the others are
// recorded.
func (s *Server) postConversions(c echo.Context) error {
	_, ok, err := caller(c, access.Principal.CanSendConversions)
	if !ok {
		return err
	}
	if s.Conversions == nil {
		return fail(c, http.StatusServiceUnavailable, "unavailable", "conversions are not enabled on this server")
	}
	r := c.Request()
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, MaxConversionsBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fail(c, http.StatusRequestEntityTooLarge, "too_large", "request body is larger than 1 MiB")
		}
		return badRequest(c, "cannot read the body")
	}
	body = bytes.TrimSpace(body)
	batch := len(body) > 0 && body[0] == '['
	var raws []json.RawMessage
	if batch {
		if err := json.Unmarshal(body, &raws); err != nil {
			return badRequest(c, "malformed JSON: "+err.Error())
		}
		if len(raws) == 0 || len(raws) > conversion.MaxBatch {
			return badRequest(c, "a batch holds 1 to "+strconv.Itoa(conversion.MaxBatch)+" conversions")
		}
	} else {
		raws = []json.RawMessage{body}
	}
	ctx := r.Context()
	now := s.Now().UTC()
	out := ConversionsAnswer{Results: make([]ConversionResult, len(raws))}
	// Validate everything first, then record the valid ones in one go.
	var (
		valid []conversion.Input
		hs    []*hit.Hit
		at    []int
	)
	for i, raw := range raws {
		res := &out.Results[i]
		res.Index = i
		var obj map[string]json.RawMessage
		var in conversion.Input
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			res.Error, res.Reason = "bad_request", "malformed JSON: each conversion is a JSON object"
		} else if field, reason := decodeMap(obj, &in, nil); reason != "" {
			res.Error, res.Field, res.Reason = "validation", field, reason
		} else if fe := in.Normalize(now); fe != nil {
			res.Error, res.Field, res.Reason = "validation", fe.Field, fe.Reason
		}
		if res.Error != "" {
			out.Refused++
			continue
		}
		h := &hit.Hit{Country: geo.Unknown}
		if a, err := netip.ParseAddr(in.IP); err == nil {
			h.Country = geo.Country(a)
		}
		valid, hs, at = append(valid, in), append(hs, h), append(at, i)
	}
	if len(valid) > 0 {
		recs, err := s.Conversions.RecordMany(ctx, vocab.SourceOurs, valid, hs)
		switch {
		case errors.Is(err, conversion.ErrUnavailable):
			// Nothing was recorded; the client retries the request whole.
			s.log.Error("api: conversions: duplicate check unavailable", "err", err)
			c.Response().Header().Set("Retry-After", "1")
			return fail(c, http.StatusServiceUnavailable, "unavailable", "cannot record conversions right now; retry (any already recorded will be answered as duplicates)")
		case err != nil:
			// Not kept (the spill journal failed too) and forgotten by the
			// repeat check: a retry is safe.
			s.log.Error("api: conversions not kept", "err", err)
			c.Response().Header().Set("Retry-After", "1")
			return fail(c, http.StatusServiceUnavailable, "unavailable", "cannot keep conversions right now; retry")
		}
		for j, rec := range recs {
			out.Results[at[j]].ID, out.Results[at[j]].Duplicate = rec.ID, rec.Duplicate
		}
		out.Accepted = len(recs)
	}
	if !batch {
		res := out.Results[0]
		if res.Error != "" {
			status := http.StatusUnprocessableEntity
			if res.Error == "bad_request" {
				status = http.StatusBadRequest
			}
			return c.JSON(status, ErrorBody{Error: res.Error, Field: res.Field, Reason: res.Reason})
		}
		return c.JSON(http.StatusOK, conversion.Recorded{ID: res.ID, Duplicate: res.Duplicate})
	}
	return c.JSON(http.StatusOK, out)
}

// Attribution is a conversion with its latest attribution, as GET
// /conversions/:id shows it: attribution.Stored with its JSON names.
type Attribution struct {
	Conversion   string    `json:"conversion"`
	Time         time.Time `json:"ts"`
	Type         string    `json:"type"`
	Source       string    `json:"source"`
	UserID       string    `json:"user_id"`
	OrderID      string    `json:"order_id"`
	Outcome      string    `json:"outcome"`
	Partnership  string    `json:"partnership"`
	Partner      string    `json:"partner"`
	Country      string    `json:"country"`
	Direction    string    `json:"direction"`
	Click        string    `json:"click"`
	Model        string    `json:"model"`
	Match        string    `json:"match"`
	TermsVersion uint32    `json:"terms_version"`
	Overlaps     []string  `json:"overlaps"`
	Revenue      string    `json:"revenue"`
	Currency     string    `json:"currency"`
	RevenueRep   string    `json:"revenue_reporting"`
	RepCurrency  string    `json:"reporting_currency"`
	FXRate       string    `json:"fx_rate"`
	FXDate       string    `json:"fx_date"`
	ComputedAt   time.Time `json:"computed_at"`
}

// getConversion answers a conversion's attribution: who earned it, through
// which click, under which model, terms version and match, and its revenue
// in the reporting currency. The caller sees it only within its scope
// (country of the attribution, partner); otherwise 404. A conversion not
// yet attributed (the job runs every minute) is 404 too.
func (s *Server) getConversion(c echo.Context) error {
	p, ok, err := caller(c, readsCatalog)
	if !ok {
		return err
	}
	id := c.Param("id")
	if len(id) == 0 || len(id) > 64 {
		return notFound(c, "conversion")
	}
	stored, err := attribution.Get(c.Request().Context(), s.events, id)
	if errors.Is(err, attribution.ErrNotStored) {
		return notFound(c, "conversion")
	}
	if err != nil {
		return s.internal(c, "get conversion", err)
	}
	a := Attribution(stored)
	// A scoped reader sees only conversions credited to a partnership of
	// its scope: not unattributed ones (their country is the visitor's),
	// and never the ids of other partnerships that overlapped.
	scope := p.Scope()
	if !scope.Allows(a.Country, a.Partner) || (!scope.Unrestricted() && a.Partnership == "") {
		return notFound(c, "conversion")
	}
	overlaps := []string{}
	hidden := false
	var snap *catalog.Snapshot
	if !scope.Unrestricted() {
		if snap, err = s.snapshot(c.Request().Context()); err != nil {
			return s.internal(c, "get conversion", err)
		}
	}
	for _, id := range a.Overlaps {
		if snap != nil {
			ps, ok := snap.Partnerships[id]
			if !ok || !scope.Allows(ps.Country, ps.Partner) {
				hidden = true
				continue
			}
		}
		overlaps = append(overlaps, id)
	}
	if hidden {
		overlaps = append(overlaps, reports.OutOfScope)
	}
	a.Overlaps = overlaps
	a.Time, a.ComputedAt = a.Time.UTC(), a.ComputedAt.UTC()
	return c.JSON(http.StatusOK, a)
}
