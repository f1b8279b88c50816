package cowmap

import (
	"encoding/json"
	"fmt"
	"maps"
	"testing"
)

// TestCloneIsIndependent checks the copy-on-write promise both ways: a
// clone's writes never reach the original (which readers may hold), and
// the original's later writes never reach the clone.
func TestCloneIsIndependent(t *testing.T) {
	m := New[int]()
	want := map[string]int{}
	for i := range 5000 {
		k := fmt.Sprintf("k%d", i)
		m.Set(k, i)
		want[k] = i
	}
	c := m.Clone()
	c.Set("k1", -1)
	c.Set("new", 7)
	c.Delete("k2")
	m.Set("k3", -3)
	m.Delete("k4")

	got := maps.Collect(m.All())
	want["k3"] = -3
	delete(want, "k4")
	if !maps.Equal(got, want) || m.Len() != len(want) {
		t.Fatalf("original changed by its clone: len %d, want %d", m.Len(), len(want))
	}
	cw := maps.Clone(want)
	cw["k1"], cw["new"], cw["k3"], cw["k4"] = -1, 7, 3, 4
	delete(cw, "k2")
	if cg := maps.Collect(c.All()); !maps.Equal(cg, cw) || c.Len() != len(cw) {
		t.Fatalf("clone changed by its original: len %d, want %d", c.Len(), len(cw))
	}
}

func TestMap(t *testing.T) {
	var nilMap *Map[string]
	if _, ok := nilMap.Get("a"); ok || nilMap.Len() != 0 || len(nilMap.Keys()) != 0 {
		t.Fatal("a nil Map is not empty")
	}
	tests := []struct {
		name string
		do   func(m *Map[string])
		want map[string]string
	}{
		{"set", func(m *Map[string]) { m.Set("a", "1"); m.Set("b", "2") }, map[string]string{"a": "1", "b": "2"}},
		{"overwrite keeps the count", func(m *Map[string]) { m.Set("a", "1"); m.Set("a", "2") }, map[string]string{"a": "2"}},
		{"delete", func(m *Map[string]) { m.Set("a", "1"); m.Delete("a"); m.Delete("missing") }, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New[string]()
			tt.do(m)
			if got := maps.Collect(m.All()); !maps.Equal(got, tt.want) || m.Len() != len(tt.want) {
				t.Fatalf("got %v (len %d), want %v", got, m.Len(), tt.want)
			}
			for k, v := range tt.want {
				if g, ok := m.Get(k); !ok || g != v {
					t.Fatalf("Get(%q) = %q, %v", k, g, ok)
				}
			}
		})
	}
}

func TestJSON(t *testing.T) {
	m := New[int]()
	m.Set("b", 2)
	m.Set("a", 1)
	b, err := json.Marshal(m)
	if err != nil || string(b) != `{"a":1,"b":2}` {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var back struct{ M *Map[int] }
	if err := json.Unmarshal([]byte(`{"M":{"x":1,"y":2}}`), &back); err != nil {
		t.Fatal(err)
	}
	if back.M.Len() != 2 || back.M.Keys()[1] != "y" {
		t.Fatalf("unmarshal: %v", back.M.Keys())
	}
	if err := json.Unmarshal([]byte(`{"M":[1]}`), &back); err == nil {
		t.Fatal("an array unmarshalled into a Map")
	}
}

// BenchmarkCloneAndSet is what a tracker pays for one changed link in a
// catalog of a million: against maps.Clone of the whole map (the
// baseline), reported side by side.
func BenchmarkCloneAndSet(b *testing.B) {
	const n = 1_000_000
	m, plain := New[int](), make(map[string]int, n)
	for i := range n {
		k := fmt.Sprintf("l%07d", i)
		m.Set(k, i)
		plain[k] = i
	}
	b.Run("whole map clone", func(b *testing.B) {
		for b.Loop() {
			c := maps.Clone(plain)
			c["l0000001"] = -1
		}
	})
	b.Run("cowmap", func(b *testing.B) {
		for b.Loop() {
			c := m.Clone()
			c.Set("l0000001", -1)
		}
	})
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			m.Get("l0500000")
		}
	})
}
