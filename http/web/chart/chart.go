// Package chart draws the dashboard's charts as self-contained SVG on the
// server: a line chart for time series and a horizontal bar chart for
// funnels. No script runs in the browser; the values are also written as
// data-value attributes on the points and bars, so tests and screen
// readers can read them.
package chart

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"strconv"
)

// Series is one line: a value per label of the chart.
type Series struct {
	Name   string
	Values []float64
	Dashed bool // drawn dashed, e.g. the comparison period
}

// Line is a line chart over Labels (e.g. days); every series has one value
// per label.
type Line struct {
	Name   string // the data-chart attribute, e.g. "trend"
	Title  string // accessible title
	Labels []string
	Series []Series
	Width  int // viewBox width; 0 means 640
	Height int // viewBox height; 0 means 240
}

// Bar is one bar of a Bars chart.
type Bar struct {
	Label string
	Value float64
	Text  string // the value as the reader sees it
}

// Bars is a horizontal bar chart, e.g. a funnel.
type Bars struct {
	Name  string
	Title string
	Bars  []Bar
	Width int // viewBox width; 0 means 640
}

// palette is colour-blind safe (Okabe-Ito).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// esc escapes text for SVG (XML) content and attributes.
func esc(s string) string { return template.HTMLEscapeString(s) }

// niceMax rounds v up to 1, 2 or 5 times a power of ten, so the axis ends
// on a readable number.
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Text metrics of the axis labels: 11px, about 0.62em per character of
// digits and dashes (a date such as 2026-10-31 is about 68px wide).
const (
	fontSize  = 11.0
	charWidth = 0.62 * fontSize
	labelGap  = 12.0 // the least space between two x labels
)

// textWidth estimates the drawn width of s at the axis font size.
func textWidth(s string) float64 { return float64(len([]rune(s))) * charWidth }

// ticks returns the y axis values from lo to hi (lo <= 0 <= hi): at most
// about four steps of 1, 2 or 5 times a power of ten, and whole steps
// when integer (counts have no half users). The first is <= lo, the last
// >= hi; all-zero data gets 0 and 1.
func ticks(lo, hi float64, integer bool) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 4
	step := niceMax(raw)
	if integer && step < 1 {
		step = 1
	}
	first := math.Floor(lo / step)
	// Rounded to the step's decimals, so that 3 x 0.1 reads 0.3.
	dec := max(0, int(-math.Floor(math.Log10(step))))
	var out []float64
	for k := first; ; k++ {
		v, _ := strconv.ParseFloat(strconv.FormatFloat(k*step, 'f', dec, 64), 64)
		out = append(out, v)
		if k*step >= hi-step*1e-9 {
			break
		}
	}
	if len(out) < 2 {
		out = append(out, out[0]+step)
	}
	return out
}

// xLabels returns the indexes of the n labels to draw on a plot width pw
// when the widest label is width wide: the first, the last, and every
// step-th between that does not crowd the last, step chosen so that no
// two overlap.
func xLabels(n int, pw, width float64) []int {
	if n <= 0 {
		return nil
	}
	if n == 1 {
		return []int{0}
	}
	slot := pw / float64(n-1) // distance between two neighbouring points
	step := max(1, int(math.Ceil((width+labelGap)/slot)))
	var out []int
	for i := 0; i < n-1; i += step {
		if i > 0 && float64(n-1-i)*slot < width+labelGap {
			break // the last label would overlap it
		}
		out = append(out, i)
	}
	return append(out, n-1)
}

// integral reports whether every value is a whole number.
func integral(series []Series) bool {
	for _, s := range series {
		for _, v := range s.Values {
			if v = finite(v); v != math.Trunc(v) {
				return false
			}
		}
	}
	return true
}

