package witjson

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wassette/wassette/component/cm"
)

// ArgError is a bad argument: Path names the value ("s.val[1]") and Reason
// says what was expected. It never quotes the value, which may be a secret.
type ArgError struct {
	Path, Reason string
}

func (e *ArgError) Error() string { return e.Path + ": " + e.Reason }

func argErr(path, format string, args ...any) error {
	return &ArgError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

var intRanges = map[cm.Kind][2]*big.Int{}

func init() {
	for k, bits := range map[cm.Kind]uint{cm.KindS8: 8, cm.KindS16: 16, cm.KindS32: 32, cm.KindS64: 64} {
		lo := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), bits-1))
		hi := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bits-1), big.NewInt(1))
		intRanges[k] = [2]*big.Int{lo, hi}
	}
	for k, bits := range map[cm.Kind]uint{cm.KindU8: 8, cm.KindU16: 16, cm.KindU32: 32, cm.KindU64: 64} {
		hi := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), bits), big.NewInt(1))
		intRanges[k] = [2]*big.Int{big.NewInt(0), hi}
	}
}

// Args converts a tool call's JSON arguments (an object with one member per
// parameter) to the function's parameter values. A missing, unknown or
// ill-typed argument is an *ArgError naming its path.
func Args(ft *cm.FuncType, raw []byte) ([]any, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		s = "{}"
	}
	n, err := parseJSON(s)
	if err != nil {
		return nil, fmt.Errorf("the arguments are not valid JSON: %w", err)
	}
	if n.kind != jObject {
		return nil, fmt.Errorf("the arguments must be a JSON object, not %s", n.kind)
	}
	for _, k := range n.keys {
		if !hasParam(ft, k) {
			return nil, argErr(k, "unknown argument (the function takes %s)", paramList(ft))
		}
	}
	out := make([]any, len(ft.Params))
	for i, p := range ft.Params {
		v, ok := n.get(p.Name)
		if !ok {
			return nil, argErr(p.Name, "missing")
		}
		if out[i], err = decode(p.Type, v, p.Name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func hasParam(ft *cm.FuncType, name string) bool {
	for _, p := range ft.Params {
		if p.Name == name {
			return true
		}
	}
	return false
}

func paramList(ft *cm.FuncType) string {
	if len(ft.Params) == 0 {
		return "no arguments"
	}
	names := make([]string, len(ft.Params))
	for i, p := range ft.Params {
		names[i] = strconv.Quote(p.Name)
	}
	return strings.Join(names, ", ")
}

// Decode converts JSON text to a value of type t. path names the value in
// errors.
func Decode(t *cm.Type, raw []byte, path string) (any, error) {
	n, err := parseJSON(string(raw))
	if err != nil {
		return nil, err
	}
	return decode(t, n, path)
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

func decode(t *cm.Type, n *node, path string) (any, error) {
	switch t.Kind {
	case cm.KindBool:
		if n.kind != jBool {
			return nil, argErr(path, "expected a boolean")
		}
		return n.b, nil
	case cm.KindS8, cm.KindU8, cm.KindS16, cm.KindU16, cm.KindS32, cm.KindU32, cm.KindS64, cm.KindU64:
		return decodeInt(t.Kind, n, path)
	case cm.KindF32, cm.KindF64:
		var x float64
		switch {
		case n.kind == jNumber:
			x, _ = strconv.ParseFloat(n.text, 64) // out of range gives ±Inf, as in JavaScript
		case n.kind == jString && n.text == "NaN":
			x = math.NaN()
		case n.kind == jString && n.text == "Infinity":
			x = math.Inf(1)
		case n.kind == jString && n.text == "-Infinity":
			x = math.Inf(-1)
		default:
			return nil, argErr(path, `expected a number or "NaN", "Infinity", "-Infinity"`)
		}
		if t.Kind == cm.KindF32 {
			return float32(x), nil
		}
		return x, nil
	case cm.KindChar:
		if n.kind != jString || utf8.RuneCountInString(n.text) != 1 {
			return nil, argErr(path, "expected a string of one character")
		}
		if n.bad {
			return nil, argErr(path, "expected a Unicode scalar value")
		}
		r, _ := utf8.DecodeRuneInString(n.text)
		return r, nil
	case cm.KindString:
		if n.kind != jString {
			return nil, argErr(path, "expected a string")
		}
		if n.bad {
			return nil, argErr(path, "expected a string without lone surrogates")
		}
		return n.text, nil
	case cm.KindList:
		if n.kind != jArray {
			return nil, argErr(path, "expected an array")
		}
		if t.Elem.Kind == cm.KindU8 {
			out := make([]byte, len(n.items))
			for i, it := range n.items {
				v, err := decodeInt(cm.KindU8, it, path+"["+strconv.Itoa(i)+"]")
				if err != nil {
					return nil, err
				}
				out[i] = v.(uint8)
			}
			return out, nil
		}
		out := make([]any, len(n.items))
		for i, it := range n.items {
			v, err := decode(t.Elem, it, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case cm.KindTuple:
		if n.kind != jArray || len(n.items) != len(t.Types) {
			return nil, argErr(path, "expected an array of %d items", len(t.Types))
		}
		out := make([]any, len(t.Types))
		for i, m := range t.Types {
			v, err := decode(m, n.items[i], path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case cm.KindRecord:
		if n.kind != jObject {
			return nil, argErr(path, "expected an object")
		}
		out := make([]any, len(t.Fields))
		for i, f := range t.Fields {
			v, ok := n.get(f.Name)
			if !ok {
				return nil, argErr(path+"."+f.Name, "missing")
			}
			var err error
			if out[i], err = decode(f.Type, v, path+"."+f.Name); err != nil {
				return nil, err
			}
		}
		for _, k := range n.keys {
			if !hasField(t, k) {
				return nil, argErr(path, "unknown field %s", strconv.Quote(k))
			}
		}
		return out, nil
	case cm.KindVariant:
		tagNode, ok := n.get("tag")
		if n.kind != jObject || !ok || tagNode.kind != jString {
			return nil, argErr(path, `expected an object with a "tag"`)
		}
		ci := -1
		for i, c := range t.Cases {
			if c.Name == tagNode.text {
				ci = i
			}
		}
		if ci < 0 {
			return nil, argErr(path+".tag", "unknown case %s (the cases are %s)", strconv.Quote(tagNode.text), caseNames(t))
		}
		c := t.Cases[ci]
		for _, k := range n.keys {
			if k != "tag" && !(k == "val" && c.Type != nil) {
				return nil, argErr(path, "unexpected key %s", strconv.Quote(k))
			}
		}
		if c.Type == nil {
			return cm.Variant{Case: uint32(ci)}, nil
		}
		val, ok := n.get("val")
		if !ok {
			return nil, argErr(path+".val", "missing")
		}
		v, err := decode(c.Type, val, path+".val")
		if err != nil {
			return nil, err
		}
		return cm.Variant{Case: uint32(ci), Value: v}, nil
	case cm.KindEnum:
		if n.kind == jString {
			for i, name := range t.Names {
				if name == n.text {
					return uint32(i), nil
				}
			}
		}
		return nil, argErr(path, "expected one of %s", quoteAll(t.Names))
	case cm.KindFlags:
		if n.kind != jArray {
			return nil, argErr(path, "expected an array of flag names")
		}
		var bits uint32
		for i, it := range n.items {
			p := path + "[" + strconv.Itoa(i) + "]"
			j := -1
			if it.kind == jString {
				for k, name := range t.Names {
					if name == it.text {
						j = k
					}
				}
			}
			if j < 0 {
				return nil, argErr(p, "expected one of %s", quoteAll(t.Names))
			}
			if bits&(1<<j) != 0 {
				return nil, argErr(p, "%s given twice", strconv.Quote(t.Names[j]))
			}
			bits |= 1 << j
		}
		return bits, nil
	case cm.KindOption:
		if t.Elem.Kind == cm.KindOption {
			if n.kind == jNull {
				return cm.None(), nil
			}
			some, ok := n.get("some")
			if n.kind != jObject || !ok || len(n.keys) != 1 {
				return nil, argErr(path, `expected null or an object {"some": ...}`)
			}
			v, err := decode(t.Elem, some, path+".some")
			if err != nil {
				return nil, err
			}
			return cm.Some(v), nil
		}
		if n.kind == jNull {
			return cm.None(), nil
		}
		v, err := decode(t.Elem, n, path)
		if err != nil {
			return nil, err
		}
		return cm.Some(v), nil
	case cm.KindResult:
		if n.kind != jObject || len(n.keys) != 1 || (n.keys[0] != "ok" && n.keys[0] != "err") {
			return nil, argErr(path, `expected an object {"ok": ...} or {"err": ...}`)
		}
		side, payload := n.keys[0], t.Ok
		c := uint32(0)
		if side == "err" {
			c, payload = 1, t.Err
		}
		if payload == nil {
			if n.vals[0].kind != jNull {
				return nil, argErr(path+"."+side, "expected null")
			}
			return cm.Variant{Case: c}, nil
		}
		v, err := decode(payload, n.vals[0], path+"."+side)
		if err != nil {
			return nil, err
		}
		return cm.Variant{Case: c, Value: v}, nil
	case cm.KindOwn, cm.KindBorrow:
		return nil, argErr(path, "resources cannot be given as JSON")
	}
	return nil, argErr(path, "unsupported type %s", t.Kind)
}

func hasField(t *cm.Type, name string) bool {
	for _, f := range t.Fields {
		if f.Name == name {
			return true
		}
	}
	return false
}

func caseNames(t *cm.Type) string {
	names := make([]string, len(t.Cases))
	for i, c := range t.Cases {
		names[i] = c.Name
	}
	return quoteAll(names)
}

func decodeInt(k cm.Kind, n *node, path string) (any, error) {
	if n.kind != jNumber || strings.ContainsAny(n.text, ".eE") {
		return nil, argErr(path, "expected an integer (%s)", k)
	}
	x, ok := new(big.Int).SetString(n.text, 10)
	r := intRanges[k]
	if !ok || x.Cmp(r[0]) < 0 || x.Cmp(r[1]) > 0 {
		return nil, argErr(path, "%s out of range [%s, %s]", k, r[0], r[1])
	}
	switch k {
	case cm.KindS8:
		return int8(x.Int64()), nil
	case cm.KindU8:
		return uint8(x.Uint64()), nil
	case cm.KindS16:
		return int16(x.Int64()), nil
	case cm.KindU16:
		return uint16(x.Uint64()), nil
	case cm.KindS32:
		return int32(x.Int64()), nil
	case cm.KindU32:
		return uint32(x.Uint64()), nil
	case cm.KindS64:
		return x.Int64(), nil
	}
	return x.Uint64(), nil
}

// Encode writes a value of type t as compact JSON, in the conventions Decode
// reads: record fields in their WIT order, floats as their shortest decimal
// ("NaN", "Infinity" and "-Infinity" as strings, negative zero as -0).
func Encode(t *cm.Type, v any) ([]byte, error) {
	return encode(nil, t, v)
}

func encode(b []byte, t *cm.Type, v any) ([]byte, error) {
	bad := func() ([]byte, error) { return nil, fmt.Errorf("witjson: a Go %T is not a WIT %s", v, t.Kind) }
	switch t.Kind {
	case cm.KindBool:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		return strconv.AppendBool(b, x), nil
	case cm.KindS8, cm.KindS16, cm.KindS32, cm.KindS64:
		var x int64
		switch y := v.(type) {
		case int8:
			x = int64(y)
		case int16:
			x = int64(y)
		case int32:
			x = int64(y)
		case int64:
			x = y
		default:
			return bad()
		}
		return strconv.AppendInt(b, x, 10), nil
	case cm.KindU8, cm.KindU16, cm.KindU32, cm.KindU64:
		var x uint64
		switch y := v.(type) {
		case uint8:
			x = uint64(y)
		case uint16:
			x = uint64(y)
		case uint32:
			x = uint64(y)
		case uint64:
			x = y
		default:
			return bad()
		}
		return strconv.AppendUint(b, x, 10), nil
	case cm.KindF32:
		x, ok := v.(float32)
		if !ok {
			return bad()
		}
		return appendF32(b, x), nil
	case cm.KindF64:
		x, ok := v.(float64)
		if !ok {
			return bad()
		}
		return appendF64(b, x), nil
	case cm.KindChar:
		x, ok := v.(rune)
		if !ok {
			return bad()
		}
		return appendString(b, string(x)), nil
	case cm.KindString:
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		return appendString(b, x), nil
	case cm.KindList:
		b = append(b, '[')
		switch x := v.(type) {
		case []byte:
			for i, e := range x {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, uint64(e), 10)
			}
		case []any:
			var err error
			for i, e := range x {
				if i > 0 {
					b = append(b, ',')
				}
				if b, err = encode(b, t.Elem, e); err != nil {
					return nil, err
				}
			}
		default:
			return bad()
		}
		return append(b, ']'), nil
	case cm.KindTuple, cm.KindRecord:
		vs, ok := v.([]any)
		if !ok {
			return bad()
		}
		var err error
		if t.Kind == cm.KindTuple {
			if len(vs) != len(t.Types) {
				return bad()
			}
			b = append(b, '[')
			for i, m := range t.Types {
				if i > 0 {
					b = append(b, ',')
				}
				if b, err = encode(b, m, vs[i]); err != nil {
					return nil, err
				}
			}
			return append(b, ']'), nil
		}
		if len(vs) != len(t.Fields) {
			return bad()
		}
		b = append(b, '{')
		for i, f := range t.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.Name)
			b = append(b, ':')
			if b, err = encode(b, f.Type, vs[i]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case cm.KindVariant:
		vr, ok := v.(cm.Variant)
		if !ok || int(vr.Case) >= len(t.Cases) {
			return bad()
		}
		c := t.Cases[vr.Case]
		b = append(b, `{"tag":`...)
		b = appendString(b, c.Name)
		if c.Type != nil {
			b = append(b, `,"val":`...)
			var err error
			if b, err = encode(b, c.Type, vr.Value); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case cm.KindEnum:
		x, ok := v.(uint32)
		if !ok || int(x) >= len(t.Names) {
			return bad()
		}
		return appendString(b, t.Names[x]), nil
	case cm.KindFlags:
		x, ok := v.(uint32)
		if !ok {
			return bad()
		}
		b = append(b, '[')
		first := true
		for i, name := range t.Names {
			if x&(1<<i) != 0 {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendString(b, name)
			}
		}
		return append(b, ']'), nil
	case cm.KindOption:
		vr, ok := v.(cm.Variant)
		if !ok || vr.Case > 1 {
			return bad()
		}
		if vr.Case == 0 {
			return append(b, "null"...), nil
		}
		if t.Elem.Kind == cm.KindOption {
			b = append(b, `{"some":`...)
			b, err := encode(b, t.Elem, vr.Value)
			if err != nil {
				return nil, err
			}
			return append(b, '}'), nil
		}
		return encode(b, t.Elem, vr.Value)
	case cm.KindResult:
		vr, ok := v.(cm.Variant)
		if !ok || vr.Case > 1 {
			return bad()
		}
		side, payload := `{"ok":`, t.Ok
		if vr.Case == 1 {
			side, payload = `{"err":`, t.Err
		}
		b = append(b, side...)
		if payload == nil {
			b = append(b, "null"...)
		} else {
			var err error
			if b, err = encode(b, payload, vr.Value); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("witjson: a WIT %s cannot be written as JSON", t.Kind)
}

// appendString writes s as JavaScript's JSON.stringify does: only '"', '\\'
// and control characters are escaped (encoding/json also escapes <, >, &,
// U+2028 and U+2029).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20:
			b = append(b, c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	return append(b, '"')
}

// appendF64 writes x as JavaScript's Number-to-String does (which is what
// encoding/json writes for finite values), with "-0" for negative zero.
func appendF64(b []byte, x float64) []byte {
	switch {
	case math.IsNaN(x):
		return append(b, `"NaN"`...)
	case math.IsInf(x, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(x, -1):
		return append(b, `"-Infinity"`...)
	case x == 0 && math.Signbit(x):
		return append(b, "-0"...)
	}
	return appendES(b, x)
}

// appendF32 writes the shortest decimal that reads back as the same float32.
func appendF32(b []byte, x float32) []byte {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) || x == 0 {
		return appendF64(b, f)
	}
	short, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
	return appendES(b, short)
}

// appendES formats a finite float64 as ECMAScript's Number::toString.
func appendES(b []byte, x float64) []byte {
	abs := math.Abs(x)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		s := strconv.FormatFloat(x, 'e', -1, 64)
		// Go writes e-07 / e+21; JavaScript writes e-7 / e+21.
		if i := strings.IndexByte(s, 'e'); i >= 0 {
			exp := s[i+2:]
			exp = strings.TrimLeft(exp, "0")
			if exp == "" {
				exp = "0"
			}
			s = s[:i+2] + exp
		}
		return append(b, s...)
	}
	return strconv.AppendFloat(b, x, 'f', -1, 64)
}
