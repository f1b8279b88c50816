package reports

import (
	"context"
	"fmt"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/sync/errgroup"

	"github.com/xpromo/xpromo/lib/chdb"
)

// reads runs a report's queries concurrently and hands their rows to the
// scan funcs one at a time, so that the scans may merge into shared maps
// without locks of their own.
type reads struct {
	ctx   context.Context
	conn  driver.Conn
	mu    sync.Mutex
	group errgroup.Group
}

func newReads(ctx context.Context, env *Env) *reads {
	return &reads{ctx: ctx, conn: env.Conn}
}

// read starts query q with args; its errors are named op.
func (r *reads) read(op, q string, args []any, scan func(driver.Rows) error) {
	r.group.Go(func() error {
		err := chdb.Each(r.ctx, r.conn, q, args, func(rows driver.Rows) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			return scan(rows)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	})
}

// wait waits for every query and returns the first error.
func (r *reads) wait() error { return r.group.Wait() }

// entry returns m's value for k, adding a zero one first when k is missing.
func entry[K comparable, V any](m map[K]*V, k K) *V {
	v := m[k]
	if v == nil {
		v = new(V)
		m[k] = v
	}
	return v
}
