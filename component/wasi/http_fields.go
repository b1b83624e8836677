package wasi

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/wassette/wassette/component/cm"
)

// Cases of wasi:http/types header-error.
const (
	headerInvalidSyntax = uint32(0)
	headerForbidden     = uint32(1)
	headerImmutable     = uint32(2)
)

// forbiddenHeaders are the fields a component may not set: they belong to
// the connection, which the host manages (wasmtime-wasi-http refuses the
// same ones).
var forbiddenHeaders = map[string]bool{
	"connection":          true,
	"keep-alive":          true,
	"proxy-authenticate":  true,
	"proxy-authorization": true,
	"proxy-connection":    true,
	"transfer-encoding":   true,
	"upgrade":             true,
	"host":                true,
	"http2-settings":      true,
}

// field is one entry of a fields resource: a lower-case name and its value.
type field struct {
	name  string
	value []byte
}

// fieldList is the storage of a fields resource, which may be shared by a
// request or response and the child fields handles that view it.
type fieldList struct {
	entries []field
}

// fields is the host value of a wasi:http/types fields resource. A child
// (the headers of a request or response) is immutable.
type fields struct {
	list      *fieldList
	immutable bool
}

func newFields() *fields { return &fields{list: &fieldList{}} }

// validName reports whether s is an HTTP field name (an RFC 9110 token).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validValue reports whether b is an HTTP field value: no control
// characters but horizontal tab, and no leading or trailing whitespace.
func validValue(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return len(b) == 0 || (b[0] != ' ' && b[0] != '\t' && b[len(b)-1] != ' ' && b[len(b)-1] != '\t')
}

// checkField returns the header-error case for an entry a component wants
// to add, or ok.
func checkField(name string, value []byte) (uint32, bool) {
	if !validName(name) || !validValue(value) {
		return headerInvalidSyntax, false
	}
	if forbiddenHeaders[strings.ToLower(name)] {
		return headerForbidden, false
	}
	return 0, true
}

func (f *fields) get(name string) []any {
	name = strings.ToLower(name)
	out := []any{}
	for _, e := range f.list.entries {
		if e.name == name {
			out = append(out, append([]byte(nil), e.value...))
		}
	}
	return out
}

func (f *fields) has(name string) bool {
	name = strings.ToLower(name)
	for _, e := range f.list.entries {
		if e.name == name {
			return true
		}
	}
	return false
}

func (f *fields) delete(name string) {
	name = strings.ToLower(name)
	kept := f.list.entries[:0]
	for _, e := range f.list.entries {
		if e.name != name {
			kept = append(kept, e)
		}
	}
	f.list.entries = kept
}

func (f *fields) clone() *fields {
	return &fields{list: &fieldList{entries: append([]field(nil), f.list.entries...)}}
}

// header converts the entries to a Go http.Header.
func (f *fields) header() http.Header {
	h := make(http.Header, len(f.list.entries))
	for _, e := range f.list.entries {
		k := http.CanonicalHeaderKey(e.name)
		h[k] = append(h[k], string(e.value))
	}
	return h
}

// fieldsOf makes immutable fields of a Go http.Header, sorted by name.
func fieldsOf(h http.Header) *fields {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	f := &fields{list: &fieldList{}, immutable: true}
	for _, k := range names {
		lk := strings.ToLower(k)
		for _, v := range h[k] {
			f.list.entries = append(f.list.entries, field{name: lk, value: []byte(v)})
		}
	}
	return f
}

// mutate runs change on f unless f is immutable, as the result<_,
// header-error> of set, delete and append.
func (f *fields) mutate(change func() (uint32, bool)) any {
	if f.immutable {
		return cm.Err(cm.Variant{Case: headerImmutable})
	}
	if c, ok := change(); !ok {
		return cm.Err(cm.Variant{Case: c})
	}
	return cm.OK(nil)
}

// maxFieldEntries bounds a fields resource, so that a component cannot make
// the host hold headers without bound (each entry lives outside the call's
// memory limit).
const (
	maxFieldEntries = 1024
	maxFieldBytes   = 1 << 20
)

func (f *fields) size() int {
	n := 0
	for _, e := range f.list.entries {
		n += len(e.name) + len(e.value)
	}
	return n
}

