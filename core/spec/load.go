package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

// Load reads the spec file at path ("-" reads standard input) and returns it
// decoded, defaulted and validated; see Parse. A relative cniManifest path is
// made relative to the spec file's directory. Errors name the file; problems
// with the spec come as a wrapped ErrorList.
func Load(path string) (*Config, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading plex spec: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("plex spec %s:\n%w", path, err)
	}
	// A manifest path is relative to the spec, not to where plex runs.
	if path != "-" {
		for i := range cfg.Plexes {
			if m := cfg.Plexes[i].CNIManifest; m != "" && !filepath.IsAbs(m) {
				cfg.Plexes[i].CNIManifest = filepath.Join(filepath.Dir(path), m)
			}
		}
	}
	return cfg, nil
}

// Parse decodes a spec document, fills defaults with SetDefaults and checks it
// with Validate.
//
// It switches on apiVersion and kind first, then decodes strictly: a key that
// is not a field of the spec (a typo, or a key indented under the wrong
// parent) or a key given twice is an error. Problems that have a field path
// (unknown fields, wrong value types, everything Validate finds) come back
// together as one ErrorList; a file that is not YAML at all gives a plain
// error.
func Parse(data []byte) (*Config, error) {
	// YAMLToJSONStrict also rejects duplicate keys, with their line.
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("reading YAML: %w", err)
	}
	// UseNumber keeps a number as YAML wrote it, for stringify.
	var tree any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("reading YAML: %w", err)
	}
	doc, ok := tree.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the spec is empty or not a YAML mapping: start it with\n  apiVersion: %s\n  kind: %s", APIVersion, Kind)
	}
	if errs := checkTypeMeta(doc); errs != nil {
		return nil, errs
	}

	errs := checkShape(doc, reflect.TypeOf(Config{}), "")
	for _, e := range errs {
		if strings.HasPrefix(e.Message, "got ") {
			// The values are not what the fields hold; decoding would only
			// fail on the first of them.
			return nil, errs
		}
	}
	// Decode the tree already read rather than parse the YAML a second time
	// (yaml.Unmarshal would): parsing is most of the time a large spec takes.
	stringify(doc, reflect.TypeOf(Config{}))
	j, err = json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("decoding spec: %w", err)
	}
	cfg := &Config{}
	if err := json.Unmarshal(j, cfg); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("decoding spec: %w", err)
		}
		errs = append(errs, FieldError{Field: te.Field, Message: fmt.Sprintf("got a %s, want a %s", te.Value, te.Type)})
		return nil, errs
	}
	SetDefaults(cfg)
	if err := Validate(cfg); err != nil {
		var verrs ErrorList
		if !errors.As(err, &verrs) {
			return nil, err
		}
		errs = append(errs, verrs...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// checkTypeMeta is the version switch: the only known document is
// plex.dev/v1alpha1 PlexConfig.
func checkTypeMeta(doc map[string]any) ErrorList {
	apiVersion, _ := doc["apiVersion"].(string)
	kind, _ := doc["kind"].(string)
	var errs ErrorList
	switch apiVersion {
	case APIVersion:
		if kind != Kind {
			errs = append(errs, FieldError{"kind", fmt.Sprintf("kind is %q, want %q for apiVersion %s: write kind: %s", kind, Kind, APIVersion, Kind)})
		}
	case "":
		errs = append(errs, FieldError{"apiVersion", fmt.Sprintf("apiVersion is missing: start the spec with apiVersion: %s and kind: %s", APIVersion, Kind)})
	default:
		errs = append(errs, FieldError{"apiVersion", fmt.Sprintf("unknown apiVersion %q: write apiVersion: %s (with kind: %s)", apiVersion, APIVersion, Kind)})
	}
	return errs
}

// checkShape walks a decoded JSON tree alongside the Go type it decodes into
// and reports, with their paths, every key that matches no field and every
// value of the wrong kind (a list where a mapping belongs, a word where a
// number belongs). Key matching is case-sensitive, unlike encoding/json's.
// Numbers and booleans are fine where a string belongs: yaml.Unmarshal turns
// them into strings.
func checkShape(v any, t reflect.Type, path string) ErrorList {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return nil // null leaves the field empty
	}
	wrong := func(want string) ErrorList {
		return ErrorList{{path, fmt.Sprintf("got %s, want %s", describeJSON(v), want)}}
	}
	var errs ErrorList
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return wrong("a mapping of keys to values")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if t.Kind() == reflect.Map {
			for _, k := range keys {
				errs = append(errs, checkShape(m[k], t.Elem(), joinPath(path, k))...)
			}
			return errs
		}
		fields := jsonFields(t)
		for _, k := range keys {
			sub := joinPath(path, k)
			f, ok := fields[k]
			if !ok {
				errs = append(errs, FieldError{sub, unknownFieldMessage(k, fields)})
				continue
			}
			errs = append(errs, checkShape(m[k], f.Type, sub)...)
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			return wrong("a list")
		}
		for i, e := range s {
			errs = append(errs, checkShape(e, t.Elem(), path+"["+strconv.Itoa(i)+"]")...)
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			return wrong("a whole number")
		}
	case reflect.String:
		switch v.(type) {
		case map[string]any, []any:
			return wrong("a single value")
		}
	}
	return errs
}

// stringify turns numbers and booleans into strings where the spec holds a
// string, the way yaml.Unmarshal does, so that "indices: 1" and "cpu: 2" work.
// It changes v in place; the tree is one that checkShape walked.
func stringify(v any, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Map:
			for k, e := range x {
				x[k] = stringify(e, t.Elem())
			}
		case reflect.Struct:
			fields := jsonFields(t)
			for k, e := range x {
				if f, ok := fieldFold(fields, k); ok {
					x[k] = stringify(e, f.Type)
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, e := range x {
				x[i] = stringify(e, t.Elem())
			}
		}
	case json.Number:
		if t.Kind() == reflect.String {
			return numberString(x)
		}
	case bool:
		if t.Kind() == reflect.String {
			return strconv.FormatBool(x)
		}
	}
	return v
}

// fieldFold finds the field a key decodes into: encoding/json, like
// yaml.Unmarshal, also matches a key whose case differs (checkShape reports
// those).
func fieldFold(fields map[string]reflect.StructField, key string) (reflect.StructField, bool) {
	if f, ok := fields[key]; ok {
		return f, true
	}
	for name, f := range fields {
		if strings.EqualFold(name, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// numberString spells a number the way yaml.Unmarshal does where a string
// belongs: an integer as written, any other number in its shortest float32
// form.
func numberString(n json.Number) string {
	if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return string(n)
	}
	f, err := n.Float64()
	if err != nil {
		return string(n)
	}
	return strconv.FormatFloat(f, 'g', -1, 32)
}

// describeJSON names a decoded JSON value for an error message.
func describeJSON(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return strconv.Quote(x)
	default:
		return fmt.Sprint(x)
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldsOf caches jsonFields per type: a generated spec has as many node
// groups as it likes, and each is looked up twice.
var fieldsOf sync.Map // reflect.Type → map[string]reflect.StructField

// jsonFields maps the JSON names of t's fields to the fields. The map is
// shared: do not change it.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	if m, ok := fieldsOf.Load(t); ok {
		return m.(map[string]reflect.StructField)
	}
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	fieldsOf.Store(t, out)
	return out
}

func unknownFieldMessage(key string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		if strings.EqualFold(n, key) {
			return fmt.Sprintf("unknown field %q: field names are case-sensitive, write %s", key, n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprintf("unknown field %q (misspelled, or indented under the wrong key?): the fields here are %s", key, strings.Join(names, ", "))
}
