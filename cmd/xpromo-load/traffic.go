package main

import (
	"math/rand/v2"
	"net/netip"
)

// countries are the X-Forwarded-For sources: prefixes the bundled IP table
// places in the named country (checked by the test), weighted towards the
// demo partnership's Germany.
var countries = []struct {
	Country string
	Prefix  netip.Prefix
	Weight  int
}{
	{"DE", netip.MustParsePrefix("91.0.0.0/11"), 50},
	{"FR", netip.MustParsePrefix("86.192.0.0/11"), 15},
	{"US", netip.MustParsePrefix("73.0.0.0/8"), 15},
	{"GB", netip.MustParsePrefix("86.128.0.0/10"), 10},
	{"ES", netip.MustParsePrefix("88.0.0.0/11"), 5},
	{"IT", netip.MustParsePrefix("79.0.0.0/11"), 5},
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
}

var totalWeight = func() int {
	n := 0
	for _, c := range countries {
		n += c.Weight
	}
	return n
}()

// randomAddr returns a random address of a weighted random country.
func randomAddr(r *rand.Rand) (netip.Addr, string) {
	w := r.IntN(totalWeight)
	c := countries[0]
	for _, cc := range countries {
		if w < cc.Weight {
			c = cc
			break
		}
		w -= cc.Weight
	}
	return randomAddrIn(r, c.Prefix), c.Country
}

// randomAddrIn returns a random host address of an IPv4 prefix.
func randomAddrIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	host := r.Uint32() & (1<<(32-p.Bits()) - 1)
	host |= 1 // never the network address
	v := base | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
