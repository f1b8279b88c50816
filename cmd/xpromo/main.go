// Command xpromo is the cross-promotion attribution service: the tracker
// and ingester (serve, ingest), the schema (migrate), the catalog
// (partner, partnership with its terms, link), its audit log (audit), API
// tokens (token) and the reports (report). The commands are a cobra tree
// (cli.go); each command's file binds its flags and calls the packages
// that do the work: app for serve and ingest, app/admin for the others.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/app/admin"
	"github.com/xpromo/xpromo/lib/cli"
	"github.com/xpromo/xpromo/lib/pgdb"
)

// clock is the time every business rule of this binary reads: whether a
// month has ended, a link or token has expired, the salt's day, retention
// cut-offs, default report ranges. It is the wall clock; TestMain sets the
// tests' clock (testenv.Clock) so no test depends on today's date.
var clock = time.Now

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code: 0 when it
// succeeded or printed help, 2 for a usage error, 1 for any other failure.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	path, err := execute(ctx, args, stdout, stderr)
	return cli.ExitCode(stderr, path, err)
}

// cliActor is who the audit log and created_by/revoked_by record for a
// change made with the CLI: "cli:" and the login name.
func cliActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// errUsage marks an error already reported with the usage text, errHelp
// a command line that asked for help (--help, -h, help) once it is printed.
var errUsage, errHelp = cli.ErrUsage, cli.ErrHelp

// common are the connection and logging settings most commands share.
// noCatalog leaves out the catalog's PostgreSQL (ingest does without).
type common struct {
	app.Settings
	noCatalog bool
}

func (c *common) register(f *flags, redis bool) {
	if redis {
		f.String(&c.RedisURL, "redis-url", "redis://127.0.0.1:16379/0", "Redis URL (redis://[user:password@]host:port/db)")
		f.String(&c.KeyPrefix, "redis-prefix", "xpromo:", "prefix of every Redis key")
	}
	f.String(&c.ClickHouseURL, "clickhouse-url", "clickhouse://127.0.0.1:19000/xpromo", "ClickHouse URL, native protocol (clickhouse://[user:password@]host:port/database)")
	if !c.noCatalog {
		f.String(&c.PostgresURL, "postgres-url", pgdb.DefaultURL, "PostgreSQL URL of the catalog (postgres://user:password@host:port/database[?sslmode=...])")
	}
	f.String(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.String(&c.LogFormat, "log-format", "text", "log format: text or json")
}

// env is what the workflows of package admin run with: these settings,
// the clock, the CLI's actor and the command's output.
func (c *common) env(stdout, stderr io.Writer) *admin.Env {
	return &admin.Env{ClickHouseURL: c.ClickHouseURL, PostgresURL: c.PostgresURL, Clock: clock, Actor: cliActor(), Out: stdout, Err: stderr,
		CatalogChanged: c.CatalogChanged, TokensChanged: c.TokensChanged}
}

// run sets what the command f does once its flags are parsed: fn with
// the admin.Env of these settings.
func (c *common) run(f *flags, fn func(context.Context, *admin.Env) error) *cobra.Command {
	return f.run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
		return fn(ctx, c.env(stdout, stderr))
	})
}
