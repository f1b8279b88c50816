package testenv

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP forwarder in front of a real server (Redis, ClickHouse)
// that a test makes slow or unreachable: a server that answers late, or
// not at all, without stopping the shared server every test uses.
type Proxy struct {
	ln     net.Listener
	target string
	delay  atomic.Int64 // nanoseconds every answer from the server waits
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards to target
// (host:port) until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.cutAll()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetDelay makes every answer from the server wait d before it is passed
// on (the request itself reaches the server at once, so the server acts
// on it and only the reply is late). 0 forwards at once.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// SetDown(true) cuts every connection and refuses new ones: the server
// looks stopped. SetDown(false) lets connections through again.
func (p *Proxy) SetDown(down bool) {
	p.down.Store(down)
	if down {
		p.cutAll()
	}
}

func (p *Proxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *Proxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	for {
		cl, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			cl.Close()
			continue
		}
		srv, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			cl.Close()
			continue
		}
		p.track(cl, true)
		p.track(srv, true)
		closeBoth := func() {
			cl.Close()
			srv.Close()
			p.track(cl, false)
			p.track(srv, false)
		}
		p.wg.Go(func() { defer closeBoth(); p.copy(srv, cl, false) })
		p.wg.Go(func() { defer closeBoth(); p.copy(cl, srv, true) })
	}
}

// copy moves bytes from src to dst, holding each chunk back by the delay
// when it is an answer (late).
func (p *Proxy) copy(dst, src net.Conn, late bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.delay.Load()); late && d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
