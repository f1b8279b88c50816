package main

import (
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram (the HDR layout): values below
// 2^subBits ns are exact, larger ones fall into buckets 1/2^subBits (~1.6%)
// wide. It costs no allocation per sample and merges by adding counts.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	sum    int64
	max    int64
}

const (
	subBits     = 6
	histBuckets = (64-subBits)<<subBits + 1<<(subBits+1)
)

func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	}
	if v < 1<<(subBits+1) {
		return int(v)
	}
	l := bits.Len64(uint64(v))
	shift := l - 1 - subBits
	top := v >> shift // in [2^subBits, 2^(subBits+1))
	return shift<<subBits + int(top)
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) int64 {
	if i < 1<<(subBits+1) {
		return int64(i)
	}
	shift := i>>subBits - 1
	top := int64(i - shift<<subBits)
	lo := top << shift
	return lo + (int64(1)<<shift)/2
}

func (h *hist) record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += v
	if v > h.max {
		h.max = v
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1); the exact maximum for q = 1.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketValue(i), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *hist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / int64(h.n))
}
