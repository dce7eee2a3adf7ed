package web

import (
	"fmt"
	"time"

	"github.com/guildhouse/guildhall/store"
)

// Server-rendered SVG charts: geometry is computed here, the templates only draw
// it, so charts need no JavaScript and no inline style (colours come from CSS
// classes on the SVG elements).

const (
	chartW    = 760
	chartH    = 260
	padLeft   = 40
	padRight  = 10
	padTop    = 10
	padBottom = 40
)

type segment struct {
	Class      string
	X, Y, W, H float64
	Title      string
}

type axisTick struct {
	Y     float64
	Label string
}

type xLabel struct {
	X     float64
	Label string
}

// stackedChart is ceremonies opened per day, stacked by their current status.
type stackedChart struct {
	W, H    int
	Segs    []segment
	Ticks   []axisTick
	XLabels []xLabel
	Max     int
	Total   int
	Legend  []string
	BaseY   float64
}

func statusByDay(rows []store.Ceremony, since time.Time, days int) stackedChart {
	counts := make([]map[string]int, days)
	for i := range counts {
		counts[i] = map[string]int{}
	}
	total := 0
	for _, c := range rows {
		d := int(c.OpenedAt.UTC().Sub(since) / (24 * time.Hour))
		if d < 0 || d >= days {
			continue
		}
		counts[d][c.Status]++
		total++
	}
	maxN := 0
	for _, m := range counts {
		n := 0
		for _, k := range m {
			n += k
		}
		maxN = max(maxN, n)
	}
	ch := stackedChart{W: chartW, H: chartH, Max: maxN, Total: total, Legend: statusNames(), BaseY: chartH - padBottom}
	scaleMax := niceMax(maxN)
	plotH := float64(chartH - padTop - padBottom)
	slot := float64(chartW-padLeft-padRight) / float64(days)
	for i, m := range counts {
		x := padLeft + float64(i)*slot + slot*0.15
		y := ch.BaseY
		for _, s := range statusNames() {
			n := m[s]
			if n == 0 {
				continue
			}
			h := plotH * float64(n) / float64(scaleMax)
			y -= h
			day := since.AddDate(0, 0, i).Format("Jan 2")
			ch.Segs = append(ch.Segs, segment{Class: "st-" + s, X: x, Y: y, W: slot * 0.7, H: h,
				Title: fmt.Sprintf("%s: %d %s", day, n, statusLabel(s))})
		}
		if i%5 == 0 || i == days-1 {
			ch.XLabels = append(ch.XLabels, xLabel{X: x + slot*0.35, Label: since.AddDate(0, 0, i).Format("Jan 2")})
		}
	}
	ch.Ticks = ticks(scaleMax, plotH, ch.BaseY)
	return ch
}

// niceMax rounds up to a value that gives readable axis ticks.
func niceMax(n int) int {
	if n <= 4 {
		return 4
	}
	for _, step := range []int{5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000} {
		if n <= step*4 {
			return ((n + step - 1) / step) * step
		}
	}
	return n
}

func ticks(scaleMax int, plotH, baseY float64) []axisTick {
	var out []axisTick
	for i := 0; i <= 4; i++ {
		v := scaleMax * i / 4
		out = append(out, axisTick{Y: baseY - plotH*float64(v)/float64(scaleMax), Label: fmt.Sprint(v)})
	}
	return out
}

// barChart is a horizontal bar chart (time-to-quorum histogram, overdue by witness).
type barChart struct {
	W, H  int
	Bars  []bar
	Max   int
	Total int
}

type bar struct {
	Label string
	N     int
	Y, W  float64
	TextX float64
}

const (
	barH      = 22
	barLabelW = 220
)

func newBarChart(bars []bar) barChart {
	c := barChart{W: chartW, Bars: bars}
	for _, b := range bars {
		c.Max = max(c.Max, b.N)
		c.Total += b.N
	}
	plotW := float64(chartW - barLabelW - 60)
	for i := range c.Bars {
		c.Bars[i].Y = float64(i*barH + 4)
		if c.Max > 0 {
			c.Bars[i].W = plotW * float64(c.Bars[i].N) / float64(c.Max)
		}
		c.Bars[i].TextX = barLabelW + c.Bars[i].W + 6
	}
	c.H = len(bars)*barH + 8
	return c
}

var quorumBuckets = []struct {
	upTo  time.Duration
	label string
}{
	{time.Hour, "under 1 hour"}, {4 * time.Hour, "1–4 hours"}, {12 * time.Hour, "4–12 hours"},
	{24 * time.Hour, "12–24 hours"}, {48 * time.Hour, "1–2 days"}, {96 * time.Hour, "2–4 days"},
	{7 * 24 * time.Hour, "4–7 days"}, {1 << 62, "over a week"},
}

func quorumHistogram(qt []store.QuorumTime) barChart {
	bars := make([]bar, len(quorumBuckets))
	for i, b := range quorumBuckets {
		bars[i].Label = b.label
	}
	for _, q := range qt {
		d := q.QuorumAt.Sub(q.OpenedAt)
		for i, b := range quorumBuckets {
			if d < b.upTo {
				bars[i].N++
				break
			}
		}
	}
	return newBarChart(bars)
}

func f1(x float64) string { return fmt.Sprintf("%.1f", x) }
