package fx

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"sort"
	"strings"
)

// ErrNotRatesFile is returned (inside a *ParseError) for a file that is
// not an ECB euro reference rate CSV nor the ECB's zip of one: a PDF, an
// HTML page, the ECB's XML rates, an Excel workbook, any binary file.
var ErrNotRatesFile = errors.New("not an ECB euro reference rate CSV")

// fileHint says what to load instead; every ErrNotRatesFile ends with it.
const fileHint = "load the CSV as the ECB publishes it: eurofxref-hist.zip or eurofxref-hist.csv " +
	"(every day since 1999, https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip), " +
	"or eurofxref.zip or eurofxref.csv (the latest day)"

// sniffLen is how much of a file decides what it is (net/http's sniffing
// reads no more).
const sniffLen = 512

// ParseFile reads an ECB rates file: the CSV in either layout (see
// ParseECB), or a zip holding exactly one .csv file, as the ECB publishes
// eurofxref-hist.zip (holding eurofxref-hist.csv) and eurofxref.zip. The
// kind is taken from the content, not the name. Any other kind of file is
// refused with ErrNotRatesFile, naming what it looks like and what to
// load instead; its bytes are never quoted. Errors are *ParseError with
// Path set to path (and, inside a zip, "path: entry").
func ParseFile(name string) ([]Rate, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("fx: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, sniffLen)
	head, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("fx: read %s: %w", name, err)
	}
	kind := sniff(head)
	switch kind {
	case "":
		return parseCSV(br, name)
	case kindZip:
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("fx: %w", err)
		}
		return parseZip(f, st.Size(), name)
	}
	return nil, notRates(name, kind)
}

const kindZip = "zip"

// sniff names what head, a file's first bytes, looks like: "" for text
// that may be a CSV, kindZip, or a description for an error.
func sniff(head []byte) string {
	if len(head) == 0 {
		return "" // ParseECB says the file is empty
	}
	ct := http.DetectContentType(head)
	mt, params, _ := strings.Cut(ct, ";")
	switch mt {
	case "application/zip":
		return kindZip
	case "text/plain":
		if strings.Contains(params, "utf-16") {
			return "UTF-16 text (save it as UTF-8)"
		}
		return ""
	case "text/html":
		return "an HTML page (a web page, not the file it links to)"
	case "text/xml":
		return "an XML file (the ECB's XML rates are not read)"
	case "application/pdf":
		return "a PDF document"
	case "application/x-gzip":
		return "a gzip-compressed file (uncompress it first)"
	case "application/x-rar-compressed":
		return "a RAR archive"
	}
	if strings.HasPrefix(string(head), "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
		return "an Excel 97-2003 workbook (.xls) or another OLE document"
	}
	if strings.HasPrefix(mt, "image/") || strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/") {
		return "a file of type " + mt
	}
	return "a binary file"
}

func notRates(name, kind string) error {
	return &ParseError{Path: name, Err: fmt.Errorf("%w: this is %s; %s", ErrNotRatesFile, kind, fileHint)}
}

// parseCSV runs ParseECB and names the file in its errors.
func parseCSV(r io.Reader, name string) ([]Rate, error) {
	rates, err := ParseECB(r)
	if err != nil {
		if pe, ok := errors.AsType[*ParseError](err); ok {
			pe.Path = name
			return nil, pe
		}
		return nil, fmt.Errorf("%w (reading %s)", err, name)
	}
	return rates, nil
}

// maxZipEntries bounds the names a refused zip's error lists.
const maxZipEntries = 5

// parseZip reads the one .csv file in a zip. ParseECB's MaxInput bounds
// what is decompressed, so a zip bomb stops there.
func parseZip(r io.ReaderAt, size int64, name string) ([]Rate, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, notRates(name, "a damaged or incomplete zip archive (download it again)")
	}
	var csvs, all []string
	xlsx := false
	byName := map[string]*zip.File{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		all = append(all, f.Name)
		if f.Name == "[Content_Types].xml" || strings.HasPrefix(f.Name, "xl/") {
			xlsx = true
		}
		if strings.EqualFold(path.Ext(f.Name), ".csv") {
			csvs = append(csvs, f.Name)
			byName[f.Name] = f
		}
	}
	sort.Strings(csvs)
	switch {
	case len(csvs) == 1:
	case xlsx:
		return nil, notRates(name, "an Excel workbook (.xlsx)")
	case len(csvs) == 0:
		return nil, notRates(name, "a zip archive without a .csv file (it holds "+listNames(all)+")")
	default:
		return nil, notRates(name, fmt.Sprintf("a zip archive with %d .csv files (%s), where the ECB's holds one", len(csvs), listNames(csvs)))
	}
	entry := name + ": " + csvs[0]
	rc, err := byName[csvs[0]].Open()
	if err != nil {
		return nil, notRates(entry, fmt.Sprintf("an entry that cannot be read (%v; download the zip again)", err))
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, sniffLen)
	head, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF {
		return nil, notRates(entry, fmt.Sprintf("an entry that cannot be read (%v; download the zip again)", err))
	}
	if kind := sniff(head); kind != "" {
		if kind == kindZip {
			kind = "a zip archive inside the zip (unpack the outer one)"
		}
		return nil, notRates(entry, kind)
	}
	return parseCSV(br, entry)
}

// listNames quotes up to maxZipEntries names (clipped) and counts the rest.
func listNames(names []string) string {
	if len(names) == 0 {
		return "nothing"
	}
	var parts []string
	for i, n := range names {
		if i == maxZipEntries {
			parts = append(parts, fmt.Sprintf("and %d more", len(names)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%q", clip(n)))
	}
	return strings.Join(parts, ", ")
}
