package witjson

import (
	"github.com/wassette/wassette/component/cm"
)

// Schema returns the JSON Schema of the JSON form of a value of type t. It
// is a tree of map[string]any and []any, ready for encoding/json.
func Schema(t *cm.Type) map[string]any {
	switch t.Kind {
	case cm.KindBool:
		return obj("type", "boolean")
	case cm.KindS8, cm.KindU8, cm.KindS16, cm.KindU16, cm.KindS32, cm.KindU32, cm.KindS64, cm.KindU64:
		r := intRanges[t.Kind]
		return obj("type", "integer", "minimum", jsonInt(r[0].String()), "maximum", jsonInt(r[1].String()))
	case cm.KindF32, cm.KindF64:
		return obj("oneOf", []any{
			obj("type", "number"),
			obj("type", "string", "enum", []any{"NaN", "Infinity", "-Infinity"}),
		})
	case cm.KindChar:
		return obj("type", "string", "minLength", 1, "maxLength", 1, "description", "one Unicode character")
	case cm.KindString:
		return obj("type", "string")
	case cm.KindList:
		return obj("type", "array", "items", Schema(t.Elem))
	case cm.KindTuple:
		items := make([]any, len(t.Types))
		for i, m := range t.Types {
			items[i] = Schema(m)
		}
		return obj("type", "array", "prefixItems", items, "items", false, "minItems", len(items), "maxItems", len(items))
	case cm.KindRecord:
		props := map[string]any{}
		req := make([]any, len(t.Fields))
		for i, f := range t.Fields {
			props[f.Name] = Schema(f.Type)
			req[i] = f.Name
		}
		return obj("type", "object", "properties", props, "required", req, "additionalProperties", false)
	case cm.KindVariant:
		cases := make([]any, len(t.Cases))
		for i, c := range t.Cases {
			if c.Type == nil {
				cases[i] = obj("type", "object", "properties", map[string]any{"tag": obj("const", c.Name)},
					"required", []any{"tag"}, "additionalProperties", false)
				continue
			}
			cases[i] = obj("type", "object", "properties", map[string]any{"tag": obj("const", c.Name), "val": Schema(c.Type)},
				"required", []any{"tag", "val"}, "additionalProperties", false)
		}
		return obj("oneOf", cases)
	case cm.KindEnum:
		names := make([]any, len(t.Names))
		for i, n := range t.Names {
			names[i] = n
		}
		return obj("type", "string", "enum", names)
	case cm.KindFlags:
		names := make([]any, len(t.Names))
		for i, n := range t.Names {
			names[i] = n
		}
		return obj("type", "array", "items", obj("type", "string", "enum", names), "uniqueItems", true)
	case cm.KindOption:
		inner := Schema(t.Elem)
		if t.Elem.Kind == cm.KindOption {
			inner = obj("type", "object", "properties", map[string]any{"some": inner}, "required", []any{"some"}, "additionalProperties", false)
		}
		return obj("anyOf", []any{obj("type", "null"), inner})
	case cm.KindResult:
		side := func(name string, p *cm.Type) map[string]any {
			s := obj("type", "null")
			if p != nil {
				s = Schema(p)
			}
			return obj("type", "object", "properties", map[string]any{name: s}, "required", []any{name}, "additionalProperties", false)
		}
		return obj("oneOf", []any{side("ok", t.Ok), side("err", t.Err)})
	}
	// Resources: never offered as tools (see Tools); described for completeness.
	return obj("description", "a resource handle ("+t.String()+"), which JSON cannot carry")
}

// jsonInt keeps an integer bound exact in JSON (a u64 maximum does not fit
// a float64).
type jsonInt string

func (j jsonInt) MarshalJSON() ([]byte, error) { return []byte(j), nil }

func obj(kv ...any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// InputSchema is the schema of a function's arguments: an object with one
// required property per parameter.
func InputSchema(ft *cm.FuncType) map[string]any {
	props := map[string]any{}
	req := make([]any, len(ft.Params))
	for i, p := range ft.Params {
		props[p.Name] = Schema(p.Type)
		req[i] = p.Name
	}
	return obj("type", "object", "properties", props, "required", req, "additionalProperties", false)
}

// OutputSchema is the schema of a function's structured result,
// {"result": T}; nil for a function without result.
func OutputSchema(ft *cm.FuncType) map[string]any {
	if ft.Result == nil {
		return nil
	}
	return obj("type", "object", "properties", map[string]any{"result": Schema(ft.Result)}, "required", []any{"result"})
}
