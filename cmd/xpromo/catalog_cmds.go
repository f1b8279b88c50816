package main

// The catalog commands: partner, partnership (with its terms), link and
// audit. They parse their flags and call package admin, which makes the
// same changes as the management API, through the same catalog.Store,
// filing every change in the audit log under cliActor(). Each command has
// its file (partner_cmds.go, partnership_cmds.go, link_cmds.go,
// audit_cmds.go); this one holds what they share: flag handling and
// parsing, and the demo catalog.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/domain/catalog"
)

// cmdFlags is the flag set of a catalog subcommand that writes, with the
// connection flags registered.
type cmdFlags struct {
	*flags
	c common
}

func newCmdFlags(name, synopsis, description string) *cmdFlags {
	f := &cmdFlags{flags: newFlags(name, synopsis, description)}
	f.c.register(f.flags, true) // Redis: changes are announced to running trackers
	return f
}

// given reports which flags the command line set (pflag Visit): only those
// change anything in an update.
func (f *cmdFlags) given() map[string]bool {
	set := map[string]bool{}
	f.Visit(func(fl *pflag.Flag) { set[fl.Name] = true })
	return set
}

// require refuses, as a usage error, a command line leaving one of the
// named flags empty.
func (f *cmdFlags) require(names ...string) error {
	for _, n := range names {
		if err := requireFlag(f.flags, n); err != nil {
			return err
		}
	}
	return nil
}

// requireChange refuses, as a usage error, an update whose command line
// leaves key empty or sets none of the flags of what it may change.
func (f *cmdFlags) requireChange(key string, changes ...string) error {
	if err := f.require(key); err != nil {
		return err
	}
	set := f.given()
	for _, n := range changes {
		if set[n] {
			return nil
		}
	}
	fmt.Fprintf(f.Output(), "nothing to change: give at least one of --%s\n\n", strings.Join(changes, ", --"))
	f.Usage()
	return errUsage
}

// runStore sets what the command does once its flags are parsed: parse
// (nil: nothing) checks and reads them, then fn runs with the catalog and
// a validation error is named after the flag it came from.
func (f *cmdFlags) runStore(parse func() error, fn func(context.Context, *admin.Catalog) error) *cobra.Command {
	return f.c.run(f.flags, func(ctx context.Context, e *admin.Env) error {
		if parse != nil {
			if err := parse(); err != nil {
				return flagError(f.FlagSet, err)
			}
		}
		return flagError(f.FlagSet, e.WithCatalog(ctx, func(c *admin.Catalog) error { return fn(ctx, c) }))
	})
}

// fieldFlags maps the catalog's field names to flags named otherwise.
var fieldFlags = map[string]string{"expires_at": "expires"}

// flagError rewrites a *catalog.FieldError about a field this command has
// a flag for so that it names the flag: "--inbound-cpa: -1 must not be
// negative" rather than "inbound_cpa: ...".
func flagError(fs *pflag.FlagSet, err error) error {
	var fe *catalog.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	name, ok := fieldFlags[fe.Field]
	if !ok {
		name = strings.ReplaceAll(fe.Field, "_", "-")
	}
	if fs.Lookup(name) == nil {
		return err
	}
	return &catalog.FieldError{Field: "--" + name, Reason: fe.Reason}
}

// listFlags starts a list or show subcommand with the flags they all
// take: the connection, --format table|json and its shorthand --json, and
// those extra registers (nil: none), of which required must not be left
// empty. synopsis is what follows the name in the usage line; the
// listOpts' run sets what the command does.
func listFlags(name, synopsis, description string, extra func(*flags), required ...string) *listOpts {
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
	return o
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
	l := listFlags(name, synopsis, description, extra, required...)
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
