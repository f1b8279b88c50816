package main

import (
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

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/http/postback"
	"github.com/xpromo/xpromo/lib/secrets"
	"github.com/xpromo/xpromo/testkit/testenv"
)

// secretCmd runs `xpromo partner secret` (partners' postback secrets).
func secretCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return cmdOutput(t, "partner secret", args...)
}

// tokenCmd runs `xpromo token` (API tokens).
func tokenCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return cmdOutput(t, "token", args...)
}

func TestTokenCommand(t *testing.T) {
	db := newDB(t)
	url := []string{"--clickhouse-url", db.URL, "--postgres-url", pgOf(db).URL}

	out, errOut, err := tokenCmd(t, append([]string{"create", "--role", "country_manager", "--country", "de,FR", "--name", "DE team", "--expires", testenv.Now().UTC().AddDate(1, 0, 0).Format(time.DateOnly)}, url...)...)
	if err != nil {
		t.Fatalf("create: %v\n%s", err, errOut)
	}
	tok := strings.TrimSpace(out)
	id, _, err := auth.Parse(tok)
	if err != nil || out != tok+"\n" {
		t.Fatalf("create printed %q, want the token alone on stdout (%v)", out, err)
	}
	if !strings.Contains(errOut, "token "+id+" created") || !strings.Contains(errOut, "cannot be shown again") || strings.Contains(errOut, tok) {
		t.Fatalf("create stderr = %q", errOut)
	}
	secretText := tok[len(auth.Prefix)+auth.IDLen+1:]

	out2, _, err := tokenCmd(t, append([]string{"create", "--role", "service", "--name", "shop backend"}, url...)...)
	if err != nil {
		t.Fatal(err)
	}
	svcID, _, err := auth.Parse(strings.TrimSpace(out2))
	if err != nil {
		t.Fatal(err)
	}

	// The token works with the API's verifier.
	v := auth.NewVerifier(auth.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()), time.Hour, nil)
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(tok, testenv.Now())
	if err != nil || p.Role != access.RoleCountryManager || strings.Join(p.Countries, ",") != "DE,FR" || p.Name != "DE team" {
		t.Fatalf("Verify = %+v, %v", p, err)
	}

	out, _, err = tokenCmd(t, append([]string{"list"}, url...)...)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "REVOKED") {
		t.Fatalf("list table:\n%s", out)
	}
	if !strings.Contains(out, id) || !strings.Contains(out, "country_manager") || !strings.Contains(out, "DE,FR") || !strings.Contains(out, "DE team") || !strings.Contains(out, svcID) {
		t.Fatalf("list table misses the tokens:\n%s", out)
	}
	if strings.Contains(out, secretText) {
		t.Fatalf("list shows a secret:\n%s", out)
	}

	if _, _, err := tokenCmd(t, append([]string{"revoke", "--id", id}, url...)...); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	out, _, err = tokenCmd(t, append([]string{"revoke", "--id", id}, url...)...)
	if err != nil || !strings.Contains(out, "already revoked") {
		t.Fatalf("second revoke = %q, %v", out, err)
	}
	if _, _, err := tokenCmd(t, append([]string{"revoke", "--id", "aaaaaaaaaaaa"}, url...)...); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("revoke of an unknown id: %v", err)
	}
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok, testenv.Now()); !errors.Is(err, auth.ErrRevoked) {
		t.Fatalf("Verify after revoke = %v", err)
	}

	out, _, err = tokenCmd(t, append([]string{"list", "--format", "json"}, url...)...)
	if err != nil {
		t.Fatalf("list json: %v", err)
	}
	if strings.Contains(out, secretText) || strings.Contains(out, "hash") {
		t.Fatalf("list json shows a secret or hash:\n%s", out)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("list json = %s (%v)", out, err)
	}
	for _, l := range listed {
		if l["id"] == id && (l["revoked_at"] == nil || l["expires_at"] == nil) {
			t.Fatalf("revoked token listed as %v", l)
		}
		if l["id"] == svcID && (l["revoked_at"] != nil || l["expires_at"] != nil || l["role"] != "service") {
			t.Fatalf("service token listed as %v", l)
		}
	}
}

