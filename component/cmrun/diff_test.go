package cmrun

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wassette/wassette/component/cm"
	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/internal/cmtest"
)

// kindsCalls are calls of the every-kind component: the extremes of each
// integer width, NaN and infinities, unicode, empty and nested lists,
// options and results inside records and variants, and bad arguments.
var kindsCalls = []struct{ tool, args string }{
	{"echo-bool", `{"v":false}`},
	{"echo-s8", `{"v":-128}`}, {"echo-s8", `{"v":127}`},
	{"echo-u8", `{"v":0}`}, {"echo-u8", `{"v":255}`},
	{"echo-s16", `{"v":-32768}`}, {"echo-s16", `{"v":32767}`},
	{"echo-u16", `{"v":65535}`},
	{"echo-s32", `{"v":-2147483648}`}, {"echo-s32", `{"v":2147483647}`},
	{"echo-u32", `{"v":0}`}, {"echo-u32", `{"v":2147483647}`}, {"echo-u32", `{"v":4294967295}`},
	{"echo-s64", `{"v":9223372036854775807}`}, {"echo-s64", `{"v":0}`}, {"echo-s64", `{"v":-1}`},
	{"echo-u64", `{"v":18446744073709551615}`}, {"echo-u64", `{"v":9007199254740993}`},
	{"echo-f32", `{"v":0.1}`}, {"echo-f32", `{"v":3.4028235e+38}`}, {"echo-f32", `{"v":1e-45}`},
	{"echo-f32", `{"v":"NaN"}`}, {"echo-f32", `{"v":"Infinity"}`}, {"echo-f32", `{"v":16777217}`},
	{"echo-f64", `{"v":"-Infinity"}`}, {"echo-f64", `{"v":-0}`}, {"echo-f64", `{"v":5e-324}`},
	{"echo-f64", `{"v":1.7976931348623157e+308}`}, {"echo-f64", `{"v":1e21}`}, {"echo-f64", `{"v":0.000001}`},
	{"echo-f64", `{"v":"NaN"}`},
	{"echo-char", `{"v":"😀"}`}, {"echo-char", `{"v":"\u0000"}`}, {"echo-char", `{"v":"\uffff"}`},
	{"echo-string", `{"v":""}`}, {"echo-string", `{"v":"héllo, 世界 😀 \n\t\"\\ <&>"}`},
	{"echo-alias", `{"v":"alias"}`},
	{"echo-bytes", `{"v":[]}`}, {"echo-bytes", `{"v":[0,1,127,128,255]}`},
	{"echo-s32s", `{"v":[-2147483648,0,2147483647]}`},
	{"echo-u64s", `{"v":[0,18446744073709551615]}`},
	{"echo-f64s", `{"v":[1.5,"NaN","Infinity",-0]}`},
	{"echo-strings", `{"v":["","a","ü😀"]}`},
	{"echo-nested-lists", `{"v":[[],["a","b"],[""]]}`}, {"echo-nested-lists", `{"v":[]}`},
	{"echo-chars", `{"v":["a","é","😀"]}`},
	{"echo-point", `{"v":{"x":-2147483648,"y":2147483647}}`},
	{"echo-everything", `{"v":{"name":"n","initial":"é","small":-128,"big":18446744073709551615,"ratio":3.4028235e+38,"tags":["x",""],"bytes":[0,255],"pair":[65535,-9223372036854775808],"maybe":null,"maybe-maybe":{"some":null},"outcome":{"err":"no"},"color":"blue-ish","perms":["read","set-uid"],"shape":{"tag":"rect","val":{"x":-1,"y":2147483647}},"points":[]}}`},
	{"echo-everything", `{"v":{"name":"","initial":"😀","small":127,"big":0,"ratio":"-Infinity","tags":[],"bytes":[],"pair":[0,9223372036854775807],"maybe":4294967295,"maybe-maybe":{"some":"s"},"outcome":{"ok":{"x":3,"y":4}},"color":"red","perms":[],"shape":{"tag":"label","val":"L"},"points":[{"x":0,"y":0},{"x":1,"y":-1}]}}`},
	{"echo-tuple", `{"v":[255,"s",1.25]}`},
	{"echo-shape", `{"v":{"tag":"circle","val":"NaN"}}`}, {"echo-shape", `{"v":{"tag":"nothing"}}`},
	{"echo-nested", `{"v":{"tag":"opt","val":-32768}}`}, {"echo-nested", `{"v":{"tag":"opt","val":null}}`},
	{"echo-nested", `{"v":{"tag":"res","val":{"ok":"x"}}}`}, {"echo-nested", `{"v":{"tag":"res","val":{"ok":null}}}`},
	{"echo-nested", `{"v":{"tag":"res","val":{"err":[1,2]}}}`},
	{"echo-nested", `{"v":{"tag":"many","val":[{"tag":"num","val":65535},{"tag":"text","val":""},{"tag":"none"}]}}`},
	{"echo-nested", `{"v":{"tag":"empty"}}`},
	{"echo-color", `{"v":"blue-ish"}`}, {"echo-perms", `{"v":["set-uid","read"]}`}, {"echo-perms", `{"v":[]}`},
	{"echo-option", `{"v":null}`}, {"echo-option", `{"v":""}`},
	{"echo-option-option", `{"v":null}`}, {"echo-option-option", `{"v":{"some":null}}`}, {"echo-option-option", `{"v":{"some":0}}`},
	{"echo-outcomes", `{"v":{"both":{"ok":4294967295},"no-ok":{"ok":null},"no-err":{"err":null},"neither":{"ok":null}}}`},
	{"echo-outcomes", `{"v":{"both":{"err":"e"},"no-ok":{"err":"x"},"no-err":{"ok":255},"neither":{"err":null}}}`},
	{"echo-list-options", `{"v":[null,-9223372036854775808,9223372036854775807]}`},
	{"echo-result", `{"v":{"ok":-5}}`}, {"echo-result", `{"v":{"err":"bad"}}`},
	{"fallible", `{"fail":true,"message":"nope"}`}, {"fallible", `{"fail":false,"message":"nope"}`},
	{"checked-div", `{"a":7,"b":2}`}, {"checked-div", `{"a":1,"b":0}`},
	{"make-point", `{"x":1,"y":2}`}, {"noop", `{}`},
	{"add-u8", `{"a":200,"b":100}`}, {"sum-u64s", `{"v":[18446744073709551615,2]}`},
	{"mul-f32", `{"a":1.5,"b":"Infinity"}`}, {"div-f64", `{"a":1,"b":0}`}, {"div-f64", `{"a":0,"b":0}`},
	{"count-chars", `{"s":"a😀é"}`}, {"reverse-string", `{"s":"ab😀"}`}, {"char-code", `{"c":"😀"}`},
	{"area", `{"s":{"tag":"rect","val":{"x":3,"y":4}}}`}, {"mix", `{"c":"green","p":["write","exec"]}`},
	{"split-words", `{"s":" a  b c "}`}, {"first-some", `{"v":[null,"x","y"]}`}, {"first-some", `{"v":[]}`},
	{"describe", `{"e":{"name":"n","initial":"i","small":1,"big":2,"ratio":0.5,"tags":[],"bytes":[],"pair":[1,2],"maybe":null,"maybe-maybe":null,"outcome":{"ok":{"x":1,"y":1}},"color":"red","perms":["exec"],"shape":{"tag":"nothing"},"points":[]}}`},
	// Bad arguments: refused with the argument's path.
	{"echo-u8", `{"v":256}`}, {"echo-s8", `{"v":-129}`}, {"echo-u64", `{"v":18446744073709551616}`},
	{"echo-u32", `{"v":1.5}`}, {"echo-char", `{"v":"ab"}`}, {"echo-shape", `{"v":{"tag":"rect","val":{"x":1,"y":"2"}}}`},
	{"echo-color", `{"v":"purple"}`}, {"echo-point", `{"v":{"x":1}}`},
}

