package main

// The catalog commands: partner, partnership (with its terms), link and
// audit. They parse their flags and call package admin, which makes the
// same changes as the management API, through the same catalog.Store,
// filing every change in the audit log under cliActor(). Each command has
// its file (partner_cmds.go, partnership_cmds.go, link_cmds.go,
// audit_cmds.go); this one holds what they share: flag handling and
// parsing.

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// requireOne refuses, as a usage error, a command line that sets none of
// the named flags: an update with nothing to change.
func (f *cmdFlags) requireOne(names ...string) error {
	set := f.given()
	for _, n := range names {
		if set[n] {
			return nil
		}
	}
	fmt.Fprintf(f.Output(), "nothing to change: give at least one of --%s\n\n", strings.Join(names, ", --"))
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
