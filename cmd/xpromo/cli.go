package main

// The command tree (spf13/cobra, flags by spf13/pflag, the conventions in
// lib/cli): the root, the command groups, and the flag helpers with their
// XPROMO_* environment fallbacks.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/xpromo/xpromo/lib/cli"
)

// newRoot builds the whole command tree.
func newRoot() *cobra.Command {
	root := cli.NewRoot("xpromo COMMAND [flags]", "xpromo measures two-way cross-promotion partnerships.",
		"Run `xpromo COMMAND --help` for a command's flags. Service and connection flags fall back to XPROMO_* environment variables (shown in --help).")
	for _, c := range []sub{
		{"run the tracker (links, pixel), the ingester and the operations endpoints", serveCmd()},
		{"move hits from the Redis streams into ClickHouse (standalone ingester)", ingestCmd()},
		{"create or update the ClickHouse schema", migrateCmd()},
		{"add, update, archive, show or list partners", partnerCmd()},
		{"add, update, show or list partnerships; set their terms; replicate them into another country; playbook notes", withCrossCountry(partnershipCmd())},
		{"add, update, pause, resume, archive, show or list tracking links", linkCmd()},
		{"list the audit log of catalog and token changes", auditCmd()},
		{"print a report: partnerships, balance, breakdown, overlaps, quality, visitors", reportCmd()},
		{"partners' results across countries: where they work, and what works elsewhere", insightsCmd()},
		{"set or list countries' report time zones", countryCmd()},
		{"rebuild the hourly hits rollup reports read", rollupCmd()},
		{"write synthetic traffic into ClickHouse (report benchmarks)", genCmd()},
		{"build, close and export monthly revenue-split statements", statementsCmd()},
		{"recompute the attribution of conversions for a period", attributeCmd()},
		{"load ECB foreign-exchange reference rates", fxCmd()},
		{"seed a demo partner, partnership and link", demoCmd()},
		{"create, list or revoke API tokens", apiTokenCmd()},
		{"erase a person's events (GDPR): --user ID or --visitor ID", eraseCmd()},
		{"drop months of raw hits older than --retain-hits", retentionCmd()},
	} {
		c.cmd.Short = c.short
		root.AddCommand(c.cmd)
	}
	return root
}

// execute runs args on a new command tree and returns the path of the
// command that ran and its error (cli.Execute).
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) (string, error) {
	return cli.Execute(ctx, newRoot(), args, stdout, stderr)
}

// group is a command made of the subcommands subs, each with its summary.
func group(use string, subs ...sub) *cobra.Command {
	c := &cobra.Command{Use: use, Args: cobra.ArbitraryArgs, RunE: cli.RunGroup}
	for _, s := range subs {
		s.cmd.Short = s.short
		c.AddCommand(s.cmd)
	}
	return c
}

type sub struct {
	short string
	cmd   *cobra.Command
}

// flags is a command's flag set while the tree is built. String, Bool,
// Int, Duration and Float register a flag whose default an XPROMO_*
// environment variable replaces (named by envName, shown in the flag's
// help); a variable that does not parse fails the command when it runs.
type flags struct {
	*pflag.FlagSet
	cmd    *cobra.Command
	envErr []error
}

// newFlags starts the command name ("partner add"), whose usage line is
// "xpromo " + synopsis, described by description.
func newFlags(name, synopsis, description string) *flags {
	words := strings.Fields(name)
	cmd := &cobra.Command{
		Use:  words[len(words)-1] + strings.TrimPrefix(synopsis, name),
		Long: description,
		Args: cli.NoArgs,
	}
	return &flags{FlagSet: cmd.Flags(), cmd: cmd}
}

// run sets what the command does once its flags are parsed and returns
// the command.
func (f *flags) run(fn func(ctx context.Context, args []string, stdout, stderr io.Writer) error) *cobra.Command {
	f.cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(f.envErr) > 0 {
			return errors.Join(f.envErr...)
		}
		return fn(c.Context(), args, c.OutOrStdout(), c.ErrOrStderr())
	}
	return f.cmd
}

// Output is where usage errors go.
func (f *flags) Output() io.Writer { return f.cmd.ErrOrStderr() }

// Usage prints the command's usage after a usage error.
func (f *flags) Usage() { cli.PrintUsage(f.cmd, f.cmd.ErrOrStderr()) }

func envName(flagName string) string {
	return "XPROMO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// env returns the environment's value for flag name, if set, parsed by
// parse; a value that does not parse is kept as the command's error.
func env[T any](f *flags, name string, def T, parse func(string) (T, error)) T {
	v, ok := os.LookupEnv(envName(name))
	if !ok {
		return def
	}
	x, err := parse(v)
	if err != nil {
		f.envErr = append(f.envErr, fmt.Errorf("%s=%q: %w", envName(name), v, err))
		return def
	}
	return x
}

func envUsage(name, usage string) string { return usage + " (env " + envName(name) + ")" }

func (f *flags) String(p *string, name, def, usage string) {
	f.StringVar(p, name, env(f, name, def, func(v string) (string, error) { return v, nil }), envUsage(name, usage))
}

func (f *flags) Bool(p *bool, name string, def bool, usage string) {
	f.BoolVar(p, name, env(f, name, def, cli.ParseBool), envUsage(name, usage))
}

func (f *flags) Int(p *int, name string, def int, usage string) {
	f.IntVar(p, name, env(f, name, def, cli.Scan[int]("want a whole number")), envUsage(name, usage))
}

func (f *flags) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	f.DurationVar(p, name, env(f, name, def, time.ParseDuration), envUsage(name, usage))
}

func (f *flags) Float(p *float64, name string, def float64, usage string) {
	f.Float64Var(p, name, env(f, name, def, cli.Scan[float64]("want a number")), envUsage(name, usage))
}
