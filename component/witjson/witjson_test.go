package witjson

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/wassette/wassette/component/cm"
)

func prim(k cm.Kind) *cm.Type { return &cm.Type{Kind: k} }

func TestToolName(t *testing.T) {
	cases := []struct{ iface, fn, want string }{
		{"", "get-weather", "get-weather"},
		{"microsoft:time-server-js/time", "get-current-time", "microsoft_time-server-js_time_get-current-time"},
		{"wassette:types-demo/shapes@0.1.0", "area", "wassette_types-demo_shapes_0_1_0_area"},
		{"", "Get.Thing", "get_thing"},
		{"a:b/c", "[method]r.m", "a_b_c__method_r_m"},
	}
	for _, c := range cases {
		if got := ToolName(c.iface, c.fn); got != c.want {
			t.Errorf("ToolName(%q, %q) = %q, want %q", c.iface, c.fn, got, c.want)
		}
	}
}

var (
	point  = &cm.Type{Kind: cm.KindRecord, Fields: []cm.Field{{Name: "x", Type: prim(cm.KindS32)}, {Name: "y", Type: prim(cm.KindS32)}}}
	shape  = &cm.Type{Kind: cm.KindVariant, Cases: []cm.Case{{Name: "circle", Type: prim(cm.KindF64)}, {Name: "pts", Type: &cm.Type{Kind: cm.KindList, Elem: prim(cm.KindU8)}}, {Name: "nothing"}}}
	color  = &cm.Type{Kind: cm.KindEnum, Names: []string{"red", "green", "blue-ish"}}
	perms  = &cm.Type{Kind: cm.KindFlags, Names: []string{"read", "write", "exec"}}
	optopt = &cm.Type{Kind: cm.KindOption, Elem: &cm.Type{Kind: cm.KindOption, Elem: prim(cm.KindU32)}}
	res    = &cm.Type{Kind: cm.KindResult, Ok: point, Err: prim(cm.KindString)}
	noOk   = &cm.Type{Kind: cm.KindResult, Err: prim(cm.KindString)}
	tuple  = &cm.Type{Kind: cm.KindTuple, Types: []*cm.Type{prim(cm.KindU16), prim(cm.KindS64)}}
)

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		ty   *cm.Type
		json string
		v    any
	}{
		{prim(cm.KindBool), `true`, true},
		{prim(cm.KindS8), `-128`, int8(-128)},
		{prim(cm.KindU64), `18446744073709551615`, uint64(math.MaxUint64)},
		{prim(cm.KindS64), `-9223372036854775808`, int64(math.MinInt64)},
		{prim(cm.KindF64), `"NaN"`, nil},
		{prim(cm.KindF64), `"-Infinity"`, math.Inf(-1)},
		{prim(cm.KindF64), `-0`, math.Copysign(0, -1)},
		{prim(cm.KindF64), `1e+21`, 1e21},
		{prim(cm.KindF64), `1e-7`, 1e-7},
		{prim(cm.KindF64), `0.1`, 0.1},
		{prim(cm.KindF32), `0.1`, float32(0.1)},
		{prim(cm.KindF32), `3.4028235e+38`, float32(math.MaxFloat32)},
		{prim(cm.KindF32), `1e-45`, float32(math.SmallestNonzeroFloat32)},
		{prim(cm.KindChar), `"😀"`, '😀'},
		{prim(cm.KindString), `"a\"\\\n\u0001é"`, "a\"\\\n\x01é"},
		{&cm.Type{Kind: cm.KindList, Elem: prim(cm.KindU8)}, `[0,255]`, []byte{0, 255}},
		{&cm.Type{Kind: cm.KindList, Elem: &cm.Type{Kind: cm.KindList, Elem: prim(cm.KindString)}}, `[[],["a"]]`, []any{[]any{}, []any{"a"}}},
		{point, `{"x":1,"y":-2}`, []any{int32(1), int32(-2)}},
		{shape, `{"tag":"circle","val":1.5}`, cm.Variant{Case: 0, Value: 1.5}},
		{shape, `{"tag":"nothing"}`, cm.Variant{Case: 2}},
		{color, `"blue-ish"`, uint32(2)},
		{perms, `["read","exec"]`, uint32(5)},
		{perms, `[]`, uint32(0)},
		{optopt, `null`, cm.None()},
		{optopt, `{"some":null}`, cm.Some(cm.None())},
		{optopt, `{"some":7}`, cm.Some(cm.Some(uint32(7)))},
		{&cm.Type{Kind: cm.KindOption, Elem: prim(cm.KindString)}, `"x"`, cm.Some("x")},
		{res, `{"ok":{"x":0,"y":0}}`, cm.OK([]any{int32(0), int32(0)})},
		{res, `{"err":"bad"}`, cm.Err("bad")},
		{noOk, `{"ok":null}`, cm.OK(nil)},
		{tuple, `[1,-1]`, []any{uint16(1), int64(-1)}},
	}
	for _, c := range cases {
		v, err := Decode(c.ty, []byte(c.json), "v")
		if err != nil {
			t.Errorf("%s: Decode(%s): %v", c.ty, c.json, err)
			continue
		}
		if c.v != nil && !reflect.DeepEqual(v, c.v) {
			if f, ok := c.v.(float64); !ok || f != 0 || !math.Signbit(v.(float64)) {
				t.Errorf("%s: Decode(%s) = %#v, want %#v", c.ty, c.json, v, c.v)
			}
		}
		out, err := Encode(c.ty, v)
		if err != nil || string(out) != c.json {
			t.Errorf("%s: Encode = %s (%v), want %s", c.ty, out, err, c.json)
		}
	}
}

