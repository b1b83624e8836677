package witjson

import "testing"

func TestDocs(t *testing.T) {
	section := append([]byte{1}, []byte(`{
		"package": "wassette:demo@0.1.0",
		"worlds": {"w": {"func_exports": {"get-weather": "  Returns the weather.\n"},
		                 "interface_exports": {"inline": {"funcs": {"f": {"docs": "Inline f."}}}}}},
		"interfaces": {"shapes": {"docs": "Shapes.", "funcs": {"area": {"docs": "The area.", "stability": {"unknown": null}}}}}
	}`)...)
	d := parseDocs([][]byte{section, {9, '{', '}'}, nil})
	for _, c := range []struct{ iface, fn, want string }{
		{"", "get-weather", "Returns the weather."},
		{"wassette:demo/shapes@0.1.0", "area", "The area."},
		{"wassette:demo/shapes@0.2.0", "area", ""},
		{"other:pkg/shapes@0.1.0", "area", ""},
		{"inline", "f", "Inline f."},
		{"", "missing", ""},
	} {
		if got := d.lookup(c.iface, c.fn); got != c.want {
			t.Errorf("lookup(%q, %q) = %q, want %q", c.iface, c.fn, got, c.want)
		}
	}
}
