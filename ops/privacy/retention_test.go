package privacy

import (
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in     string
		want   Period
		cutoff string // "" when off
		bad    bool
	}{
		{"13mo", Period{Months: 13}, "2025-10-26", false},
		{"2y", Period{Years: 2}, "2024-11-26", false},
		{"400d", Period{Days: 400}, "2025-10-22", false},
		{"off", Period{}, "", false},
		{"", Period{}, "", false},
		{"0", Period{}, "", false},
		{"13", Period{}, "", true},
		{"-1mo", Period{}, "", true},
		{"0mo", Period{}, "", true},
		{"13m", Period{}, "", true}, // minutes or months? refused
		{"1y2mo", Period{}, "", true},
	} {
		got, err := ParsePeriod(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("%q: %+v %v, want %+v (error %v)", tc.in, got, err, tc.want, tc.bad)
			continue
		}
		if tc.bad {
			continue
		}
		if got.Off() != (tc.cutoff == "") {
			t.Errorf("%q: Off() = %v", tc.in, got.Off())
		}
		if tc.cutoff != "" {
			if c := got.Cutoff(now).Format(time.DateOnly); c != tc.cutoff {
				t.Errorf("%q: cutoff %s, want %s", tc.in, c, tc.cutoff)
			}
			if again, _ := ParsePeriod(got.String()); again != got {
				t.Errorf("%q: String %q does not parse back", tc.in, got.String())
			}
		}
	}
}
