package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/xpromo/xpromo/domain/access"
	"github.com/xpromo/xpromo/domain/catalog"
	"github.com/xpromo/xpromo/http/auth"
	"github.com/xpromo/xpromo/http/view"
	"github.com/xpromo/xpromo/reports"
	"github.com/xpromo/xpromo/tracker/conversion"
)

// oaSchema is the part of an OpenAPI schema object the tests look at.
type oaSchema struct {
	Ref        string               `json:"$ref"`
	Type       string               `json:"type"`
	Format     string               `json:"format"`
	Properties map[string]*oaSchema `json:"properties"`
	Required   []string             `json:"required"`
	AllOf      []*oaSchema          `json:"allOf"`
	Items      *oaSchema            `json:"items"`
}

type oaParameter struct {
	Ref      string `json:"$ref"`
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

type oaOperation struct {
	OperationID string                     `json:"operationId"`
	Summary     string                     `json:"summary"`
	Parameters  []oaParameter              `json:"parameters"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Security    *[]map[string][]string     `json:"security"`
}

type oaDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Description string `json:"description"`
		License     *struct {
			Name string `json:"name"`
			URL  string `json:"url"`
		} `json:"license"`
		Contact *struct {
			Name  string `json:"name"`
			URL   string `json:"url"`
			Email string `json:"email"`
		} `json:"contact"`
	} `json:"info"`
	Servers    []struct{ URL string }                `json:"servers"`
	Security   []map[string][]string                 `json:"security"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas         map[string]*oaSchema   `json:"schemas"`
		Parameters      map[string]oaParameter `json:"parameters"`
		Responses       map[string]any         `json:"responses"`
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
	} `json:"components"`
}

var httpMethods = map[string]string{
	"get": http.MethodGet, "put": http.MethodPut, "post": http.MethodPost, "delete": http.MethodDelete,
	"options": http.MethodOptions, "head": http.MethodHead, "patch": http.MethodPatch, "trace": http.MethodTrace,
}

// publicOps are documented operations that Register does not mount: they
// are served without a token, outside the authenticated group.
var publicOps = []string{"GET /openapi.json"}

func loadOpenAPI(t *testing.T) oaDoc {
	t.Helper()
	var d oaDoc
	dec := json.NewDecoder(bytes.NewReader(openAPIDoc))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if dec.More() {
		t.Fatal("openapi.json holds more than one JSON value")
	}
	return d
}

// operations maps "METHOD /path" to the operation, and its path item.
func (d oaDoc) operations(t *testing.T) map[string]oaOperation {
	t.Helper()
	ops := map[string]oaOperation{}
	for path, item := range d.Paths {
		for key, raw := range item {
			m, ok := httpMethods[key]
			if !ok {
				continue // parameters, summary, ...
			}
			var op oaOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", key, path, err)
			}
			ops[m+" "+path] = op
		}
	}
	return ops
}

func TestOpenAPIDocument(t *testing.T) {
	d := loadOpenAPI(t)
	if !json.Valid(openAPIDoc) {
		t.Fatal("openapi.json is not valid JSON")
	}
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"openapi is 3.0.x", strings.HasPrefix(d.OpenAPI, "3.0.")},
		{"info.title", d.Info.Title != ""},
		{"info.version", d.Info.Version != ""},
		{"info.description names every role", func() bool {
			for _, r := range access.Roles {
				if !strings.Contains(d.Info.Description, "`"+string(r)+"`") {
					return false
				}
			}
			return true
		}()},
		{"servers is /v1", len(d.Servers) == 1 && d.Servers[0].URL == "/v1"},
		{"paths", len(d.Paths) > 0},
		{"components.schemas", len(d.Components.Schemas) > 0},
		{"components.responses", len(d.Components.Responses) > 0},
		{"bearer security scheme", d.Components.SecuritySchemes["bearerAuth"].Type == "http" &&
			d.Components.SecuritySchemes["bearerAuth"].Scheme == "bearer"},
		{"bearer security by default", len(d.Security) == 1 && d.Security[0]["bearerAuth"] != nil},
	} {
		if !c.ok {
			t.Errorf("openapi.json: want %s", c.what)
		}
	}
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestOpenAPIRoutes keeps the document and Register in step: every route
// is documented with its method, and every documented operation (except
// the public ones) is a route.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadOpenAPI(t)
	e := echo.New()
	New(nil, nil, nil, nil, nil).Register(e.Group("/v1"))
	routes := map[string]bool{}
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || strings.Contains(r.Path, "*") || r.Name == MethodNotAllowedRoute {
			continue // echo's own catch-alls, and the 405s for other methods
		}
		p, ok := strings.CutPrefix(r.Path, "/v1")
		if !ok {
			t.Errorf("route %s %s is outside /v1", r.Method, r.Path)
			continue
		}
		routes[r.Method+" "+echoParam.ReplaceAllString(p, "{$1}")] = true
	}
	if len(routes) == 0 {
		t.Fatal("Register mounted no routes")
	}
	ops := d.operations(t)
	for _, r := range sortedKeys(routes) {
		if _, ok := ops[r]; !ok {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	seenIDs := map[string]string{}
	for _, o := range sortedKeys(ops) {
		op := ops[o]
		public := slices.Contains(publicOps, o)
		if !routes[o] && !public {
			t.Errorf("openapi.json documents %s, which Register does not mount", o)
		}
		if op.OperationID == "" || op.Summary == "" || len(op.Responses) == 0 {
			t.Errorf("%s: want operationId, summary and responses", o)
		}
		if prev, dup := seenIDs[op.OperationID]; dup {
			t.Errorf("%s: operationId %q is also %s's", o, op.OperationID, prev)
		}
		seenIDs[op.OperationID] = o
		switch {
		case public && (op.Security == nil || len(*op.Security) != 0):
			t.Errorf("%s: a public operation wants \"security\": []", o)
		case !public && op.Security != nil:
			t.Errorf("%s: want the default bearer security", o)
		case !public && op.Responses["401"] == nil:
			t.Errorf("%s: want a 401 response", o)
		}
		// Every {param} in the path is declared as a required path parameter.
		_, path, _ := strings.Cut(o, " ")
		declared := map[string]bool{}
		params := append(pathItemParams(t, d, path), op.Parameters...)
		for _, p := range params {
			if p.Ref != "" {
				p = d.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
			}
			if p.In == "path" && p.Required {
				declared[p.Name] = true
			}
		}
		for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %q is not declared", o, m[1])
			}
		}
	}
}

