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
	"io"
	"strings"
	"time"

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
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if parse != nil {
			if err := parse(); err != nil {
				return err
			}
		}
		return flagError(f.FlagSet, f.c.env(stdout, stderr).WithCatalog(ctx, func(c *admin.Catalog) error { return fn(ctx, c) }))
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

// badFlag is the error of a flag value that does not parse.
func badFlag(name, format string, args ...any) error {
	return &catalog.FieldError{Field: "--" + name, Reason: fmt.Sprintf(format, args...)}
}

// splitList splits a comma-separated flag value; "" is the empty list.
func splitList(v string) []string {
	out := []string{}
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseDay parses a YYYY-MM-DD flag value as that day's UTC midnight.
func parseDay(name, v string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, badFlag(name, "%q: want YYYY-MM-DD", v)
	}
	return d, nil
}

// parseTime parses a flag value that is a UTC day (YYYY-MM-DD, its
// midnight) or an RFC 3339 time; day reports the former.
func parseTime(name, v string) (t time.Time, day bool, err error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), false, nil
	}
	return time.Time{}, false, badFlag(name, "%q: want YYYY-MM-DD (UTC) or an RFC 3339 time such as 2026-01-31T18:00:00Z", v)
}
