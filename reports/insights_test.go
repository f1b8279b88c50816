package reports

import (
	"testing"
)

func TestRankBy(t *testing.T) {
	type item struct {
		v    float64
		has  bool
		rank int
	}
	for _, c := range []struct {
		name string
		in   []item
		want []int
	}{
		{"highest first", []item{{1, true, 0}, {3, true, 0}, {2, true, 0}}, []int{3, 1, 2}},
		{"ties share a rank, the next skips", []item{{5, true, 0}, {5, true, 0}, {4, true, 0}}, []int{1, 1, 3}},
		{"no value, no rank", []item{{0, false, 9}, {1, true, 0}}, []int{0, 1}},
		{"empty", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			list := make([]*item, len(c.in))
			for i := range c.in {
				list[i] = &c.in[i]
			}
			rankBy(list, func(it *item) (float64, bool) { return it.v, it.has }, func(it *item, n int) { it.rank = n })
			for i, it := range list {
				if it.rank != c.want[i] {
					t.Errorf("item %d: rank %d, want %d", i, it.rank, c.want[i])
				}
			}
		})
	}
}

func TestClickBand(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 1: "1-99", 99: "1-99", 100: "100-999", 999: "100-999", 1000: "1k-10k",
		99999: "10k-100k", 100000: "100k-1M", 1000000: "1M+"} {
		if got := ClickBand(n); got != want {
			t.Errorf("ClickBand(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestPer1kAndMedian(t *testing.T) {
	if per1k(1, 0) != nil || per1k(1, 3) != 333.3 || per1k(2, 2) != 1000.0 {
		t.Errorf("per1k: %v %v %v", per1k(1, 0), per1k(1, 3), per1k(2, 2))
	}
	if median(nil) != nil || median([]float64{3, 1, 2}) != 2.0 || median([]float64{4, 1, 2, 3}) != 2.5 {
		t.Errorf("median: %v %v %v", median(nil), median([]float64{3, 1, 2}), median([]float64{4, 1, 2, 3}))
	}
}
