package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// maxBody bounds every API request body.
const maxBody = 64 << 10

// readBody reads the whole body up to maxBody; 413 beyond it.
func readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > maxBody {
		return nil, problem(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than 65536 bytes")
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, problem(http.StatusBadRequest, "unreadable_body", "the request body could not be read")
	}
	if len(b) > maxBody {
		return nil, problem(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than 65536 bytes")
	}
	return b, nil
}

// bodyOf returns the body the idempotency middleware already read, or reads
// it.
func bodyOf(c echo.Context) ([]byte, error) {
	if b, ok := c.Get(ctxBody).([]byte); ok {
		return b, nil
	}
	b, err := readBody(c)
	if err == nil {
		c.Set(ctxBody, b)
	}
	return b, err
}

// decodeJSON reads a JSON object into dst strictly: the content type must be
// JSON, unknown fields and trailing data are refused, and a wrong type names
// the field.
func decodeJSON(c echo.Context, dst any) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	b, err := bodyOf(c)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		p := jsonProblem(err)
		if p.Code == "invalid_type" {
			// encoding/json names an embedded struct's fields by way of
			// its Go name ("payment.pan"), which is no part of the JSON.
			p.Field = withoutEmbedded(reflect.TypeOf(dst), p.Field)
		}
		if p.Code == "unknown_field" {
			// encoding/json names the unknown key alone; name it by its
			// path ("shipping_address.state"), as every other field error.
			if path := unknownPath(b, reflect.TypeOf(dst), p.Field); path != "" {
				p.Field = path
			}
		}
		return p
	}
	if dec.More() {
		return problem(http.StatusBadRequest, "malformed_json", "the body must hold exactly one JSON object")
	}
	if field := controlledField(reflect.ValueOf(dst), ""); field != "" {
		return fieldProblem(http.StatusUnprocessableEntity, "invalid_field", field, "must not contain control characters")
	}
	return nil
}

// withoutEmbedded is the field path encoding/json names, without the Go
// names of the embedded structs it passes through.
func withoutEmbedded(t reflect.Type, path string) string {
	var out []string
	for _, seg := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			out = append(out, seg)
			continue
		}
		next, embedded := t, false
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case f.Anonymous && name == "" && f.Name == seg:
				next, embedded = f.Type, true
			case name == seg:
				next = f.Type
			default:
				continue
			}
			break
		}
		if !embedded {
			out = append(out, seg)
		}
		t = next
	}
	return strings.Join(out, ".")
}

// hasControl reports whether s holds a control character (NUL, a line
// break, DEL, a C1 control): no text field of the API takes one, and
// PostgreSQL refuses NUL outright.
func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

// controlledField walks a decoded request and names the first string field
// that holds a control character ("" when none does), as the JSON names it:
// "display_name", "frame_ancestors[2]", "shipping.city".
func controlledField(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ""
		}
		return controlledField(v.Elem(), path)
	case reflect.String:
		if hasControl(v.String()) {
			return path
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if f := controlledField(v.Index(i), path+"["+strconv.Itoa(i)+"]"); f != "" {
				return f
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			key := fmt.Sprint(iter.Key().Interface())
			if hasControl(key) {
				return join(path, key)
			}
			if f := controlledField(iter.Value(), join(path, key)); f != "" {
				return f
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if f := controlledField(v.Field(i), join(path, name)); f != "" {
				return f
			}
		}
	}
	return ""
}

// unknownPath names, by its path, the key of the JSON document b that type
// t has no field for and that encoding/json reported as name: the first in
// key order when several such keys exist, so that the same body always names
// the same field; "" when it finds none.
func unknownPath(b []byte, t reflect.Type, name string) string {
	var doc any
	if json.Unmarshal(b, &doc) != nil {
		return ""
	}
	var found []string
	unknownIn(doc, t, "", &found)
	for _, p := range found {
		if p == name || strings.HasSuffix(p, "."+name) {
			return p
		}
	}
	return ""
}

