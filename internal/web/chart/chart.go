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

// SVG renders the line chart. It scales to its container's width (the
// viewBox keeps the proportions), so it reads on a phone.
func (c Line) SVG() template.HTML {
	w, h := c.Width, c.Height
	if w <= 0 {
		w = 640
	}
	if h <= 0 {
		h = 240
	}
	const left, right, top, bottom = 48.0, 12.0, 12.0, 40.0
	pw, ph := float64(w)-left-right, float64(h)-top-bottom
	lo, hi := 0.0, 0.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			v = finite(v)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	top0 := niceMax(hi)
	bot0 := 0.0
	if lo < 0 {
		bot0 = -niceMax(-lo)
	}
	span := top0 - bot0
	n := len(c.Labels)
	x := func(i int) float64 {
		if n <= 1 {
			return left + pw/2
		}
		return left + pw*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return top + ph*(top0-finite(v))/span }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" data-chart="%s" viewBox="0 0 %d %d" role="img" aria-label="%s" class="chart" preserveAspectRatio="xMidYMid meet">`,
		esc(c.Name), w, h, esc(c.Title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(c.Title))
	// Grid: 0, half and top (and bottom when negative values exist).
	for _, v := range []float64{bot0, (bot0 + top0) / 2, top0, 0} {
		fmt.Fprintf(&b, `<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#ddd" stroke-width="1"/>`, f(left), f(left+pw), f(y(v)), f(y(v)))
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" text-anchor="end" fill="#555">%s</text>`, f(left-4), f(y(v)+4), esc(axisLabel(v)))
	}
	// At most about 8 x labels, always the first and the last.
	step := max(1, (n+7)/8)
	for i, l := range c.Labels {
		// Every step-th label and the last, unless the last would overlap.
		if (i%step != 0 && i != n-1) || (i != n-1 && i%step == 0 && i > 0 && n-1-i < step) {
			continue
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" font-size="11" text-anchor="middle" fill="#555">%s</text>`, f(x(i)), f(top+ph+16), esc(l))
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
