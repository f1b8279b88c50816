package app

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xpromo/xpromo/domain/attribution"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/domain/fx"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/lib/notify"
	"github.com/xpromo/xpromo/ops/privacy"
	"github.com/xpromo/xpromo/tracker/conversion"
)

// task is one of Serve's background jobs.
type task struct {
	name string
	// period 0: run is called once and runs until ctx ends. Otherwise run
	// is one pass, called every period (and at start when atStart); a
	// failed pass is logged and the next one retries.
	period  time.Duration
	atStart bool
	run     func(context.Context) error
}

// startTasks runs each task in its own goroutine until ctx ends and
// returns a function that waits for all of them. A task that fails does
// not stop the others (nor the server): it is logged by name. Hence a
// WaitGroup, not an errgroup, whose first error would cancel the rest.
func startTasks(ctx context.Context, log *slog.Logger, tasks []task) (wait func()) {
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Go(func() { t.loop(ctx, log) })
	}
	return wg.Wait
}

func (t task) loop(ctx context.Context, log *slog.Logger) {
	if t.period == 0 {
		if err := t.run(ctx); err != nil {
			log.Error(t.name+" stopped", "err", err)
		}
		return
	}
	pass := func() {
		// A pass cut short by shutdown is no failure.
		if err := t.run(ctx); err != nil && ctx.Err() == nil {
			log.Warn(t.name+" run failed; the next one retries", "err", err)
		}
	}
	tick := time.NewTicker(t.period)
	defer tick.Stop()
	if t.atStart {
		pass()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pass()
	}
}

// untilDone adapts a loop that runs until ctx ends and cannot fail.
func untilDone(run func(context.Context)) func(context.Context) error {
	return func(ctx context.Context) error {
		run(ctx)
		return nil
	}
}

// serveTasks is everything serve runs in the background besides the
// ingester (see Serve for why that one stops on its own), all stopped
// together at the end of shutdown.
func serveTasks(c *Config, ch driver.Conn, pg *pgxpool.Pool, cat *catalog.Cache, verifier *auth.Verifier, salts *conversion.Salts, catN, tokN *notify.Notifier, log *slog.Logger) []task {
	tasks := []task{
		{name: "catalog reload", run: untilDone(cat.Run)},
		{name: "tokens reload", run: untilDone(verifier.Run)},
		{name: "salts reload", run: untilDone(salts.Run)},
		// Changes made anywhere (this API, another tracker's, the CLI) are
		// announced on Redis so every tracker reloads within a second; the
		// periodic reload stays as the safety net for missed messages.
		{name: "catalog changes watch", run: untilDone(func(ctx context.Context) { catN.Watch(ctx, cat.Trigger) })},
		{name: "tokens changes watch", run: untilDone(func(ctx context.Context) { tokN.Watch(ctx, verifier.Trigger) })},
	}
	if c.AttributeEvery > 0 {
		clock := c.Clock
		job := attribution.NewJob(ch, catalog.NewStore(pg).WithClock(clock), fx.NewStore(pg).WithClock(clock), log).WithClock(clock)
		job.ReportingCurrency = strings.ToUpper(c.ReportingCur)
		tasks = append(tasks, task{name: "attribution", period: c.AttributeEvery, run: func(ctx context.Context) error {
			return attributeOpenPeriods(ctx, job, clock(), c.AttributeEvery, log)
		}})
	}
	if keep, _ := privacy.ParsePeriod(c.RetainHits); !keep.Off() {
		tasks = append(tasks, task{name: "retention", period: retentionEvery, atStart: true, run: func(ctx context.Context) error {
			return applyRetentionPass(ctx, ch, catalog.NewStore(pg).WithClock(c.Clock), keep, c.Clock, log)
		}})
	}
	return tasks
}

// attributeOpenPeriods recomputes the attribution of the open periods
// (this month and the previous one); serve runs it every
// --attribute-every, so late clicks, late conversions and corrected terms
// are reflected within a minute.
func attributeOpenPeriods(ctx context.Context, job *attribution.Job, now time.Time, every time.Duration, log *slog.Logger) error {
	now = now.UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	ctx, cancel := context.WithTimeout(ctx, every*5)
	defer cancel()
	sum, err := job.Run(ctx, from, now.Add(time.Second))
	if err != nil {
		return err
	}
	log.Debug("attribution run", "conversions", sum.Conversions, "clicks", sum.Clicks, "unconverted", sum.Unconverted)
	return nil
}
