package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// rawConn is a minimal HTTP/1.1 keep-alive client for one connection: the
// request is written from a reused buffer and the answer parsed in place.
// It costs far less CPU per request than net/http's client (no per-request
// goroutine handoffs between the caller and the connection's read and write
// loops), which matters when the load generator shares 2 cores with the
// servers it measures.
type rawConn struct {
	host    string // host:port to dial
	path    string // request target, with query
	timeout time.Duration
	conn    net.Conn
	br      *bufio.Reader
	wbuf    []byte
}

func newRawConn(u *url.URL, timeout time.Duration) (*rawConn, error) {
	if u.Scheme != "http" {
		return nil, fmt.Errorf("--client raw speaks plain http only, not %q", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	return &rawConn{host: host, path: u.RequestURI(), timeout: timeout}, nil
}

func (c *rawConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

var errBadResponse = errors.New("malformed HTTP response")

// do sends one GET and reads the answer; it returns the status code.
func (c *rawConn) do(hostHeader, ua string, xff []byte) (int, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.host, c.timeout)
		if err != nil {
			return 0, err
		}
		c.conn = conn
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 16<<10)
		} else {
			c.br.Reset(conn)
		}
	}
	b := c.wbuf[:0]
	b = append(b, "GET "...)
	b = append(b, c.path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, hostHeader...)
	b = append(b, "\r\nUser-Agent: "...)
	b = append(b, ua...)
	b = append(b, "\r\nAccept: text/html,application/xhtml+xml,image/avif,image/webp,*/*;q=0.8\r\nAccept-Language: de-DE,de;q=0.9,en;q=0.8\r\n"...)
	if xff != nil {
		b = append(b, "X-Forwarded-For: "...)
		b = append(b, xff...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	c.wbuf = b
	if c.timeout > 0 {
		_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	}
	if _, err := c.conn.Write(b); err != nil {
		c.close()
		return 0, err
	}
	code, err := c.readResponse()
	if err != nil {
		c.close()
		return 0, err
	}
	return code, nil
}

func (c *rawConn) readResponse() (int, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 302 Found\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, errBadResponse
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, errBadResponse
	}
	length, chunked, closeAfter := int64(-1), false, line[7] == '0'
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break // the blank line
		}
		k, v, ok := bytes.Cut(h, []byte{':'})
		if !ok {
			return 0, errBadResponse
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "content-length"):
			if length, err = strconv.ParseInt(string(v), 10, 64); err != nil || length < 0 {
				return 0, errBadResponse
			}
		case asciiEqualFold(k, "transfer-encoding"):
			chunked = asciiEqualFold(v, "chunked")
		case asciiEqualFold(k, "connection"):
			if asciiEqualFold(v, "close") {
				closeAfter = true
			} else if asciiEqualFold(v, "keep-alive") {
				closeAfter = false
			}
		}
	}
	switch {
	case code/100 == 1 || code == http.StatusNoContent || code == http.StatusNotModified:
	case chunked:
		if err := c.discardChunked(); err != nil {
			return 0, err
		}
	case length >= 0:
		if _, err := c.br.Discard(int(length)); err != nil {
			return 0, err
		}
	default: // the body runs to the end of the connection
		if _, err := io.Copy(io.Discard, c.br); err != nil {
			return 0, err
		}
		closeAfter = true
	}
	if closeAfter {
		c.close()
	}
	return code, nil
}

func (c *rawConn) discardChunked() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		sz, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte{';'})
		n, err := strconv.ParseInt(string(sz), 16, 64)
		if err != nil || n < 0 {
			return errBadResponse
		}
		if n == 0 {
			for { // trailers up to the blank line
				t, err := c.br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(t) <= 2 {
					return nil
				}
			}
		}
		if _, err := c.br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
