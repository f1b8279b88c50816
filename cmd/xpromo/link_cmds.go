package main

// xpromo link: add, update, pause, resume, archive, show and list links.
// Helpers shared by the catalog commands are in catalog_cmds.go.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/domain/catalog"
)

func linkCmd() *cobra.Command {
	return group("link SUBCOMMAND [flags]",
		sub{"add a link: --partnership ID --direction inbound|outbound --url URL [--code CODE] [--campaign C] [--expires DATE]", linkAdd()},
		sub{"change a link: --code CODE [--url URL] [--campaign C] [--expires DATE|'']", linkUpdate()},
		sub{"pause a link (it redirects to the partnership's fallback URL): --code CODE", linkSetStatus("pause", catalog.StatusPaused)},
		sub{"make a paused or archived link active again: --code CODE", linkSetStatus("resume", catalog.StatusActive)},
		sub{"archive a link: --code CODE", linkSetStatus("archive", catalog.StatusArchived)},
		sub{"show a link: --code CODE", linkShow()},
		sub{"list links [--partnership ID] [--status S]", linkList()})
}

func publicURLFlag(f *flags, base *string) {
	f.String(base, "public-url", "http://localhost:8080", "the tracker's public base URL, to print the tracking URL")
}

func trackingURL(base, code string) string {
	return strings.TrimRight(base, "/") + "/r/" + code
}

func linkAdd() *cobra.Command {
	var l catalog.Link
	var base, expires string
	f := newCmdFlags("link add", "link add --partnership ID --direction inbound|outbound --url URL [--code CODE] [--campaign C] [--expires DATE]", `
Adds a tracking link: GET /r/CODE records a click and redirects to URL with
xp_click=<click id> added (or put {click_id} in URL where it belongs). URL
must be http(s); an outbound link's URL must be on one of the partner's
domains. Without --code a random 8-character code is generated. Trackers
pick up new links within seconds.`)
	f.StringVar(&l.Code, "code", "", "link code: A-Z, a-z, 0-9, '-', '_' (default: generated)")
	f.StringVar(&l.Partnership, "partnership", "", "partnership id (required)")
	f.StringVar(&l.Direction, "direction", "", "inbound or outbound (required)")
	f.StringVar(&l.URL, "url", "", "destination URL (required)")
	f.StringVar(&l.Campaign, "campaign", "", "campaign name")
	f.StringVar(&expires, "expires", "", "when the link stops redirecting to URL: YYYY-MM-DD (its 00:00 UTC) or RFC 3339; default never")
	publicURLFlag(f.flags, &base)
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := f.require("partnership", "direction", "url"); err != nil {
			return err
		}
		if strings.TrimSpace(expires) != "" {
			var err error
			if l.ExpiresAt, _, err = parseTime("expires", expires); err != nil {
				return err
			}
		}
		return f.withStore(ctx, func(store *catalog.Store) error {
			l, err := store.AddLink(ctx, l, cliActor())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "link %s added: %s -> %s\n", l.Code, trackingURL(base, l.Code), l.URL)
			return nil
		})
	})
}

func linkUpdate() *cobra.Command {
	var code, u, campaign, expires string
	f := newCmdFlags("link update", "link update --code CODE [--url URL] [--campaign C] [--expires DATE|'']", `
Changes a link; only the flags given change. The code, partnership and
direction are fixed: printed links must keep meaning what they meant.
--expires '' removes the expiry. Use pause, resume and archive for the
status.`)
	f.StringVar(&code, "code", "", "link code (required)")
	f.StringVar(&u, "url", "", "destination URL")
	f.StringVar(&campaign, "campaign", "", "campaign name ('' for none)")
	f.StringVar(&expires, "expires", "", "YYYY-MM-DD (its 00:00 UTC) or RFC 3339; '' for never")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := f.require("code"); err != nil {
			return err
		}
		if err := f.requireOne("url", "campaign", "expires"); err != nil {
			return err
		}
		set := f.given()
		var ch catalog.LinkChange
		if set["url"] {
			ch.URL = &u
		}
		if set["campaign"] {
			ch.Campaign = &campaign
		}
		if set["expires"] {
			var at time.Time
			if strings.TrimSpace(expires) != "" {
				var err error
				if at, _, err = parseTime("expires", expires); err != nil {
					return err
				}
			}
			ch.ExpiresAt = &at
		}
		return f.withStore(ctx, func(store *catalog.Store) error {
			return updateLink(ctx, store, stdout, code, ch)
		})
	})
}

