package main

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEveryCommand: the README's command table has a row for
// every command and for the subcommand groups under a command (`partner
// secret` was missing), the shell completion included.
func TestREADMEListsEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "| `xpromo ") {
			rows = append(rows, line)
		}
	}
	want := []string{"partner secret", "partnership terms"}
	root := newRoot()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		want = append(want, c.Name())
	}
	for _, w := range want {
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r, "| `xpromo "+w+" ") || strings.HasPrefix(r, "| `xpromo "+w+"`") {
				found = true
			}
		}
		if !found {
			t.Errorf("README's command table has no row for `xpromo %s`", w)
		}
	}
}
