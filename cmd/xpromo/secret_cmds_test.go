package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/postback"
	"github.com/xpromo/xpromo/lib/secrets"
	"github.com/xpromo/xpromo/testkit/testenv"
)

func secretCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	err = runCmd(ctx, "partner secret", args, &o, &e)
	return o.String(), e.String(), err
}

func TestPartnerSecretCommands(t *testing.T) {
	t.Setenv("USER", "tester")
	key, keyText, err := secrets.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(secrets.EnvKey, keyText)
	db := testenv.ClickHouse(t)
	ctx := context.Background()
	if _, err := catalog.NewStore(db.Conn).WithClock(testenv.Clock()).AddPartner(ctx, catalog.Partner{ID: "acme", Name: "ACME"}, "test"); err != nil {
		t.Fatal(err)
	}
	url := []string{"--clickhouse-url", db.URL}
	with := func(args ...string) []string { return append(args, url...) }

	out, errOut, err := secretCmd(t, with("list", "--id", "acme")...)
	if err != nil || !strings.Contains(out, "has no postback secret") {
		t.Fatalf("list before any: %q %q %v", out, errOut, err)
	}

	var made []string
	for i := range 3 {
		out, errOut, err := secretCmd(t, with("rotate", "--id", "acme")...)
		if err != nil {
			t.Fatalf("rotate %d: %v\n%s", i+1, err, errOut)
		}
		s := strings.TrimSpace(out)
		if out != s+"\n" || !strings.HasPrefix(s, postback.SecretPrefix) || len(s) != len(postback.SecretPrefix)+43 {
			t.Fatalf("rotate printed %q, want the secret alone on stdout", out)
		}
		if strings.Contains(errOut, s) || !strings.Contains(errOut, "shown only this once") || !strings.Contains(errOut, key.ID()) {
			t.Fatalf("rotate stderr %q", errOut)
		}
		wantNote := "there was no previous secret"
		if i > 0 {
			wantNote = "the previous secret (version " + string(rune('0'+i)) + ") stays valid until the next rotation"
		}
		if !strings.Contains(errOut, wantNote) || !strings.Contains(errOut, "secret version "+string(rune('1'+i))+" of partner acme created") {
			t.Fatalf("rotate %d stderr %q lacks %q", i+1, errOut, wantNote)
		}
		made = append(made, s)
	}

	// The servers' store (same key) accepts the newest two.
	got, err := postback.NewStore(db.Conn, key, nil).Secrets(ctx, "acme")
	if err != nil || !slices.Equal(got, []string{made[2], made[1]}) {
		t.Fatalf("Secrets after three rotations = %v, %v", got, err)
	}

	out, _, err = secretCmd(t, with("list", "--id", "acme")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "VERSION") ||
		!strings.HasPrefix(lines[1], "3 ") || !strings.HasSuffix(lines[1], "active") || !strings.Contains(lines[1], "cli:tester") ||
		!strings.HasPrefix(lines[2], "2 ") || !strings.HasSuffix(lines[2], "active") ||
		!strings.HasPrefix(lines[3], "1 ") || !strings.HasSuffix(lines[3], "revoked") {
		t.Fatalf("list:\n%s", out)
	}
	jsonOut, _, err := secretCmd(t, with("list", "--id", "acme", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var vs []postback.Version
	if err := json.Unmarshal([]byte(jsonOut), &vs); err != nil || len(vs) != 3 || vs[0].Version != 3 || !vs[2].Revoked {
		t.Fatalf("list --json: %v\n%s", err, jsonOut)
	}
	for _, s := range made {
		body := strings.TrimPrefix(s, postback.SecretPrefix)
		if strings.Contains(out, body) || strings.Contains(jsonOut, body) {
			t.Fatal("list shows a secret")
		}
	}

	// Filed in the audit log, without the secret.
	entries, err := catalog.NewStore(db.Conn).WithClock(testenv.Clock()).AuditLog(ctx, catalog.AuditFilter{Entity: "partner_secret", EntityID: "acme"})
	if err != nil || len(entries) != 3 || entries[0].Actor != "cli:tester" || entries[0].Action != "rotate" || !strings.Contains(entries[0].After, `"version":3`) {
		t.Fatalf("audit: %+v, %v", entries, err)
	}
	for _, e := range entries {
		for _, s := range made {
			if strings.Contains(e.After, strings.TrimPrefix(s, postback.SecretPrefix)) {
				t.Fatal("audit holds a secret")
			}
		}
	}

	// Another key cannot rotate: the servers could not read its secrets.
	_, other, _ := secrets.Generate()
	t.Setenv(secrets.EnvKey, other)
	if _, _, err := secretCmd(t, with("rotate", "--id", "acme")...); err == nil || !strings.Contains(err.Error(), "cannot decrypt: wrong XPROMO_SECRET_KEY?") {
		t.Fatalf("rotate with another key: %v", err)
	}
	t.Setenv(secrets.EnvKey, keyText)

	// Errors and help.
	if _, _, err := secretCmd(t, with("rotate", "--id", "nobody")...); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("rotate unknown partner: %v", err)
	}
	if _, _, err := secretCmd(t, with("list", "--id", "nobody")...); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("list unknown partner: %v", err)
	}
	if _, errOut, err := secretCmd(t, with("rotate")...); !errors.Is(err, errUsage) || !strings.Contains(errOut, "--id is required") {
		t.Fatalf("rotate without --id: %v %q", err, errOut)
	}
	if _, errOut, err := secretCmd(t, with("list")...); !errors.Is(err, errUsage) || !strings.Contains(errOut, "--id is required") {
		t.Fatalf("list without --id: %v %q", err, errOut)
	}
	if _, _, err := secretCmd(t); !errors.Is(err, errUsage) {
		t.Fatalf("no subcommand: %v", err)
	}
	if _, _, err := secretCmd(t, "revoke"); !errors.Is(err, errUsage) {
		t.Fatalf("unknown subcommand: %v", err)
	}
	for _, args := range [][]string{{"--help"}, {"rotate", "--help"}, {"list", "--help"}} {
		_, errOut, err := secretCmd(t, args...)
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errHelp) {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(errOut, "Usage: xpromo partner secret") {
			t.Fatalf("%v help: %q", args, errOut)
		}
	}
	_, help, _ := secretCmd(t, "rotate", "--help")
	for _, w := range []string{"XPROMO_SECRET_KEY", "--secret-key-file", "XPROMO_SECRET_KEY_FILE", "previous", "--id"} {
		if !strings.Contains(help, w) {
			t.Fatalf("rotate --help lacks %q:\n%s", w, help)
		}
	}
}

