package chart

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
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

// TestTicks: whole counts get whole steps (no 0.5 for a single user), the
// axis covers the data, and there are at most about five ticks.
func TestTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi  float64
		integer bool
		want    string
	}{
		{0, 1, true, "0,1"},
		{0, 2, true, "0,1,2"},
		{0, 3, true, "0,1,2,3"},
		{0, 7, true, "0,2,4,6,8"},
		{0, 450, true, "0,200,400,600"},
		{-3, 0, true, "-3,-2,-1,0"},
		{-3, 5, true, "-4,-2,0,2,4,6"},
		{0, 1, false, "0,0.5,1"},
		{0, 0.3, false, "0,0.1,0.2,0.3"},
		{0, 0, true, "0,1"},
	} {
		got := ticks(c.lo, c.hi, c.integer)
		s := make([]string, len(got))
		for i, v := range got {
			s[i] = strconv.FormatFloat(v, 'f', -1, 64)
		}
		if strings.Join(s, ",") != c.want {
			t.Errorf("ticks(%v, %v, %v) = %v, want %s", c.lo, c.hi, c.integer, s, c.want)
		}
		if got[0] > c.lo || got[len(got)-1] < c.hi {
			t.Errorf("ticks(%v, %v) = %v do not cover the data", c.lo, c.hi, got)
		}
	}
}

// TestXLabels: labels never overlap, the first and the last are always
// drawn.
func TestXLabels(t *testing.T) {
	for _, c := range []struct {
		n         int
		pw, width float64
		want      string
	}{
		{1, 580, 68, "0"},
		{2, 580, 68, "0,1"},
		{7, 580, 68, "0,1,2,3,4,5,6"},
		{31, 580, 68, "0,5,10,15,20,25,30"},
		{30, 580, 68, "0,4,8,12,16,20,24,29"},
		{90, 580, 68, "0,13,26,39,52,65,89"},
	} {
		got := xLabels(c.n, c.pw, c.width)
		s := make([]string, len(got))
		for i, v := range got {
			s[i] = strconv.Itoa(v)
		}
		if strings.Join(s, ",") != c.want {
			t.Errorf("xLabels(%d) = %v, want %s", c.n, s, c.want)
		}
		slot := c.pw / float64(max(1, c.n-1))
		for i := 1; i < len(got); i++ {
			if gap := float64(got[i]-got[i-1]) * slot; gap < c.width+labelGap {
				t.Errorf("xLabels(%d): labels %d and %d are %.1f apart, narrower than a label", c.n, got[i-1], got[i], gap)
			}
		}
	}
}

// svgTexts returns the chart's text elements: their x, anchor, content
// and class.
func svgTexts(t *testing.T, svg string) []struct{ x, anchor, text, class string } {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var out []struct{ x, anchor, text, class string }
	var cur *struct{ x, anchor, text, class string }
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "text" {
				cur = &struct{ x, anchor, text, class string }{anchor: "start"}
				for _, a := range e.Attr {
					switch a.Name.Local {
					case "x":
						cur.x = a.Value
					case "text-anchor":
						cur.anchor = a.Value
					case "class":
						cur.class = a.Value
					}
				}
			}
		case xml.CharData:
			if cur != nil {
				cur.text += string(e)
			}
		case xml.EndElement:
			if e.Name.Local == "text" && cur != nil {
				out = append(out, *cur)
				cur = nil
			}
		}
	}
}

// TestLineLabelsFit: at 640 wide (the dashboard's viewBox, scaled to
// 1280 px) every label is inside the viewBox, the last date included; a
// series of whole counts has whole ticks; an all-zero series is a short
// strip saying so, with its points.
func TestLineLabelsFit(t *testing.T) {
	var labels []string
	vals := make([]float64, 31)
	for d := 1; d <= 31; d++ {
		labels = append(labels, "2026-10-"+fmt.Sprintf("%02d", d))
	}
	vals[3] = 1
	svg := string(Line{Name: "trend", Labels: labels, Series: []Series{{Name: "new users", Values: vals}}}.SVG())
	texts := svgTexts(t, svg)
	var xs, ys []string
	for _, tx := range texts {
		x, _ := strconv.ParseFloat(tx.x, 64)
		w := textWidth(tx.text)
		lo, hi := map[string][2]float64{"start": {x, x + w}, "middle": {x - w/2, x + w/2}, "end": {x - w, x}}[tx.anchor][0],
			map[string][2]float64{"start": {x, x + w}, "middle": {x - w/2, x + w/2}, "end": {x - w, x}}[tx.anchor][1]
		if lo < 0 || hi > 640 {
			t.Errorf("label %q spans %.1f..%.1f, outside the 640 wide viewBox", tx.text, lo, hi)
		}
		switch tx.class {
		case "xtick":
			xs = append(xs, tx.text)
		case "ytick":
			ys = append(ys, tx.text)
		}
	}
	if len(xs) < 2 || xs[0] != "2026-10-01" || xs[len(xs)-1] != "2026-10-31" {
		t.Errorf("x labels %v: want the first and the last day", xs)
	}
	if strings.Join(ys, ",") != "0,1" {
		t.Errorf("y ticks %v for a single user, want 0,1", ys)
	}

	zero := string(Line{Name: "trend", Labels: labels[:5], Series: []Series{{Name: "new users", Values: make([]float64, 5)}}}.SVG())
	names, values := wellFormed(t, zero)
	if names["circle"] != 5 || strings.Join(values, ",") != "0,0,0,0,0" {
		t.Errorf("all-zero chart: %v %v", names, values)
	}
	if !strings.Contains(zero, `viewBox="0 0 640 72"`) || !strings.Contains(zero, `class="chart empty"`) || !strings.Contains(zero, "Nothing in this period") {
		t.Errorf("all-zero chart is not a short strip:\n%s", zero)
	}
}
