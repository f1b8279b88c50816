package catalog

import (
	"strings"
	"testing"
)

func TestChanges(t *testing.T) {
	before := `{"status":"active","name":"A","created_by":"x"}`
	after := `{"status": "paused","name":"A","created_by":"y","url":"` + strings.Repeat("u", 70) + `"}`
	want := `status: "active" -> "paused"; url: (none) -> "` + strings.Repeat("u", 58) + "…"
	if got := Changes(before, after); got != want {
		t.Errorf("Changes = %q, want %q", got, want)
	}
	if got := Changes(before, before); got != "" {
		t.Errorf("no change: %q", got)
	}
	if got := Changes("", after); got != "?" {
		t.Errorf("not JSON: %q", got)
	}
}