func pathItemParams(t *testing.T, d oaDoc, path string) []oaParameter {
	t.Helper()
	raw, ok := d.Paths[path]["parameters"]
	if !ok {
		return nil
	}
	var ps []oaParameter
	if err := json.Unmarshal(raw, &ps); err != nil {
		t.Fatalf("%s parameters: %v", path, err)
	}
	return ps
}

// TestOpenAPIRefs: every $ref points at something the document defines,
// and every schema the document defines is used.
func TestOpenAPIRefs(t *testing.T) {
	var doc any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"]; ok {
				s, _ := ref.(string)
				if _, found := resolvePointer(doc, s); !found {
					t.Errorf("%s: $ref %q does not resolve", at, ref)
				}
				used[s] = true
			}
			for k, x := range v {
				walk(at+"/"+k, x)
			}
		case []any:
			for _, x := range v {
				walk(at+"/[]", x)
			}
		}
	}
	walk("#", doc)
	if len(used) == 0 {
		t.Fatal("no $ref in openapi.json")
	}
	d := loadOpenAPI(t)
	for _, name := range sortedKeys(d.Components.Schemas) {
		if !used["#/components/schemas/"+name] {
			t.Errorf("components/schemas/%s is never used", name)
		}
	}
}

// resolvePointer follows a local JSON pointer ("#/a/b").
func resolvePointer(doc any, ref string) (any, bool) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(p, "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// TestOpenAPISchemasMatchGoTypes: each schema has exactly the JSON fields
// of its Go type. For answers, the fields Go always writes (no omitempty
// or omitzero) are required, the others are not, and the types agree.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	d := loadOpenAPI(t)
	for _, c := range []struct {
		schema   string
		goType   any
		response bool     // check required and types too
		omit     []string // Go fields the schema leaves out on purpose
	}{
		{"Partner", catalog.Partner{}, true, nil},
		{"Partnership", catalog.Partnership{}, true, nil},
		{"Terms", catalog.Terms{}, true, nil},
		{"Link", catalog.Link{}, true, nil},
		{"LinkView", view.LinkView{}, true, nil},
		{"AuditEntry", AuditView{}, true, nil},
		{"Token", auth.Token{}, true, nil},
		{"CreatedToken", CreatedToken{}, true, nil},
		{"CreatedPartnership", CreatedPartnership{}, true, nil},
		{"ErrorBody", ErrorBody{}, true, nil},
		{"PartnerList", List[catalog.Partner]{}, true, nil},
		{"PartnershipList", List[catalog.Partnership]{}, true, nil},
		{"TermsList", List[catalog.Terms]{}, true, nil},
		{"LinkList", List[view.LinkView]{}, true, nil},
		{"AuditList", List[AuditView]{}, true, nil},
		{"Playbook", catalog.Playbook{}, true, nil},
		{"PlaybookRequest", PlaybookRequest{}, false, nil},
		{"Replicated", catalog.Replicated{}, true, nil},
		{"Origin", catalog.Origin{}, true, nil},
		{"ReplicateRequest", ReplicateRequest{}, false, nil},
		{"TokenList", List[auth.Token]{}, true, nil},
		// Requests: the server drops status and version from a new
		// partner, version from a new partnership, and sets the terms'
		// partnership, version, created_at and created_by.
		{"PartnerCreate", catalog.Partner{}, false, []string{"status", "version"}},
		{"PartnerChange", catalog.PartnerChange{}, false, nil},
		{"PartnershipRequest", PartnershipRequest{}, false, []string{"version"}},
		{"PartnershipChange", catalog.PartnershipChange{}, false, nil},
		{"TermsInput", catalog.Terms{}, false, []string{"partnership", "version", "created_at", "created_by"}},
		{"LinkRequest", LinkRequest{}, false, nil},
		{"LinkChange", catalog.LinkChange{}, false, nil},
		{"TokenRequest", TokenRequest{}, false, nil},
		{"ConversionInput", conversion.Input{}, false, nil},
		{"Recorded", conversion.Recorded{}, true, nil},
		{"ConversionResult", ConversionResult{}, true, nil},
		{"ConversionsAnswer", ConversionsAnswer{}, true, nil},
		{"Attribution", Attribution{}, true, nil},
	} {
		t.Run(c.schema, func(t *testing.T) {
			s, ok := d.Components.Schemas[c.schema]
			if !ok {
				t.Fatalf("components/schemas/%s is missing", c.schema)
			}
			props, required := flatten(t, d, s)
			fields := jsonFields(reflect.TypeOf(c.goType))
			for _, name := range c.omit {
				if _, ok := fields[name]; !ok {
					t.Errorf("%T has no field %q to leave out", c.goType, name)
				}
				delete(fields, name)
			}
			for _, name := range sortedKeys(fields) {
				if _, ok := props[name]; !ok {
					t.Errorf("%T field %q is not a property of %s", c.goType, name, c.schema)
				}
			}
			for _, name := range sortedKeys(props) {
				if _, ok := fields[name]; !ok {
					t.Errorf("%s property %q is not a JSON field of %T", c.schema, name, c.goType)
				}
			}
			if !c.response {
				return
			}
			for _, name := range sortedKeys(fields) {
				f, p := fields[name], props[name]
				if p == nil {
					continue
				}
				if always := !f.optional; always != required[name] {
					t.Errorf("%s.%s: required is %v, want %v (omitempty/omitzero: %v)", c.schema, name, required[name], always, f.optional)
				}
				want, wantFormat := oaTypeOf(f.typ)
				got, gotFormat := resolveType(d, p)
				if got != want || (wantFormat != "" && gotFormat != wantFormat) {
					t.Errorf("%s.%s: type %s %s, want %s %s (Go %s)", c.schema, name, got, gotFormat, want, wantFormat, f.typ)
				}
			}
		})
	}
}

