package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/xpromo/xpromo/lib/plaintext"
)

// Audit vocabulary of playbooks.
const (
	EntityPlaybook = "playbook"
	ActionSet      = "set"
	ActionRemove   = "remove"
)

// MaxPlaybookNote is the longest note, in characters: a short "what
// worked", not a document.
const MaxPlaybookNote = 2000

// NoPlaybook is SetPlaybook's ifVersion for a change made when the
// partnership had no note.
const NoPlaybook = -1

// Playbook is a country manager's note on a partnership ("what worked"),
// read by the managers of other countries next to the cross-country
// results.
type Playbook struct {
	Partnership string    `json:"partnership"`
	Note        string    `json:"note"`
	UpdatedAt   time.Time `json:"updated_at"`
	UpdatedBy   string    `json:"updated_by"`
	Version     int       `json:"version"`
}

// SetPlaybook sets the note on partnership id; an empty note removes it.
// ifVersion, when not 0, is the version the change was made from, or
// NoPlaybook when it was made from none (a stale one is ErrStale). A note
// without change writes nothing.
func (s *Store) SetPlaybook(ctx context.Context, id, note string, ifVersion int, actor string) (Playbook, error) {
	const op = "set playbook"
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > MaxPlaybookNote || !plaintext.Valid(strings.NewReplacer("\r\n", " ", "\n", " ", "\t", " ").Replace(note)) {
		return Playbook{}, fieldErr("note", "at most %d characters of text (line breaks allowed, no other control characters)", MaxPlaybookNote)
	}
	actor, err := checkActor(actor)
	if err != nil {
		return Playbook{}, err
	}
	out := Playbook{Partnership: id, Note: note}
	err = s.write(ctx, op, func(tx pgx.Tx) (bool, error) {
		ps, ok, err := rowFor(ctx, tx, partnershipFor+forShare, scanPartnership, id)
		if err != nil || !ok {
			return false, notFound(err, "partnership", id)
		}
		before, had, err := rowFor(ctx, tx, `SELECT `+playbookColumns+` FROM playbooks WHERE partnership = $1 FOR UPDATE`, scanPlaybook, id)
		if err != nil {
			return false, err
		}
		if ifVersion == NoPlaybook && had {
			return false, &StaleError{What: "playbook of partnership", ID: id, Current: before.Version}
		}
		if err := checkVersion("playbook of partnership", id, max(ifVersion, 0), before.Version); err != nil {
			return false, err
		}
		switch {
		case note == "" && !had, had && note == before.Note:
			out = before
			return false, nil
		case note == "":
			if _, err := tx.Exec(ctx, `DELETE FROM playbooks WHERE partnership = $1`, id); err != nil {
				return false, err
			}
			out = Playbook{Partnership: id}
			return false, s.auditChange(ctx, tx, actor, ActionRemove, EntityPlaybook, id, ps.Country, before, out)
		}
		out.UpdatedAt, out.UpdatedBy = s.now().UTC().Truncate(time.Second), actor
		err = tx.QueryRow(ctx, `INSERT INTO playbooks (partnership, note, updated_at, updated_by) VALUES ($1, $2, $3, $4)
ON CONFLICT (partnership) DO UPDATE SET note = EXCLUDED.note, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by, version = playbooks.version + 1
RETURNING version`, id, note, out.UpdatedAt, actor).Scan(&out.Version)
		if err != nil {
			return false, err
		}
		var b any
		if had {
			b = before
		}
		// false: a note changes no redirect, the trackers need not hear.
		return false, s.auditChange(ctx, tx, actor, ActionSet, EntityPlaybook, id, ps.Country, b, out)
	})
	if err != nil {
		return Playbook{}, err
	}
	return out, nil
}

const playbookColumns = `partnership, note, updated_at, updated_by, version`

func scanPlaybook(r pgx.CollectableRow) (Playbook, error) {
	var p Playbook
	err := r.Scan(&p.Partnership, &p.Note, &p.UpdatedAt, &p.UpdatedBy, &p.Version)
	p.UpdatedAt = p.UpdatedAt.UTC()
	return p, err
}

// PlaybookOf returns partnership id's note; ok is false when it has none.
func (s *Store) PlaybookOf(ctx context.Context, id string) (Playbook, bool, error) {
	if !storable(id) {
		return Playbook{}, false, nil
	}
	rows, err := s.db.Query(ctx, `SELECT `+playbookColumns+` FROM playbooks WHERE partnership = $1`, id)
	if err != nil {
		return Playbook{}, false, fmt.Errorf("playbook of %s: %w", id, err)
	}
	pb, err := pgx.CollectExactlyOneRow(rows, scanPlaybook)
	if errors.Is(err, pgx.ErrNoRows) {
		return pb, false, nil
	}
	if err != nil {
		return pb, false, fmt.Errorf("playbook of %s: %w", id, err)
	}
	return pb, true, nil
}

// Playbooks returns every note, by partnership.
func (s *Store) Playbooks(ctx context.Context) (map[string]Playbook, error) {
	rows, err := s.db.Query(ctx, `SELECT `+playbookColumns+` FROM playbooks`)
	if err != nil {
		return nil, fmt.Errorf("playbooks: %w", err)
	}
	list, err := pgx.CollectRows(rows, scanPlaybook)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("playbooks: %w", err)
	}
	out := make(map[string]Playbook, len(list))
	for _, p := range list {
		out[p.Partnership] = p
	}
	return out, nil
}
