package fx

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/xpromo/xpromo/testkit/testenv"
)

// zipOf builds a zip archive of the given entries (name, content), in order.
func zipOf(t *testing.T, entries ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		w, err := zw.Create(e[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, dir, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadFileZip: the ECB's eurofxref-hist.zip (one eurofxref-hist.csv)
// loads the same rates as the CSV itself, whatever the file is called.
func TestLoadFileZip(t *testing.T) {
	db := testenv.Postgres(t)
	ctx := context.Background()
	s := NewStore(db.Pool)
	csvBytes, err := os.ReadFile(filepath.Join("testdata", "eurofxref-hist.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := parseFile(t, "eurofxref-hist.csv")
	dir := t.TempDir()
	z := zipOf(t, [2]string{"eurofxref-hist.csv", string(csvBytes)})
	for _, name := range []string{"eurofxref-hist.zip", "rates.csv"} {
		p := writeFile(t, dir, name, z)
		got, err := ParseFile(p)
		if err != nil {
			t.Fatalf("ParseFile(%s): %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseFile(%s) differs from the CSV's rates: %d rates, want %d", name, len(got), len(want))
		}
		n, dates, err := LoadFile(ctx, s, p)
		if err != nil {
			t.Fatalf("LoadFile(%s): %v", name, err)
		}
		if n != len(want) || dates[0] != day("2026-11-12") || dates[1] != day("2026-11-25") {
			t.Errorf("LoadFile(%s) = %d, %v; want %d, 2026-11-12..2026-11-25", name, n, dates, len(want))
		}
	}
	// The daily zip works too (directories in it are ignored).
	daily, err := os.ReadFile(filepath.Join("testdata", "eurofxref.csv"))
	if err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, dir, "eurofxref.zip", zipOf(t, [2]string{"docs/", ""}, [2]string{"eurofxref.csv", string(daily)}))
	if got, err := ParseFile(p); err != nil || !reflect.DeepEqual(got, parseFile(t, "eurofxref.csv")) {
		t.Errorf("ParseFile(daily zip) = %d rates, %v", len(got), err)
	}
	// A bad cell inside the zip is reported with the zip and the entry.
	bad := writeFile(t, dir, "bad.zip", zipOf(t, [2]string{"eurofxref-hist.csv", "Date,USD,\n2026-11-25,one,\n"}))
	_, _, err = LoadFile(ctx, s, bad)
	if want := "fx: " + bad + `: eurofxref-hist.csv: line 2, column 2 (USD): rate "one" is not a number`; err == nil || err.Error() != want {
		t.Errorf("LoadFile(bad zip) = %v\nwant %s", err, want)
	}
}

// TestParseFileRefuses: a file that is not the rates CSV nor the ECB's zip
// of it is refused with what it is and what to load instead, and nothing
// of its content in the message.
func TestParseFileRefuses(t *testing.T) {
	csvBytes, err := os.ReadFile(filepath.Join("testdata", "eurofxref-hist.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, _ = gw.Write(csvBytes)
	_ = gw.Close()
	full := zipOf(t, [2]string{"eurofxref-hist.csv", string(csvBytes)})
	binary := make([]byte, 600)
	for i := range binary {
		binary[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		name string
		body []byte
		is   string // what the message must say the file is
	}{
		{"gzip", gz.Bytes(), "a gzip-compressed file"},
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n"), "a PDF document"},
		{"html", []byte("<!DOCTYPE html><html><head><title>ECB</title></head><body>Euro foreign exchange reference rates</body></html>"), "an HTML page"},
		{"xml", []byte(`<?xml version="1.0" encoding="UTF-8"?><gesmes:Envelope><Cube><Cube time="2026-11-25"><Cube currency="USD" rate="1.1587"/></Cube></Cube></gesmes:Envelope>`), "an XML file"},
		{"xls", append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), binary...), "an Excel 97-2003 workbook"},
		{"png", append([]byte("\x89PNG\r\n\x1a\n"), binary...), "a file of type image/png"},
		{"binary", binary, "a binary file"},
		{"utf-16", append([]byte{0xff, 0xfe}, []byte("D\x00a\x00t\x00e\x00")...), "UTF-16 text"},
		{"zip without a csv", zipOf(t, [2]string{"readme.txt", "hello"}, [2]string{"eurofxref-hist.xml", "<x/>"}), `a zip archive without a .csv file (it holds "readme.txt", "eurofxref-hist.xml")`},
		{"zip with two csvs", zipOf(t, [2]string{"b.csv", "Date,USD,\n"}, [2]string{"a.csv", "Date,USD,\n"}), `a zip archive with 2 .csv files ("a.csv", "b.csv")`},
		{"xlsx", zipOf(t, [2]string{"[Content_Types].xml", "<Types/>"}, [2]string{"xl/workbook.xml", "<workbook/>"}), "an Excel workbook (.xlsx)"},
		{"truncated zip", full[:len(full)/2], "a damaged or incomplete zip archive (download it again)"},
		{"zip of a zip", zipOf(t, [2]string{"inner.csv", string(full)}), "a zip archive inside the zip"},
		{"zip of a pdf", zipOf(t, [2]string{"eurofxref-hist.csv", "%PDF-1.7\n"}), "a PDF document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "eurofxref-hist.csv", tc.body)
			rates, err := ParseFile(p)
			if err == nil {
				t.Fatalf("ParseFile = %d rates, want an error", len(rates))
			}
			pe, ok := errors.AsType[*ParseError](err)
			if !ok || !errors.Is(err, ErrNotRatesFile) || !strings.HasPrefix(pe.Path, p) {
				t.Fatalf("ParseFile = %#v, want a *ParseError with ErrNotRatesFile and the path", err)
			}
			msg := err.Error()
			for _, w := range []string{"this is " + tc.is, "eurofxref-hist.zip", "https://www.ecb.europa.eu/stats/eurofxref/"} {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			for _, r := range msg {
				if r > unicode.MaxASCII || !unicode.IsPrint(r) {
					t.Fatalf("message holds %q, not printable ASCII: the file's bytes leaked:\n%q", r, msg)
				}
			}
			if head := string(tc.body[:8]); strings.Contains(msg, head) {
				t.Errorf("message quotes the file's first bytes %q:\n%s", head, msg)
			}
		})
	}
}
