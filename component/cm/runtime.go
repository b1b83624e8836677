package cm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wassette/wassette/internal/linmem"
)

// Config configures a Runtime.
type Config struct {
	// Cache keeps compiled machine code, in memory or on disk
	// (wazero.NewCompilationCacheWithDir). Nil means a private in-memory
	// cache. The Runtime does not close it.
	Cache wazero.CompilationCache
	// Host provides the functions components import.
	Host *Host
}

// Runtime compiles and instantiates components on one wazero runtime of its
// own (so that no import of a component can reach a module of the preview1
// runtime). It is safe for concurrent use.
type Runtime struct {
	wz   wazero.Runtime
	host *Host
	cfg  wazero.ModuleConfig
}

// NewRuntime returns a Runtime. Calls stop when their context is done.
func NewRuntime(ctx context.Context, cfg Config) *Runtime {
	rc := wazero.NewRuntimeConfig().WithCloseOnContextDone(true)
	if cfg.Cache != nil {
		rc = rc.WithCompilationCache(cfg.Cache)
	}
	return &Runtime{
		wz:   wazero.NewRuntimeWithConfig(ctx, rc),
		host: cfg.Host,
		// Anonymous instances (many may run at once), and no start
		// functions: a core module's _start is the program, which a
		// component runs only through its exports.
		cfg: wazero.NewModuleConfig().WithName("").WithStartFunctions(),
	}
}

// Close releases the runtime and every component compiled with it.
func (r *Runtime) Close(ctx context.Context) error { return r.wz.Close(ctx) }

// Component is a compiled component. It is safe for concurrent use: each
// Instantiate makes an independent instance.
type Component struct {
	rt           *Runtime
	plan         *plan
	customs      map[string][][]byte
	compiled     []wazero.CompiledModule // per planned instance (nil for host bags)
	modules      []wazero.CompiledModule // per core module
	images       []*linmem.Image         // per core module: its memory's initial contents, or nil
	hostAll      api.Module              // every host function, for synthesized modules
	hostBags     []api.Module            // per planned instance: the host modules of host bags
	hostCompiled []wazero.CompiledModule
	exports      []*Export
	refs         []coreRef
	memPages     uint64 // initial pages of the memories its core instances define

	mu     sync.RWMutex // held for reading by instances, for writing by Close
	closed bool
}

// coreRef is a core function or memory an instance looks up by export name.
type coreRef struct {
	rt   int
	name string
	kind coreExternKind
}

// Export is a function the component exports.
type Export struct {
	// Interface is the name of the exported instance that holds the
	// function ("wassette:demo/shapes@0.1.0"), or "" for a function the
	// component exports by itself.
	Interface string
	// Name is the function's name in that instance (or the component).
	Name string
	// Type is the function's type.
	Type *FuncType

	fn *compFunc
	// refs into Component.refs
	callee, memory, realloc, postReturn int
}

// Compile decodes, links and compiles a component binary. Its core modules
// are compiled here, once (from the Runtime's cache when it has them); an
// import the Runtime's Host does not provide is a *MissingImportsError.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Component, error) {
	rc, err := decodeComponent(wasm, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("decode component: %w", err)
	}
	p, err := link(rc)
	if err != nil {
		return nil, fmt.Errorf("link component: %w", err)
	}
	if err := p.bind(r.host); err != nil {
		return nil, err
	}
	c := &Component{rt: r, plan: p, customs: map[string][][]byte{}}
	collectCustoms(rc, c.customs)
	if err := c.compile(ctx); err != nil {
		c.release(ctx)
		return nil, err
	}
	for _, m := range p.modules {
		m.wasm = nil // compiled: the binary need not stay in memory
	}
	return c, nil
}

