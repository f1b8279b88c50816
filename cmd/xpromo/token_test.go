package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/testkit/testenv"
)

func tokenCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	err = runCmd(ctx, "token", args, &o, &e)
	return o.String(), e.String(), err
}

func TestTokenCommand(t *testing.T) {
	db := testenv.ClickHouse(t)
	url := []string{"--clickhouse-url", db.URL}

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
	v := auth.NewVerifier(auth.NewStore(db.Conn).WithClock(testenv.Clock()), time.Hour, nil)
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
	db := testenv.ClickHouse(t)
	url := []string{"--clickhouse-url", db.URL}
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
