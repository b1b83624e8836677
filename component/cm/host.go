package cm

import (
	"context"
	"fmt"
	sorting "sort"
	"strconv"
	"strings"
)

// HostFunc implements an imported function. args are the lifted parameters
// (see Value for their Go types); the returned value is lowered into the
// component as the function's result (nil for a function without one). A
// non-nil error traps: the call ends with that error.
type HostFunc func(ctx context.Context, inst *Instance, args []any) (any, error)

// Host is the set of interfaces Go code provides to components, by name.
// Define it fully before compiling components with it; it is then read-only
// and safe for concurrent use.
type Host struct {
	ifaces map[string][]*HostInterface // by interface name without version
}

// HostInterface is one imported interface the host implements.
type HostInterface struct {
	name     string
	accept   func(version string) bool
	funcs    map[string]HostFunc
	dtors    map[string]func(inst *Instance, v any)
	fallback HostFunc
}

// NewHost returns an empty Host.
func NewHost() *Host { return &Host{ifaces: map[string][]*HostInterface{}} }

// Interface defines (or returns) the interface name, such as
// "wasi:io/streams", for the import versions that accept allows (see
// Versions and SemverCompatible). An import without version matches when
// accept(""), so pass nil to match any version.
func (h *Host) Interface(name string, accept func(version string) bool) *HostInterface {
	hi := &HostInterface{name: name, accept: accept, funcs: map[string]HostFunc{}, dtors: map[string]func(*Instance, any){}}
	h.ifaces[name] = append(h.ifaces[name], hi)
	return hi
}

// Func implements the function name of the interface. Methods and
// constructors use their WIT import names: "[method]output-stream.write",
// "[constructor]fields", "[static]fields.from-list".
func (hi *HostInterface) Func(name string, fn HostFunc) *HostInterface {
	hi.funcs[name] = fn
	return hi
}

// Resource declares a resource of the interface. drop, if not nil, releases
// the host value of an owned handle when the component drops it, and when
// an instance is closed with the handle still in its table.
func (hi *HostInterface) Resource(name string, drop func(inst *Instance, v any)) *HostInterface {
	hi.dtors[name] = drop
	return hi
}

// Fallback implements every function of the interface that Func did not
// name. It serves interfaces whose functions a component may import but
// that the host does not support calling yet: they load, and fail when
// called.
func (hi *HostInterface) Fallback(fn HostFunc) *HostInterface {
	hi.fallback = fn
	return hi
}

// splitVersion splits "wasi:io/streams@0.2.3" into name and version.
func splitVersion(s string) (name, version string) {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// lookup finds the interface for an import name.
func (h *Host) lookup(importName string) *HostInterface {
	if h == nil {
		return nil
	}
	name, version := splitVersion(importName)
	for _, hi := range h.ifaces[name] {
		if hi.accept == nil || hi.accept(version) {
			return hi
		}
	}
	return nil
}

// Versions accepts exactly the versions given.
func Versions(vs ...string) func(string) bool {
	return func(v string) bool {
		for _, w := range vs {
			if v == w {
				return true
			}
		}
		return false
	}
}

// SemverCompatible accepts versions "major.minor.patch" with the given major
// and minor and any patch (no pre-release): SemverCompatible(0, 2) accepts
// 0.2.0 to 0.2.12 and beyond, the versions of WASI 0.2.
func SemverCompatible(major, minor int) func(string) bool {
	return func(v string) bool {
		parts := strings.Split(v, ".")
		if len(parts) != 3 {
			return false
		}
		var n [3]int
		for i, p := range parts {
			x, err := strconv.Atoi(p)
			if err != nil || x < 0 || p != strconv.Itoa(x) {
				return false
			}
			n[i] = x
		}
		return n[0] == major && n[1] == minor
	}
}

// hostFunc is a core function the host provides to a component: a lowered
// import or a resource built-in.
type hostFunc struct {
	op                          byte      // canonLower or canonResource*
	fn                          *compFunc // lower: the imported function
	opts                        *abiOpts
	rt                          *ResourceType // resource built-ins
	impl                        HostFunc      // lower: bound at Compile
	index                       int           // in plan.hostFuncs
	memRef, reallocRef, dtorRef int           // into Component.refs; -1 for none
	params                      []coreType
	results                     []coreType
}

func (hf *hostFunc) describe() string {
	switch hf.op {
	case canonLower:
		return hf.fn.path()
	case canonResourceNew:
		return "resource.new " + hf.rt.String()
	case canonResourceDrop:
		return "resource.drop " + hf.rt.String()
	case canonResourceRep:
		return "resource.rep " + hf.rt.String()
	}
	return "?"
}

// exportName is the name of hf in the component's host module.
func (hf *hostFunc) exportName() string { return "f" + strconv.Itoa(hf.index) }

// hostBag is a bag of inline exports that holds only host functions.
type hostBag struct {
	names []string
	funcs []*hostFunc
}

// bind resolves every lowered import of p against h and reports what h
// lacks.
func (p *plan) bind(h *Host) error {
	var missing []string
	seen := map[string]bool{}
	for _, hf := range p.hostFuncs {
		if hf.op != canonLower {
			continue
		}
		f := hf.fn
		var impl HostFunc
		if hi := h.lookup(f.iface); hi != nil {
			impl = hi.funcs[f.name]
			if impl == nil {
				impl = hi.fallback
			}
		}
		if impl == nil {
			if !seen[f.path()] {
				seen[f.path()] = true
				missing = append(missing, f.path())
			}
			continue
		}
		hf.impl = impl
	}
	if len(missing) > 0 {
		sorting.Strings(missing)
		return &MissingImportsError{Missing: missing}
	}
	return nil
}

// MissingImportsError reports imports of a component that the host does not
// provide.
type MissingImportsError struct {
	// Missing lists them as "interface#function", sorted.
	Missing []string
}

func (e *MissingImportsError) Error() string {
	return fmt.Sprintf("the component imports functions wassette does not provide: %s", strings.Join(e.Missing, ", "))
}