func (c *Component) compile(ctx context.Context) error {
	r := c.rt
	p := c.plan
	// Tables live in host memory, outside the memory limit: every table a core
	// module defines gets a maximum, so that the component's instances together
	// never hold more than linmem.MaxTableElems elements.
	instances := 0
	for _, pi := range p.instances {
		if pi.module != nil {
			instances++
		}
	}
	tableShare := uint64(linmem.MaxTableElems)
	if instances > 1 {
		tableShare /= uint64(instances)
	}
	c.modules = make([]wazero.CompiledModule, len(p.modules))
	c.images = make([]*linmem.Image, len(p.modules))
	for i, m := range p.modules {
		capped, capErr := linmem.CapDefinedTables(m.wasm, tableShare)
		if capErr != nil && !errors.Is(capErr, linmem.ErrMalformed) {
			return fmt.Errorf("core module %d: %w", i, capErr)
		}
		if capErr != nil {
			capped = m.wasm // the compiler says what is wrong with it
		}
		// An instance's memory starts as a prepared image of what the module's
		// data segments write (a JS engine's is megabytes), rather than having
		// them applied at every instantiation.
		wasm, img, err := linmem.Prepare(capped)
		if err != nil || capErr != nil {
			wasm, img = capped, nil // the compiler says what is wrong with it
		}
		c.images[i] = img
		cm, err := r.wz.CompileModule(ctx, wasm)
		if err != nil {
			return fmt.Errorf("compile core module %d: %w", i, err)
		}
		c.modules[i] = cm
		if capErr != nil {
			return fmt.Errorf("core module %d: read its tables: %w", i, capErr)
		}
	}
	for _, pi := range p.instances {
		if pi.module != nil {
			c.memPages += pi.module.info.memPages
		}
	}
	// The host module: every host function, for synthesized modules.
	var err error
	names := make([]string, len(p.hostFuncs))
	for i, hf := range p.hostFuncs {
		names[i] = hf.exportName()
	}
	if c.hostAll, err = c.hostModule(ctx, names, p.hostFuncs); err != nil {
		return fmt.Errorf("instantiate the host module: %w", err)
	}
	c.compiled = make([]wazero.CompiledModule, len(p.instances))
	c.hostBags = make([]api.Module, len(p.instances))
	for i, pi := range p.instances {
		switch {
		case pi.module != nil:
			c.compiled[i] = c.modules[pi.module.index]
		case pi.host != nil:
			if c.hostBags[i], err = c.hostModule(ctx, pi.host.names, pi.host.funcs); err != nil {
				return fmt.Errorf("instantiate host module %d: %w", i, err)
			}
		default:
			cm, err := r.wz.CompileModule(ctx, pi.synth.wasm)
			if err != nil {
				return fmt.Errorf("compile re-export module %d: %w", i, err)
			}
			c.compiled[i] = cm
		}
	}
	c.collectExports()
	return nil
}

// hostModule makes a host module exporting funcs under names, instantiated
// anonymously: its functions find the calling instance in their context, so
// one module serves every instance of the component. (Instantiated this way,
// rather than with HostModuleBuilder.Instantiate, it can be returned by
// wazero's import resolver.)
func (c *Component) hostModule(ctx context.Context, names []string, funcs []*hostFunc) (api.Module, error) {
	b := c.rt.wz.NewHostModuleBuilder("wassette-component-host")
	for i, hf := range funcs {
		b.NewFunctionBuilder().WithGoModuleFunction(c.hostFn(hf), valTypes(hf.params), valTypes(hf.results)).Export(names[i])
	}
	compiled, err := b.Compile(ctx)
	if err != nil {
		return nil, err
	}
	c.hostCompiled = append(c.hostCompiled, compiled)
	return c.rt.wz.InstantiateModule(ctx, compiled, c.rt.cfg)
}

func valTypes(ts []coreType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		out[i] = [...]api.ValueType{0, api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64}[t]
	}
	return out
}

