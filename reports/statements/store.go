package statements

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/xpromo/xpromo/schema"
)

const (
	// Rows come oldest close first: should two closes of one period have
	// raced, the first one is the statement.
	selectStatementsSQL = `SELECT period, id, hash, closed_at, closed_by, lines FROM statements
ORDER BY period, closed_at, id`
)

func insertStatement(ctx context.Context, conn driver.Conn, st *Statement, canon []byte) error {
	batch, err := conn.PrepareBatch(ctx, schema.Statements.Insert())
	if err != nil {
		return err
	}
	defer batch.Close()
	if err := batch.Append(st.Period, st.ID, st.Hash, st.ClosedAt, st.ClosedBy, string(canon)); err != nil {
		return err
	}
	return batch.Send()
}

// loadClosed reads every closed statement, checking each one's lines
// against its stored hash.
func loadClosed(ctx context.Context, conn driver.Conn) (map[string]*Statement, error) {
	rows, err := conn.Query(ctx, selectStatementsSQL)
	if err != nil {
		return nil, fmt.Errorf("read statements: %w", err)
	}
	defer rows.Close()
	out := map[string]*Statement{}
	for rows.Next() {
		var (
			st    Statement
			lines string
		)
		if err := rows.Scan(&st.Period, &st.ID, &st.Hash, &st.ClosedAt, &st.ClosedBy, &lines); err != nil {
			return nil, fmt.Errorf("read statements: %w", err)
		}
		if _, ok := out[st.Period]; ok {
			continue
		}
		if h := hashOf([]byte(lines)); h != st.Hash {
			return nil, fmt.Errorf("statement %s: stored lines hash to %s, not the recorded %s", st.ID, h, st.Hash)
		}
		if err := json.Unmarshal([]byte(lines), &st.Lines); err != nil {
			return nil, fmt.Errorf("statement %s: %w", st.ID, err)
		}
		if st.Lines == nil {
			st.Lines = []Line{}
		}
		st.Status = StatusClosed
		st.ClosedAt = st.ClosedAt.UTC().Truncate(time.Second)
		st.Totals = totals(st.Lines)
		out[st.Period] = &st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read statements: %w", err)
	}
	return out, nil
}
