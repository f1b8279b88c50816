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
	out := ConversionsAnswer{Results: make([]ConversionResult, 0, len(raws))}
	for i, raw := range raws {
		res := ConversionResult{Index: i}
		var obj map[string]json.RawMessage
		var in conversion.Input
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			res.Error, res.Reason = "bad_request", "malformed JSON: each conversion is a JSON object"
		} else if field, reason := decodeMap(obj, &in, nil); reason != "" {
			res.Error, res.Field, res.Reason = "validation", field, reason
		} else if fe := in.Normalize(now); fe != nil {
			res.Error, res.Field, res.Reason = "validation", fe.Field, fe.Reason
		} else {
			h := &hit.Hit{Country: geo.Unknown}
			if a, err := netip.ParseAddr(in.IP); err == nil {
				h.Country = geo.Country(a)
			}
			rec, err := s.Conversions.Record(ctx, conversion.SourceOurs, in, h)
			switch {
			case errors.Is(err, conversion.ErrUnavailable):
				// Nothing of this request past this point is recorded; the
				// client retries it whole, and repeats are answered as such.
				s.log.Error("api: conversions: duplicate check unavailable", "err", err)
				c.Response().Header().Set("Retry-After", "1")
				return fail(c, http.StatusServiceUnavailable, "unavailable", "cannot record conversions right now; retry (already recorded ones will be answered as duplicates)")
			case err != nil:
				return s.internal(c, "record conversion", err)
			}
			res.ID, res.Duplicate = rec.ID, rec.Duplicate
		}
		if res.Error != "" {
			out.Refused++
		} else {
			out.Accepted++
		}
		out.Results = append(out.Results, res)
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