func TestArgErrors(t *testing.T) {
	ft := &cm.FuncType{Params: []cm.Param{{Name: "s", Type: shape}, {Name: "n", Type: prim(cm.KindU8)}}}
	cases := []struct{ args, want string }{
		{`{"s":{"tag":"pts","val":[1,"x"]},"n":1}`, `s.val[1]: expected an integer (u8)`},
		{`{"s":{"tag":"pts","val":[1,256]},"n":1}`, `s.val[1]: u8 out of range [0, 255]`},
		{`{"s":{"tag":"circle","val":1},"n":256}`, `n: u8 out of range [0, 255]`},
		{`{"s":{"tag":"circle","val":1},"n":1.0}`, `n: expected an integer (u8)`},
		{`{"s":{"tag":"circle","val":1}}`, `n: missing`},
		{`{"s":{"tag":"circle","val":1},"n":1,"x":2}`, `x: unknown argument`},
		{`{"s":{"tag":"square"},"n":1}`, `s.tag: unknown case "square"`},
		{`{"s":{"tag":"circle"},"n":1}`, `s.val: missing`},
		{`{"s":{"tag":"nothing","val":1},"n":1}`, `s: unexpected key "val"`},
		{`{"s":[],"n":1}`, `s: expected an object with a "tag"`},
		{`[]`, `must be a JSON object`},
		{`{"s":1,"s":2}`, `duplicate key`},
		{`{"s":`, `not valid JSON`},
		{`{"s`, `not valid JSON`},
	}
	for _, c := range cases {
		_, err := Args(ft, []byte(c.args))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Args(%s): %v, want %q", c.args, err, c.want)
		}
	}
	var ae *ArgError
	if _, err := Args(ft, []byte(`{"s":{"tag":"circle","val":"sk-secret-value"},"n":1}`)); !errors.As(err, &ae) || strings.Contains(err.Error(), "sk-secret") {
		t.Errorf("error %v quotes the value or is not an ArgError", err)
	}
	more := []struct {
		ty   *cm.Type
		json string
		want string
	}{
		{prim(cm.KindChar), `"ab"`, "v: expected a string of one character"},
		{prim(cm.KindChar), `"\ud800"`, "v: expected a Unicode scalar value"},
		{prim(cm.KindString), `"a\udc00"`, "v: expected a string without lone surrogates"},
		{perms, `["read","read"]`, `v[1]: "read" given twice`},
		{perms, `{"read":true}`, "v: expected an array of flag names"},
		{optopt, `7`, `v: expected null or an object {"some": ...}`},
		{noOk, `{"ok":1}`, "v.ok: expected null"},
		{res, `{"ok":{"x":1},"err":"x"}`, `v: expected an object {"ok": ...} or {"err": ...}`},
		{point, `{"x":1,"y":2,"z":3}`, `v: unknown field "z"`},
		{tuple, `[1]`, "v: expected an array of 2 items"},
		{color, `"purple"`, `v: expected one of "red", "green", "blue-ish"`},
		{prim(cm.KindF32), `"nan"`, `v: expected a number or "NaN", "Infinity", "-Infinity"`},
		{&cm.Type{Kind: cm.KindOwn, Resource: &cm.ResourceType{Name: "r"}}, `1`, "resources cannot be given as JSON"},
		{prim(cm.KindString), strings.Repeat("[", 300) + strings.Repeat("]", 300), "nested too deeply"},
	}
	for _, c := range more {
		_, err := Decode(c.ty, []byte(c.json), "v")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s from %s: %v, want %q", c.ty, c.json, err, c.want)
		}
	}
}