func (f *fields) add(name string, value []byte) (uint32, bool) {
	if c, ok := checkField(name, value); !ok {
		return c, ok
	}
	if len(f.list.entries) >= maxFieldEntries || f.size()+len(name)+len(value) > maxFieldBytes {
		return headerInvalidSyntax, false
	}
	f.list.entries = append(f.list.entries, field{name: strings.ToLower(name), value: append([]byte(nil), value...)})
	return 0, true
}

func registerHTTPFields(hi *cm.HostInterface) {
	hi.Resource("fields", nil).
		Func("[constructor]fields", pure(func(context.Context, []any) (any, error) { return newFields(), nil })).
		Func("[static]fields.from-list", pure(func(_ context.Context, args []any) (any, error) {
			list, err := arg[[]any](args, 0)
			if err != nil {
				return nil, err
			}
			f := newFields()
			for _, item := range list {
				kv, ok := item.([]any)
				if !ok || len(kv) != 2 {
					return nil, errImportType
				}
				name, ok1 := kv[0].(string)
				value, ok2 := kv[1].([]byte)
				if !ok1 || !ok2 {
					return nil, errImportType
				}
				if c, ok := f.add(name, value); !ok {
					return cm.Err(cm.Variant{Case: c}), nil
				}
			}
			return cm.OK(f), nil
		})).
		Func("[method]fields.get", pure(func(_ context.Context, args []any) (any, error) {
			f, name, err := fieldsAndName(args)
			if err != nil {
				return nil, err
			}
			return f.get(name), nil
		})).
		Func("[method]fields.has", pure(func(_ context.Context, args []any) (any, error) {
			f, name, err := fieldsAndName(args)
			if err != nil {
				return nil, err
			}
			return f.has(name), nil
		})).
		Func("[method]fields.set", pure(func(_ context.Context, args []any) (any, error) {
			f, name, err := fieldsAndName(args)
			if err != nil {
				return nil, err
			}
			values, err := arg[[]any](args, 2)
			if err != nil {
				return nil, err
			}
			return f.mutate(func() (uint32, bool) {
				vs := make([][]byte, len(values))
				for i, v := range values {
					b, ok := v.([]byte)
					if !ok {
						return headerInvalidSyntax, false
					}
					if c, ok := checkField(name, b); !ok {
						return c, false
					}
					vs[i] = b
				}
				if c, ok := checkField(name, nil); !ok && c == headerForbidden {
					return c, false
				}
				old := f.list.entries
				f.delete(name)
				for _, v := range vs {
					if c, ok := f.add(name, v); !ok {
						f.list.entries = old
						return c, false
					}
				}
				return 0, true
			}), nil
		})).
		Func("[method]fields.delete", pure(func(_ context.Context, args []any) (any, error) {
			f, name, err := fieldsAndName(args)
			if err != nil {
				return nil, err
			}
			return f.mutate(func() (uint32, bool) {
				if !validName(name) {
					return headerInvalidSyntax, false
				}
				if forbiddenHeaders[strings.ToLower(name)] {
					return headerForbidden, false
				}
				f.delete(name)
				return 0, true
			}), nil
		})).
		Func("[method]fields.append", pure(func(_ context.Context, args []any) (any, error) {
			f, name, err := fieldsAndName(args)
			if err != nil {
				return nil, err
			}
			value, err := arg[[]byte](args, 2)
			if err != nil {
				return nil, err
			}
			return f.mutate(func() (uint32, bool) { return f.add(name, value) }), nil
		})).
		Func("[method]fields.entries", pure(func(_ context.Context, args []any) (any, error) {
			f, err := arg[*fields](args, 0)
			if err != nil {
				return nil, err
			}
			out := make([]any, len(f.list.entries))
			for i, e := range f.list.entries {
				out[i] = []any{e.name, append([]byte(nil), e.value...)}
			}
			return out, nil
		})).
		Func("[method]fields.clone", pure(func(_ context.Context, args []any) (any, error) {
			f, err := arg[*fields](args, 0)
			if err != nil {
				return nil, err
			}
			return f.clone(), nil
		}))
}

func fieldsAndName(args []any) (*fields, string, error) {
	f, err := arg[*fields](args, 0)
	if err != nil {
		return nil, "", err
	}
	name, err := arg[string](args, 1)
	return f, name, err
}
