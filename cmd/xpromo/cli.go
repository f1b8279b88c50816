package main

// The command tree (spf13/cobra, flags by spf13/pflag): the root, the
// command groups, how help and usage errors are printed, the flag helpers
// with their XPROMO_* environment fallbacks, and the one rewrite of the
// command line before cobra parses it (gnuArgs).

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
)

// newRoot builds the whole command tree.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "xpromo COMMAND [flags]",
		Long:          "xpromo measures two-way cross-promotion partnerships.",
		Args:          cobra.ArbitraryArgs,
		RunE:          runGroup,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	for _, c := range []struct {
		short string
		cmd   *cobra.Command
	}{
		{"run the tracker (links, pixel), the ingester and the operations endpoints", serveCmd()},
		{"move hits from the Redis streams into ClickHouse (standalone ingester)", ingestCmd()},
		{"create or update the ClickHouse schema", migrateCmd()},
		{"add, update, archive, show or list partners", partnerCmd()},
		{"add, update, show or list partnerships; set their terms", partnershipCmd()},
		{"add, update, pause, resume, archive, show or list tracking links", linkCmd()},
		{"list the audit log of catalog and token changes", auditCmd()},
		{"print a report: partnerships, balance, breakdown, overlaps, quality, visitors", reportCmd()},
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
	// cobra's own help command shows the root's help for any word it
	// does not know; xpromo's, like `xpromo nope`, refuses it.
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND]...",
		Short: "show a command's help",
		RunE: func(_ *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return runGroup(target, rest)
			}
			return target.Help()
		},
	})
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		msg := err.Error()
		// Go's flag package's wording, which scripts and tests match.
		if ne := (*pflag.NotExistError)(nil); errors.As(err, &ne) {
			name := ne.GetSpecifiedShortnames()
			if name == "" {
				name = ne.GetSpecifiedName()
			}
			msg = "flag provided but not defined: -" + name
		}
		fmt.Fprintln(c.ErrOrStderr(), msg)
		printUsage(c, c.ErrOrStderr())
		return errUsage
	})
	return root
}

// execute runs args on a new command tree and returns the path of the
// command that ran ("xpromo partner add", for error messages) and its
// error: errHelp when it printed help.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) (string, error) {
	root := newRoot()
	root.SetOut(stdout)
	root.SetErr(stderr)
	helped := false
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		// A command's help goes to stderr, as its usage errors do; only
		// `xpromo --help` is the program's output.
		w := c.ErrOrStderr()
		if !c.HasParent() {
			w = c.OutOrStdout()
		}
		printUsage(c, w)
		helped = true
	})
	root.SetArgs(gnuArgs(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil && helped {
		err = errHelp
	}
	path := "xpromo"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	return path, err
}

// printUsage writes c's usage line, description, subcommands and flags.
func printUsage(c *cobra.Command, w io.Writer) {
	use := c.Use
	if c.HasParent() {
		use = c.Parent().CommandPath() + " " + use
	}
	fmt.Fprintf(w, "Usage: %s\n", use)
	if text := strings.TrimSpace(c.Long); text != "" {
		fmt.Fprintf(w, "\n%s\n", text)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nCommands:\n")
		width := 0
		for _, s := range c.Commands() {
			width = max(width, len(s.Name()))
		}
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				fmt.Fprintf(w, "  %-*s  %s\n", width, s.Name(), s.Short)
			}
		}
	}
	if c.HasAvailableLocalFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", c.LocalFlags().FlagUsages())
	}
	if !c.HasParent() {
		fmt.Fprintf(w, "\nRun `xpromo COMMAND --help` for a command's flags. Service and connection flags fall back to XPROMO_* environment variables (shown in --help).\n")
	}
}

// runGroup is what a command made of subcommands does when none of them
// is named: it prints its usage (a usage error, or the help asked for
// with `xpromo token help`) or refuses an unknown one.
func runGroup(c *cobra.Command, args []string) error {
	w := c.ErrOrStderr()
	switch {
	case len(args) == 0:
		printUsage(c, w)
		return errUsage
	case args[0] == "help":
		printUsage(c, w)
		return errHelp
	case !c.HasParent():
		fmt.Fprintf(w, "xpromo: unknown command %q\n\n", args[0])
		printUsage(c, w)
		return errUsage
	}
	var names []string
	for _, s := range c.Commands() {
		names = append(names, s.Name())
	}
	fmt.Fprintf(w, "%s: unknown subcommand %q (want one of: %s)\n", c.CommandPath(), args[0], strings.Join(names, ", "))
	return errUsage
}

// group is a command made of the subcommands subs, each with its summary.
func group(use string, subs ...sub) *cobra.Command {
	c := &cobra.Command{Use: use, Args: cobra.ArbitraryArgs, RunE: runGroup}
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

// gnuArgs rewrites single-dash long flags (-clickhouse-url URL,
// -id=acme), which Go's flag package accepted and xpromo's users and
// scripts may still give, to the double-dash form pflag reads as long
// flags (it would read -id as the shorthands -i -d). Only a word naming a
// flag of the command the leading words select changes; the value after a
// flag that takes one, "-h", and everything after a bare "--" stay as
// they are.
func gnuArgs(root *cobra.Command, args []string) []string {
	cmd := root
	for _, a := range args {
		next, _, err := cmd.Find([]string{a})
		if strings.HasPrefix(a, "-") || err != nil || next == cmd {
			break
		}
		cmd = next
	}
	out := make([]string, 0, len(args))
	skipValue := false
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if skipValue {
			skipValue = false
			out = append(out, a)
			continue
		}
		if name, long := strings.CutPrefix(a, "--"); long || strings.HasPrefix(a, "-") {
			if !long {
				name = a[1:]
			}
			name, _, eq := strings.Cut(name, "=")
			f := cmd.Flags().Lookup(name)
			if name == "help" || (f != nil && len(name) > 1) {
				if !long {
					a = "-" + a
				}
				skipValue = !eq && f != nil && f.NoOptDefVal == ""
			}
		}
		out = append(out, a)
	}
	return out
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
		Args: noArgs,
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
func (f *flags) Usage() { printUsage(f.cmd, f.cmd.ErrOrStderr()) }

// noArgs refuses positional arguments, as a usage error.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	fmt.Fprintf(c.ErrOrStderr(), "unexpected argument %q\n", args[0])
	printUsage(c, c.ErrOrStderr())
	return errUsage
}

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
	f.BoolVar(p, name, env(f, name, def, func(v string) (bool, error) {
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			return true, nil
		case "0", "false", "no", "off", "":
			return false, nil
		}
		return false, errors.New("want true or false")
	}), envUsage(name, usage))
}

func (f *flags) Int(p *int, name string, def int, usage string) {
	f.IntVar(p, name, env(f, name, def, func(v string) (n int, err error) {
		if _, err = fmt.Sscan(v, &n); err != nil {
			err = errors.New("want a whole number")
		}
		return n, err
	}), envUsage(name, usage))
}

func (f *flags) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	f.DurationVar(p, name, env(f, name, def, time.ParseDuration), envUsage(name, usage))
}

func (f *flags) Float(p *float64, name string, def float64, usage string) {
	f.Float64Var(p, name, env(f, name, def, func(v string) (x float64, err error) {
		if _, err = fmt.Sscan(v, &x); err != nil {
			err = errors.New("want a number")
		}
		return x, err
	}), envUsage(name, usage))
}
