package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/internal/chdb"
	"github.com/xpromo/xpromo/internal/metrics"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/schema"
	"github.com/xpromo/xpromo/tracker/catalog"
	"github.com/xpromo/xpromo/tracker/ingest"
)

func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	var fl ingestFlags
	var metricsAddr string
	f := newFlags("ingest", "ingest [flags]", `
Reads the hit streams in Redis with a consumer group and writes them to
ClickHouse in batches, acknowledging entries only after the insert. Several
ingesters may run at once; entries a crashed one left behind are taken over
after --claim-idle and never counted twice. SIGTERM drains the current batch.`, stderr)
	c.register(f, true)
	fl.register(f)
	f.String(&metricsAddr, "metrics-addr", "", "serve /metrics and /healthz on this address (empty: off)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	cfg := fl.config(c.KeyPrefix)
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	if cfg.AfterInsert, err = faultKillAfterInserts(log); err != nil {
		return err
	}
	ropts, err := redis.ParseURL(c.RedisURL)
	if err != nil {
		return fmt.Errorf("redis-url: %w", err)
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	ch, err := chdb.Connect(c.ClickHouseURL)
	if err != nil {
		return err
	}
	defer ch.Close()
	reg := prometheus.NewRegistry()
	ing, err := ingest.New(rdb, ch, cfg, log, metrics.New(reg))
	if err != nil {
		return err
	}
	if metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		srv := &http.Server{Addr: metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics-addr: %w", err)
		}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	log.Info("ingesting", "consumer", cfg.Consumer)
	return ing.Run(ctx)
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	var cluster string
	var status bool
	f := newFlags("migrate", "migrate [flags]", `
Creates the database if needed and applies every embedded migration not yet
recorded in the xpromo_migrations table. Safe to run again at any time.`, stderr)
	c.register(f, false)
	f.String(&cluster, "cluster", "", "run DDL ON CLUSTER this cluster (empty for a single server)")
	f.Bool(&status, "status", false, "only list migrations and whether each is applied")
	if err := f.parse(args, false); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := chdb.Open(ctx, c.ClickHouseURL, !status)
	if err != nil {
		return err
	}
	defer conn.Close()
	if v, err := chdb.ServerVersion(conn); err == nil {
		log.Info("clickhouse server", "version", v.String())
	}
	if status {
		all, err := schema.All()
		if err != nil {
			return err
		}
		applied, _ := schema.Applied(ctx, conn)
		for _, m := range all {
			state := "pending"
			if applied[m.Version] {
				state = "applied"
			}
			fmt.Fprintf(stdout, "%04d_%s\t%s\n", m.Version, m.Name, state)
		}
		return nil
	}
	done, err := schema.Migrate(ctx, conn, schema.Options{Cluster: cluster, Log: log})
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintln(stdout, "schema is up to date")
	} else {
		fmt.Fprintf(stdout, "applied %d migration(s): %s\n", len(done), strings.Join(done, ", "))
	}
	return nil
}

// openStore connects for a catalog command.
func openStore(ctx context.Context, c *common) (*catalog.Store, driver.Conn, error) {
	conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
	if err != nil {
		return nil, nil, err
	}
	return catalog.NewStore(conn), conn, nil
}

func subcommand(name string, args []string, stderr io.Writer, subs map[string]string) (string, []string, error) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stderr
		fmt.Fprintf(w, "Usage: xpromo %s SUBCOMMAND [flags]\n\nSubcommands:\n", name)
		keys := make([]string, 0, len(subs))
		for k := range subs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-6s %s\n", k, subs[k])
		}
		if len(args) == 0 {
			return "", nil, errUsage
		}
		return "", nil, errHelpShown
	}
	if _, ok := subs[args[0]]; !ok {
		fmt.Fprintf(stderr, "xpromo %s: unknown subcommand %q (want one of: %s)\n", name, args[0], strings.Join(keysOf(subs), ", "))
		return "", nil, errUsage
	}
	return args[0], args[1:], nil
}

