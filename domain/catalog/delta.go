package catalog

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
)

// How a tracker keeps its snapshot current without reading the whole
// catalog again: every row carries rev, the catalog change number taken
// when it was last written (schema/pg/0001_catalog.sql), and writers take
// one advisory lock for their whole transaction (writeLock), so change
// numbers commit in the order they are taken. A reader that has seen
// every change up to R therefore gets every later change by asking for
// the rows with rev > R: none can commit below R afterwards. Catalog rows
// are never deleted (archived instead), so the rows changed are the whole
// delta.

// writeLock is the advisory lock of catalog writes ("catalog" in ASCII).
const writeLock = 0x63_6174_616c_6f67

const (
	selectRev = `SELECT greatest(
 (SELECT coalesce(max(rev), 0) FROM partners), (SELECT coalesce(max(rev), 0) FROM partnerships),
 (SELECT coalesce(max(rev), 0) FROM partnership_terms), (SELECT coalesce(max(rev), 0) FROM links))`
	changedPartners     = `SELECT ` + partnerRead + ` FROM partners WHERE rev > $1`
	changedPartnerships = `SELECT ` + partnershipRead + ` FROM partnerships WHERE rev > $1`
	changedTerms        = `SELECT ` + termsColumns + ` FROM partnership_terms WHERE rev > $1`
	changedLinks        = `SELECT ` + linkRead + ` FROM links WHERE rev > $1`
)

// LockWrites serialises catalog writers until tx ends (see above). Every
// transaction that writes catalog rows takes it first: the Store's, and
// the upgrade copy's (ops/upgrade).
func LockWrites(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(writeLock))
	return err
}

// Delta is what changed in the catalog after a snapshot's Rev, up to Rev.
type Delta struct {
	Rev          int64
	Partners     []Partner
	Partnerships []Partnership
	Terms        []Terms // new versions (versions are never changed)
	Links        []Link
}

// Empty reports whether d holds no change.
func (d *Delta) Empty() bool {
	return len(d.Partners)+len(d.Partnerships)+len(d.Terms)+len(d.Links) == 0
}

// Changes reads what changed after since. A Rev below since means the
// database is not the one since was read from (restored, or another):
// the caller must load the catalog whole.
func (s *Store) Changes(ctx context.Context, since int64) (*Delta, error) {
	d := &Delta{}
	err := pgx.BeginTxFunc(ctx, s.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, selectRev).Scan(&d.Rev); err != nil {
			return err
		}
		if d.Rev <= since {
			return nil
		}
		if err := each(ctx, tx, changedPartners, scanPartner, func(p Partner) { d.Partners = append(d.Partners, p) }, since); err != nil {
			return err
		}
		if err := each(ctx, tx, changedPartnerships, scanPartnership, func(p Partnership) { d.Partnerships = append(d.Partnerships, p) }, since); err != nil {
			return err
		}
		if err := each(ctx, tx, changedTerms, scanTerms, func(t Terms) { d.Terms = append(d.Terms, t) }, since); err != nil {
			return err
		}
		return each(ctx, tx, changedLinks, scanLink, func(l Link) { d.Links = append(d.Links, l) }, since)
	})
	if err != nil {
		return nil, fmt.Errorf("catalog changes since %d: %w", since, err)
	}
	return d, nil
}

// Apply returns a new snapshot: snap with d applied, at d's Rev. snap is
// left as it is (readers may hold it). Only the maps d touches are copied
// (the links by shard: cowmap), and only the links d can affect are
// resolved again: those it changes, and those of the partners,
// partnerships and terms it changes.
func (snap *Snapshot) Apply(d *Delta, now time.Time) *Snapshot {
	next := *snap
	next.Rev, next.LoadedAt = d.Rev, now.UTC()
	if d.Empty() {
		return &next
	}
	touched := map[string]bool{} // partnerships whose links are resolved again
	if len(d.Partners) > 0 {
		next.Partners = maps.Clone(snap.Partners)
		changed := map[string]bool{}
		for _, p := range d.Partners {
			next.Partners[p.ID] = p
			changed[p.ID] = true
		}
		for id, ps := range snap.Partnerships {
			if changed[ps.Partner] {
				touched[id] = true
			}
		}
	}
	if len(d.Partnerships) > 0 {
		next.Partnerships = maps.Clone(snap.Partnerships)
		for _, ps := range d.Partnerships {
			next.Partnerships[ps.ID] = ps
			touched[ps.ID] = true
		}
	}
	next.states = snap.states
	if len(d.Terms) > 0 {
		next.Terms = maps.Clone(snap.Terms)
		next.states = maps.Clone(snap.states)
		added := map[string]bool{}
		for _, t := range d.Terms {
			if !added[t.Partnership] {
				// A copy: the old snapshot's slice stays as it was.
				next.Terms[t.Partnership] = append([]Terms(nil), next.Terms[t.Partnership]...)
				added[t.Partnership] = true
			}
			next.Terms[t.Partnership] = append(next.Terms[t.Partnership], t)
		}
		for id := range added {
			next.states[id] = newPartnershipState(next.Terms[id])
			touched[id] = true
		}
	}
	next.resolved = snap.resolved.Clone()
	if len(d.Links) > 0 {
		next.Links = snap.Links.Clone()
		for _, l := range d.Links {
			next.Links.Set(l.Code, l)
			next.resolveInto(l)
		}
	}
	if len(touched) > 0 {
		// Every link is looked at, only those of a touched partnership
		// are resolved again (and copy their shard).
		for _, l := range next.Links.All() {
			if touched[l.Partnership] {
				next.resolveInto(l)
			}
		}
	}
	return &next
}

// resolveInto puts l's resolution in snap.resolved, or takes it out when
// l cannot be followed.
func (snap *Snapshot) resolveInto(l Link) {
	if r := snap.resolveLink(l); r != nil {
		snap.resolved.Set(l.Code, r)
	} else {
		snap.resolved.Delete(l.Code)
	}
}
