package chdb

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Each runs query with args and hands each row to scan, in order, stopping
// at scan's first error; the rows are closed before it returns. Errors come
// back as they are, for the caller to wrap with its operation's name.
func Each(ctx context.Context, conn driver.Conn, query string, args []any, scan func(driver.Rows) error) error {
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Collect runs query with args and returns the value scan makes of each
// row, in order. Errors come back as they are, as from Each.
func Collect[T any](ctx context.Context, conn driver.Conn, query string, args []any, scan func(driver.Rows) (T, error)) ([]T, error) {
	var out []T
	err := Each(ctx, conn, query, args, func(r driver.Rows) error {
		v, err := scan(r)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// InsertColumns writes whole columns with one batch of query (an INSERT):
// cols[i] is the i-th column's values, all of one length.
func InsertColumns(ctx context.Context, conn driver.Conn, query string, cols []any) error {
	b, err := conn.PrepareBatch(ctx, query)
	if err != nil {
		return fmt.Errorf("prepare batch: %w", err)
	}
	defer b.Close()
	for i, col := range cols {
		if err := b.Column(i).Append(col); err != nil {
			return fmt.Errorf("append column %d: %w", i, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("send batch: %w", err)
	}
	return nil
}
