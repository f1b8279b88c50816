package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xpromo/xpromo/domain/vocab"
	"github.com/xpromo/xpromo/lib/ids"
	"github.com/xpromo/xpromo/tracker/buffer"
	"github.com/xpromo/xpromo/tracker/geo"
	"github.com/xpromo/xpromo/tracker/hit"
)

// fillConfig describes the hits --fill-stream writes: clicks on one link,
// from the same countries and devices as the HTTP load.
type fillConfig struct {
	RedisURL    string
	Prefix      string
	Instance    string // the stream is buffer.StreamKey(Prefix, Instance)
	N           int
	Group       int // hits per stream entry, as one group commit of the tracker writes them
	Chunk       int // stream entries per pipeline
	Parallel    int // pipelines in flight
	Link        string
	Partner     string
	Partnership string
	Campaign    string
}

type fillResult struct {
	Stream  string  `json:"stream"`
	Hits    int     `json:"hits"`
	Group   int     `json:"hits_per_entry"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"hits_per_s"`
	XLen    int64   `json:"xlen"`
}

// fakeHit is a click as the tracker would have recorded it.
func fakeHit(r *mrand.Rand, cfg *fillConfig, now time.Time) *hit.Hit {
	a, _ := randomAddr(r)
	var vid [16]byte
	_, _ = rand.Read(vid[:])
	dev := hit.DeviceDesktop
	if r.IntN(2) == 0 {
		dev = hit.DeviceMobile
	}
	return &hit.Hit{
		ID:          ids.New(now),
		Time:        now,
		Kind:        hit.KindClick,
		Link:        cfg.Link,
		Partner:     cfg.Partner,
		Partnership: cfg.Partnership,
		Direction:   vocab.DirectionInbound,
		Campaign:    cfg.Campaign,
		Country:     geo.Country(a),
		Visitor:     base64.RawURLEncoding.EncodeToString(vid[:]),
		RefHost:     "www.acme.example",
		Device:      dev,
	}
}

func openRedis(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis-url: %w", err)
	}
	return redis.NewClient(opts), nil
}

// fillStream XADDs cfg.N encoded hits to one stream (ids chosen by Redis)
// and registers the stream where the ingester looks for streams.
func fillStream(ctx context.Context, cfg fillConfig) (*fillResult, error) {
	if cfg.N <= 0 {
		return nil, errors.New("--fill-stream needs a positive number of hits")
	}
	cfg.Group = max(cfg.Group, 1)
	cfg.Chunk = max(cfg.Chunk, 1)
	chunk := cfg.Chunk * cfg.Group // hits per pipeline
	cfg.Parallel = max(cfg.Parallel, 1)
	rdb, err := openRedis(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	stream := buffer.StreamKey(cfg.Prefix, cfg.Instance)
	if err := rdb.SAdd(ctx, buffer.RegistryKey(cfg.Prefix), stream).Err(); err != nil {
		return nil, fmt.Errorf("register stream: %w", err)
	}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, cfg.Parallel)
	for g := range cfg.Parallel {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(start.UnixNano()), uint64(g)))
			for {
				from := int(next.Add(int64(chunk))) - chunk
				if from >= cfg.N {
					return
				}
				to := min(from+chunk, cfg.N)
				now := time.Now().UTC()
				_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					// Entries are groups of hits, as the tracker's group commits write them.
					for k := from; k < to; k += cfg.Group {
						parts := make([][]byte, 0, cfg.Group)
						for range min(cfg.Group, to-k) {
							parts = append(parts, fakeHit(r, &cfg, now).Marshal())
						}
						p.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: "*", Values: []any{buffer.Field, hit.AppendGroup(nil, parts)}})
					}
					return nil
				})
				if err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("xadd: %w", err)
	}
	el := time.Since(start)
	xl, _ := rdb.XLen(ctx, stream).Result()
	return &fillResult{Stream: stream, Hits: cfg.N, Group: cfg.Group, Seconds: el.Seconds(), Rate: float64(cfg.N) / el.Seconds(), XLen: xl}, nil
}

// waitConfig: wait until the ingester has moved everything.
type waitConfig struct {
	RedisURL      string
	Prefix        string
	ClickHouseURL string
	Table         string
	Target        uint64    // rows the table must hold
	Since         time.Time // clock start (when the ingester was started)
	Timeout       time.Duration
	Poll          time.Duration
}

type waitResult struct {
	Target       uint64  `json:"target_rows"`
	Rows         uint64  `json:"rows"`
	Backlog      int64   `json:"backlog"`          // stream entries left
	BacklogStart int64   `json:"backlog_at_start"` // stream entries when the wait began
	Seconds      float64 `json:"seconds"`          // from Since until done
	FirstRowsS   float64 `json:"first_rows_s"`     // from Since until rows first grew
	Rate         float64 `json:"hits_per_s"`       // moved rows / Seconds
	RateSteady   float64 `json:"hits_per_s_after_first_batch"`
	TimedOut     bool    `json:"timed_out"`
}

// backlog is the number of entries in every registered stream; the
// ingester deletes entries once ClickHouse has them.
func backlog(ctx context.Context, rdb *redis.Client, prefix string) (int64, error) {
	streams, err := rdb.SMembers(ctx, buffer.RegistryKey(prefix)).Result()
	if err != nil {
		return 0, err
	}
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range streams {
			p.XLen(ctx, s)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, err
	}
	var n int64
	for _, c := range cmds {
		n += c.(*redis.IntCmd).Val()
	}
	return n, nil
}

func waitIngest(ctx context.Context, cfg waitConfig) (*waitResult, error) {
	if cfg.Since.IsZero() {
		cfg.Since = time.Now()
	}
	rdb, err := openRedis(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	rc, err := newRowCounter(ctx, cfg.ClickHouseURL, cfg.Table)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	res := &waitResult{Target: cfg.Target}
	startRows, err := rc.rows(ctx)
	if err != nil {
		return nil, err
	}
	if res.BacklogStart, err = backlog(ctx, rdb, cfg.Prefix); err != nil {
		return nil, err
	}
	var firstAt time.Time
	var firstRows uint64
	deadline := time.Now().Add(cfg.Timeout)
	for {
		rows, err := rc.rows(ctx)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		if firstAt.IsZero() && rows > startRows {
			firstAt, firstRows = now, rows
		}
		res.Rows = rows
		if rows >= cfg.Target {
			if res.Backlog, err = backlog(ctx, rdb, cfg.Prefix); err != nil {
				return nil, err
			}
			if res.Backlog == 0 {
				break
			}
		}
		if now.After(deadline) {
			res.TimedOut = true
			res.Backlog, _ = backlog(ctx, rdb, cfg.Prefix)
			break
		}
		time.Sleep(cfg.Poll)
	}
	end := time.Now()
	if n, err := rc.count(ctx); err == nil {
		res.Rows = n
	}
	res.Seconds = end.Sub(cfg.Since).Seconds()
	moved := float64(res.Rows) - float64(startRows)
	if res.Seconds > 0 {
		res.Rate = moved / res.Seconds
	}
	if !firstAt.IsZero() {
		res.FirstRowsS = firstAt.Sub(cfg.Since).Seconds()
		if d := end.Sub(firstAt).Seconds(); d > 0 {
			res.RateSteady = (float64(res.Rows) - float64(firstRows)) / d
		}
	}
	return res, nil
}
