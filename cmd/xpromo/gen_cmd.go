package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/ops/gen"
)

func genCmd() *cobra.Command {
	var c common
	var (
		hits                    int64
		partnerships, countries int
		days, batch, workers    int
		inserts                 int
		seed                    int
		start                   string
		rate                    float64
		attribute, asJSON       bool
		viaStore                bool
		attributeDays           int
	)
	f := newFlags("gen", "gen --hits N --partnerships P --countries C --days D [--start DATE] [--seed S] [flags]", `
Writes synthetic traffic into ClickHouse for report benchmarks: a catalog
(partners, partnerships in the C largest markets, links, terms; made
through the catalog with actor "gen", ids prefixed "g<seed>-"), N hits
(clicks and 3 views per click, Zipf-skewed partnerships, daily and weekly
cycles, 5% bots, repeat visitors), the conversions that follow (our
signups, purchases and refunds, partners' postbacks) and, unless
--attribute=false, their attributions. The same seed gives the same rows;
run it again with another seed to add more. The database must exist with
the schema (`+"`xpromo migrate`"+`). See docs/GEN.md.`)
	c.register(f, false)
	f.Int64Var(&hits, "hits", 1_000_000, "hits (clicks and views) to write")
	f.IntVar(&partnerships, "partnerships", 100, "partnerships to create (at least --countries)")
	f.IntVar(&countries, "countries", 10, fmt.Sprintf("countries, the largest markets first (1-%d)", gen.MaxCountries))
	f.IntVar(&days, "days", 30, "days of traffic")
	f.StringVar(&start, "start", "", "first day, YYYY-MM-DD (default: --days days before today, UTC)")
	f.IntVar(&seed, "seed", 1, "random seed; also prefixes every generated id (g<seed>-)")
	f.IntVar(&batch, "batch", gen.DefaultBatch, "rows per insert")
	f.Float64Var(&rate, "conversion-rate", gen.DefaultConversionRate, "signups per human click, inbound (ours) and outbound (partners' postbacks)")
	f.IntVar(&workers, "workers", 0, "goroutines generating rows (0: number of CPUs, at most 4)")
	f.IntVar(&inserts, "inserts", 0, "inserts running at once (0: 2)")
	f.BoolVar(&attribute, "attribute", true, "run the attribution job over the generated period afterwards")
	f.IntVar(&attributeDays, "attribute-days", 0, "days per attribution run (0: 365, the shortest history a run reads anyway)")
	f.BoolVar(&viaStore, "catalog-store", false, "write the catalog with the catalog store one change at a time (quadratic: minutes for thousands of partnerships) instead of in bulk")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		first := clock().UTC().AddDate(0, 0, -days)
		if start != "" {
			t, err := time.Parse(time.DateOnly, start)
			if err != nil {
				fmt.Fprintf(stderr, "xpromo gen: --start %q: want YYYY-MM-DD\n", start)
				return errUsage
			}
			first = t
		}
		cfg := gen.Config{
			Hits: hits, Partnerships: partnerships, Countries: countries, Days: days, Start: first,
			Seed: int64(seed), Batch: batch, ConversionRate: rate, Workers: workers, Inserts: inserts,
			Attribute: attribute, AttributeChunk: attributeDays, CatalogViaStore: viaStore, Progress: stderr,
		}
		if err := cfg.Validate(); err != nil {
			fmt.Fprintf(stderr, "xpromo gen: %v\n", err)
			return errUsage
		}
		return c.env(stdout, stderr).Gen(ctx, cfg, asJSON)
	})
}