// TestDifferentialEveryKind gives the same calls to wassette and to the jco
// reference host and compares the JSON they answer.
func TestDifferentialEveryKind(t *testing.T) {
	o := cmtest.StartOracle(t)
	path := cmtest.Path(t, "js-kinds")
	m := module(t, "js-kinds")
	calls := make([]cmtest.Call, len(kindsCalls))
	for i, c := range kindsCalls {
		calls[i] = cmtest.Call{Component: path, Tool: c.tool, Args: json.RawMessage(c.args)}
	}
	outs, err := o.CallAll(calls)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for i, c := range kindsCalls {
		want := outs[i]
		got, err := m.Call(context.Background(), c.tool, json.RawMessage(c.args), runtime.CallOptions{})
		name := c.tool + " " + c.args
		switch {
		case want.Error != "":
			// Bad arguments: both refuse, naming the same path.
			path, _, _ := strings.Cut(want.Error, ":")
			if err != nil || !got.IsError || !strings.Contains(got.Text, path+":") {
				t.Errorf("%s: the oracle refused it (%s); wassette: %+v %v", name, want.Error, got, err)
			}
		case want.Trap != "":
			if err == nil {
				t.Errorf("%s: the oracle trapped (%s); wassette answered %+v", name, want.Trap, got)
			}
		case want.Result == nil:
			if err != nil || got.IsError || got.Structured != nil || got.Text != "null" {
				t.Errorf("%s: no result from the oracle; wassette: %+v %v", name, got, err)
			}
		case strings.HasPrefix(string(want.Result), `{"err":`) && isTopLevelResult(m, c.tool):
			// A top-level err is a tool error: its payload is the message.
			var payload json.RawMessage
			var side map[string]json.RawMessage
			_ = json.Unmarshal(want.Result, &side)
			payload = side["err"]
			var s string
			if json.Unmarshal(payload, &s) == nil {
				payload = json.RawMessage(s)
			}
			if err != nil || !got.IsError || got.Text != string(payload) {
				t.Errorf("%s: oracle %s; wassette %+v %v", name, want.Result, got, err)
			}
		default:
			if err != nil || got.IsError || string(got.Structured) != `{"result":`+string(want.Result)+`}` {
				t.Errorf("%s:\n oracle   %s\n wassette %s (%v, %q)", name, want.Result, got.Structured, err, got.Text)
			}
		}
		compared++
	}
	if compared < 40 {
		t.Fatalf("only %d calls compared", compared)
	}
}

func isTopLevelResult(m *Module, tool string) bool {
	t := m.byName[tool]
	return t != nil && t.Export.Type.Result != nil && t.Export.Type.Result.Kind == cm.KindResult
}
