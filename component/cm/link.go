package cm

import (
	"fmt"
	"strings"
)

// The linker evaluates a component's definitions once, at load, into a plan:
// which core modules to instantiate in which order with which arguments,
// which functions the host must provide, and which functions the component
// exports. Everything in a component's graph is static, so nested
// components are evaluated away here and a call never walks definitions.

// coreModule is a core module of the component.
type coreModule struct {
	index int // in plan.modules
	wasm  []byte
	info  *coreModuleInfo
}

// coreInst is a core instance as the linker sees it: either an instance of
// a module (rt >= 0 once planned) or a bag of inline exports, which becomes
// a runtime instance only when it is passed to an instantiation.
type coreInst struct {
	rt     int // runtime instance index; -1 for an unmaterialized bag
	module *coreModule
	bag    map[string]coreItem
	order  []string // bag export names in order
}

// coreItem is a core function, table, memory or global: an export of a
// runtime instance, or a host function.
type coreItem struct {
	kind coreExternKind
	inst *coreInst // instantiated (never a bag)
	name string
	host *hostFunc
}

func (it coreItem) String() string {
	if it.host != nil {
		return "host function " + it.host.describe()
	}
	return fmt.Sprintf("core %s %q of instance %d", it.kind, it.name, it.inst.rt)
}

// compFunc is a component-level function: imported from the host, or lifted
// from a core function.
type compFunc struct {
	typ *FuncType
	// imported
	iface, name string // iface is the import name ("" for a bare function import)
	imported    bool
	// lifted
	core coreItem
	opts *abiOpts
}

// abiOpts are resolved canonical options.
type abiOpts struct {
	memory     *coreItem
	realloc    *coreItem
	postReturn *coreItem
}

type compInst struct {
	exports map[string]any // *compFunc, *compInst, *Type, *ResourceType, *FuncType, *InstanceType, *compDef
	order   []string
}

type compDef struct {
	raw   *rawComponent
	outer *scope
}

// plannedInstance is one runtime core instance, created in order per call.
type plannedInstance struct {
	module *coreModule   // instantiate this module, or
	synth  *synthModule  // this synthesized re-export module, or
	host   *hostBag      // use this host module, made at load
	args   []instanceArg // import module name -> runtime instance
}

type instanceArg struct {
	name string
	rt   int // runtime instance; hostArg for the component's host module
}

// hostArg is the instanceArg.rt of the component's host module, from which
// synthesized modules import host functions.
const hostArg = -1

// plan is the result of linking.
type plan struct {
	modules   []*coreModule
	instances []plannedInstance
	hostFuncs []*hostFunc
	exports   *compInst
	imports   []string // root import names
	resources []*ResourceType
}

type linker struct {
	p     *plan
	depth int
}

// scope holds the index spaces of one component (or component or instance
// type) while it is evaluated.
type scope struct {
	parent *scope
	l      *linker
	args   map[string]any // imports of an instantiated nested component; nil at the root

	coreFuncs, coreTables, coreMems, coreGlobals []coreItem
	coreTypes                                    []*defCoreType
	coreModules                                  []*coreModule
	coreInsts                                    []*coreInst
	funcs                                        []*compFunc
	types                                        []any
	comps                                        []*compDef
	insts                                        []*compInst
	exports                                      *compInst
}

func link(rc *rawComponent) (*plan, error) {
	l := &linker{p: &plan{}}
	s := &scope{l: l}
	if err := s.eval(rc); err != nil {
		return nil, err
	}
	l.p.exports = s.exports
	return l.p, nil
}

func newCompInst() *compInst { return &compInst{exports: map[string]any{}} }

func (ci *compInst) add(name string, v any) error {
	if _, dup := ci.exports[name]; dup {
		return fmt.Errorf("%q is exported twice", name)
	}
	ci.exports[name] = v
	ci.order = append(ci.order, name)
	return nil
}

// eval evaluates the definitions of a component in scope s.
func (s *scope) eval(rc *rawComponent) error {
	s.exports = newCompInst()
	for i, d := range rc.defs {
		if err := s.def(d); err != nil {
			return fmt.Errorf("definition %d (%s): %w", i, defName(d), err)
		}
	}
	return nil
}

