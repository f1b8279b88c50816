package main

// The catalog commands: partner, partnership (with its terms), link and
// audit. They make the same changes as the management API, through the
// same catalog.Store, and every change is filed in the audit log under
// cliActor(). Each command has its file (partner_cmds.go,
// partnership_cmds.go, link_cmds.go, audit_cmds.go); this one holds what
// they share: flag handling, parsing and printing helpers.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

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
		if fl := f.Lookup(n); fl != nil && strings.TrimSpace(fl.Value.String()) == "" {
			fmt.Fprintf(f.Output(), "--%s is required\n\n", n)
			f.Usage()
			return errUsage
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

// withStore runs fn with a catalog store and names a validation error
// after the flag it came from.
func (f *cmdFlags) withStore(ctx context.Context, fn func(*catalog.Store) error) error {
	store, conn, err := openStore(ctx, &f.c)
	if err != nil {
		return err
	}
	defer conn.Close()
	return flagError(f.FlagSet, fn(store))
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

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dayOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

func timeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// printChange reports the outcome of an update: the fields that changed,
// or that nothing did.
func printChange(w io.Writer, what string, before, after any) error {
	b, err := json.Marshal(before)
	if err != nil {
		return err
	}
	a, err := json.Marshal(after)
	if err != nil {
		return err
	}
	if diff := catalog.Changes(string(b), string(a)); diff != "" {
		fmt.Fprintf(w, "%s updated: %s\n", what, diff)
	} else {
		fmt.Fprintf(w, "%s unchanged\n", what)
	}
	return nil
}