func TestTokenCommandErrors(t *testing.T) {
	db := newDB(t)
	url := []string{"--clickhouse-url", db.URL, "--postgres-url", pgOf(db).URL}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no role", []string{"create"}, "role"},
		{"bad role", []string{"create", "--role", "root"}, "role"},
		{"manager without country", []string{"create", "--role", "country_manager"}, "countries"},
		{"bad country", []string{"create", "--role", "country_manager", "--country", "DE,XX"}, "XX"},
		{"admin with a partner", []string{"create", "--role", "admin", "--partner", "acme"}, "partner"},
		{"bad expiry", []string{"create", "--role", "admin", "--expires", "31.12.2030"}, "--expires"},
		{"past expiry", []string{"create", "--role", "admin", "--expires", "2020-01-01"}, "future"},
		{"bad format", []string{"list", "--format", "xml"}, "format"},
		{"bad id", []string{"revoke", "--id", "nope"}, "token id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := tokenCmd(t, append(tt.args, url...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			if out != "" {
				t.Fatalf("stdout = %q", out)
			}
		})
	}
	if _, _, err := tokenCmd(t, append([]string{"revoke"}, url...)...); !errors.Is(err, errUsage) {
		t.Fatalf("revoke without --id: %v", err)
	}
	if _, _, err := tokenCmd(t, "rotate"); !errors.Is(err, errUsage) {
		t.Fatalf("unknown subcommand: %v", err)
	}
	if _, _, err := tokenCmd(t); !errors.Is(err, errUsage) {
		t.Fatalf("no subcommand: %v", err)
	}
	list, _, err := tokenCmd(t, append([]string{"list"}, url...)...)
	if err != nil || strings.Count(list, "\n") != 1 {
		t.Fatalf("failed creations stored tokens:\n%s (%v)", list, err)
	}
}

func TestTokenHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"create", "--help"}, {"list", "--help"}, {"revoke", "-h"}} {
		out, errOut, err := tokenCmd(t, args...)
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errHelp) {
			t.Errorf("%v: err = %v, want help", args, err)
		}
		want := "Usage: xpromo token "
		if len(args) > 0 && args[0] != "--help" && args[0] != "help" {
			want += args[0]
		}
		if !strings.HasPrefix(errOut, want) || out != "" {
			t.Errorf("%v: stderr %q, stdout %q; want %q first", args, errOut, out, want)
		}
	}
	_, errOut, _ := tokenCmd(t, "create", "--help")
	for _, s := range []string{"-role", "-country", "-partner", "-name", "-expires", "-clickhouse-url", "country_manager"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("create --help does not mention %s:\n%s", s, errOut)
		}
	}
}

func TestPartnerSecretCommands(t *testing.T) {
	t.Setenv("USER", "tester")
	key, keyText := setServerKey(t)
	db := newDB(t)
	ctx := context.Background()
	addCatalog(t, db, catalogSeed{partners: []catalog.Partner{{ID: "acme", Name: "ACME"}}})
	url := []string{"--clickhouse-url", db.URL, "--postgres-url", pgOf(db).URL}
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
	got, err := postback.NewStore(pgOf(db).Pool, key, nil).Secrets(ctx, "acme")
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
	entries, err := catalog.NewStore(pgOf(db).Pool).WithClock(testenv.Clock()).AuditLog(ctx, catalog.AuditFilter{Entity: "partner_secret", EntityID: "acme"})
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
	db := newDB(t)
	ctx := context.Background()
	addCatalog(t, db, catalogSeed{partners: []catalog.Partner{{ID: "acme", Name: "ACME"}}})
	file := filepath.Join(t.TempDir(), "xpromo", "secret.key")
	out, errOut, err := secretCmd(t, "rotate", "--id", "acme", "--clickhouse-url", db.URL, "--postgres-url", pgOf(db).URL, "--secret-key-file", file)
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
	got, err := postback.NewStore(pgOf(db).Pool, key, nil).Secrets(ctx, "acme")
	if err != nil || !slices.Equal(got, []string{strings.TrimSpace(out)}) {
		t.Fatalf("Secrets with the file's key = %v, %v", got, err)
	}
	// The environment variable names the file too (XPROMO_SECRET_KEY_FILE).
	t.Setenv("XPROMO_SECRET_KEY_FILE", file)
	_, errOut, err = secretCmd(t, "rotate", "--id", "acme", "--clickhouse-url", db.URL, "--postgres-url", pgOf(db).URL)
	if err != nil || strings.Contains(errOut, "created a new server key") || !strings.Contains(errOut, "key file") {
		t.Fatalf("rotate with XPROMO_SECRET_KEY_FILE: %v %q", err, errOut)
	}
}
