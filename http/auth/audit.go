package auth

import (
	"encoding/json"
	"fmt"

	"github.com/xpromo/xpromo/domain/catalog"
)

// AuditEntry is the audit log's record of a token change, the one every
// face files: entity token, under no country (only admin and finance read
// it), with the JSON of the record before (nil: none) and after. A Token
// marshals without its secret or hash.
func AuditEntry(actor, action string, before *Token, after Token) (catalog.AuditEntry, error) {
	e := catalog.AuditEntry{Actor: actor, Action: action, Entity: catalog.EntityToken, EntityID: after.ID}
	if before != nil {
		b, err := json.Marshal(before)
		if err != nil {
			return e, fmt.Errorf("audit token %s: %w", after.ID, err)
		}
		e.Before = string(b)
	}
	a, err := json.Marshal(after)
	if err != nil {
		return e, fmt.Errorf("audit token %s: %w", after.ID, err)
	}
	e.After = string(a)
	return e, nil
}