func defName(d any) string {
	switch d := d.(type) {
	case *defCoreModule:
		return "core module"
	case *defCoreInstance:
		return "core instance"
	case *defCoreType:
		return "core type"
	case *defComponent:
		return "component"
	case *defInstance:
		return "instance"
	case *defAlias:
		return "alias of a " + d.sort.String()
	case *defType:
		return "type"
	case *defCanon:
		return "canon"
	case *defImport:
		return fmt.Sprintf("import %q", d.name)
	case *defExport:
		return fmt.Sprintf("export %q", d.name)
	}
	return "definition"
}

func (s *scope) def(d any) error {
	switch d := d.(type) {
	case *defCoreModule:
		info, err := parseCoreModule(d.wasm)
		if err != nil {
			return err
		}
		m := &coreModule{index: len(s.l.p.modules), wasm: d.wasm, info: info}
		s.l.p.modules = append(s.l.p.modules, m)
		s.coreModules = append(s.coreModules, m)
	case *defCoreInstance:
		return s.coreInstance(d)
	case *defCoreType:
		s.coreTypes = append(s.coreTypes, d)
	case *defComponent:
		s.comps = append(s.comps, &compDef{raw: d.c, outer: s})
	case *defInstance:
		return s.instance(d)
	case *defAlias:
		return s.alias(d)
	case *defType:
		t, err := s.defineType(d.t)
		if err != nil {
			return err
		}
		s.types = append(s.types, t)
	case *defCanon:
		return s.canon(d)
	case *defImport:
		return s.importDef(d)
	case *defExport:
		return s.exportDef(d)
	default:
		return fmt.Errorf("unknown definition %T", d)
	}
	return nil
}

func bad(space string, idx uint32, n int) error {
	return fmt.Errorf("%s index %d out of range (%d defined)", space, idx, n)
}

func (s *scope) coreItemAt(st sort, idx uint32) (coreItem, error) {
	var space []coreItem
	switch st {
	case sortCoreFunc:
		space = s.coreFuncs
	case sortCoreTable:
		space = s.coreTables
	case sortCoreMemory:
		space = s.coreMems
	case sortCoreGlobal:
		space = s.coreGlobals
	default:
		return coreItem{}, fmt.Errorf("%s items cannot be exported from a core instance", st)
	}
	if int(idx) >= len(space) {
		return coreItem{}, bad(st.String(), idx, len(space))
	}
	return space[idx], nil
}

func (s *scope) pushCore(it coreItem) {
	switch it.kind {
	case coreFunc:
		s.coreFuncs = append(s.coreFuncs, it)
	case coreTable:
		s.coreTables = append(s.coreTables, it)
	case coreMemory:
		s.coreMems = append(s.coreMems, it)
	case coreGlobal:
		s.coreGlobals = append(s.coreGlobals, it)
	}
}

func (s *scope) coreInstance(d *defCoreInstance) error {
	if d.inline {
		ci := &coreInst{rt: -1, bag: map[string]coreItem{}}
		for _, e := range d.exports {
			it, err := s.coreItemAt(e.sort, e.idx)
			if err != nil {
				return fmt.Errorf("export %q: %w", e.name, err)
			}
			if _, dup := ci.bag[e.name]; dup {
				return fmt.Errorf("export %q given twice", e.name)
			}
			ci.bag[e.name] = it
			ci.order = append(ci.order, e.name)
		}
		s.coreInsts = append(s.coreInsts, ci)
		return nil
	}
	if int(d.module) >= len(s.coreModules) {
		return bad("core module", d.module, len(s.coreModules))
	}
	m := s.coreModules[d.module]
	args := map[string]*coreInst{}
	for _, a := range d.args {
		if int(a.instance) >= len(s.coreInsts) {
			return fmt.Errorf("argument %q: %w", a.name, bad("core instance", a.instance, len(s.coreInsts)))
		}
		args[a.name] = s.coreInsts[a.instance]
	}
	pi := plannedInstance{module: m}
	seen := map[string]bool{}
	for _, imp := range m.info.imports {
		arg, ok := args[imp.module]
		if !ok {
			return fmt.Errorf("core module %d imports %s.%s, but no instance named %q is given to it", m.index, imp.module, imp.name, imp.module)
		}
		if err := arg.check(imp.name, imp.desc.kind); err != nil {
			return fmt.Errorf("core module %d imports %s.%s: %w", m.index, imp.module, imp.name, err)
		}
		if seen[imp.module] {
			continue
		}
		seen[imp.module] = true
		rt, err := s.l.materialize(arg)
		if err != nil {
			return err
		}
		pi.args = append(pi.args, instanceArg{name: imp.module, rt: rt})
	}
	ci := &coreInst{rt: len(s.l.p.instances), module: m}
	s.l.p.instances = append(s.l.p.instances, pi)
	s.coreInsts = append(s.coreInsts, ci)
	return nil
}

