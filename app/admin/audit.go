package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/domain/catalog"
)

// AuditView is an audit entry as audit list --json prints it: before and
// after as JSON, not strings holding JSON, left out when empty.
type AuditView struct {
	catalog.AuditEntry
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// AuditLog prints in format (Table or JSON) the audit entries filt
// selects, newest first.
func (e *Env) AuditLog(ctx context.Context, filt catalog.AuditFilter, format string) error {
	return e.withConn(ctx, func(conn driver.Conn) error {
		entries, err := e.catalog().AuditLog(ctx, filt)
		if err != nil {
			return err
		}
		return printRows(e.Out, format, func(tw *tabwriter.Writer) (any, error) {
			out := make([]AuditView, 0, len(entries))
			fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tENTITY\tID\tCOUNTRY\tTX\tCHANGES")
			for _, en := range entries {
				v := AuditView{AuditEntry: en}
				change := "created"
				if en.Before != "" {
					v.Before = json.RawMessage(en.Before)
					change = dash(catalog.Changes(en.Before, en.After))
				}
				if en.After != "" {
					v.After = json.RawMessage(en.After)
				}
				out = append(out, v)
				tx := "-"
				if en.Tx != 0 {
					tx = strconv.FormatInt(en.Tx, 10)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", en.TS.UTC().Format(time.RFC3339), en.Actor, en.Action, en.Entity, dash(en.EntityID), dash(en.Country), tx, change)
			}
			return out, nil
		})
	})
}
