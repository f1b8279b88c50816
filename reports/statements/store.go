package statements

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xpromo/xpromo/lib/pgdb"
)

const (
	statementColumns    = `period, id, hash, closed_at, closed_by, lines`
	selectStatementsSQL = `SELECT ` + statementColumns + ` FROM statements ORDER BY period`
	selectStatementSQL  = `SELECT ` + statementColumns + ` FROM statements WHERE period = $1`
	insertStatementSQL  = `INSERT INTO statements (` + statementColumns + `) VALUES ($1, $2, $3, $4, $5, $6)`

	// closeLockKey is the transaction-scoped advisory lock every Close
	// holds from reading the closed periods to storing its own ("xprclo" in
	// ASCII; the migrations hold another). A statement carries adjustments
	// for the periods closed before it, so two months closed at once in two
	// processes could both adjust the same earlier month: one at a time
	// they cannot.
	closeLockKey = 0x787072_636c6f
)

// ClosedError is the answer to closing a period that already has its
// statement; errors.Is(err, ErrClosed) holds.
type ClosedError struct {
	Period, ID, ClosedBy string
	ClosedAt             time.Time
}

func (e *ClosedError) Error() string {
	return fmt.Sprintf("%s is already closed: statement %s, closed at %s by %s",
		e.Period, e.ID, e.ClosedAt.UTC().Format(time.RFC3339), e.ClosedBy)
}

func (e *ClosedError) Is(target error) bool { return target == ErrClosed }

func closedError(st *Statement) error {
	return &ClosedError{Period: st.Period, ID: st.ID, ClosedBy: st.ClosedBy, ClosedAt: st.ClosedAt}
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// insertStatement stores st. The period is the primary key: a statement
// stored meanwhile for the period (by a writer that did not take the close
// lock) makes it fail with a *ClosedError naming that statement.
func insertStatement(ctx context.Context, tx pgx.Tx, st *Statement, canon []byte) error {
	// A savepoint keeps the transaction usable for reading the winner.
	_, err := tx.Exec(ctx, "SAVEPOINT insert_statement")
	if err == nil {
		_, err = tx.Exec(ctx, insertStatementSQL, st.Period, st.ID, st.Hash, st.ClosedAt, st.ClosedBy, string(canon))
	}
	if c, dup := pgdb.Violation(err, pgdb.UniqueViolation); dup && c == "statements_pkey" {
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT insert_statement"); err != nil {
			return err
		}
		won, err := loadPeriod(ctx, tx, st.Period)
		if err != nil {
			return err
		}
		if won == nil {
			return fmt.Errorf("%w: %s (the closing statement cannot be read)", ErrClosed, st.Period)
		}
		return closedError(won)
	}
	return err
}

// loadClosed reads every closed statement, checking each one's lines
// against its stored hash.
func loadClosed(ctx context.Context, q querier) (map[string]*Statement, error) {
	rows, err := q.Query(ctx, selectStatementsSQL)
	if err != nil {
		return nil, fmt.Errorf("read statements: %w", err)
	}
	all, err := pgx.CollectRows(rows, scanStatement)
	if err != nil {
		return nil, fmt.Errorf("read statements: %w", err)
	}
	out := make(map[string]*Statement, len(all))
	for _, st := range all {
		out[st.Period] = st
	}
	return out, nil
}

// loadPeriod reads period's closed statement, nil when it has none.
func loadPeriod(ctx context.Context, q querier, period string) (*Statement, error) {
	rows, err := q.Query(ctx, selectStatementSQL, period)
	if err != nil {
		return nil, fmt.Errorf("read statement %s: %w", period, err)
	}
	st, err := pgx.CollectOneRow(rows, scanStatement)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read statement %s: %w", period, err)
	}
	return st, nil
}

// scanStatement reads one row of statementColumns.
func scanStatement(row pgx.CollectableRow) (*Statement, error) {
	var (
		st    Statement
		lines string
	)
	if err := row.Scan(&st.Period, &st.ID, &st.Hash, &st.ClosedAt, &st.ClosedBy, &lines); err != nil {
		return nil, err
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
	return &st, nil
}