// ref returns the index of a core item in c.refs, or -1 for nil.
func (c *Component) ref(it *coreItem) int {
	if it == nil {
		return -1
	}
	k := coreRef{rt: it.inst.rt, name: it.name, kind: it.kind}
	for i, r := range c.refs {
		if r == k {
			return i
		}
	}
	c.refs = append(c.refs, k)
	return len(c.refs) - 1
}

func (c *Component) collectExports() {
	add := func(iface, name string, f *compFunc) {
		e := &Export{Interface: iface, Name: name, Type: f.typ, fn: f}
		e.callee = c.ref(&f.core)
		e.memory, e.realloc, e.postReturn = c.ref(f.opts.memory), c.ref(f.opts.realloc), c.ref(f.opts.postReturn)
		c.exports = append(c.exports, e)
	}
	ex := c.plan.exports
	for _, name := range ex.order {
		switch v := ex.exports[name].(type) {
		case *compFunc:
			if !v.imported {
				add("", name, v)
			}
		case *compInst:
			for _, fname := range v.order {
				if f, ok := v.exports[fname].(*compFunc); ok && !f.imported {
					add(name, fname, f)
				}
			}
		}
	}
	for _, hf := range c.plan.hostFuncs {
		if hf.opts != nil {
			hf.memRef, hf.reallocRef = c.ref(hf.opts.memory), c.ref(hf.opts.realloc)
		}
		if hf.rt != nil && hf.rt.dtor != nil {
			hf.dtorRef = c.ref(hf.rt.dtor)
		}
	}
}

// Exports returns the functions the component exports, in binary order.
func (c *Component) Exports() []*Export { return c.exports }

// Export returns the exported function name of interface iface ("" for a
// function the component exports directly).
func (c *Component) Export(iface, name string) (*Export, bool) {
	for _, e := range c.exports {
		if e.Interface == iface && e.Name == name {
			return e, true
		}
	}
	return nil, false
}

// Imports returns the names of the component's imports, in binary order.
func (c *Component) Imports() []string { return append([]string(nil), c.plan.imports...) }

// CustomSections returns the contents of the custom sections called name
// (such as "package-docs") of the component and of the components nested in
// it, outermost first.
func (c *Component) CustomSections(name string) [][]byte { return c.customs[name] }

// collectCustoms copies the custom sections of rc and its nested components,
// so the binary itself need not be kept.
func collectCustoms(rc *rawComponent, into map[string][][]byte) {
	for name, secs := range rc.customs {
		for _, s := range secs {
			into[name] = append(into[name], append([]byte(nil), s...))
		}
	}
	for _, d := range rc.defs {
		if dc, ok := d.(*defComponent); ok {
			collectCustoms(dc.c, into)
		}
	}
}

// MemoryBytes returns the initial size of the memories an instance's core
// instances define, exported or not: what an instance needs before it runs.
func (c *Component) MemoryBytes() uint64 { return c.memPages * 65536 }

// Close waits for instances in use, then releases the compiled code.
func (c *Component) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.release(ctx)
}

func (c *Component) release(ctx context.Context) error {
	var errs []error
	for _, m := range c.hostBags {
		if m != nil {
			errs = append(errs, m.Close(ctx))
		}
	}
	for i := range c.compiled {
		if c.plan.instances[i].synth != nil && c.compiled[i] != nil {
			errs = append(errs, c.compiled[i].Close(ctx))
		}
	}
	if c.hostAll != nil {
		errs = append(errs, c.hostAll.Close(ctx))
	}
	for _, m := range c.hostCompiled {
		errs = append(errs, m.Close(ctx))
	}
	for _, m := range c.modules {
		if m != nil {
			errs = append(errs, m.Close(ctx))
		}
	}
	for _, img := range c.images {
		if img != nil {
			errs = append(errs, img.Close())
		}
	}
	return errors.Join(errs...)
}

type instanceKey struct{}

// Instance is one instance of a component: its core instances, its handle
// table and the embedder's data. It serves one goroutine at a time.
type Instance struct {
	c       *Component
	mods    []api.Module
	handles handleTable
	data    any
	err     error // the first error a host function or the ABI raised
	fns     []api.Function
	mems    []api.Memory
	closed  bool
	locked  bool
}