var errHelpShown = fmt.Errorf("help: %w", errHelp)

var errHelp = errors.New("help")

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runPartner(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("partner", args, stderr, map[string]string{
		"add":  "add a partner: --id ID --name NAME [--domains a.example,b.example]",
		"list": "list partners",
	})
	if err != nil {
		return err
	}
	var c common
	switch sub {
	case "add":
		var p catalog.Partner
		var domains string
		f := newFlags("partner add", "partner add --id ID --name NAME [--domains a.example,b.example]", `
Adds a partner. Outbound links (we send our users to the partner) may only
lead to the partner's domains and their subdomains.`, stderr)
		c.register(f, false)
		f.StringVar(&p.ID, "id", "", "partner id: a-z, 0-9, '-', '_' (required)")
		f.StringVar(&p.Name, "name", "", "display name (required)")
		f.StringVar(&domains, "domains", "", "comma-separated domains the partner owns")
		if err := f.parse(args, false); err != nil {
			return err
		}
		p.Domains = strings.Split(domains, ",")
		store, conn, err := openStore(ctx, &c)
		if err != nil {
			return err
		}
		defer conn.Close()
		p, err = store.AddPartner(ctx, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "partner %s added (%s, domains: %s)\n", p.ID, p.Name, strings.Join(p.Domains, ","))
		return nil
	default:
		return listCatalog(ctx, args, stdout, stderr, "partner list", func(w *tabwriter.Writer, s *catalog.Snapshot) any {
			fmt.Fprintln(w, "ID\tNAME\tDOMAINS")
			var out []catalog.Partner
			for _, p := range sortedKeys(s.Partners) {
				v := s.Partners[p]
				out = append(out, v)
				fmt.Fprintf(w, "%s\t%s\t%s\n", v.ID, v.Name, strings.Join(v.Domains, ","))
			}
			return out
		})
	}
}

func runPartnership(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("partnership", args, stderr, map[string]string{
		"add":  "add a partnership: --id ID --partner ID --country CC --direction inbound|outbound|both",
		"list": "list partnerships",
	})
	if err != nil {
		return err
	}
	var c common
	switch sub {
	case "add":
		var p catalog.Partnership
		f := newFlags("partnership add", "partnership add --id ID --partner ID --country CC --direction inbound|outbound|both", `
Adds a partnership: one partner in one country. inbound: the partner sends
users to us; outbound: we send ours to the partner; both: the two-way deal.`, stderr)
		c.register(f, false)
		f.StringVar(&p.ID, "id", "", "partnership id: a-z, 0-9, '-', '_' (required)")
		f.StringVar(&p.Partner, "partner", "", "partner id (required)")
		f.StringVar(&p.Country, "country", "", "ISO 3166-1 alpha-2 country code (required)")
		f.StringVar(&p.Direction, "direction", "both", "inbound, outbound or both")
		if err := f.parse(args, false); err != nil {
			return err
		}
		store, conn, err := openStore(ctx, &c)
		if err != nil {
			return err
		}
		defer conn.Close()
		p, err = store.AddPartnership(ctx, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "partnership %s added (partner %s, %s, %s)\n", p.ID, p.Partner, p.Country, p.Direction)
		return nil
	default:
		return listCatalog(ctx, args, stdout, stderr, "partnership list", func(w *tabwriter.Writer, s *catalog.Snapshot) any {
			fmt.Fprintln(w, "ID\tPARTNER\tCOUNTRY\tDIRECTION")
			var out []catalog.Partnership
			for _, k := range sortedKeys(s.Partnerships) {
				v := s.Partnerships[k]
				out = append(out, v)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.ID, v.Partner, v.Country, v.Direction)
			}
			return out
		})
	}
}

