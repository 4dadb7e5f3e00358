package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/novel-engine/novel-engine/loadtest/internal/stats"
)

// row is the medians of one server's runs of one workload.
type row struct {
	workload, server string
	runs             int
	p50, p99, max    float64 // ms
	cpu              float64 // µs per delivery
	writes           float64 // write system calls per delivery
	rss              float64 // KiB per connection
	perSecond        float64
	bytes            float64
	gaps, dups       int64   // summed
	failed           int64   // summed
	producerErrors   int64   // summed
	others           float64 // cores the rest of the machine used
}

func summarize(rs []result) row {
	var p50, p99, mx, cpu, writes, rss, rate, size, others []float64
	r := row{workload: rs[0].workload, server: rs[0].server, runs: len(rs)}
	for _, x := range rs {
		p50 = append(p50, ms(x.p50))
		p99 = append(p99, ms(x.p99))
		mx = append(mx, ms(x.max))
		cpu = append(cpu, x.cpuPerDelivery())
		writes = append(writes, x.writesPerDelivery())
		rss = append(rss, x.rssPerConn())
		rate = append(rate, x.perSecond())
		size = append(size, x.bytesPerDelivery())
		others = append(others, x.otherCores())
		r.gaps += x.gaps
		r.dups += x.dups
		r.failed += x.failed
		r.producerErrors += x.producerErrors
	}
	r.p50, r.p99, r.max = stats.Median(p50), stats.Median(p99), stats.Median(mx)
	r.cpu, r.rss = stats.Median(cpu), stats.Median(rss)
	r.writes = stats.Median(writes)
	r.perSecond, r.bytes = stats.Median(rate), stats.Median(size)
	r.others = stats.Median(others)
	return r
}

// ratio is a/b, or NaN when b is not positive.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return a / b
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("**%.2f×**", x)
}

// printTable prints, per workload, the medians of each server's runs and
// the ratios of ours to Centrifugo's, as one Markdown table.
func printTable(out io.Writer, all []result, ws []workload) {
	fmt.Fprintln(out, "| workload | server | runs | p50 ms | p99 ms | max ms | server CPU µs/delivery | writes/delivery | RSS KiB/connection | deliveries/s | bytes/delivery | gaps | duplicates | failed connections | other processes' CPU (cores) |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	// Centrifugo first, then each of ours in the order first measured.
	names := []string{"Centrifugo"}
	for _, r := range all {
		if !slices.Contains(names, r.server) {
			names = append(names, r.server)
		}
	}
	for _, w := range ws {
		rows := map[string]row{}
		for _, name := range names {
			var rs []result
			for _, r := range all {
				if r.workload == w.Name && r.server == name {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			r := summarize(rs)
			rows[name] = r
			label := name
			if r.producerErrors > 0 {
				label += fmt.Sprintf(" (%d publish errors)", r.producerErrors)
			}
			fmt.Fprintf(out, "| %s | %s | %d | %.2f | %.2f | %.1f | %.1f | %.2f | %.1f | %.0f | %.0f | %d | %d | %d | %.2f |\n",
				w.Name, label, r.runs, r.p50, r.p99, r.max, r.cpu, r.writes, r.rss, r.perSecond, r.bytes, r.gaps, r.dups, r.failed, r.others)
		}
		cf, okC := rows["Centrifugo"]
		for _, name := range names[1:] {
			ours, okO := rows[name]
			if !okO || !okC {
				continue
			}
			cells := []string{
				fmtRatio(ratio(ours.p50, cf.p50)), fmtRatio(ratio(ours.p99, cf.p99)), fmtRatio(ratio(ours.max, cf.max)),
				fmtRatio(ratio(ours.cpu, cf.cpu)), fmtRatio(ratio(ours.writes, cf.writes)), fmtRatio(ratio(ours.rss, cf.rss)),
			}
			label := "ours ÷ Centrifugo"
			if len(names) > 2 {
				label = name + " ÷ Centrifugo"
			}
			fmt.Fprintf(out, "| %s | %s | | %s | | | | | | |\n", w.Name, label, strings.Join(cells, " | "))
		}
	}
}
