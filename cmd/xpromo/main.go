// Command xpromo is the cross-promotion attribution service: the tracker
// and ingester (serve, ingest), the schema (migrate), the catalog
// (partner, partnership with its terms, link), its audit log (audit), API
// tokens (token) and the reports (report). The commands are a cobra tree
// (cli.go); each command's file binds its flags and calls the packages
// that do the work: app for serve and ingest, app/admin for the others.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/xpromo/xpromo/app"
	"github.com/xpromo/xpromo/app/admin"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code: 0 when it
// succeeded or printed help, 2 for a usage error, 1 for any other failure.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	path, err := execute(ctx, args, stdout, stderr)
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		// A bare errUsage was explained where it was returned; a wrapped
		// one carries its own message.
		if err != errUsage {
			fmt.Fprintf(stderr, "%s: %s\n", path, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		}
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	return 1
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

// errHelp is what a command line that asked for help (--help, -h, help)
// returns once the help is printed.
var errHelp = errors.New("help")

// common are the connection and logging settings most commands share.
type common struct{ app.Settings }

func (c *common) register(f *flags, redis bool) {
	if redis {
		f.String(&c.RedisURL, "redis-url", "redis://127.0.0.1:16379/0", "Redis URL (redis://[user:password@]host:port/db)")
		f.String(&c.KeyPrefix, "redis-prefix", "xpromo:", "prefix of every Redis key")
	}
	f.String(&c.ClickHouseURL, "clickhouse-url", "clickhouse://127.0.0.1:19000/xpromo", "ClickHouse URL, native protocol (clickhouse://[user:password@]host:port/database)")
	f.String(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.String(&c.LogFormat, "log-format", "text", "log format: text or json")
}

// env is what the workflows of package admin run with: these settings,
// the clock, the CLI's actor and the command's output.
func (c *common) env(stdout, stderr io.Writer) *admin.Env {
	return &admin.Env{ClickHouseURL: c.ClickHouseURL, Clock: clock, Actor: cliActor(), Out: stdout, Err: stderr,
		CatalogChanged: c.CatalogChanged, TokensChanged: c.TokensChanged}
}
