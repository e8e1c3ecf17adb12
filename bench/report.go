package main

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"time"
)

// writeTable prints the Markdown table of a run.
func writeTable(w io.Writer, results []result, c config, took time.Duration) {
	fmt.Fprintf(w, "\n%s mode, %d alternating rounds per workload, %s, %s, run took %v\n\n",
		modeName(c), c.rounds, machineLine(), time.Now().UTC().Format("2006-01-02"), took.Round(time.Second))
	fmt.Fprintln(w, "| workload | postern (median) | Dovecot (median) | ratio | postern min–max | Dovecot min–max |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|")
	for _, r := range results {
		plo, phi := minmax(r.Postern)
		dlo, dhi := minmax(r.Dovecot)
		ratio := "–"
		if q := r.ratio(); q > 0 {
			ratio = fmt.Sprintf("%.2f×", q)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s–%s | %s–%s |\n", r.Workload,
			fmtVal(median(r.Postern), r.Unit), fmtVal(median(r.Dovecot), r.Unit), ratio,
			fmtNum(plo), fmtNum(phi), fmtNum(dlo), fmtNum(dhi))
	}
	fmt.Fprintln(w, "\nratio: how many times better postern is than Dovecot (throughput postern÷Dovecot; for times and sizes Dovecot÷postern); above 1 postern wins.")
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(w, "- %s: %s\n", r.Workload, r.Note)
		}
	}
}

func fmtNum(v float64) string {
	if v == 0 {
		return "–"
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// chartSVG draws one horizontal bar per workload on a log scale of the
// ratio, with the 1× line marked.
func chartSVG(results []result) []byte {
	const rowH, left, width = 26, 330, 420
	h := len(results)*rowH + 70
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+80, h)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14">postern vs Dovecot: how many times better (log scale, 1× = equal)</text>`+"\n")
	// Log scale from 1/16× to 64×.
	lo, hi := math.Log2(1.0/16), math.Log2(64)
	x := func(r float64) float64 {
		l := math.Max(lo, math.Min(hi, math.Log2(r)))
		return left + (l-lo)/(hi-lo)*width
	}
	for _, tick := range []float64{1.0 / 16, 0.25, 1, 4, 16, 64} {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="35" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x(tick), x(tick), h-25, map[bool]string{true: "#000", false: "#ddd"}[tick == 1])
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g×</text>`+"\n", x(tick), h-10, tick)
	}
	for i, r := range results {
		y := 40 + i*rowH
		q := r.ratio()
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+15, html.EscapeString(r.Workload))
		if q <= 0 {
			continue
		}
		x0, x1 := x(1), x(q)
		color := "#2a7"
		if q < 1 {
			x0, x1, color = x1, x0, "#c44"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="18" fill="%s"/>`+"\n", x0, y+2, math.Max(1, x1-x0), color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.2f×</text>`+"\n", math.Max(x(q), x(1))+4, y+15, q)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