type jsonField struct {
	typ      reflect.Type
	optional bool // omitempty or omitzero
}

// jsonFields lists the names encoding/json gives t's fields, promoting
// those of embedded structs; a shallower field wins over a deeper one.
func jsonFields(t reflect.Type) map[string]jsonField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]jsonField{}
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
		out[name] = jsonField{typ: f.Type, optional: optional}
	}
	for _, et := range embedded {
		for name, f := range jsonFields(et) {
			if _, ok := out[name]; !ok {
				out[name] = f
			}
		}
	}
	return out
}

// flatten resolves s's $ref and allOf into one set of properties and the
// names required by any part.
func flatten(t *testing.T, d oaDoc, s *oaSchema) (map[string]*oaSchema, map[string]bool) {
	t.Helper()
	props, required := map[string]*oaSchema{}, map[string]bool{}
	var add func(s *oaSchema, depth int)
	add = func(s *oaSchema, depth int) {
		if depth > 10 {
			t.Fatal("schema refs nest too deep")
		}
		if s.Ref != "" {
			add(schemaRef(t, d, s.Ref), depth+1)
			return
		}
		for name, p := range s.Properties {
			props[name] = p
		}
		for _, r := range s.Required {
			required[r] = true
		}
		for _, part := range s.AllOf {
			add(part, depth+1)
		}
	}
	add(s, 0)
	return props, required
}

func schemaRef(t *testing.T, d oaDoc, ref string) *oaSchema {
	t.Helper()
	name, ok := strings.CutPrefix(ref, "#/components/schemas/")
	s := d.Components.Schemas[name]
	if !ok || s == nil {
		t.Fatalf("schema $ref %q does not resolve", ref)
	}
	return s
}