// check reports whether ci exports name with the given kind.
func (ci *coreInst) check(name string, kind coreExternKind) error {
	if ci.bag != nil {
		it, ok := ci.bag[name]
		if !ok {
			return fmt.Errorf("the instance given has no export %q", name)
		}
		if it.kind != kind {
			return fmt.Errorf("the instance given exports %q as a %s, not a %s", name, it.kind, kind)
		}
		return nil
	}
	d, ok := ci.module.info.exports[name]
	if !ok {
		return fmt.Errorf("core module %d exports no %q", ci.module.index, name)
	}
	if d.kind != kind {
		return fmt.Errorf("core module %d exports %q as a %s, not a %s", ci.module.index, name, d.kind, kind)
	}
	return nil
}

// export returns the item ci exports as name.
func (ci *coreInst) export(name string, kind coreExternKind) (coreItem, error) {
	if err := ci.check(name, kind); err != nil {
		return coreItem{}, err
	}
	if ci.bag != nil {
		return ci.bag[name], nil
	}
	return coreItem{kind: kind, inst: ci, name: name}, nil
}

// materialize gives a bag a runtime instance: a shared host module when it
// holds only host functions, else a synthesized module that re-exports its
// items.
func (l *linker) materialize(ci *coreInst) (int, error) {
	if ci.rt >= 0 {
		return ci.rt, nil
	}
	var pi plannedInstance
	allHost := true
	for _, name := range ci.order {
		if ci.bag[name].host == nil {
			allHost = false
		}
	}
	if allHost {
		// Host functions only: a host module, instantiated once at load and
		// shared by every instance.
		hb := &hostBag{}
		for _, name := range ci.order {
			hb.names = append(hb.names, name)
			hb.funcs = append(hb.funcs, ci.bag[name].host)
		}
		pi.host = hb
	} else {
		sm, args, err := l.synthesize(ci)
		if err != nil {
			return 0, err
		}
		pi.synth, pi.args = sm, args
	}
	ci.rt = len(l.p.instances)
	l.p.instances = append(l.p.instances, pi)
	return ci.rt, nil
}

func (s *scope) instance(d *defInstance) error {
	if d.inline {
		ci := newCompInst()
		for _, e := range d.exports {
			v, err := s.item(e.sort, e.idx)
			if err != nil {
				return fmt.Errorf("export %q: %w", e.name, err)
			}
			if err := ci.add(e.name, v); err != nil {
				return err
			}
		}
		s.insts = append(s.insts, ci)
		return nil
	}
	if int(d.component) >= len(s.comps) {
		return bad("component", d.component, len(s.comps))
	}
	c := s.comps[d.component]
	args := map[string]any{}
	for _, a := range d.args {
		v, err := s.item(a.sort, a.idx)
		if err != nil {
			return fmt.Errorf("argument %q: %w", a.name, err)
		}
		args[a.name] = v
	}
	s.l.depth++
	defer func() { s.l.depth-- }()
	if s.l.depth > 32 {
		return fmt.Errorf("components instantiated more than 32 deep")
	}
	inner := &scope{parent: c.outer, l: s.l, args: args}
	if err := inner.eval(c.raw); err != nil {
		return fmt.Errorf("instantiate component %d: %w", d.component, err)
	}
	s.insts = append(s.insts, inner.exports)
	return nil
}

// item returns the component-level item of a sort and index.
func (s *scope) item(st sort, idx uint32) (any, error) {
	switch st {
	case sortFunc:
		if int(idx) >= len(s.funcs) {
			return nil, bad("func", idx, len(s.funcs))
		}
		return s.funcs[idx], nil
	case sortType:
		if int(idx) >= len(s.types) {
			return nil, bad("type", idx, len(s.types))
		}
		return s.types[idx], nil
	case sortInstance:
		if int(idx) >= len(s.insts) {
			return nil, bad("instance", idx, len(s.insts))
		}
		return s.insts[idx], nil
	case sortComponent:
		if int(idx) >= len(s.comps) {
			return nil, bad("component", idx, len(s.comps))
		}
		return s.comps[idx], nil
	case sortCoreModule:
		if int(idx) >= len(s.coreModules) {
			return nil, bad("core module", idx, len(s.coreModules))
		}
		return s.coreModules[idx], nil
	}
	return nil, fmt.Errorf("%s items are not supported here", st)
}

