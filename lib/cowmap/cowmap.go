// Package cowmap is a string-keyed map that is copied on write by shard:
// Clone costs a few hundred pointers instead of the whole map, and the
// first Set in a shard of a clone copies that shard only. A tracker keeps
// a catalog of a million links current this way: a change of one link
// copies 1/256 of the links, not all of them, and readers of the previous
// snapshot keep reading it undisturbed.
//
// Written here rather than taken from a persistent-map library (a HAMT such
// as benbjohnson/immutable): a lookup stays one hash and one Go map access,
// which the redirect path does on every request, where a trie walks
// several nodes.
package cowmap

import (
	"encoding/json"
	"hash/maphash"
	"iter"
	"maps"
	"slices"
)

// shards is the number of Go maps a Map is split into: a clone of a map
// of n entries changed in one place copies n/shards of them.
const shards = 256

var seed = maphash.MakeSeed()

// Map maps strings to V. Like a Go map it is a reference: copies of a
// *Map see each other's writes; Clone is what gives an independent one.
// Reads may run concurrently with each other and with Clone; Set, Delete
// and Clone may not run concurrently with each other on one Map.
type Map[V any] struct {
	shards [shards]map[string]V
	owned  [shards]bool // this Map may write the shard in place
	n      int
}

// New returns an empty Map.
func New[V any]() *Map[V] {
	m := &Map[V]{}
	for i := range m.owned {
		m.owned[i] = true
	}
	return m
}

func shardOf(k string) int { return int(maphash.String(seed, k) % shards) }

// Get returns the value of k and whether it is there. A nil Map is empty.
func (m *Map[V]) Get(k string) (V, bool) {
	if m == nil {
		var zero V
		return zero, false
	}
	v, ok := m.shards[shardOf(k)][k]
	return v, ok
}

// Len is the number of keys.
func (m *Map[V]) Len() int {
	if m == nil {
		return 0
	}
	return m.n
}

// All yields every key and value, in no particular order.
func (m *Map[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		if m == nil {
			return
		}
		for _, s := range m.shards {
			for k, v := range s {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// Clone returns an independent Map with m's entries. The two share every
// shard until one of them writes it: then the writer copies that shard.
func (m *Map[V]) Clone() *Map[V] {
	if m == nil {
		return New[V]()
	}
	// m gives up writing in place too (owned is not read by Get).
	m.owned = [shards]bool{}
	return &Map[V]{shards: m.shards, n: m.n}
}

// writable returns shard i ready to be written in place.
func (m *Map[V]) writable(i int) map[string]V {
	if !m.owned[i] {
		m.shards[i] = maps.Clone(m.shards[i])
		m.owned[i] = true
	}
	if m.shards[i] == nil {
		m.shards[i] = map[string]V{}
	}
	return m.shards[i]
}

// Set sets k to v.
func (m *Map[V]) Set(k string, v V) {
	s := m.writable(shardOf(k))
	if _, ok := s[k]; !ok {
		m.n++
	}
	s[k] = v
}

// Delete removes k.
func (m *Map[V]) Delete(k string) {
	i := shardOf(k)
	if _, ok := m.shards[i][k]; !ok {
		return
	}
	delete(m.writable(i), k)
	m.n--
}

// Keys returns the keys, sorted.
func (m *Map[V]) Keys() []string {
	out := make([]string, 0, m.Len())
	for k := range m.All() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// MarshalJSON writes m as a JSON object.
func (m *Map[V]) MarshalJSON() ([]byte, error) {
	all := make(map[string]V, m.Len())
	for k, v := range m.All() {
		all[k] = v
	}
	return json.Marshal(all)
}

// UnmarshalJSON reads a JSON object into m, replacing what it held.
func (m *Map[V]) UnmarshalJSON(b []byte) error {
	var all map[string]V
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*m = *New[V]()
	for k, v := range all {
		m.Set(k, v)
	}
	return nil
}