func TestToolResult(t *testing.T) {
	ft := &cm.FuncType{Result: res}
	r, err := ToolResult(ft, cm.Err("no such city"))
	if err != nil || !r.IsError || r.Text != "no such city" || r.Structured != nil {
		t.Errorf("err result: %+v %v", r, err)
	}
	r, _ = ToolResult(ft, cm.OK([]any{int32(1), int32(2)}))
	if r.IsError || r.Text != `{"ok":{"x":1,"y":2}}` || string(r.Structured) != `{"result":{"ok":{"x":1,"y":2}}}` {
		t.Errorf("ok result: %+v", r)
	}
	r, _ = ToolResult(&cm.FuncType{Result: prim(cm.KindString)}, "hi")
	if r.Text != "hi" || string(r.Structured) != `{"result":"hi"}` {
		t.Errorf("string result: %+v", r)
	}
	r, _ = ToolResult(&cm.FuncType{}, nil)
	if r.Text != "null" || r.Structured != nil {
		t.Errorf("no result: %+v", r)
	}
}

func FuzzArgs(f *testing.F) {
	f.Add(`{"s":{"tag":"pts","val":[1,2]},"n":3,"o":null}`)
	f.Add(`{"s":{"tag":"circle","val":"NaN"},"n":0,"o":{"some":1}}`)
	ft := &cm.FuncType{Params: []cm.Param{{Name: "s", Type: shape}, {Name: "n", Type: prim(cm.KindU8)}, {Name: "o", Type: optopt}}}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := Args(ft, []byte(s))
		if err != nil {
			return
		}
		for i, p := range ft.Params {
			if _, err := Encode(p.Type, args[i]); err != nil {
				t.Fatalf("decoded %s does not encode: %v", p.Name, err)
			}
		}
	})
}

func TestStringsAsJavaScriptWritesThem(t *testing.T) {
	got, _ := Encode(prim(cm.KindString), "<a&b> \u2028 \x00 \t \"q\" \\ é😀")
	if want := `"<a&b> ` + "\u2028" + ` \u0000 \t \"q\" \\ é😀"`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestFloat32AsEncodingJSON(t *testing.T) {
	vals := []float32{0.1, 1.5, 3.4028235e38, 1.17549435e-38, 1e-7, 123456789, 1e21, 1e20, 0.000001, -2.5e-10, 16777217}
	for i := 0; i < 2000; i++ {
		vals = append(vals, math.Float32frombits(uint32(i)*2654435761))
	}
	for _, v := range vals {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v == 0 {
			continue
		}
		want, _ := json.Marshal(v)
		got, _ := Encode(prim(cm.KindF32), v)
		if string(got) != string(want) {
			t.Fatalf("f32 %v: %s, encoding/json writes %s", v, got, want)
		}
		want, _ = json.Marshal(float64(v))
		got, _ = Encode(prim(cm.KindF64), float64(v))
		if string(got) != string(want) {
			t.Fatalf("f64 %v: %s, encoding/json writes %s", v, got, want)
		}
	}
}