// push adds a component-level item to the index space of its sort.
func (s *scope) push(st sort, v any) error {
	switch st {
	case sortFunc:
		f, ok := v.(*compFunc)
		if !ok {
			return fmt.Errorf("expected a function, found %s", describe(v))
		}
		s.funcs = append(s.funcs, f)
	case sortType:
		switch v.(type) {
		case *Type, *FuncType, *instanceType, *componentType, *ResourceType:
		default:
			return fmt.Errorf("expected a type, found %s", describe(v))
		}
		s.types = append(s.types, v)
	case sortInstance:
		ci, ok := v.(*compInst)
		if !ok {
			return fmt.Errorf("expected an instance, found %s", describe(v))
		}
		s.insts = append(s.insts, ci)
	case sortComponent:
		c, ok := v.(*compDef)
		if !ok {
			return fmt.Errorf("expected a component, found %s", describe(v))
		}
		s.comps = append(s.comps, c)
	case sortCoreModule:
		m, ok := v.(*coreModule)
		if !ok {
			return fmt.Errorf("expected a core module, found %s", describe(v))
		}
		s.coreModules = append(s.coreModules, m)
	default:
		return fmt.Errorf("%s items are not supported here", st)
	}
	return nil
}

func describe(v any) string {
	switch v.(type) {
	case *compFunc:
		return "a function"
	case *compInst:
		return "an instance"
	case *compDef:
		return "a component"
	case *coreModule:
		return "a core module"
	case *Type, *FuncType, *instanceType, *componentType, *ResourceType:
		return "a type"
	case nil:
		return "nothing"
	}
	return fmt.Sprintf("%T", v)
}

func (s *scope) alias(a *defAlias) error {
	switch a.kind {
	case 0x00: // export of a component instance
		if int(a.inst) >= len(s.insts) {
			return bad("instance", a.inst, len(s.insts))
		}
		v, ok := s.insts[a.inst].exports[a.name]
		if !ok {
			return fmt.Errorf("instance %d has no export %q", a.inst, a.name)
		}
		return s.push(a.sort, v)
	case 0x01: // export of a core instance
		if int(a.inst) >= len(s.coreInsts) {
			return bad("core instance", a.inst, len(s.coreInsts))
		}
		if a.sort < coreSortBase || a.sort > sortCoreGlobal {
			return fmt.Errorf("core export alias of sort %s is not supported", a.sort)
		}
		it, err := s.coreInsts[a.inst].export(a.name, coreExternKind(a.sort-coreSortBase))
		if err != nil {
			return fmt.Errorf("core instance %d: %w", a.inst, err)
		}
		s.pushCore(it)
		return nil
	case 0x02: // outer
		t := s
		for i := uint32(0); i < a.ct; i++ {
			if t.parent == nil {
				return fmt.Errorf("outer alias %d scopes out, beyond the outermost component", a.ct)
			}
			t = t.parent
		}
		switch a.sort {
		case sortCoreType:
			if int(a.idx) >= len(t.coreTypes) {
				return bad("core type", a.idx, len(t.coreTypes))
			}
			s.coreTypes = append(s.coreTypes, t.coreTypes[a.idx])
			return nil
		case sortType, sortComponent, sortCoreModule:
			v, err := t.item(a.sort, a.idx)
			if err != nil {
				return err
			}
			return s.push(a.sort, v)
		}
		return fmt.Errorf("outer alias of sort %s is not supported", a.sort)
	}
	return fmt.Errorf("unknown alias kind")
}

// valType resolves a value type reference.
func (s *scope) valType(v valRef) (*Type, error) {
	if v.prim != 0 {
		return primType(v.prim), nil
	}
	if int(v.idx) >= len(s.types) {
		return nil, bad("type", v.idx, len(s.types))
	}
	t, ok := s.types[v.idx].(*Type)
	if !ok {
		return nil, fmt.Errorf("type %d is %s, not a value type", v.idx, describe(s.types[v.idx]))
	}
	return t, nil
}

