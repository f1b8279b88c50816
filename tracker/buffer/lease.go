package buffer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xpromo/xpromo/lib/refresh"
)

// Stream ids never go backwards across restarts: the instance id (so the
// streams) is kept in Dir, and a lease of future milliseconds kept on disk
// bounds the ids issued, so a restart starts above every id issued before.

const leaseAhead = 10 * time.Second

func instanceID(dir string) (string, error) {
	p := filepath.Join(dir, "instance")
	if b, err := os.ReadFile(p); err == nil {
		id := strings.TrimSpace(string(b))
		if id != "" && len(id) <= 64 && !strings.ContainsAny(id, " \t\n{}") {
			return id, nil
		}
	}
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, host)
	if len(host) > 32 {
		host = host[:32]
	}
	rb := make([]byte, 4)
	_, _ = rand.Read(rb)
	id := strings.TrimPrefix(host+"-"+hex.EncodeToString(rb), "-")
	if err := writeFileSync(p, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("buffer: keep instance id: %w", err)
	}
	return id, nil
}

func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// initIDs starts ids above everything issued before: the stream's last id
// when Redis answers, and the lease kept on disk in any case.
func (b *Buffer) initIDs(ctx context.Context) error {
	var lease entryID
	if raw, err := os.ReadFile(b.leaseFile); err == nil {
		ms, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil {
			return fmt.Errorf("buffer: id lease file %s: %w", b.leaseFile, err)
		}
		lease = entryID{ms: ms}
	}
	ictx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	latest := uint64(b.now().UnixMilli())
	for _, w := range b.workers {
		w.last = lease
		if info, err := b.rdb.XInfoStream(ictx, w.stream).Result(); err == nil {
			if top, err := parseEntryID(info.LastGeneratedID); err == nil && w.last.less(top) {
				w.last = top
			}
		}
		latest = max(latest, w.last.ms)
	}
	return b.renewLease(latest)
}

// renewLease records on disk that ids up to ms+leaseAhead may be issued.
func (b *Buffer) renewLease(ms uint64) error {
	b.leaseMu.Lock()
	defer b.leaseMu.Unlock()
	next := ms + uint64(leaseAhead/time.Millisecond)
	if next <= b.leaseMs.Load() {
		return nil
	}
	if err := writeFileSync(b.leaseFile, []byte(strconv.FormatUint(next, 10)+"\n")); err != nil {
		return fmt.Errorf("buffer: renew id lease: %w", err)
	}
	b.leaseMs.Store(next)
	return nil
}

// leaseLoop keeps the buffer registered and its id lease ahead, every
// second until ctx ends.
func (b *Buffer) leaseLoop(ctx context.Context) { refresh.Every(ctx, time.Second, b.keepLease) }

func (b *Buffer) keepLease(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	_ = b.register(rctx) // a Redis that is down shows up as spills; nothing to add here
	cancel()
	now := uint64(b.now().UnixMilli())
	if b.leaseMs.Load() < now+uint64(leaseAhead/time.Millisecond)/2 {
		if err := b.renewLease(now); err != nil {
			b.log.Error("buffer: cannot renew the id lease", "err", err)
		}
	}
}
