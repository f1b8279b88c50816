package capture

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseCIDRs parses a comma-separated list of CIDRs or plain addresses.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", part, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// ClientIP finds the client's address: the peer, unless the peer is a
// trusted proxy, in which case X-Forwarded-For is walked from the right
// past trusted proxies; the first untrusted address is the client. Entries
// left of it were written by the client itself and are not believed.
type ClientIP struct{ trusted []netip.Prefix }

// NewClientIP returns a ClientIP trusting the given proxies.
func NewClientIP(trusted []netip.Prefix) *ClientIP { return &ClientIP{trusted: trusted} }

func (c *ClientIP) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// FromPeer reports whether the request came straight from a trusted proxy.
func (c *ClientIP) FromPeer(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	return a, c.isTrusted(a)
}

// Addr returns the client address, or the zero Addr if it cannot be told.
func (c *ClientIP) Addr(r *http.Request) netip.Addr {
	peer, trusted := c.FromPeer(r)
	if !trusted {
		return peer
	}
	xff := r.Header.Values("X-Forwarded-For")
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				// Garbage where an address should be: stop believing here.
				return client
			}
			client = a.Unmap()
			if !c.isTrusted(client) {
				return client
			}
		}
	}
	return client
}

// Secure reports whether the client reached us over TLS, directly or
// through a trusted proxy that says so.
func (c *ClientIP) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if _, trusted := c.FromPeer(r); trusted {
		return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	}
	return false
}
