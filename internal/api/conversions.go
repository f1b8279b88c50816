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
	p, ok, err := principal(c)
	if !ok {
		return err
	}
	if !p.CanSendConversions() {
		return forbidden(c, p)
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
	now := time.Now().UTC()
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
		recs, err := s.Conversions.RecordMany(ctx, conversion.SourceOurs, valid, hs)
		switch {
		case errors.Is(err, conversion.ErrUnavailable):
			// Nothing was recorded; the client retries the request whole.
			s.log.Error("api: conversions: duplicate check unavailable", "err", err)
			c.Response().Header().Set("Retry-After", "1")
			return fail(c, http.StatusServiceUnavailable, "unavailable", "cannot record conversions right now; retry (any already recorded will be answered as duplicates)")
		case err != nil:
			return s.internal(c, "record conversions", err)
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