// resolveType is the type (and format) of s after following $refs; an
// allOf counts as an object.
func resolveType(d oaDoc, s *oaSchema) (string, string) {
	for range 10 {
		if s.Ref == "" {
			break
		}
		next := d.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
		if next == nil {
			return "", ""
		}
		s = next
	}
	if s.Type == "" && len(s.AllOf) > 0 {
		return "object", ""
	}
	return s.Type, s.Format
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	decimalType = reflect.TypeFor[decimal.Decimal]()
	rawType     = reflect.TypeFor[json.RawMessage]()
)

// oaTypeOf is the OpenAPI type (and format, where it matters) that
// encoding/json writes for a value of Go type t.
func oaTypeOf(t reflect.Type) (string, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "string", "date-time"
	case t == decimalType:
		return "string", "" // shopspring/decimal marshals as a JSON string
	case t == rawType:
		return "object", "" // the audit's before and after: JSON objects as stored
	}
	switch t.Kind() {
	case reflect.String:
		return "string", ""
	case reflect.Bool:
		return "boolean", ""
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer", ""
	case reflect.Float32, reflect.Float64:
		return "number", ""
	case reflect.Slice, reflect.Array:
		return "array", ""
	case reflect.Struct, reflect.Map:
		return "object", ""
	}
	return t.Kind().String(), ""
}

func TestOpenAPIHandler(t *testing.T) {
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.GET("/v1/openapi.json", OpenAPI)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	for _, c := range []struct{ what, got, want string }{
		{"status", http.StatusText(rec.Code), http.StatusText(http.StatusOK)},
		{"Content-Type", rec.Header().Get(echo.HeaderContentType), echo.MIMEApplicationJSON},
		{"Cache-Control", rec.Header().Get(echo.HeaderCacheControl), "no-cache"},
	} {
		if c.got != c.want {
			t.Errorf("GET /v1/openapi.json: %s %q, want %q", c.what, c.got, c.want)
		}
	}
	if !bytes.Equal(rec.Body.Bytes(), file) {
		t.Errorf("GET /v1/openapi.json answered %d bytes that differ from openapi.json (%d bytes)", rec.Body.Len(), len(file))
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// TestOpenAPIErrorsAndInfo: what an OpenAPI linter asks for. info names a
// license and a contact, and every operation declares at least one error
// answer (4xx or 5xx) whose body is the ErrorBody the server writes.
func TestOpenAPIErrorsAndInfo(t *testing.T) {
	d := loadOpenAPI(t)
	if l := d.Info.License; l == nil || l.Name == "" {
		t.Error("openapi.json: info.license with a name is missing")
	}
	if c := d.Info.Contact; c == nil || c.Name == "" || (c.URL == "" && c.Email == "") {
		t.Error("openapi.json: info.contact with a name and a URL or e-mail is missing")
	}
	var doc any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	ops := d.operations(t)
	if len(ops) == 0 {
		t.Fatal("no operations")
	}
	for _, o := range sortedKeys(ops) {
		var errs []string
		for _, code := range sortedKeys(ops[o].Responses) {
			if code < "400" || code > "599" || len(code) != 3 {
				continue
			}
			var r any
			if err := json.Unmarshal(ops[o].Responses[code], &r); err != nil {
				t.Fatal(err)
			}
			if m, _ := r.(map[string]any); m != nil {
				if ref, ok := m["$ref"].(string); ok {
					r, _ = resolvePointer(doc, ref)
				}
			}
			schema, _ := resolvePointer(map[string]any{"r": r}, "#/r/content/application~1json/schema/$ref")
			if schema != "#/components/schemas/ErrorBody" {
				t.Errorf("%s: error answer %s has no ErrorBody body", o, code)
				continue
			}
			errs = append(errs, code)
		}
		if len(errs) == 0 {
			t.Errorf("%s declares no error answer (4xx/5xx)", o)
		}
	}
}

// TestOpenAPIBreakdownDimensions: the `by` parameter of /v1/reports/{name}
// lists exactly the dimensions the breakdown report accepts (`sub` was
// missing).
func TestOpenAPIBreakdownDimensions(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	var op struct {
		Parameters []struct {
			Name   string `json:"name"`
			Schema struct {
				Enum []string `json:"enum"`
			} `json:"schema"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(doc.Paths["/reports/{name}"]["get"], &op); err != nil {
		t.Fatalf("GET /reports/{name}: %v", err)
	}
	for _, p := range op.Parameters {
		if p.Name == "by" {
			got, want := slices.Sorted(slices.Values(p.Schema.Enum)), slices.Sorted(slices.Values(reports.BreakdownDimensions))
			if !slices.Equal(got, want) {
				t.Errorf("openapi.json: by %v, want %v", got, want)
			}
			return
		}
	}
	t.Error("openapi.json: GET /reports/{name} has no by parameter")
}
