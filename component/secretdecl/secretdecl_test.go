package secretdecl

import (
	"errors"
	"strings"
	"testing"
)

// section returns a WebAssembly section: its id, LEB128 size, content.
func section(id byte, content []byte) []byte {
	return append(append([]byte{id}, uleb(len(content))...), content...)
}

func custom(name string, payload string) []byte {
	c := append(uleb(len(name)), name...)
	return section(0, append(c, payload...))
}

func uleb(n int) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

var (
	coreHeader      = []byte("\x00asm\x01\x00\x00\x00")
	componentHeader = []byte("\x00asm\x0d\x00\x01\x00")
)

func module(sections ...[]byte) []byte {
	out := append([]byte{}, coreHeader...)
	for _, s := range sections {
		out = append(out, s...)
	}
	return out
}

func component(sections ...[]byte) []byte {
	out := append([]byte{}, componentHeader...)
	for _, s := range sections {
		out = append(out, s...)
	}
	return out
}

const weatherDecl = `{"secrets":[{"key":"API_KEY","description":"API key for api.weather.com","tools":["get_weather"]}]}`

func TestFromWasmCoreModule(t *testing.T) {
	bin := module(section(1, []byte{0}), custom("name", "x"), custom(SectionName, weatherDecl))
	got, err := FromWasm(bin, []string{"get_weather", "other"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Key != "API_KEY" || !got[0].NeededBy("get_weather") || got[0].NeededBy("other") {
		t.Fatalf("got %+v", got)
	}
	// A core module's section 1 is its type section, never searched as a module.
	if got, err := FromWasm(module(section(1, module(custom(SectionName, weatherDecl)))), nil); err != nil || got != nil {
		t.Fatalf("a core module's type section was read as a nested module: %+v, %v", got, err)
	}
}

func TestFromWasmComponentNested(t *testing.T) {
	inner := module(custom(SectionName, `{"secrets":[{"key":"A","description":"first"}]}`+"\n"+
		`{"secrets":[{"key":"B","description":"second"}]}`))
	nested := component(section(1, inner))
	bin := component(custom(SectionName, `{"secrets":[{"key":"TOP","description":"top level"}]}`),
		section(4, nested), section(11, []byte{0}))
	got, err := FromWasm(bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range got {
		keys = append(keys, s.Key)
	}
	if strings.Join(keys, ",") != "TOP,A,B" {
		t.Fatalf("keys %v, want TOP, A, B", keys)
	}
	if got, err := FromWasm(component(section(1, module())), nil); err != nil || got != nil {
		t.Fatalf("no section: %+v, %v", got, err)
	}
}

func TestInvalid(t *testing.T) {
	for name, bin := range map[string][]byte{
		"not wasm":        []byte("hello world"),
		"truncated":       append(module(), 0, 0x85),
		"section too big": append(module(), 0, 0x10, 1, 2),
		"bad json":        module(custom(SectionName, `{"secrets":`)),
		"unknown field":   module(custom(SectionName, `{"secrets":[{"key":"A","description":"d","value":"x"}]}`)),
		"no array":        module(custom(SectionName, `{}`)),
		"empty":           module(custom(SectionName, ``)),
		"bad key":         module(custom(SectionName, `{"secrets":[{"key":"A=B","description":"d"}]}`)),
		"no description":  module(custom(SectionName, `{"secrets":[{"key":"A"}]}`)),
		"control char":    module(custom(SectionName, `{"secrets":[{"key":"A","description":"two\nlines"}]}`)),
		"duplicate":       module(custom(SectionName, `{"secrets":[{"key":"A","description":"d"}]}{"secrets":[{"key":"A","description":"e"}]}`)),
		"unknown tool":    module(custom(SectionName, `{"secrets":[{"key":"A","description":"d","tools":["nope"]}]}`)),
		"not utf-8":       module(custom(SectionName, "{\"secrets\":[{\"key\":\"A\",\"description\":\"\xff\"}]}")),
	} {
		_, err := FromWasm(bin, []string{"get_weather"})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	var many []Secret
	for i := range MaxSecrets + 1 {
		many = append(many, Secret{Key: "K" + string(rune('A'+i%26)) + strings.Repeat("x", i), Description: "d"})
	}
	if err := Check(many, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("%d secrets: %v", len(many), err)
	}
	if err := Check([]Secret{{Key: "A", Description: strings.Repeat("d", MaxDescriptionLen+1)}}, nil); err == nil {
		t.Error("an oversize description was accepted")
	}
}

func TestMissing(t *testing.T) {
	decl := []Secret{
		{Key: "API_KEY", Description: "d", Tools: []string{"get_weather"}},
		{Key: "ALWAYS", Description: "d"},
	}
	have := func(k string) bool { return k == "ALWAYS" }
	if m := Missing(decl, "get_weather", have); len(m) != 1 || m[0].Key != "API_KEY" {
		t.Errorf("get_weather: %+v", m)
	}
	if m := Missing(decl, "other", have); len(m) != 0 {
		t.Errorf("other: %+v", m)
	}
	if m := Missing(decl, "", func(string) bool { return false }); len(m) != 2 {
		t.Errorf("all: %+v", m)
	}
}

func FuzzFromWasm(f *testing.F) {
	f.Add(module(custom(SectionName, weatherDecl)))
	f.Add(component(section(4, component(section(1, module(custom(SectionName, weatherDecl)))))))
	f.Fuzz(func(t *testing.T, bin []byte) {
		got, err := FromWasm(bin, nil)
		if err == nil {
			if cerr := Check(got, nil); cerr != nil {
				t.Fatalf("FromWasm returned a declaration Check refuses: %v", cerr)
			}
		}
	})
}
