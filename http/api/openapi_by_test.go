package api

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/xpromo/xpromo/reports"
)

// TestOpenAPIBreakdownDimensions: the `by` parameter of /v1/reports/{name}
// lists exactly the dimensions the breakdown report accepts (`sub` was
// missing).
func TestOpenAPIBreakdownDimensions(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	var op struct {
		Parameters []struct {
			Name   string `json:"name"`
			Schema struct {
				Enum []string `json:"enum"`
			} `json:"schema"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(doc.Paths["/reports/{name}"]["get"], &op); err != nil {
		t.Fatalf("GET /reports/{name}: %v", err)
	}
	for _, p := range op.Parameters {
		if p.Name == "by" {
			got, want := slices.Sorted(slices.Values(p.Schema.Enum)), slices.Sorted(slices.Values(reports.BreakdownDimensions))
			if !slices.Equal(got, want) {
				t.Errorf("openapi.json: by %v, want %v", got, want)
			}
			return
		}
	}
	t.Error("openapi.json: GET /reports/{name} has no by parameter")
}
