package main

// xpromo link: add, update, pause, resume, archive, show and list links.
// Helpers shared by the catalog commands are in catalog_cmds.go.

import (
	"context"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/app/admin"
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

// parseExpires parses --expires into at: ” is never (the zero time).
func parseExpires(v string, at *time.Time) (err error) {
	*at = time.Time{}
	if strings.TrimSpace(v) != "" {
		*at, _, err = admin.ParseTime("expires", v)
	}
	return err
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
	return f.runStore(func() error {
		if err := f.require("partnership", "direction", "url"); err != nil {
			return err
		}
		return parseExpires(expires, &l.ExpiresAt)
	}, func(ctx context.Context, c *admin.Catalog) error { return c.AddLink(ctx, l, base) })
}

func linkUpdate() *cobra.Command {
	var code, u, campaign, expires string
	var ch catalog.LinkChange
	f := newCmdFlags("link update", "link update --code CODE [--url URL] [--campaign C] [--expires DATE|'']", `
Changes a link; only the flags given change. The code, partnership and
direction are fixed: printed links must keep meaning what they meant.
--expires '' removes the expiry. Use pause, resume and archive for the
status.`)
	f.StringVar(&code, "code", "", "link code (required)")
	f.StringVar(&u, "url", "", "destination URL")
	f.StringVar(&campaign, "campaign", "", "campaign name ('' for none)")
	f.StringVar(&expires, "expires", "", "YYYY-MM-DD (its 00:00 UTC) or RFC 3339; '' for never")
	return f.runStore(func() error {
		if err := f.requireChange("code", "url", "campaign", "expires"); err != nil {
			return err
		}
		set := f.given()
		ch = catalog.LinkChange{URL: ifSet(set["url"], &u), Campaign: ifSet(set["campaign"], &campaign)}
		if set["expires"] {
			ch.ExpiresAt = new(time.Time)
			return parseExpires(expires, ch.ExpiresAt)
		}
		return nil
	}, func(ctx context.Context, c *admin.Catalog) error { return c.UpdateLink(ctx, code, ch) })
}

// ifSet is p when its flag was given, else nil: an update's "no change".
func ifSet[T any](given bool, p *T) *T {
	if given {
		return p
	}
	return nil
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
	return f.runStore(func() error { return f.require("code") },
		func(ctx context.Context, c *admin.Catalog) error { return c.SetLinkStatus(ctx, code, status) })
}

func linkShow() *cobra.Command {
	var code, base string
	return listCatalog("link show", "--code CODE", "Shows a link and its tracking URL.",
		func(f *flags) {
			f.StringVar(&code, "code", "", "link code (required)")
			publicURLFlag(f, &base)
		}, []string{"code"},
		func(w *tabwriter.Writer, s *catalog.Snapshot) (any, error) { return admin.ShowLink(w, s, code, base) })
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
			return admin.ListLinks(w, s, partnership, partner, status)
		})
}
