package postback

import (
	"encoding/json"

	"github.com/xpromo/xpromo/domain/catalog"
)

// Audit vocabulary of secret rotations.
const (
	EntityPartnerSecret = "partner_secret"
	ActionRotate        = "rotate"
)

// RotationAuditEntry is the audit log's record of a rotation of partner's
// secret to version, sealed with the key keyID: never the secret itself.
func RotationAuditEntry(actor, partner string, version uint32, keyID string) catalog.AuditEntry {
	after, _ := json.Marshal(map[string]any{"partner": partner, "version": version, "key_id": keyID})
	return catalog.AuditEntry{Actor: actor, Action: ActionRotate, Entity: EntityPartnerSecret, EntityID: partner, After: string(after)}
}
