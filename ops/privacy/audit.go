package privacy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/xpromo/xpromo/domain/catalog"
)

// Audit vocabulary of erasures.
const (
	ActionErase  = "erase"
	EntityPerson = "person"
)

// Digest names an erased person in the audit log without keeping their
// id: the SHA-256 of it, so a later question "was X erased?" can be
// answered by hashing X.
func (s Subject) Digest() (kind, digest string) {
	kind, id := "visitor", s.Visitor
	if s.UserID != "" {
		kind, id = "user", s.Source+":"+s.UserID
	}
	sum := sha256.Sum256([]byte(id))
	return kind, hex.EncodeToString(sum[:])
}

// AuditEntry is the audit log's record of the erasure of s that r
// reports: the person by Digest, and what was deleted.
func (r *Result) AuditEntry(actor string, s Subject) catalog.AuditEntry {
	after, _ := json.Marshal(map[string]any{"rows": r.Rows, "rollup_months": r.Months, "redis_keys": r.RedisKeys, "source": s.Source})
	kind, digest := s.Digest()
	return catalog.AuditEntry{Actor: actor, Action: ActionErase, Entity: EntityPerson, EntityID: kind + ":" + digest, After: string(after)}
}
