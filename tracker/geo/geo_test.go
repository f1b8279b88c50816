package geo

import (
	"net/netip"
	"testing"
)

func TestCountry(t *testing.T) {
	for _, tc := range []struct {
		ip   string // "" is the zero Addr
		want string
	}{
		{"8.8.8.8", "US"},
		{"81.2.69.142", "GB"},
		{"2001:4860:4860::8888", "US"},
		{"2a00:1450:4001:80b::200e", "DE"},
		{"::ffff:8.8.8.8", "US"},
		{"::ffff:81.2.69.142", "GB"},
		{"127.0.0.1", Unknown},
		{"10.1.2.3", Unknown},
		{"172.16.0.1", Unknown},
		{"192.168.1.1", Unknown},
		{"169.254.1.1", Unknown},
		{"0.0.0.0", Unknown},
		{"224.0.0.1", Unknown},
		{"255.255.255.255", Unknown},
		{"::1", Unknown},
		{"::", Unknown},
		{"fe80::1", Unknown},
		{"fe80::1%eth0", Unknown},
		{"fc00::1", Unknown},
		{"ff02::1", Unknown},
		{"::ffff:10.1.2.3", Unknown},
		{"::ffff:127.0.0.1", Unknown},
		{"", Unknown},
	} {
		var ip netip.Addr
		if tc.ip != "" {
			ip = netip.MustParseAddr(tc.ip)
		}
		if got := Country(ip); got != tc.want {
			t.Errorf("Country(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func BenchmarkCountry(b *testing.B) {
	for _, bc := range []struct{ name, ip string }{
		{"v4", "81.2.69.142"},
		{"v6", "2001:4860:4860::8888"},
	} {
		ip := netip.MustParseAddr(bc.ip)
		Country(ip) // the IPv6 table is unpacked on first use
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Country(ip)
			}
		})
	}
}