// Data returns the value given to Instantiate.
func (in *Instance) Data() any { return in.data }

// Instantiate makes a fresh instance: every core instance of the component,
// in order. data is the embedder's per-instance state, which host functions
// get back with Instance.Data. ctx governs instantiation, including any
// start functions; memory allocators and limits set in it (see wazero's
// experimental.WithMemoryAllocator) apply to every memory of the instance. A
// linmem.Budget set with linmem.NewContext also lets each memory map its
// prepared initial contents copy-on-write; with any other allocator they are
// copied in.
func (c *Component) Instantiate(ctx context.Context, data any) (*Instance, error) {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return nil, errors.New("the component is closed")
	}
	n := len(c.plan.instances)
	in := &Instance{c: c, data: data, mods: make([]api.Module, n),
		fns: make([]api.Function, len(c.refs)), mems: make([]api.Memory, len(c.refs)), locked: true}
	ctx = context.WithValue(ctx, instanceKey{}, in)
	budget := linmem.FromContext(ctx)
	for i, pi := range c.plan.instances {
		if pi.host != nil {
			in.mods[i] = c.hostBags[i]
			continue
		}
		args := pi.args
		rctx := experimental.WithImportResolver(ctx, func(name string) api.Module {
			for _, a := range args {
				if a.name == name {
					if a.rt == hostArg {
						return c.hostAll
					}
					return in.mods[a.rt]
				}
			}
			return nil
		})
		var img *linmem.Image
		if pi.module != nil {
			img = c.images[pi.module.index]
		}
		if img != nil && budget != nil {
			rctx = experimental.WithMemoryAllocator(rctx, budget.WithImage(img))
		}
		mod, err := c.rt.wz.InstantiateModule(rctx, c.compiled[i], c.rt.cfg)
		if err == nil && img != nil && budget == nil {
			// Prepare keeps the data segments of a module with a start
			// function: no code of this instance has run yet.
			err = copyImage(mod, img)
		}
		if err != nil {
			if mod != nil {
				in.mods[i] = mod // closed with the others
			}
			err = in.cause(err)
			in.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("instantiate core instance %d: %w", i, err)
		}
		in.mods[i] = mod
	}
	return in, nil
}

// copyImage writes img into the memory mod defines.
func copyImage(mod api.Module, img *linmem.Image) error {
	mem := mod.Memory()
	if mem == nil {
		return errors.New("the module's memory is missing")
	}
	buf, ok := mem.Read(0, mem.Size())
	if !ok {
		return errors.New("the module's memory cannot be read")
	}
	return img.CopyTo(buf)
}

// cause returns the error a host function or the ABI recorded, if any, as
// the reason of a failed wasm call; else err.
func (in *Instance) cause(err error) error {
	if in.err != nil {
		return in.err
	}
	return err
}

// fail records the first error of the instance.
func (in *Instance) fail(err error) {
	if in.err == nil {
		in.err = err
	}
}

func (in *Instance) fn(ref int) (api.Function, error) {
	if ref < 0 {
		return nil, nil
	}
	if f := in.fns[ref]; f != nil {
		return f, nil
	}
	r := in.c.refs[ref]
	m := in.mods[r.rt]
	if m == nil {
		return nil, trapf("core function %q is not instantiated yet", r.name)
	}
	f := m.ExportedFunction(r.name)
	if f == nil {
		return nil, trapf("core function %q not found", r.name)
	}
	in.fns[ref] = f
	return f, nil
}

func (in *Instance) mem(ref int) (api.Memory, error) {
	if ref < 0 {
		return nil, nil
	}
	if m := in.mems[ref]; m != nil {
		return m, nil
	}
	r := in.c.refs[ref]
	m := in.mods[r.rt]
	if m == nil {
		return nil, trapf("memory %q is not instantiated yet", r.name)
	}
	mem := m.ExportedMemory(r.name)
	if mem == nil {
		return nil, trapf("memory %q not found", r.name)
	}
	in.mems[ref] = mem
	return mem, nil
}

