package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/ops/gen"
)

func genCmd() *cobra.Command {
	var c common
	var cfg gen.Config
	var seed int
	var start string
	var asJSON bool
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
	f.Int64Var(&cfg.Hits, "hits", 1_000_000, "hits (clicks and views) to write")
	f.IntVar(&cfg.Partnerships, "partnerships", 100, "partnerships to create (at least --countries)")
	f.IntVar(&cfg.Countries, "countries", 10, fmt.Sprintf("countries, the largest markets first (1-%d)", gen.MaxCountries))
	f.IntVar(&cfg.Days, "days", 30, "days of traffic")
	f.StringVar(&start, "start", "", "first day, YYYY-MM-DD (default: --days days before today, UTC)")
	f.IntVar(&seed, "seed", 1, "random seed; also prefixes every generated id (g<seed>-)")
	f.IntVar(&cfg.Batch, "batch", gen.DefaultBatch, "rows per insert")
	f.Float64Var(&cfg.ConversionRate, "conversion-rate", gen.DefaultConversionRate, "signups per human click, inbound (ours) and outbound (partners' postbacks)")
	f.IntVar(&cfg.Workers, "workers", 0, "goroutines generating rows (0: number of CPUs, at most 4)")
	f.IntVar(&cfg.Inserts, "inserts", 0, "inserts running at once (0: 2)")
	f.BoolVar(&cfg.Attribute, "attribute", true, "run the attribution job over the generated period afterwards")
	f.IntVar(&cfg.AttributeChunk, "attribute-days", 0, "days per attribution run (0: 365, the shortest history a run reads anyway)")
	f.BoolVar(&cfg.CatalogViaStore, "catalog-store", false, "write the catalog with the catalog store one change at a time (quadratic: minutes for thousands of partnerships) instead of in bulk")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		cfg.Start, cfg.Seed, cfg.Progress = clock().UTC().AddDate(0, 0, -cfg.Days), int64(seed), e.Err
		if start != "" {
			t, err := time.Parse(time.DateOnly, start)
			if err != nil {
				fmt.Fprintf(e.Err, "xpromo gen: --start %q: want YYYY-MM-DD\n", start)
				return errUsage
			}
			cfg.Start = t
		}
		if err := cfg.Validate(); err != nil {
			fmt.Fprintf(e.Err, "xpromo gen: %v\n", err)
			return errUsage
		}
		return e.Gen(ctx, cfg, asJSON)
	})
}
