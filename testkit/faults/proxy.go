package faults

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ProxyMode is what a proxy does with connections.
type ProxyMode int32

const (
	// Up forwards everything.
	Up ProxyMode = iota
	// Down cuts every open connection and closes each new one at once:
	// the server looks stopped.
	Down
	// Flaky cuts a fraction of ClickHouse inserts: either while the
	// client still sends the data (the server drops the insert) or just
	// after the server took it, dropping its answer (the insert is applied
	// but the client sees an error).
	Flaky
)

// insertBytes: a client sending this much before the server answers is
// sending an insert's data (queries are far smaller).
const insertBytes = 16 << 10

// Proxy is a TCP proxy in front of a shared server (ClickHouse, PostgreSQL)
// that the tests control: it takes the server away for one system under
// test without stopping it for everyone else.
type Proxy struct {
	ln     net.Listener
	target string
	mode   atomic.Int32
	frac   atomic.Uint64 // Flaky: fraction of inserts cut, as math.Float64bits
	cut    atomic.Int64  // inserts cut in Flaky mode
	mu     sync.Mutex
	conns  map[*pconn]struct{}
	closed bool
	wg     sync.WaitGroup
}

type pconn struct {
	client, server net.Conn
	once           sync.Once
	sent           atomic.Int64 // client bytes since the server last spoke
	doomed         atomic.Bool  // drop the server's next answer and cut
}

func (c *pconn) close() {
	c.once.Do(func() {
		c.client.Close()
		c.server.Close()
	})
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[*pconn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut is how many inserts Flaky mode has cut.
func (p *Proxy) Cut() int64 { return p.cut.Load() }

// Set switches the mode; Down also cuts every open connection.
func (p *Proxy) Set(m ProxyMode, fraction float64) {
	p.frac.Store(uint64(fraction * 1e6))
	p.mode.Store(int32(m))
	if m == Down {
		p.mu.Lock()
		for c := range p.conns {
			c.close()
		}
		p.mu.Unlock()
	}
}

// Close stops the proxy and cuts everything.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	for {
		cl, err := p.ln.Accept()
		if err != nil {
			return
		}
		if ProxyMode(p.mode.Load()) == Down {
			cl.Close()
			continue
		}
		srv, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			cl.Close()
			continue
		}
		c := &pconn{client: cl, server: srv}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.close()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.up(c) })
		p.wg.Go(func() { p.down(c) })
	}
}

func (p *Proxy) forget(c *pconn) {
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// up copies client to server, deciding once per insert whether to cut it.
func (p *Proxy) up(c *pconn) {
	defer p.forget(c)
	buf := make([]byte, 32<<10)
	decided := false
	for {
		n, err := c.client.Read(buf)
		if n > 0 {
			before := c.sent.Add(int64(n)) - int64(n)
			if before == 0 {
				decided = false
			}
			if !decided && before+int64(n) >= insertBytes && ProxyMode(p.mode.Load()) == Flaky {
				decided = true
				if rand.Float64()*1e6 < float64(p.frac.Load()) {
					p.cut.Add(1)
					if rand.IntN(2) == 0 {
						return // cut mid-insert: the server drops it
					}
					c.doomed.Store(true) // applied, but its answer is lost
				}
			}
			if _, werr := c.server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// down copies server to client.
func (p *Proxy) down(c *pconn) {
	defer p.forget(c)
	buf := make([]byte, 32<<10)
	for {
		n, err := c.server.Read(buf)
		if n > 0 {
			c.sent.Store(0)
			if c.doomed.Load() {
				// The server answered the insert: it is applied. Drop the
				// answer and cut, as a network failure would.
				return
			}
			if _, werr := c.client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
