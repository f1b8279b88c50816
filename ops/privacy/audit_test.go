package privacy

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestAuditEntryHashesTheSubject(t *testing.T) {
	sum := sha256.Sum256([]byte("ours:u1"))
	r := &Result{Rows: map[string]uint64{"hits": 2}, Months: []uint32{202601}, RedisKeys: 1}
	e := r.AuditEntry("cli:me", Subject{UserID: "u1", Source: "ours"})
	if want := "user:" + hex.EncodeToString(sum[:]); e.EntityID != want {
		t.Errorf("entity id %q, want %q", e.EntityID, want)
	}
	if e.Actor != "cli:me" || e.Action != ActionErase || e.Entity != EntityPerson {
		t.Errorf("entry = %+v", e)
	}
	if want := `{"redis_keys":1,"rollup_months":[202601],"rows":{"hits":2},"source":"ours"}`; e.After != want {
		t.Errorf("after %s, want %s", e.After, want)
	}
	if kind, _ := (Subject{Visitor: "v1"}).Digest(); kind != "visitor" {
		t.Errorf("visitor subject: kind %q", kind)
	}
}