func TestPartnerSecretKeyFile(t *testing.T) {
	t.Setenv(secrets.EnvKey, "")
	db := testenv.ClickHouse(t)
	ctx := context.Background()
	if _, err := catalog.NewStore(db.Conn).WithClock(testenv.Clock()).AddPartner(ctx, catalog.Partner{ID: "acme", Name: "ACME"}, "test"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "xpromo", "secret.key")
	out, errOut, err := secretCmd(t, "rotate", "--id", "acme", "--clickhouse-url", db.URL, "--secret-key-file", file)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "created a new server key in "+file) {
		t.Fatalf("stderr %q lacks the new key note", errOut)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	key, _, err := secrets.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := postback.NewStore(db.Conn, key, nil).Secrets(ctx, "acme")
	if err != nil || !slices.Equal(got, []string{strings.TrimSpace(out)}) {
		t.Fatalf("Secrets with the file's key = %v, %v", got, err)
	}
	// The environment variable names the file too (XPROMO_SECRET_KEY_FILE).
	t.Setenv("XPROMO_SECRET_KEY_FILE", file)
	_, errOut, err = secretCmd(t, "rotate", "--id", "acme", "--clickhouse-url", db.URL)
	if err != nil || strings.Contains(errOut, "created a new server key") || !strings.Contains(errOut, "key file") {
		t.Fatalf("rotate with XPROMO_SECRET_KEY_FILE: %v %q", err, errOut)
	}
}