// unknownIn appends to found the path of every key of doc that t has no
// field for, keys in sorted order.
func unknownIn(doc any, t reflect.Type, path string, found *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch d := doc.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			ft, ok := fields[key]
			for name, t := range fields {
				if !ok && strings.EqualFold(name, key) { // as encoding/json matches
					ft, ok = t, true
				}
			}
			if !ok {
				*found = append(*found, join(path, key))
				continue
			}
			unknownIn(d[key], ft, join(path, key), found)
		}
	case []any:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return
		}
		for i, v := range d {
			unknownIn(v, t.Elem(), path+"["+strconv.Itoa(i)+"]", found)
		}
	}
}

// jsonFields are a struct's fields by their JSON names, embedded structs'
// fields included as encoding/json inlines them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct:
			for k, v := range jsonFields(sf.Type) {
				out[k] = v
			}
		case sf.IsExported():
			if name == "" {
				name = sf.Name
			}
			out[name] = sf.Type
		}
	}
	return out
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// queries names the query parameters each partner API route takes, by
// method and route path; a route that is not in it takes none.
type queries map[string]map[string]bool

// takes records that route r takes the named query parameters and returns r.
func (q queries) takes(r *echo.Route, names ...string) *echo.Route {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	q[r.Method+" "+r.Path] = set
	return r
}

// check refuses, naming the parameter, a query parameter the route does not
// take (a partner migrating from another issuer's API might filter by a name
// vaultpage does not know, and would otherwise get an unfiltered list), one
// given more than once, and one whose name or value holds a control
// character.
func (q queries) check(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if strings.HasSuffix(c.Path(), "*") {
			return next(c) // no route: 404 or 405 says so first
		}
		// Parsed here, not by c.QueryParams(), which drops silently what it
		// cannot parse (a ';', a bad escape, past 10,000 parameters) and
		// would let a filter through unchecked.
		params, err := url.ParseQuery(c.Request().URL.RawQuery)
		if err != nil {
			return problem(http.StatusBadRequest, "invalid_query", "the query string is malformed")
		}
		known := q[c.Request().Method+" "+c.Path()]
		for name, values := range params {
			if name == "" {
				return problem(http.StatusBadRequest, "invalid_query", "a query parameter has no name")
			}
			field := strings.Map(printable, name)
			for _, v := range values {
				if hasControl(name) || hasControl(v) {
					return fieldProblem(http.StatusBadRequest, "invalid_query", field, "must not contain control characters")
				}
			}
			if !known[name] {
				return fieldProblem(http.StatusBadRequest, "unknown_parameter", field, "is not a query parameter of this route")
			}
			if len(values) > 1 {
				return fieldProblem(http.StatusBadRequest, "invalid_query", field, "must be given at most once")
			}
		}
		return next(c)
	}
}

// printable drops control characters, for naming a field that holds them.
func printable(r rune) rune {
	if unicode.IsControl(r) {
		return -1
	}
	return r
}

func jsonProblem(err error) *Problem {
	var (
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return problem(http.StatusBadRequest, "malformed_json", "the body must be a JSON object")
		}
		return fieldProblem(http.StatusUnprocessableEntity, "invalid_type", field, "must be a "+jsonKind(te.Type.Kind().String()))
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return problem(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fieldProblem(http.StatusUnprocessableEntity, "unknown_field", field, "is not a field of this request")
	}
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return problem(http.StatusBadRequest, "malformed_json", "the body is not a valid request")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "list"
	case "struct", "map":
		return "JSON object"
	}
	return "number"
}

// uuidField parses a UUID from a request body field.
func uuidField(field, s string) (uuid.UUID, error) {
	if s == "" {
		return uuid.Nil, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", field, "is required")
	}
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, fieldProblem(http.StatusUnprocessableEntity, "invalid_field", field, "must be a UUID")
	}
	return u, nil
}

// pathID parses a UUID path parameter; a malformed one is a 404, as an
// unknown id would be.
func pathID(c echo.Context, name string) (uuid.UUID, error) {
	u, err := uuid.Parse(c.Param(name))
	if err != nil || len(c.Param(name)) != 36 {
		return uuid.Nil, problem(http.StatusNotFound, "not_found", "no such resource")
	}
	return u, nil
}
