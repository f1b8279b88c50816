package xpromo_test

import (
	"bufio"
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/xpromo/xpromo/"

// floorRow is a row of docs/ARCHITECTURE.md's package table:
// "| N | `path` | ...".
var floorRow = regexp.MustCompile("^\\|\\s*(\\d+)\\s*\\|\\s*`([a-z0-9_-]+(?:/[a-z0-9_-]+)*)`\\s*\\|")

// longRow is a row of its table of files that stay long: "| `path.go` | why |".
var longRow = regexp.MustCompile("^\\|\\s*`([a-z0-9/_.-]+\\.go)`\\s*\\|")

// maxLines is the length past which a production file must be named in
// docs/ARCHITECTURE.md with the reason it stays one.
const maxLines = 600

// siblings are the folders whose packages may import each other on their
// own floor; elsewhere a package imports only from floors below it.
var siblings = []string{"domain", "tracker", "reports", "testkit"}

// floors reads the package table of docs/ARCHITECTURE.md: the map of the
// house is the rule the code is held to, so the two cannot drift apart.
func floors(t *testing.T) (pkgs map[string]int, long map[string]bool) {
	t.Helper()
	f, err := os.Open("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, long := map[string]int{}, map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := floorRow.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[1])
			out[m[2]] = n
		} else if m := longRow.FindStringSubmatch(sc.Text()); m != nil {
			long[m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("docs/ARCHITECTURE.md: no package table rows (| N | `path` | ...)")
	}
	return out, long
}

// pkgImports is every package directory's imports of this module, from its
// production files and from its test files apart, and the production files
// longer than maxLines.
func pkgImports(t *testing.T) (prod, tests map[string][]string, long []string) {
	t.Helper()
	prod, tests = map[string][]string{}, map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || path == "architecture_test.go" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(name, "_test.go") && bytes.Count(src, []byte("\n")) > maxLines {
			long = append(long, filepath.ToSlash(path))
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		into := prod
		if strings.HasSuffix(name, "_test.go") {
			into = tests
		}
		if _, ok := into[dir]; !ok {
			into[dir] = nil
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok && !slices.Contains(into[dir], rest) {
				into[dir] = append(into[dir], rest)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return prod, tests, long
}

// TestLayout holds the code to docs/ARCHITECTURE.md: every package is on
// the map, every import goes down a floor (or to a sibling where the map
// allows it), nothing but tests imports a test kit, and a long file is
// long for a stated reason.
func TestLayout(t *testing.T) {
	fl, named := floors(t)
	prod, tests, long := pkgImports(t)
	for _, f := range long {
		if !named[f] {
			t.Errorf("%s is over %d lines: split it by responsibility, or name it in docs/ARCHITECTURE.md's long files with the reason it stays one", f, maxLines)
		}
	}
	for dir := range prod {
		if strings.HasPrefix(dir, "docs/examples/") {
			continue // a partner's code to copy, outside the house
		}
		if _, ok := fl[dir]; !ok {
			t.Errorf("package %s is not in docs/ARCHITECTURE.md's table", dir)
		}
	}
	for dir := range fl {
		if _, ok := prod[dir]; !ok {
			if _, ok := tests[dir]; !ok {
				t.Errorf("docs/ARCHITECTURE.md lists %s, which is not a package", dir)
			}
		}
	}
	for dir, imps := range prod {
		from, ok := fl[dir]
		if !ok {
			continue
		}
		for _, imp := range imps {
			to, ok := fl[imp]
			top := strings.Split(dir, "/")[0]
			switch {
			case !ok:
				t.Errorf("%s imports %s, which is not on the map", dir, imp)
			case strings.HasPrefix(imp, "testkit/") && top != "testkit":
				t.Errorf("%s imports the test kit %s in production code", dir, imp)
			case to < from:
			case to == from && top == strings.Split(imp, "/")[0] && slices.Contains(siblings, top):
			default:
				t.Errorf("%s (floor %d) imports %s (floor %d): an import may only go down a floor", dir, from, imp, to)
			}
		}
	}
	for dir, imps := range tests {
		for _, imp := range imps {
			if fl[imp] > fl[dir] && !strings.HasPrefix(imp, "testkit/") && !strings.HasPrefix(dir, "testkit/") && !strings.HasPrefix(dir, "cmd/") {
				t.Errorf("a test of %s (floor %d) imports %s (floor %d): test a package through what it stands on", dir, fl[dir], imp, fl[imp])
			}
		}
	}
}
