package policy

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wassette/wassette/internal/strictyaml"
)

// decoder fills a Policy from a YAML node tree by the fields' yaml tags. It reads every
// scalar as its exact text, refuses unknown and repeated fields, and remembers where each
// field was, so that a later check can say where a bad value is without quoting it.
type decoder struct {
	at map[string]*yaml.Node // field path ("permissions.network.allow[0].host") -> its node
}

// decode reads n into v. path names v in errors ("" for the whole policy).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	d.at[path] = n
	if strictyaml.IsNull(n) {
		return nil // "field:" with nothing after it leaves the field empty
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	case reflect.Struct:
		return d.mapping(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return strictyaml.At(n, "%s must be a list (\"- item\" lines or [a, b]), not a %s", path, kindName(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return strictyaml.At(n, "%s must be a single value, not a %s", path, kindName(n))
	}
	if v.Kind() != reflect.String {
		panic("policy: no YAML reading for fields of kind " + v.Kind().String())
	}
	v.SetString(n.Value)
	return nil
}

// mapping reads a mapping into the struct v.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) error {
	names, index := fieldsOf(v.Type())
	if n.Kind != yaml.MappingNode {
		return strictyaml.At(n, "%s must be a map of the fields %s, not a %s", name(path), strings.Join(names, ", "), kindName(n))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return strictyaml.At(k, "a field name %s must be plain text, not a %s", where(path), kindName(k))
		}
		f, ok := index[k.Value]
		if !ok {
			return strictyaml.At(k, "unknown field %s %s; the fields allowed there are %s",
				fieldName(k.Value), where(path), strings.Join(names, ", "))
		}
		if line, dup := seen[k.Value]; dup {
			return strictyaml.At(k, "the field %s appears twice %s (first on line %d)", k.Value, where(path), line)
		}
		seen[k.Value] = k.Line
		sub := k.Value
		if path != "" {
			sub = path + "." + k.Value
		}
		if err := d.decode(val, v.Field(f), sub); err != nil {
			return err
		}
	}
	return nil
}

// fieldsOf lists the yaml names of t's fields, in order, and maps them to field indexes.
func fieldsOf(t reflect.Type) ([]string, map[string]int) {
	var names []string
	index := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		names = append(names, name)
		index[name] = i
	}
	return names, index
}

// fieldName shows a field name that is not one of the policy's. It is a key, not a value,
// but a key that does not look like a field name may be a value typed in the wrong place,
// so only one that does is shown.
func fieldName(k string) string {
	if len(k) == 0 || len(k) > 40 || strings.IndexFunc(k, func(r rune) bool {
		return !(r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) >= 0 {
		return "(not shown: it does not look like a field name)"
	}
	return strconv.Quote(k)
}

// where says where a field is, for a person: "at the top level" or "in permissions".
func where(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "in " + path
}

// name names a field path for a person.
func name(path string) string {
	if path == "" {
		return "the policy"
	}
	return path
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "map"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "YAML document"
}

// node returns the node of field path, or of the nearest enclosing field that was read
// (a missing field is reported where its parent is).
func (d *decoder) node(path string) *yaml.Node {
	for {
		if n, ok := d.at[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return d.at[""]
		}
		path = path[:i]
	}
}
