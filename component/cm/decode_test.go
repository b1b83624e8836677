package cm

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func component(sections ...[]byte) []byte {
	b := append([]byte{}, componentPreamble...)
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

func section(id byte, body ...byte) []byte {
	return appendSection(nil, id, body)
}

func TestDecodeRefusesUnsupported(t *testing.T) {
	cases := []struct {
		name string
		wasm []byte
		want string
	}{
		{"core module", append([]byte{}, modulePreamble...), "not a component"},
		{"garbage", []byte("hello world"), "bad magic"},
		{"version", []byte{0, 'a', 's', 'm', 0x0c, 0, 1, 0}, "version 0xc"},
		{"start", component(section(secStart, 0, 0, 0)), "start section"},
		{"value", component(section(secValue, 0)), "value section"},
		{"async canon", component(section(secCanon, 1, 0x1f)), "waitable-set.new is not supported"},
		{"stream type", component(section(secType, 1, tcStream, 0)), "streams are not supported"},
		{"utf16", component(section(secCanon, 1, canonLower, 0, 0, 1, 0x01)), "utf16 is not supported"},
		{"truncated", component(section(secType, 1, tcRecord, 1, 3, 0x61)), "unexpected end"},
		{"long vector", component(section(secType, 0xff, 0xff, 0xff, 0xff, 0x0f)), "longer than its section"},
		{"unknown section", component(section(42)), "unknown (id 42)"},
		{"error-context", component(section(secType, 1, tcList, tcErrCtx)), "error-context"},
	}
	for _, c := range cases {
		_, err := decodeComponent(c.wasm, 0, 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestIsComponent(t *testing.T) {
	if !IsComponent(component()) || IsComponent(modulePreamble) || IsComponent(nil) {
		t.Error("IsComponent is wrong")
	}
}

func TestMissingImports(t *testing.T) {
	ctx := context.Background()
	h := NewHost()
	h.Interface("wasi:cli/environment", Versions("0.2.0")) // the component wants 0.2.3
	rt := NewRuntime(ctx, Config{Host: h})
	defer rt.Close(ctx)
	_, err := rt.Compile(ctx, readTestdata(t, "t1.wasm"))
	var me *MissingImportsError
	if !errors.As(err, &me) {
		t.Fatalf("Compile: %v, want a MissingImportsError", err)
	}
	want := []string{"test:t1/host@0.1.0#get", "test:t1/host@0.1.0#log", "wasi:cli/environment@0.2.3#get-environment"}
	if strings.Join(me.Missing, ",") != strings.Join(want, ",") {
		t.Fatalf("missing %q, want %q", me.Missing, want)
	}
}

func TestSemverCompatible(t *testing.T) {
	ok := SemverCompatible(0, 2)
	for v, want := range map[string]bool{"0.2.0": true, "0.2.12": true, "0.3.0": false, "0.2": false,
		"0.2.0-rc.1": false, "0.2.01": false, "": false, "1.2.0": false} {
		if ok(v) != want {
			t.Errorf("SemverCompatible(0,2)(%q) = %v", v, !want)
		}
	}
}

// FuzzDecode checks that no input makes the decoder or linker panic.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"t1.wasm", "t2.wasm"} {
		b, err := readFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rc, err := decodeComponent(b, 0, 0)
		if err != nil {
			return
		}
		_, _ = link(rc)
	})
}
