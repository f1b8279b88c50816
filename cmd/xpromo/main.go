// Command xpromo is the cross-promotion attribution service: the tracker
// and ingester (serve, ingest), the schema (migrate), the catalog
// (partner, partnership with its terms, link), its audit log (audit), API
// tokens (token) and the reports (report).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve":       {"run the tracker (links, pixel), the ingester and the operations endpoints", runServe},
	"ingest":      {"move hits from the Redis streams into ClickHouse (standalone ingester)", runIngest},
	"migrate":     {"create or update the ClickHouse schema", runMigrate},
	"partner":     {"add, update, archive, show or list partners", runPartner},
	"partnership": {"add, update, show or list partnerships; set their terms", runPartnership},
	"link":        {"add, update, pause, resume, archive, show or list tracking links", runLink},
	"audit":       {"list the audit log of catalog and token changes", runAudit},
	"report":      {"print a report: partnerships, balance, breakdown, overlaps, quality, visitors", runReport},
	"country":     {"set or list countries' report time zones", runCountry},
	"rollup":      {"rebuild the hourly hits rollup reports read", runRollup},
	"gen":         {"write synthetic traffic into ClickHouse (report benchmarks)", runGen},
	"statements":  {"build, close and export monthly revenue-split statements", runStatements},
	"attribute":   {"recompute the attribution of conversions for a period", runAttribute},
	"fx":          {"load ECB foreign-exchange reference rates", runFX},
	"demo":        {"seed a demo partner, partnership and link", runDemo},
	"token":       {"create, list or revoke API tokens", runToken},
	"erase":       {"erase a person's events (GDPR): --user ID or --visitor ID", runErase},
	"retention":   {"drop months of raw hits older than --retain-hits", runRetention},
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "xpromo measures two-way cross-promotion partnerships.\n\nUsage: xpromo COMMAND [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun `xpromo COMMAND --help` for a command's flags. Service and connection flags fall back to XPROMO_* environment variables (shown in --help).\n")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			return run([]string{args[1], "--help"}, stdout, stderr)
		}
		if len(args) == 0 {
			usage(stderr)
			return 2
		}
		usage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "xpromo: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp), errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		// A bare errUsage was explained where it was returned; a wrapped
		// one carries its own message.
		if err != errUsage {
			fmt.Fprintf(stderr, "xpromo %s: %s\n", commandPath(args), strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		}
		return 2
	}
	fmt.Fprintf(stderr, "xpromo %s: %v\n", commandPath(args), err)
	return 1
}

// commandPath is the command and subcommands an error message is filed
// under ("partnership terms set"): the words before the first flag.
func commandPath(args []string) string {
	path := []string{args[0]}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") || len(path) == 3 {
			break
		}
		path = append(path, a)
	}
	return strings.Join(path, " ")
}

// cliActor is who the audit log and created_by/revoked_by record for a
// change made with the CLI: "cli:" and the login name.
func cliActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// errUsage marks an error already reported with the usage text.
var errUsage = errors.New("usage")

// flags is a FlagSet whose flags fall back to XPROMO_* environment variables.
type flags struct {
	*flag.FlagSet
	envErr []error
	// positional are the arguments that are not flags, in order; Args,
	// NArg and Arg read them (FlagSet's own hold only what its last Parse
	// left over).
	positional []string
}

func newFlags(name, synopsis, description string, stderr io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &flags{FlagSet: fs}
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: xpromo %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return f
}

func envName(flagName string) string {
	return "XPROMO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *flags) String(p *string, name, def, usage string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		def = v
	}
	f.StringVar(p, name, def, usage+" (env "+envName(name)+")")
}

func (f *flags) Bool(p *bool, name string, def bool, usage string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			def = true
		case "0", "false", "no", "off", "":
			def = false
		default:
			f.envErr = append(f.envErr, fmt.Errorf("%s=%q: want true or false", envName(name), v))
		}
	}
	f.BoolVar(p, name, def, usage+" (env "+envName(name)+")")
}

func (f *flags) Int(p *int, name string, def int, usage string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil {
			f.envErr = append(f.envErr, fmt.Errorf("%s=%q: want a whole number", envName(name), v))
		} else {
			def = n
		}
	}
	f.IntVar(p, name, def, usage+" (env "+envName(name)+")")
}

func (f *flags) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.envErr = append(f.envErr, fmt.Errorf("%s=%q: %w", envName(name), v, err))
		} else {
			def = d
		}
	}
	f.DurationVar(p, name, def, usage+" (env "+envName(name)+")")
}

func (f *flags) Float(p *float64, name string, def float64, usage string) {
	if v, ok := os.LookupEnv(envName(name)); ok {
		var x float64
		if _, err := fmt.Sscan(v, &x); err != nil {
			f.envErr = append(f.envErr, fmt.Errorf("%s=%q: want a number", envName(name), v))
		} else {
			def = x
		}
	}
	f.Float64Var(p, name, def, usage+" (env "+envName(name)+")")
}

// parse parses args; positional arguments are refused unless allowed.
// Flags and positional arguments may come in any order, as with GNU tools
// (`fx load FILE --log-level debug` and `fx load --log-level debug FILE`):
// Go's flag package alone stops at the first non-flag, which made the
// documented order fail. "--" ends the flags; what follows is positional.
func (f *flags) parse(args []string, allowArgs bool) error {
	f.positional = nil
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		rest := f.FlagSet.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			f.positional = append(f.positional, rest...) // after "--"
			break
		}
		f.positional = append(f.positional, rest[0])
		args = rest[1:]
	}
	if len(f.envErr) > 0 {
		return errors.Join(f.envErr...)
	}
	if !allowArgs && f.NArg() > 0 {
		fmt.Fprintf(f.Output(), "unexpected argument %q\n", f.Arg(0))
		f.Usage()
		return errUsage
	}
	return nil
}

// Args are the positional arguments parse found, flags taken out.
func (f *flags) Args() []string { return f.positional }

// NArg is the number of positional arguments.
func (f *flags) NArg() int { return len(f.positional) }

// Arg is the i'th positional argument, or "" if there is none.
func (f *flags) Arg(i int) string {
	if i < 0 || i >= len(f.positional) {
		return ""
	}
	return f.positional[i]
}

// common are the connection and logging settings most commands share.
type common struct {
	RedisURL      string
	ClickHouseURL string
	KeyPrefix     string
	LogLevel      string
	LogFormat     string
}

func (c *common) register(f *flags, redis bool) {
	if redis {
		f.String(&c.RedisURL, "redis-url", "redis://127.0.0.1:16379/0", "Redis URL (redis://[user:password@]host:port/db)")
		f.String(&c.KeyPrefix, "redis-prefix", "xpromo:", "prefix of every Redis key")
	}
	f.String(&c.ClickHouseURL, "clickhouse-url", "clickhouse://127.0.0.1:19000/xpromo", "ClickHouse URL, native protocol (clickhouse://[user:password@]host:port/database)")
	f.String(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.String(&c.LogFormat, "log-format", "text", "log format: text or json")
}

func (c *common) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log-format %q: want text or json", c.LogFormat)
}