// updateLink applies ch to the link and reports what changed.
func updateLink(ctx context.Context, store *catalog.Store, stdout io.Writer, code string, ch catalog.LinkChange) error {
	snap, err := store.Load(ctx)
	if err != nil {
		return err
	}
	before, ok := snap.Links[code]
	if !ok {
		return fmt.Errorf("link %q: %w", code, catalog.ErrNotFound)
	}
	l, err := store.UpdateLink(ctx, code, ch, cliActor())
	if err != nil {
		return err
	}
	return printChange(stdout, "link "+code, before, l)
}

// linkSetStatus is link pause, resume (status active) and archive.
func linkSetStatus(verb, status string) *cobra.Command {
	var code string
	desc := map[string]string{
		"pause": `
Pauses a link: its clicks are still recorded, but it redirects to the
partnership's fallback URL (404 without one) until resumed.`,
		"resume": `
Makes a paused or archived link active again: it redirects to its URL
(unless it has expired).`,
		"archive": `
Archives a link that is no longer used: like a paused link it redirects to
the partnership's fallback URL, and lists can leave it out
(xpromo link list --status active).`,
	}[verb]
	f := newCmdFlags("link "+verb, "link "+verb+" --code CODE", desc)
	f.StringVar(&code, "code", "", "link code (required)")
	return f.run(func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := f.require("code"); err != nil {
			return err
		}
		return f.withStore(ctx, func(store *catalog.Store) error {
			snap, err := store.Load(ctx)
			if err != nil {
				return err
			}
			before, ok := snap.Links[code]
			if !ok {
				return fmt.Errorf("link %q: %w", code, catalog.ErrNotFound)
			}
			if before.Status == status {
				fmt.Fprintf(stdout, "link %s is already %s\n", code, status)
				return nil
			}
			if _, err := store.UpdateLink(ctx, code, catalog.LinkChange{Status: &status}, cliActor()); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "link %s %s (was %s)\n", code, status, before.Status)
			return nil
		})
	})
}

// linkView is link show --json: the link and its tracking URL.
type linkView struct {
	catalog.Link
	TrackingURL string `json:"tracking_url"`
}

func linkShow() *cobra.Command {
	var code, base string
	return listCatalog("link show", "--code CODE", "Shows a link and its tracking URL.",
		func(f *flags) {
			f.StringVar(&code, "code", "", "link code (required)")
			publicURLFlag(f, &base)
		}, []string{"code"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			l, ok := s.Links[code]
			if !ok {
				return nil, fmt.Errorf("link %q: %w", code, catalog.ErrNotFound)
			}
			v := linkView{Link: l, TrackingURL: trackingURL(base, l.Code)}
			fmt.Fprintf(w, "code:\t%s\n", l.Code)
			fmt.Fprintf(w, "tracking url:\t%s\n", v.TrackingURL)
			fmt.Fprintf(w, "url:\t%s\n", l.URL)
			fmt.Fprintf(w, "partnership:\t%s\n", l.Partnership)
			fmt.Fprintf(w, "partner:\t%s\n", l.Partner)
			fmt.Fprintf(w, "direction:\t%s\n", l.Direction)
			fmt.Fprintf(w, "status:\t%s\n", l.Status)
			fmt.Fprintf(w, "campaign:\t%s\n", dash(l.Campaign))
			fmt.Fprintf(w, "expires:\t%s\n", timeOrNever(l.ExpiresAt))
			fmt.Fprintf(w, "created by:\t%s\n", dash(l.CreatedBy))
			return v, nil
		})
}

func linkList() *cobra.Command {
	var partnership, partner, status string
	return listCatalog("link list", "[--partnership ID] [--partner ID] [--status active|paused|archived]", "Lists the links as stored in ClickHouse.",
		func(f *flags) {
			f.StringVar(&partnership, "partnership", "", "only this partnership's links")
			f.StringVar(&partner, "partner", "", "only this partner's links")
			f.StringVar(&status, "status", "", "only links with this status: active, paused or archived")
		}, nil,
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) {
			switch status {
			case "", catalog.StatusActive, catalog.StatusPaused, catalog.StatusArchived:
			default:
				return nil, badFlag("status", "%q: want active, paused or archived", status)
			}
			fmt.Fprintln(w, "CODE\tPARTNERSHIP\tDIRECTION\tSTATUS\tEXPIRES\tCAMPAIGN\tURL")
			out := []catalog.Link{}
			for _, k := range sortedKeys(s.Links) {
				v := s.Links[k]
				if (partnership != "" && v.Partnership != partnership) || (partner != "" && v.Partner != partner) || (status != "" && v.Status != status) {
					continue
				}
				out = append(out, v)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Code, v.Partnership, v.Direction, v.Status, timeOrNever(v.ExpiresAt), dash(v.Campaign), v.URL)
			}
			return out, nil
		})
}