func runLink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("link", args, stderr, map[string]string{
		"add":  "add a link: --code CODE --partnership ID --direction inbound|outbound --url URL [--campaign C]",
		"list": "list links",
	})
	if err != nil {
		return err
	}
	var c common
	switch sub {
	case "add":
		var l catalog.Link
		var base string
		f := newFlags("link add", "link add --code CODE --partnership ID --direction inbound|outbound --url URL [--campaign C]", `
Adds a tracking link: GET /r/CODE records a click and redirects to URL with
xp_click=<click id> added. URL must be http(s); an outbound link's URL must be
on one of the partner's domains. Trackers pick up new links within seconds.`, stderr)
		c.register(f, false)
		f.StringVar(&l.Code, "code", "", "link code: A-Z, a-z, 0-9, '-', '_' (required)")
		f.StringVar(&l.Partnership, "partnership", "", "partnership id (required)")
		f.StringVar(&l.Direction, "direction", "", "inbound or outbound (required)")
		f.StringVar(&l.URL, "url", "", "destination URL (required)")
		f.StringVar(&l.Campaign, "campaign", "", "campaign name")
		f.String(&base, "public-url", "http://localhost:8080", "the tracker's public base URL, to print the tracking URL")
		if err := f.parse(args, false); err != nil {
			return err
		}
		store, conn, err := openStore(ctx, &c)
		if err != nil {
			return err
		}
		defer conn.Close()
		l, err = store.AddLink(ctx, l)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "link %s added: %s/r/%s -> %s\n", l.Code, strings.TrimRight(base, "/"), l.Code, l.URL)
		return nil
	default:
		return listCatalog(ctx, args, stdout, stderr, "link list", func(w *tabwriter.Writer, s *catalog.Snapshot) any {
			fmt.Fprintln(w, "CODE\tPARTNERSHIP\tDIRECTION\tCAMPAIGN\tURL")
			var out []catalog.Link
			for _, k := range sortedKeys(s.Links) {
				v := s.Links[k]
				out = append(out, v)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", v.Code, v.Partnership, v.Direction, v.Campaign, v.URL)
			}
			return out
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// listFlags parses the flags every list subcommand takes: the connection
// and --format table|json.
func listFlags(name, description string, args []string, stderr io.Writer) (common, string, error) {
	var c common
	var format string
	f := newFlags(name, name+" [--format table|json]", description, stderr)
	c.register(f, false)
	f.StringVar(&format, "format", "table", "table or json")
	if err := f.parse(args, false); err != nil {
		return c, "", err
	}
	if format != "table" && format != "json" {
		return c, "", fmt.Errorf("format %q: want table or json", format)
	}
	return c, format, nil
}

func listCatalog(ctx context.Context, args []string, stdout, stderr io.Writer, name string, table func(*tabwriter.Writer, *catalog.Snapshot) any) error {
	c, format, err := listFlags(name, "Lists the catalog as stored in ClickHouse.", args, stderr)
	if err != nil {
		return err
	}
	store, conn, err := openStore(ctx, &c)
	if err != nil {
		return err
	}
	defer conn.Close()
	snap, err := store.Load(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	rows := table(tw, snap)
	if format == "json" {
		if rows == nil {
			rows = []any{}
		}
		return printJSON(stdout, rows)
	}
	return tw.Flush()
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(stderr, "Usage: xpromo report NAME [flags]\n\nReports:\n  partnerships  clicks, unique visitors and views per partnership and visitor country\n\nRun `xpromo report partnerships --help` for its flags.\n")
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if args[0] != "partnerships" {
		return fmt.Errorf("unknown report %q (available: partnerships)", args[0])
	}
	var c common
	var from, to, country, format string
	var bots bool
	today := time.Now().UTC().Format(time.DateOnly)
	f := newFlags("report partnerships", "report partnerships [--from DATE] [--to DATE] [--country CC] [--include-bots] [--format table|csv|json]", `
Per partnership and visitor country: clicks (bots excluded unless
--include-bots), exact unique visitors among those clicks, and pixel views.
Dates are UTC days, both included.`, stderr)
	c.register(f, false)
	f.StringVar(&from, "from", time.Now().UTC().AddDate(0, 0, -29).Format(time.DateOnly), "first day, YYYY-MM-DD")
	f.StringVar(&to, "to", today, "last day, YYYY-MM-DD")
	f.StringVar(&country, "country", "", "only this visitor country (ISO alpha-2)")
	f.BoolVar(&bots, "include-bots", false, "count clicks and views of bots too")
	f.StringVar(&format, "format", "table", "table, csv or json")
	if err := f.parse(args[1:], false); err != nil {
		return err
	}
	var filt reports.Filter
	var err error
	if filt.From, err = time.Parse(time.DateOnly, from); err != nil {
		return fmt.Errorf("--from %q: want YYYY-MM-DD", from)
	}
	if filt.To, err = time.Parse(time.DateOnly, to); err != nil {
		return fmt.Errorf("--to %q: want YYYY-MM-DD", to)
	}
	filt.Country = strings.ToUpper(country)
	filt.IncludeBots = bots
	if err := filt.Validate(); err != nil {
		return err
	}
	switch format {
	case reports.FormatTable, reports.FormatCSV, reports.FormatJSON:
	default:
		return fmt.Errorf("format %q: want table, csv or json", format)
	}
	conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := reports.Partnerships(ctx, conn, filt)
	if err != nil {
		return err
	}
	return reports.WritePartnerships(stdout, format, rows)
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	var base string
	f := newFlags("demo", "demo [flags]", `
Seeds a demo partner (acme), partnership (acme-de, Germany, both ways) and two
links: "demo" (inbound, to our landing page) and "demo-out" (outbound, to
the partner). Running it again changes nothing.`, stderr)
	c.register(f, false)
	f.String(&base, "public-url", "http://localhost:8080", "the tracker's public base URL, to print the tracking URLs")
	if err := f.parse(args, false); err != nil {
		return err
	}
	store, conn, err := openStore(ctx, &c)
	if err != nil {
		return err
	}
	defer conn.Close()
	ignoreExists := func(_ any, err error) error {
		if errors.Is(err, catalog.ErrExists) {
			return nil
		}
		return err
	}
	steps := []func() error{
		func() error {
			return ignoreExists(store.AddPartner(ctx, catalog.Partner{ID: "acme", Name: "ACME Deals", Domains: []string{"acme.example"}}))
		},
		func() error {
			return ignoreExists(store.AddPartnership(ctx, catalog.Partnership{ID: "acme-de", Partner: "acme", Country: "DE", Direction: catalog.Both}))
		},
		func() error {
			return ignoreExists(store.AddLink(ctx, catalog.Link{Code: "demo", Partnership: "acme-de", Direction: catalog.Inbound, URL: "https://www.example.com/welcome?utm_source=acme#start", Campaign: "launch"}))
		},
		func() error {
			return ignoreExists(store.AddLink(ctx, catalog.Link{Code: "demo-out", Partnership: "acme-de", Direction: catalog.Outbound, URL: "https://www.acme.example/offer", Campaign: "launch"}))
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	base = strings.TrimRight(base, "/")
	fmt.Fprintf(stdout, "demo partnership acme-de ready: %s/r/demo (inbound), %s/r/demo-out (outbound)\n", base, base)
	return nil
}

// faultKillAfterInserts reads XPROMO_FAULT_KILL_AFTER_INSERTS=N, a fault
// injection for tests: the process SIGKILLs itself after its Nth insert,
// before acknowledging it (the worst moment to die).
func faultKillAfterInserts(log *slog.Logger) (func(), error) {
	v := os.Getenv("XPROMO_FAULT_KILL_AFTER_INSERTS")
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("XPROMO_FAULT_KILL_AFTER_INSERTS=%q: want a positive number", v)
	}
	log.Warn("fault injection: this ingester kills itself after an insert", "inserts", n)
	var count atomic.Int64
	return func() {
		if count.Add(1) >= int64(n) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never acknowledge
		}
	}, nil
}