// SVG renders the line chart. It scales to its container's width (the
// viewBox keeps the proportions), so it reads on a phone. Every label is
// drawn inside the viewBox (the first and last x labels are anchored at
// their ends, so they are not cut off at the edges). A chart whose values
// are all zero is drawn as a short strip saying so (class "chart empty"),
// with its points still there for tests and screen readers.
func (c Line) SVG() template.HTML {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 640
	}
	if h <= 0 {
		h = 240
	}
	lo, hi := 0.0, 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			v = finite(v)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	empty := lo == 0 && hi == 0
	if empty {
		h = 72
	}
	bottom := 40.0
	if empty {
		bottom = 44.0
	}
	ys := ticks(lo, hi, integral(c.Series))
	if empty {
		ys = []float64{0}
	}
	left := 12.0
	for _, v := range ys {
		left = math.Max(left, textWidth(axisLabel(v))+10)
	}
	const right, top = 12.0, 12.0
	pw, ph := float64(w)-left-right, float64(h)-top-bottom
	bot0, top0 := ys[0], ys[len(ys)-1]
	span := top0 - bot0
	if span == 0 {
		span, top0 = 1, 1 // empty: the points sit on the baseline
		ph = float64(h) - top - bottom
	}
	n := len(c.Labels)
	x := func(i int) float64 {
		if n <= 1 {
			return left + pw/2
		}
		return left + pw*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return top + ph*(top0-finite(v))/span }

	if empty {
		y = func(float64) float64 { return top + ph }
	}

	var b bytes.Buffer
	class := "chart"
	if empty {
		class = "chart empty"
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" data-chart="%s" viewBox="0 0 %d %d" role="img" aria-label="%s" class="%s" preserveAspectRatio="xMidYMid meet">`,
		esc(c.Name), w, h, esc(c.Title), class)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	for _, v := range ys {
		fmt.Fprintf(&b, `<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#ddd" stroke-width="1"/>`, f(left), f(left+pw), f(y(v)), f(y(v)))
		fmt.Fprintf(&b, `<text class="ytick" x="%s" y="%s" font-size="11" text-anchor="end" fill="#555">%s</text>`, f(left-4), f(y(v)+4), esc(axisLabel(v)))
	}
	if empty && n > 0 {
		fmt.Fprintf(&b, `<text class="nodata" x="%s" y="%s" font-size="12" text-anchor="middle" fill="#555">Nothing in this period</text>`, f(left+pw/2), f(top+ph-6))
	}
	widest := 0.0
	for _, l := range c.Labels {
		widest = math.Max(widest, textWidth(l))
	}
	for _, i := range xLabels(n, pw, widest) {
		// Anchored so that the text stays inside the viewBox.
		anchor := "middle"
		switch {
		case n > 1 && i == 0 && x(i)-textWidth(c.Labels[i])/2 < 0:
			anchor = "start"
		case n > 1 && i == n-1 && x(i)+textWidth(c.Labels[i])/2 > float64(w):
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text class="xtick" x="%s" y="%s" font-size="11" text-anchor="%s" fill="#555">%s</text>`, f(x(i)), f(top+ph+16), anchor, esc(c.Labels[i]))
	}
	for si, s := range c.Series {
		col := palette[si%len(palette)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts bytes.Buffer
		for i := range n {
			v := 0.0
			if i < len(s.Values) {
				v = s.Values[i]
			}
			if i > 0 {
				pts.WriteByte(' ')
			}
			pts.WriteString(f(x(i)) + "," + f(y(v)))
		}
		fmt.Fprintf(&b, `<g class="series" data-series="%s"><polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, esc(s.Name), col, dash, pts.String())
		for i := range n {
			v := 0.0
			if i < len(s.Values) {
				v = s.Values[i]
			}
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s" data-label="%s" data-value="%s"><title>%s %s: %s</title></circle>`,
				f(x(i)), f(y(v)), col, esc(c.Labels[i]), strconv.FormatFloat(finite(v), 'f', -1, 64), esc(s.Name), esc(c.Labels[i]), esc(axisLabel(v)))
		}
		b.WriteString(`</g>`)
		// Legend along the bottom.
		lx := left + float64(si)*150
		fmt.Fprintf(&b, `<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="2"%s/><text x="%s" y="%s" font-size="11" fill="#333">%s</text>`,
			f(lx), f(lx+18), f(float64(h)-8), f(float64(h)-8), col, dash, f(lx+22), f(float64(h)-4), esc(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text above is escaped
}

// axisLabel writes an axis value compactly (1.5k, 2M).
func axisLabel(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// SVG renders the bars, each as wide as its share of the largest.
func (c Bars) SVG() template.HTML {
	w := c.Width
	if w <= 0 {
		w = 640
	}
	const rowH, label, pad = 28.0, 120.0, 8.0
	h := int(rowH*float64(len(c.Bars)) + 2*pad)
	hi := 0.0
	for _, b := range c.Bars {
		hi = math.Max(hi, finite(b.Value))
	}
	if hi <= 0 {
		hi = 1
	}
	pw := float64(w) - label - 2*pad - 90
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" data-chart="%s" viewBox="0 0 %d %d" role="img" aria-label="%s" class="chart" preserveAspectRatio="xMidYMid meet"><title>%s</title>`,
		esc(c.Name), w, h, esc(c.Title), esc(c.Title))
	for i, bar := range c.Bars {
		y := pad + rowH*float64(i)
		bw := pw * math.Max(0, finite(bar.Value)) / hi
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12" text-anchor="end" fill="#333">%s</text>`, f(label), f(y+rowH/2+4), esc(bar.Label))
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s" data-label="%s" data-value="%s"/>`,
			f(label+pad), f(y+4), f(bw), f(rowH-8), palette[i%len(palette)], esc(bar.Label), strconv.FormatFloat(finite(bar.Value), 'f', -1, 64))
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="12" fill="#333">%s</text>`, f(label+pad+bw+6), f(y+rowH/2+4), esc(bar.Text))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