func (in *Instance) abi(ctx context.Context, memRef, reallocRef int) (*abiCtx, error) {
	cx := &abiCtx{ctx: ctx, inst: in}
	var err error
	if cx.mem, err = in.mem(memRef); err != nil {
		return nil, err
	}
	if cx.realloc, err = in.fn(reallocRef); err != nil {
		return nil, err
	}
	cx.refresh()
	return cx, nil
}

// Call calls an exported function of the instance with args (see Value for
// their Go types) and returns its result (nil for a function without one).
// A trap, an error of a host function or the end of ctx ends the call with
// an error; the instance must not be called again after an error.
func (in *Instance) Call(ctx context.Context, e *Export, args ...any) (any, error) {
	if in.closed {
		return nil, errors.New("the instance is closed")
	}
	if in.err != nil {
		return nil, fmt.Errorf("the instance failed before: %w", in.err)
	}
	if e.fn == nil || in.c.exportIndex(e) < 0 {
		return nil, errors.New("the export belongs to another component")
	}
	ft := e.Type
	if len(args) != len(ft.Params) {
		return nil, fmt.Errorf("%s takes %d arguments, %d given", e.Name, len(ft.Params), len(args))
	}
	ctx = context.WithValue(ctx, instanceKey{}, in)
	res, err := in.call(ctx, e, ft, args)
	if err != nil {
		in.fail(err)
		return nil, in.err
	}
	return res, nil
}

func (c *Component) exportIndex(e *Export) int {
	for i, x := range c.exports {
		if x == e {
			return i
		}
	}
	return -1
}

func (in *Instance) call(ctx context.Context, e *Export, ft *FuncType, args []any) (any, error) {
	callee, err := in.fn(e.callee)
	if err != nil {
		return nil, err
	}
	cx, err := in.abi(ctx, e.memory, e.realloc)
	if err != nil {
		return nil, err
	}
	borrows := 0
	cx.borrows = &borrows
	var flat []uint64
	if ft.paramsSpilled() {
		tt := ft.paramTuple()
		ptr, err := cx.alloc(tt.align, tt.size)
		if err != nil {
			return nil, in.cause(err)
		}
		if err := cx.store(tt, args, ptr); err != nil {
			return nil, in.cause(err)
		}
		flat = []uint64{uint64(ptr)}
	} else {
		for i, p := range ft.Params {
			if flat, err = cx.lowerFlat(p.Type, args[i], flat); err != nil {
				return nil, in.cause(fmt.Errorf("argument %q: %w", p.Name, err))
			}
		}
	}
	stack := make([]uint64, max(len(flat), len(ft.flatResults)))
	copy(stack, flat)
	if err := callee.CallWithStack(ctx, stack); err != nil {
		return nil, in.cause(err)
	}
	results := stack[:len(ft.flatResults)]
	var res any
	if ft.Result != nil {
		cx.refresh()
		if ft.resultSpilled() {
			res, err = cx.load(ft.Result, uint32(results[0]))
		} else {
			pos := 0
			res, err = cx.liftFlat(ft.Result, results, &pos)
		}
		if err != nil {
			return nil, in.cause(err)
		}
	}
	if post, err := in.fn(e.postReturn); err != nil {
		return nil, err
	} else if post != nil {
		if err := post.CallWithStack(ctx, append([]uint64(nil), results...)); err != nil {
			return nil, in.cause(err)
		}
	}
	if borrows != 0 {
		return nil, trapf("the component returned without dropping %d borrowed handles", borrows)
	}
	return res, nil
}

