// Package geo maps a client IP to its country.
//
// This product includes IP2Location LITE data available from
// https://lite.ip2location.com (CC BY-SA 4.0), as shipped in
// github.com/phuslu/iploc.
package geo

import (
	"net/netip"

	"github.com/phuslu/iploc"
)

// Unknown is the country of addresses that have none.
const Unknown = "ZZ"

// Country returns the ISO 3166-1 alpha-2 code (upper case) of ip, or Unknown
// for an invalid, private, loopback, link-local, unspecified or multicast
// address, or one the table does not place. IPv4-mapped IPv6 addresses are
// looked up as IPv4. It does not allocate.
func Country(ip netip.Addr) string {
	ip = ip.Unmap() // iploc would look ::ffff:a.b.c.d up in the IPv6 table
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() {
		// IsGlobalUnicast is false for loopback, link-local, unspecified,
		// multicast and the IPv4 broadcast address.
		return Unknown
	}
	// iploc returns a 2-byte slice of its embedded table, "ZZ" for
	// reserved ranges, or "" for IPv6 when IPLOC_IPV4ONLY is set.
	c := iploc.IPCountry(ip)
	if len(c) != 2 {
		return Unknown
	}
	return c
}
