package main

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/xpromo/xpromo/lib/cli"
)

// cli.GNUArgs turns only Go-flag-style single-dash long flags of the command
// named into double-dash ones; values, shorthands, unknown words and what
// follows "--" stay as they are.
func TestGNUArgs(t *testing.T) {
	root := newRoot()
	for _, tt := range []struct{ in, want string }{
		{"partner add -id acme -name ACME", "partner add --id acme --name ACME"},
		{"partner add -id=acme --name=ACME", "partner add --id=acme --name=ACME"},
		{"serve -clickhouse-url clickhouse://h/db -ingest=false", "serve --clickhouse-url clickhouse://h/db --ingest=false"},
		{"partner add --campaign -x", "partner add --campaign -x"},                     // not a flag of partner add
		{"link update --code c --campaign -id", "link update --code c --campaign -id"}, // a value, not a flag
		{"link list -json -status active", "link list --json --status active"},         // -json takes no value
		{"ingest -gc-percent -1", "ingest --gc-percent -1"},
		{"partner add -h", "partner add -h"},
		{"partner add -help", "partner add --help"},
		{"fx load -log-level warn -- -log-level", "fx load --log-level warn -- -log-level"},
		{"fx load -- -dash.csv", "fx load -- -dash.csv"},
		{"-help", "--help"},
		{"nope -id x", "nope -id x"},
	} {
		if got := strings.Join(cli.GNUArgs(root, strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("cli.GNUArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Command lines written for Go's flag package, with single-dash long
// flags, still work: the flag's (unreachable) URL is the one used.
func TestSingleDashFlagsStillWork(t *testing.T) {
	t.Setenv("XPROMO_CLICKHOUSE_URL", "clickhouse://127.0.0.1:19000/xpromo")
	code, _, errOut := cliRun(t, nil, "partner", "show", "-id", "acme", "-clickhouse-url", "clickhouse://127.0.0.1:1/nowhere")
	if code != 1 || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
}

// `xpromo help COMMAND...` shows that command's help, and refuses an
// unknown one as `xpromo COMMAND` does.
func TestHelpCommand(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		code    int
		errText string
	}{
		{[]string{"help", "partner"}, 0, "Usage: xpromo partner SUBCOMMAND"},
		{[]string{"help", "partner", "add"}, 0, "Usage: xpromo partner add --id ID"},
		{[]string{"help", "nope"}, 2, `unknown command "nope"`},
		{[]string{"help", "partner", "frob"}, 2, `unknown subcommand "frob"`},
	} {
		code, _, errOut := cliRun(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.errText) {
			t.Errorf("xpromo %v: exit %d, want %d; stderr lacks %q?\n%s", tt.args, code, tt.code, tt.errText, errOut)
		}
	}
	code, out, _ := cliRun(t, nil, "help")
	if code != 0 || !strings.Contains(out, "Usage: xpromo COMMAND") {
		t.Errorf("xpromo help: exit %d\n%s", code, out)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := cliRun(t, nil, "completion", shell)
		if code != 0 || len(out) < 100 {
			t.Errorf("completion %s: exit %d, %d bytes\n%s", shell, code, len(out), errOut)
		}
		// cobra's scripts list no subcommands themselves: they ask the
		// binary (xpromo __complete WORDS...) at each TAB.
		if !strings.Contains(out, "__complete") {
			t.Errorf("completion %s does not ask xpromo __complete:\n%.300s", shell, out)
		}
	}
	// What the bash script offers after `xpromo partner `: its subcommands.
	code, out, _ := cliRun(t, nil, "__complete", "partner", "")
	if code != 0 || !strings.Contains(out, "add") || !strings.Contains(out, "secret") {
		t.Errorf("__complete partner: exit %d\n%s", code, out)
	}
}

// singleDash is a Go-flag-style long flag in help text: "-clickhouse-url".
var singleDash = regexp.MustCompile(`(^|[\s(\[,|])-[a-z][a-z]+`)

// Every command and subcommand of the tree has help that exits 0 and
// prints GNU-style --flags only.
func TestHelpOfEveryCommandInTheTree(t *testing.T) {
	root := newRoot()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command, path []string)
	n := 0
	walk = func(c *cobra.Command, path []string) {
		if c.Hidden {
			return
		}
		n++
		var out, errb bytes.Buffer
		args := append(slices.Clone(path), "--help")
		if code := run(args, &out, &errb); code != 0 {
			t.Errorf("xpromo %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
		}
		help := out.String() + errb.String()
		if !strings.Contains(help, "Usage: xpromo") {
			t.Errorf("xpromo %s printed no usage:\n%s", strings.Join(args, " "), help)
		}
		if m := singleDash.FindString(help); m != "" {
			t.Errorf("xpromo %s: single-dash long flag %q in:\n%s", strings.Join(args, " "), m, help)
		}
		for _, s := range c.Commands() {
			walk(s, append(slices.Clone(path), s.Name()))
		}
	}
	walk(root, nil)
	if n < 50 {
		t.Errorf("walked %d commands, want every one (50+)", n)
	}
}