// Close releases the instance: the host values of handles the component
// never dropped (through their Resource destructors), then its core
// instances. It is safe to call twice.
func (in *Instance) Close(ctx context.Context) error {
	if in.closed {
		return nil
	}
	in.closed = true
	for _, h := range in.handles.clear() {
		if hi := in.c.rt.host.lookup(h.rt.Interface); hi != nil {
			if drop := hi.dtors[h.rt.Name]; drop != nil {
				drop(in, h.host)
			}
		}
	}
	var errs []error
	for i := len(in.mods) - 1; i >= 0; i-- {
		if in.mods[i] != nil && in.c.plan.instances[i].host == nil {
			errs = append(errs, in.mods[i].Close(ctx))
		}
	}
	if in.locked {
		in.locked = false
		in.c.mu.RUnlock()
	}
	return errors.Join(errs...)
}

// hostFn is the wazero function of a host function of c.
func (c *Component) hostFn(hf *hostFunc) api.GoModuleFunction {
	return api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
		in, _ := ctx.Value(instanceKey{}).(*Instance)
		if in == nil || in.c != c {
			panic(errors.New("host function called outside an instance of its component"))
		}
		if err := in.host(ctx, hf, stack); err != nil {
			in.fail(err)
			panic(err)
		}
	})
}

// host runs a host function: a lowered import or a resource built-in.
func (in *Instance) host(ctx context.Context, hf *hostFunc, stack []uint64) error {
	switch hf.op {
	case canonResourceNew:
		h, err := in.handles.add(handle{rt: hf.rt, rep: uint32(stack[0]), own: true})
		stack[0] = uint64(h)
		return err
	case canonResourceRep:
		e, err := in.handles.get(uint32(stack[0]), hf.rt)
		stack[0] = uint64(e.rep)
		return err
	case canonResourceDrop:
		return in.dropHandle(ctx, hf, uint32(stack[0]))
	}
	f := hf.fn
	ft := f.typ
	cx, err := in.abi(ctx, hf.memRef, hf.reallocRef)
	if err != nil {
		return err
	}
	args := make([]any, len(ft.Params))
	if ft.paramsSpilled() {
		v, err := cx.load(ft.paramTuple(), uint32(stack[0]))
		if err != nil {
			return fmt.Errorf("%s: %w", f.path(), err)
		}
		args = v.([]any)
	} else {
		pos := 0
		for i, p := range ft.Params {
			if args[i], err = cx.liftFlat(p.Type, stack, &pos); err != nil {
				return fmt.Errorf("%s: parameter %q: %w", f.path(), p.Name, err)
			}
		}
	}
	res, err := hf.impl(ctx, in, args)
	if err != nil {
		return err
	}
	if ft.Result == nil {
		return nil
	}
	if ft.resultSpilled() {
		retptr := uint32(stack[len(hf.params)-1])
		cx.refresh()
		if err := cx.store(ft.Result, res, retptr); err != nil {
			return fmt.Errorf("%s: result: %w", f.path(), err)
		}
		return nil
	}
	out, err := cx.lowerFlat(ft.Result, res, stack[:0:0])
	if err != nil {
		return fmt.Errorf("%s: result: %w", f.path(), err)
	}
	copy(stack, out)
	return nil
}

func (in *Instance) dropHandle(ctx context.Context, hf *hostFunc, h uint32) error {
	e, err := in.handles.remove(h, hf.rt)
	if err != nil {
		return err
	}
	if e.lends > 0 {
		return trapf("handle %d is lent out and cannot be dropped", h)
	}
	if !e.own {
		return nil
	}
	if hf.rt.local {
		dtor, err := in.fn(hf.dtorRef)
		if err != nil || dtor == nil {
			return err
		}
		_, err = dtor.Call(ctx, uint64(e.rep))
		return err
	}
	if hi := in.c.rt.host.lookup(hf.rt.Interface); hi != nil {
		if drop := hi.dtors[hf.rt.Name]; drop != nil {
			drop(in, e.host)
		}
	}
	return nil
}
