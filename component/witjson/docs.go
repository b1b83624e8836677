package witjson

import (
	"encoding/json"
	"strings"
)

// docs are the WIT documentation comments a component carries in its
// "package-docs" custom section (wit-component's format: a version byte,
// then JSON).
type docs struct {
	packages []packageDocs
}

type packageDocs struct {
	Package    string                   `json:"package"`
	Worlds     map[string]worldDocs     `json:"worlds"`
	Interfaces map[string]interfaceDocs `json:"interfaces"`
}

type worldDocs struct {
	Funcs            map[string]funcDocs      `json:"funcs"`
	FuncExports      map[string]funcDocs      `json:"func_exports"`
	Interfaces       map[string]interfaceDocs `json:"interfaces"`
	InterfaceExports map[string]interfaceDocs `json:"interface_exports"`
}

type interfaceDocs struct {
	Docs  string              `json:"docs"`
	Funcs map[string]funcDocs `json:"funcs"`
}

// funcDocs is a function's docs: a bare string, or {"docs": ...}.
type funcDocs string

func (f *funcDocs) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = funcDocs(s)
		return nil
	}
	var o struct {
		Docs string `json:"docs"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*f = funcDocs(o.Docs)
	return nil
}

// parseDocs reads the "package-docs" sections of a component.
func parseDocs(sections [][]byte) docs {
	var d docs
	for _, sec := range sections {
		if len(sec) < 2 || sec[0] > 1 {
			continue
		}
		var p packageDocs
		if json.Unmarshal(sec[1:], &p) == nil {
			d.packages = append(d.packages, p)
		}
	}
	return d
}

// lookup returns the documentation of an exported function, trimmed, or "".
func (d docs) lookup(iface, fn string) string {
	name, version, _ := strings.Cut(iface, "@")
	pkg, ifaceName, qualified := strings.Cut(name, "/")
	for _, p := range d.packages {
		switch {
		case iface == "":
			// A function the world exports directly.
			for _, w := range p.Worlds {
				for _, m := range []map[string]funcDocs{w.FuncExports, w.Funcs} {
					if s := strings.TrimSpace(string(m[fn])); s != "" {
						return s
					}
				}
			}
		case !qualified:
			// An interface a world exports inline, by a plain name.
			for _, w := range p.Worlds {
				for _, m := range []map[string]interfaceDocs{w.InterfaceExports, w.Interfaces} {
					if s := strings.TrimSpace(string(m[iface].Funcs[fn])); s != "" {
						return s
					}
				}
			}
		default:
			if p.Package != "" {
				pn, pv, _ := strings.Cut(p.Package, "@")
				if pn != pkg || pv != version {
					continue
				}
			}
			if s := strings.TrimSpace(string(p.Interfaces[ifaceName].Funcs[fn])); s != "" {
				return s
			}
		}
	}
	return ""
}
