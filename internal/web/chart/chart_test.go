package chart

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

// wellFormed parses svg as XML and returns the elements by name and the
// data-value attributes in document order.
func wellFormed(t *testing.T, svg string) (map[string]int, []string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	names := map[string]int{}
	var values []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			names[se.Name.Local]++
			for _, a := range se.Attr {
				if a.Name.Local == "data-value" {
					values = append(values, a.Value)
				}
			}
		}
	}
	return names, values
}

func TestLine(t *testing.T) {
	for _, c := range []struct {
		name   string
		chart  Line
		points int
		values string
	}{
		{"two series", Line{Name: "trend", Title: `new users <"&'>`, Labels: []string{"2026-10-01", "2026-10-02", "2026-10-03"},
			Series: []Series{{Name: "current", Values: []float64{1, 5, 2}}, {Name: "previous & co", Values: []float64{0, 3, 4}, Dashed: true}}},
			6, "1,5,2,0,3,4"},
		{"one label", Line{Name: "series", Labels: []string{"d"}, Series: []Series{{Name: "x", Values: []float64{7}}}}, 1, "7"},
		{"empty", Line{Name: "series"}, 0, ""},
		{"negative and NaN", Line{Name: "n", Labels: []string{"a", "b"}, Series: []Series{{Name: "net", Values: []float64{-3, math.NaN()}}}}, 2, "-3,0"},
		{"short series", Line{Name: "s", Labels: []string{"a", "b"}, Series: []Series{{Name: "x", Values: []float64{2}}}}, 2, "2,0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			svg := string(c.chart.SVG())
			names, values := wellFormed(t, svg)
			if names["svg"] != 1 || names["circle"] != c.points || names["polyline"] != len(c.chart.Series) {
				t.Errorf("elements %v", names)
			}
			if got := strings.Join(values, ","); got != c.values {
				t.Errorf("values %q, want %q", got, c.values)
			}
			if !strings.Contains(svg, `data-chart="`+c.chart.Name+`"`) {
				t.Errorf("no data-chart: %s", svg)
			}
		})
	}
}

func TestBars(t *testing.T) {
	svg := string(Bars{Name: "funnel", Title: "funnel", Bars: []Bar{
		{"views", 100, "100"}, {"clicks", 40, "40"}, {"signups <b>", 4, "4"}, {"revenue", 0, "€0.00"},
	}}.SVG())
	names, values := wellFormed(t, svg)
	if names["rect"] != 4 || strings.Join(values, ",") != "100,40,4,0" {
		t.Errorf("%v %v", names, values)
	}
	if strings.Contains(svg, "<b>") {
		t.Error("label not escaped")
	}
}

func TestNiceMax(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 7: 10, 12: 20, 450: 500, 1001: 2000} {
		if got := niceMax(in); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceMax(%v) = %v, want %v", in, got, want)
		}
	}
}
