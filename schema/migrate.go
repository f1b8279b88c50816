// Package schema holds the ClickHouse migrations, embedded in the binary,
// and the runner that applies them.
//
// Each NNNN_name.sql file is one statement, written to run on ClickHouse
// 18.16 and on current releases, and idempotent (IF NOT EXISTS; an ADD
// COLUMN that finds its column is taken as applied; a MODIFY COLUMN to the
// type a column already has changes nothing), so a run interrupted
// between a statement and its version row is simply repeated. Stored
// decimals are at most Decimal(18, s): a GROUP BY over a Decimal(38, s)
// column crashes ClickHouse 18.16 (see 0025).
// Statements are Go templates: {{.OnCluster}} becomes "ON CLUSTER name"
// when a cluster is configured and nothing otherwise.
package schema

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/lib/chdb"
)

//go:embed *.sql
var files embed.FS

// VersionTable records applied migrations.
const VersionTable = "xpromo_migrations"

const (
	createVersionTable = `CREATE TABLE IF NOT EXISTS ` + VersionTable + ` {{.OnCluster}}
(
    version UInt32,
    name String,
    applied_at DateTime
)
ENGINE = MergeTree
ORDER BY version`
	selectApplied = `SELECT DISTINCT version FROM ` + VersionTable
	insertApplied = `INSERT INTO ` + VersionTable + ` (version, name, applied_at)`
)

// Migration is one numbered statement.
type Migration struct {
	Version uint32
	Name    string
	SQL     string // the template, before rendering
}

var nameRe = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// All returns the embedded migrations in order.
func All() ([]Migration, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	var out []Migration
	seen := map[uint32]string{}
	for _, e := range entries {
		m := nameRe.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("schema: file %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		if prev, ok := seen[uint32(v)]; ok {
			return nil, fmt.Errorf("schema: version %d used by %s and %s", v, prev, e.Name())
		}
		seen[uint32(v)] = e.Name()
		b, err := files.ReadFile(e.Name())
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		out = append(out, Migration{Version: uint32(v), Name: m[2], SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Options configures a run.
type Options struct {
	Cluster string // ON CLUSTER name; empty for a single server
	Log     *slog.Logger
}

// Render fills in a migration's template.
func Render(sql string, opts Options) (string, error) {
	if opts.Cluster != "" && !chdb.ValidIdent(opts.Cluster) {
		return "", fmt.Errorf("schema: cluster name %q is not a plain identifier", opts.Cluster)
	}
	t, err := template.New("m").Option("missingkey=error").Parse(sql)
	if err != nil {
		return "", fmt.Errorf("schema: %w", err)
	}
	data := map[string]string{"OnCluster": ""}
	if opts.Cluster != "" {
		data["OnCluster"] = "ON CLUSTER " + opts.Cluster
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("schema: %w", err)
	}
	return strings.TrimSpace(stripComments(b.String())), nil
}

func stripComments(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// Migrate applies every migration not yet recorded and returns their names.
func Migrate(ctx context.Context, conn driver.Conn, opts Options) ([]string, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	all, err := All()
	if err != nil {
		return nil, err
	}
	q, err := Render(createVersionTable, opts)
	if err != nil {
		return nil, err
	}
	if err := conn.Exec(ctx, q); err != nil {
		return nil, fmt.Errorf("migrate: create %s: %w", VersionTable, err)
	}
	applied, err := Applied(ctx, conn)
	if err != nil {
		return nil, err
	}
	var done []string
	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		q, err := Render(m.SQL, opts)
		if err != nil {
			return done, fmt.Errorf("migrate %04d_%s: %w", m.Version, m.Name, err)
		}
		start := time.Now()
		if err := conn.Exec(ctx, q); err != nil && !columnExists(q, err) {
			return done, fmt.Errorf("migrate %04d_%s: %w", m.Version, m.Name, err)
		}
		if err := record(ctx, conn, m); err != nil {
			return done, err
		}
		log.Info("migration applied", "version", m.Version, "name", m.Name, "took", time.Since(start).Round(time.Millisecond))
		done = append(done, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	return done, nil
}

// codeDuplicateColumn is ClickHouse's error for adding a column twice.
const codeDuplicateColumn = 44

var addColumnRe = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+\S+(\s+ON\s+CLUSTER\s+\S+)?\s+ADD\s+COLUMN\s`)

// columnExists reports whether err says that q, an ALTER TABLE ... ADD
// COLUMN, added a column that is already there: a run interrupted between
// the ALTER and its version row. 18.16 has no ADD COLUMN IF NOT EXISTS, so
// the runner makes such a step idempotent itself.
func columnExists(q string, err error) bool {
	var exc *clickhouse.Exception
	return addColumnRe.MatchString(q) && errors.As(err, &exc) && exc.Code == codeDuplicateColumn
}

// Applied returns the recorded migration versions.
func Applied(ctx context.Context, conn driver.Conn) (map[uint32]bool, error) {
	rows, err := conn.Query(ctx, selectApplied)
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", VersionTable, err)
	}
	defer rows.Close()
	out := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", VersionTable, err)
		}
		out[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", VersionTable, err)
	}
	return out, nil
}

// record writes a version row. INSERT ... VALUES through Exec hangs on
// 18.16 with clickhouse-go v2, so even one row goes through a batch.
func record(ctx context.Context, conn driver.Conn, m Migration) error {
	batch, err := conn.PrepareBatch(ctx, insertApplied)
	if err != nil {
		return fmt.Errorf("migrate: record %d: %w", m.Version, err)
	}
	defer batch.Close()
	if err := batch.Append(m.Version, m.Name, time.Now().UTC()); err != nil {
		return fmt.Errorf("migrate: record %d: %w", m.Version, err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("migrate: record %d: %w", m.Version, err)
	}
	return nil
}
