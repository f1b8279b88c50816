package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/lib/chdb"
	"github.com/xpromo/xpromo/lib/notify"
	"github.com/xpromo/xpromo/ops/gen"
	"github.com/xpromo/xpromo/schema"
)

func migrateCmd() *cobra.Command {
	var c common
	var cluster string
	var status bool
	f := newFlags("migrate", "migrate [flags]", `
Creates the database if needed and applies every embedded migration not yet
recorded in the xpromo_migrations table. Safe to run again at any time.`)
	c.register(f, false)
	f.String(&cluster, "cluster", "", "run DDL ON CLUSTER this cluster (empty for a single server)")
	f.Bool(&status, "status", false, "only list migrations and whether each is applied")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	})
}

// openStore connects for a catalog command.
func openStore(ctx context.Context, c *common) (*catalog.Store, driver.Conn, error) {
	conn, err := chdb.Open(ctx, c.ClickHouseURL, false)
	if err != nil {
		return nil, nil, err
	}
	s := catalog.NewStore(conn).WithClock(clock)
	s.OnChange(func(ctx context.Context) { announce(ctx, c, app.CatalogNotifier) })
	return s, conn, nil
}

// announce tells running trackers (same Redis and key prefix) to reload
// now; without it they still reload within --catalog-refresh. A failure
// is a warning: the change itself is stored.
func announce(ctx context.Context, c *common, notifier func(*redis.Client, string, *slog.Logger) *notify.Notifier) {
	if c.RedisURL == "" {
		return
	}
	opts, err := redis.ParseURL(c.RedisURL)
	if err != nil {
		return
	}
	opts.MaxRetries, opts.DialTimeout = -1, time.Second
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app.Publish(ctx, notifier(rdb, c.KeyPrefix, log), log)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// listFlags starts a list or show subcommand with the flags they all
// take: the connection, --format table|json and its shorthand --json, and
// those extra registers (nil: none), of which required must not be left
// empty. synopsis is what follows the name in the usage line. The
// command's run calls the listOpts' parsed first.
func listFlags(name, synopsis, description string, extra func(*flags), required ...string) (*flags, *listOpts) {
	if synopsis != "" {
		synopsis = " " + synopsis
	}
	f := newFlags(name, name+synopsis+" [--format table|json] [--json]", description)
	o := &listOpts{f: f, required: required}
	o.c.register(f, false)
	f.StringVar(&o.format, "format", "table", "table or json")
	f.BoolVar(&o.asJSON, "json", false, "same as --format json")
	if extra != nil {
		extra(f)
	}
	return f, o
}

type listOpts struct {
	f        *flags
	c        common
	format   string
	asJSON   bool
	required []string
}

// parsed returns the connection settings and the format, or a usage
// error for a required flag left empty.
func (o *listOpts) parsed() (common, string, error) {
	for _, n := range o.required {
		if strings.TrimSpace(o.f.Lookup(n).Value.String()) == "" {
			fmt.Fprintf(o.f.Output(), "--%s is required\n\n", n)
			o.f.Usage()
			return o.c, "", errUsage
		}
	}
	format := o.format
	if o.asJSON {
		format = "json"
	}
	if format != "table" && format != "json" {
		return o.c, "", fmt.Errorf("format %q: want table or json", format)
	}
	return o.c, format, nil
}

// listCatalog is a list or show subcommand on the catalog snapshot: table
// writes the table and returns what --format json prints.
func listCatalog(name, synopsis, description string, extra func(*flags), required []string, table func(*tabwriter.Writer, *catalog.Snapshot) (any, error)) *cobra.Command {
	f, l := listFlags(name, synopsis, description, extra, required...)
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		c, format, err := l.parsed()
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
		var tbl bytes.Buffer
		tw := tabwriter.NewWriter(&tbl, 0, 0, 2, ' ', 0)
		rows, err := table(tw, snap)
		if err != nil {
			return err
		}
		if format == "json" {
			if rows == nil {
				rows = []any{}
			}
			return printJSON(stdout, rows)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err = stdout.Write(tbl.Bytes())
		return err
	})
}

func demoCmd() *cobra.Command {
	var c common
	var base string
	f := newFlags("demo", "demo [flags]", `
Seeds a demo partner (acme), partnership (acme-de, Germany, both ways) and two
links: "demo" (inbound, to our landing page) and "demo-out" (outbound, to
the partner). Running it again changes nothing.`)
	c.register(f, false)
	f.String(&base, "public-url", "http://localhost:8080", "the tracker's public base URL, to print the tracking URLs")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		store, conn, err := openStore(ctx, &c)
		if err != nil {
			return err
		}
		defer conn.Close()
		if err := gen.SeedDemo(ctx, store, cliActor()); err != nil {
			return err
		}
		base = strings.TrimRight(base, "/")
		fmt.Fprintf(stdout, "demo partnership acme-de ready: %s/r/demo (inbound), %s/r/demo-out (outbound)\n", base, base)
		return nil
	})
}