var prims = func() map[Kind]*Type {
	m := map[Kind]*Type{}
	for k := KindBool; k <= KindString; k++ {
		t := &Type{Kind: k}
		_ = t.finish()
		m[k] = t
	}
	return m
}()

func primType(k Kind) *Type { return prims[k] }

func (s *scope) defineType(rt *rawType) (any, error) {
	if rt.prim != 0 {
		return primType(rt.prim), nil
	}
	var t *Type
	switch rt.code {
	case tcRecord:
		t = &Type{Kind: KindRecord}
		for i, name := range rt.labels {
			ft, err := s.valType(rt.refs[i])
			if err != nil {
				return nil, err
			}
			t.Fields = append(t.Fields, Field{Name: name, Type: ft})
		}
	case tcVariant:
		t = &Type{Kind: KindVariant}
		for i, name := range rt.labels {
			c := Case{Name: name}
			if rt.refs[i].prim != 0xff {
				ct, err := s.valType(rt.refs[i])
				if err != nil {
					return nil, err
				}
				c.Type = ct
			}
			t.Cases = append(t.Cases, c)
		}
	case tcList, tcOption:
		e, err := s.valType(rt.refs[0])
		if err != nil {
			return nil, err
		}
		t = &Type{Kind: KindList, Elem: e}
		if rt.code == tcOption {
			t.Kind = KindOption
		}
	case tcTuple:
		t = &Type{Kind: KindTuple}
		for _, r := range rt.refs {
			m, err := s.valType(r)
			if err != nil {
				return nil, err
			}
			t.Types = append(t.Types, m)
		}
	case tcFlags:
		t = &Type{Kind: KindFlags, Names: rt.labels}
	case tcEnum:
		t = &Type{Kind: KindEnum, Names: rt.labels}
	case tcResult:
		t = &Type{Kind: KindResult}
		var err error
		if rt.ok != nil {
			if t.Ok, err = s.valType(*rt.ok); err != nil {
				return nil, err
			}
		}
		if rt.er != nil {
			if t.Err, err = s.valType(*rt.er); err != nil {
				return nil, err
			}
		}
	case tcOwn, tcBorrow:
		if int(rt.idx) >= len(s.types) {
			return nil, bad("type", rt.idx, len(s.types))
		}
		r, ok := s.types[rt.idx].(*ResourceType)
		if !ok {
			return nil, fmt.Errorf("handle of type %d, which is %s, not a resource", rt.idx, describe(s.types[rt.idx]))
		}
		t = &Type{Kind: KindOwn, Resource: r}
		if rt.code == tcBorrow {
			t.Kind = KindBorrow
		}
	case tcFunc:
		f := &FuncType{}
		for _, p := range rt.params {
			pt, err := s.valType(p.ref)
			if err != nil {
				return nil, fmt.Errorf("parameter %q: %w", p.name, err)
			}
			f.Params = append(f.Params, Param{Name: p.name, Type: pt})
		}
		if rt.result != nil {
			r, err := s.valType(*rt.result)
			if err != nil {
				return nil, fmt.Errorf("result: %w", err)
			}
			if containsBorrow(r) {
				return nil, fmt.Errorf("a function result holds a borrowed handle")
			}
			f.Result = r
		}
		f.finish()
		return f, nil
	case tcInst, tcComp:
		return s.declType(rt)
	case tcResource:
		r := &ResourceType{local: true}
		if rt.dtor != nil {
			if int(*rt.dtor) >= len(s.coreFuncs) {
				return nil, fmt.Errorf("resource destructor: %w", bad("core func", *rt.dtor, len(s.coreFuncs)))
			}
			d := s.coreFuncs[*rt.dtor]
			r.dtor = &d
		}
		s.l.p.resources = append(s.l.p.resources, r)
		return r, nil
	default:
		return nil, fmt.Errorf("type form %#x is not supported", rt.code)
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t, nil
}

func containsBorrow(t *Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind {
	case KindBorrow:
		return true
	case KindList, KindOption:
		return containsBorrow(t.Elem)
	case KindRecord, KindTuple:
		for _, m := range t.members() {
			if containsBorrow(m) {
				return true
			}
		}
	case KindVariant, KindResult:
		for _, p := range t.payloads() {
			if containsBorrow(p) {
				return true
			}
		}
	}
	return false
}

// declType evaluates an instance or component type in a scope of its own.
func (s *scope) declType(rt *rawType) (any, error) {
	ts := &scope{parent: s, l: s.l}
	var imports, exports []externDecl
	for i, d := range rt.decls {
		switch d.kind {
		case 0:
			ts.coreTypes = append(ts.coreTypes, d.core)
		case 1:
			t, err := ts.defineType(d.typ)
			if err != nil {
				return nil, fmt.Errorf("declarator %d: %w", i, err)
			}
			if _, ok := t.(*ResourceType); ok {
				return nil, fmt.Errorf("declarator %d: resource definitions are not allowed in a type", i)
			}
			ts.types = append(ts.types, t)
		case 2:
			if err := ts.alias(d.alias); err != nil {
				return nil, fmt.Errorf("declarator %d: %w", i, err)
			}
		case 3, 4:
			ed, err := ts.externDecl(d.name, d.extern)
			if err != nil {
				return nil, fmt.Errorf("declarator %d (%q): %w", i, d.name, err)
			}
			if d.kind == 3 {
				imports = append(imports, ed)
			} else {
				exports = append(exports, ed)
			}
		}
	}
	if rt.code == tcInst {
		return &instanceType{Exports: exports}, nil
	}
	return &componentType{Imports: imports, Exports: exports}, nil
}

// externDecl resolves an import or export declarator and, as the binary
// format says, adds the declared item to the type scope's index spaces.
func (s *scope) externDecl(name string, et externType) (externDecl, error) {
	ed := externDecl{Name: name, Kind: et.kind}
	switch et.kind {
	case externFunc:
		f, err := s.typeAt(et.idx)
		if err != nil {
			return ed, err
		}
		ft, ok := f.(*FuncType)
		if !ok {
			return ed, fmt.Errorf("function of type %d, which is %s", et.idx, describe(f))
		}
		ed.Func = ft
		s.funcs = append(s.funcs, &compFunc{typ: ft})
	case externInstance:
		it, err := s.typeAt(et.idx)
		if err != nil {
			return ed, err
		}
		t, ok := it.(*instanceType)
		if !ok {
			return ed, fmt.Errorf("instance of type %d, which is %s", et.idx, describe(it))
		}
		ed.Instance = t
		ci := newCompInst()
		for _, e := range t.Exports {
			ci.exports[e.Name] = e.item()
			ci.order = append(ci.order, e.Name)
		}
		s.insts = append(s.insts, ci)
	case externTypeKind:
		if et.bound == 1 {
			r := &ResourceType{Name: name}
			ed.Resource = r
			s.types = append(s.types, r)
		} else {
			t, err := s.typeAt(et.idx)
			if err != nil {
				return ed, err
			}
			switch t := t.(type) {
			case *Type:
				ed.Type = t
			case *ResourceType:
				ed.Resource = t
			}
			s.types = append(s.types, t)
		}
	case externComponent, externModule:
		// Kept only as declarations.
	default:
		return ed, fmt.Errorf("%s declarations are not supported", et.kind)
	}
	return ed, nil
}

// item returns what an instance-type export stands for inside a scope.
func (e externDecl) item() any {
	switch e.Kind {
	case externFunc:
		return &compFunc{typ: e.Func}
	case externInstance:
		ci := newCompInst()
		for _, x := range e.Instance.Exports {
			ci.exports[x.Name] = x.item()
			ci.order = append(ci.order, x.Name)
		}
		return ci
	case externTypeKind:
		if e.Resource != nil {
			return e.Resource
		}
		return e.Type
	}
	return nil
}

func (s *scope) typeAt(idx uint32) (any, error) {
	if int(idx) >= len(s.types) {
		return nil, bad("type", idx, len(s.types))
	}
	return s.types[idx], nil
}

func (s *scope) importDef(d *defImport) error {
	if s.args != nil {
		// A nested component: its imports are the instantiation's arguments.
		v, ok := s.args[d.name]
		if !ok {
			return fmt.Errorf("no argument named %q is given to the component", d.name)
		}
		st := map[externKind]sort{externFunc: sortFunc, externInstance: sortInstance, externTypeKind: sortType,
			externComponent: sortComponent, externModule: sortCoreModule}[d.et.kind]
		return s.push(st, v)
	}
	s.l.p.imports = append(s.l.p.imports, d.name)
	ed, err := s.externDecl(d.name, d.et)
	if err != nil {
		return err
	}
	switch ed.Kind {
	case externFunc:
		f := s.funcs[len(s.funcs)-1]
		f.imported, f.name = true, d.name
	case externInstance:
		ci := s.insts[len(s.insts)-1]
		bindHost(ci, d.name)
	case externTypeKind:
		if ed.Resource != nil && ed.Resource.Name == "" {
			ed.Resource.Name = d.name
		}
	default:
		return fmt.Errorf("imports of a %s are not supported", ed.Kind)
	}
	return nil
}

// bindHost marks the functions and resources of an imported instance as the
// host's, under the import's name.
func bindHost(ci *compInst, iface string) {
	for _, name := range ci.order {
		switch v := ci.exports[name].(type) {
		case *compFunc:
			v.imported, v.iface, v.name = true, iface, name
		case *ResourceType:
			if v.Interface == "" {
				v.Interface = iface
				v.Name = name
			}
		case *compInst:
			bindHost(v, iface+"/"+name)
		}
	}
}

func (s *scope) exportDef(d *defExport) error {
	v, err := s.item(d.sort, d.idx)
	if err != nil {
		return err
	}
	if d.et != nil && d.et.kind == externTypeKind && d.et.bound == 1 {
		// An exported resource type given a fresh identity: keep the
		// definition (handles refer to it) but record the export's name.
		if r, ok := v.(*ResourceType); ok && r.Name == "" {
			r.Name = d.name
		}
	}
	if r, ok := v.(*ResourceType); ok && r.Name == "" {
		r.Name = d.name
	}
	if err := s.exports.add(d.name, v); err != nil {
		return err
	}
	return s.push(d.sort, v)
}

func (s *scope) canon(d *defCanon) error {
	switch d.op {
	case canonLift:
		core, err := s.coreItemAt(sortCoreFunc, d.fn)
		if err != nil {
			return err
		}
		t, err := s.typeAt(d.typ)
		if err != nil {
			return err
		}
		ft, ok := t.(*FuncType)
		if !ok {
			return fmt.Errorf("lift to type %d, which is %s", d.typ, describe(t))
		}
		if core.host != nil {
			return fmt.Errorf("lifting a host function is not supported")
		}
		opts, err := s.abiOpts(d.opts)
		if err != nil {
			return err
		}
		if err := checkSig(core, ft.flatParams, ft.flatResults); err != nil {
			return fmt.Errorf("lift to %s: %w", ft, err)
		}
		if err := opts.check(ft, true); err != nil {
			return err
		}
		if opts.postReturn != nil {
			if err := checkSig(*opts.postReturn, ft.flatResults, nil); err != nil {
				return fmt.Errorf("post-return: %w", err)
			}
		}
		s.funcs = append(s.funcs, &compFunc{typ: ft, core: core, opts: opts})
	case canonLower:
		if int(d.fn) >= len(s.funcs) {
			return bad("func", d.fn, len(s.funcs))
		}
		f := s.funcs[d.fn]
		if !f.imported {
			return fmt.Errorf("lowering a function the component itself lifts is not supported (components that call each other)")
		}
		opts, err := s.abiOpts(d.opts)
		if err != nil {
			return err
		}
		if err := opts.check(f.typ, false); err != nil {
			return fmt.Errorf("lower %s: %w", f.path(), err)
		}
		hf := &hostFunc{op: canonLower, fn: f, opts: opts, index: len(s.l.p.hostFuncs)}
		hf.params, hf.results = f.typ.lowerSignature()
		s.l.p.hostFuncs = append(s.l.p.hostFuncs, hf)
		s.coreFuncs = append(s.coreFuncs, coreItem{kind: coreFunc, host: hf})
	case canonResourceNew, canonResourceDrop, canonResourceRep:
		t, err := s.typeAt(d.typ)
		if err != nil {
			return err
		}
		r, ok := t.(*ResourceType)
		if !ok {
			return fmt.Errorf("resource built-in on type %d, which is %s", d.typ, describe(t))
		}
		if d.op != canonResourceDrop && !r.local {
			return fmt.Errorf("resource.new and resource.rep apply only to resources the component defines, not %s", r)
		}
		hf := &hostFunc{op: d.op, rt: r, index: len(s.l.p.hostFuncs)}
		switch d.op {
		case canonResourceNew, canonResourceRep:
			hf.params, hf.results = []coreType{i32}, []coreType{i32}
		case canonResourceDrop:
			hf.params = []coreType{i32}
		}
		s.l.p.hostFuncs = append(s.l.p.hostFuncs, hf)
		s.coreFuncs = append(s.coreFuncs, coreItem{kind: coreFunc, host: hf})
	}
	return nil
}

func (f *compFunc) path() string {
	if f.iface == "" {
		return f.name
	}
	return f.iface + "#" + f.name
}

func (s *scope) abiOpts(o canonOpts) (*abiOpts, error) {
	out := &abiOpts{}
	if o.memory != nil {
		it, err := s.coreItemAt(sortCoreMemory, *o.memory)
		if err != nil {
			return nil, fmt.Errorf("memory option: %w", err)
		}
		if it.inst == nil {
			return nil, fmt.Errorf("memory option: not a memory of a core instance")
		}
		out.memory = &it
	}
	for _, p := range []struct {
		idx *uint32
		dst **coreItem
		sig [2][]coreType
		nm  string
	}{
		{o.realloc, &out.realloc, [2][]coreType{{i32, i32, i32, i32}, {i32}}, "realloc"},
		{o.postReturn, &out.postReturn, [2][]coreType{nil, nil}, "post-return"},
	} {
		if p.idx == nil {
			continue
		}
		it, err := s.coreItemAt(sortCoreFunc, *p.idx)
		if err != nil {
			return nil, fmt.Errorf("%s option: %w", p.nm, err)
		}
		if it.host != nil {
			return nil, fmt.Errorf("%s option: a host function", p.nm)
		}
		if p.nm == "realloc" {
			if err := checkSig(it, p.sig[0], p.sig[1]); err != nil {
				return nil, fmt.Errorf("realloc: %w", err)
			}
		}
		*p.dst = &it
	}
	return out, nil
}

// check verifies that the options give what the ABI needs for ft.
func (o *abiOpts) check(ft *FuncType, lift bool) error {
	needMem := ft.paramsSpilled() || ft.resultSpilled()
	needAlloc := false // a realloc in the guest
	for _, p := range ft.Params {
		if usesMemory(p.Type) {
			needMem = true
			if lift {
				needAlloc = true
			}
		}
	}
	if lift && ft.paramsSpilled() {
		needAlloc = true
	}
	if ft.Result != nil && usesMemory(ft.Result) {
		needMem = true
		if !lift {
			needAlloc = true
		}
	}
	if needMem && o.memory == nil {
		return fmt.Errorf("the function passes values through memory, but no memory option is given")
	}
	if needAlloc && o.realloc == nil {
		return fmt.Errorf("the function needs memory allocated in the component, but no realloc option is given")
	}
	return nil
}

// usesMemory reports whether values of t live (partly) in linear memory.
func usesMemory(t *Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind {
	case KindString, KindList:
		return true
	case KindOption:
		return usesMemory(t.Elem)
	case KindRecord, KindTuple:
		for _, m := range t.members() {
			if usesMemory(m) {
				return true
			}
		}
	case KindVariant, KindResult:
		for _, p := range t.payloads() {
			if usesMemory(p) {
				return true
			}
		}
	}
	return false
}

// checkSig checks a core function's signature.
func checkSig(it coreItem, params, results []coreType) error {
	if it.inst == nil {
		return nil
	}
	d := it.inst.module.info.exports[it.name]
	if d.fn == nil {
		return fmt.Errorf("core export %q is not a function", it.name)
	}
	if !sameTypes(d.fn.params, params) || !sameTypes(d.fn.results, results) {
		return fmt.Errorf("core function %q has type %s, want %s", it.name, sigString(d.fn.params, d.fn.results), sigString(params, results))
	}
	return nil
}

func sameTypes(a, b []coreType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sigString(params, results []coreType) string {
	var b strings.Builder
	b.WriteString("(")
	for i, p := range params {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(p.String())
	}
	b.WriteString(") -> (")
	for i, r := range results {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(r.String())
	}
	b.WriteString(")")
	return b.String()
}
