package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/catalog"
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
	return c.run(f, func(ctx context.Context, e *admin.Env) error {
		log, err := c.Logger(e.Err)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return e.Migrate(ctx, cluster, status, log)
	})
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
	f.StringVar(&o.format, "format", admin.Table, "table or json")
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

// run sets what the command does once its flags are parsed and the
// format checked: fn with the admin.Env and the format.
func (o *listOpts) run(fn func(context.Context, *admin.Env, string) error) *cobra.Command {
	return o.c.run(o.f, func(ctx context.Context, e *admin.Env) error {
		for _, n := range o.required {
			if err := requireFlag(o.f, n); err != nil {
				return err
			}
		}
		format := o.format
		if o.asJSON {
			format = admin.JSON
		}
		if format != admin.Table && format != admin.JSON {
			return fmt.Errorf("format %q: want table or json", format)
		}
		return flagError(o.f.FlagSet, fn(ctx, e, format))
	})
}

// requireFlag refuses, as a usage error, a command line leaving flag name
// empty.
func requireFlag(f *flags, name string) error {
	if fl := f.Lookup(name); fl != nil && strings.TrimSpace(fl.Value.String()) == "" {
		fmt.Fprintf(f.Output(), "--%s is required\n\n", name)
		f.Usage()
		return errUsage
	}
	return nil
}

// listCatalog is a list or show subcommand on the catalog snapshot: table
// writes the table and returns what --format json prints.
func listCatalog(name, synopsis, description string, extra func(*flags), required []string, table func(*tabwriter.Writer, *catalog.Snapshot) (any, error)) *cobra.Command {
	_, l := listFlags(name, synopsis, description, extra, required...)
	return l.run(func(ctx context.Context, e *admin.Env, format string) error { return e.List(ctx, format, table) })
}

func demoCmd() *cobra.Command {
	var base string
	f := &cmdFlags{flags: newFlags("demo", "demo [flags]", `
Seeds a demo partner (acme), partnership (acme-de, Germany, both ways) and two
links: "demo" (inbound, to our landing page) and "demo-out" (outbound, to
the partner). Running it again changes nothing.`)}
	f.c.register(f.flags, false)
	f.String(&base, "public-url", "http://localhost:8080", "the tracker's public base URL, to print the tracking URLs")
	return f.runStore(nil, func(ctx context.Context, c *admin.Catalog) error { return c.Demo(ctx, base) })
}
