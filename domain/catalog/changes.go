package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Changes summarises how the JSON object after differs from before,
// field by field ("status: "active" -> "paused"; ..."); "" when nothing
// did. Who made a version and when is left out. The CLI shows it for an
// update and for each entry of the audit log.
func Changes(before, after string) string {
	var b, a map[string]json.RawMessage
	if json.Unmarshal([]byte(before), &b) != nil || json.Unmarshal([]byte(after), &a) != nil {
		return "?"
	}
	var keys []string
	for k := range b {
		keys = append(keys, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		if k == "created_at" || k == "created_by" {
			continue
		}
		bv, av := compactJSON(b[k]), compactJSON(a[k])
		if bv != av {
			parts = append(parts, fmt.Sprintf("%s: %s -> %s", k, shorten(bv), shorten(av)))
		}
	}
	return strings.Join(parts, "; ")
}

func compactJSON(raw json.RawMessage) string {
	if raw == nil {
		return "(none)"
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

func shorten(s string) string {
	const limit = 60
	if r := []rune(s); len(r) > limit {
		return string(r[:limit-1]) + "…"
	}
	return s
}
