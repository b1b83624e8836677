// Package component manages loaded components: it loads them (loader), keeps them on
// disk (registry), compiles and runs them (runtime), and gives every call the sandbox
// its policy grants and the environment envmerge builds at that moment.
//
// A Manager is what the MCP server and the CLI share. Each call reads the component's
// policy and secrets from their cached stores, so a secret set from the CLI, or a hand
// edit of a policy, reaches the very next call without a restart.
//
// Secrets are bound to the code a person approved (package consent): a module loaded
// under an ID gets the ID's secrets and policy values only if a person approved that
// module's digest, by loading it at the command line (LoadOptions.Approve) or with
// Approve. Every call passes through the Manager, which is also where the number of
// calls running at once is capped.
package component

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wassette/wassette/component/cmrun"
	"github.com/wassette/wassette/component/consent"
	"github.com/wassette/wassette/component/loader"
	"github.com/wassette/wassette/component/registry"
	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/component/secretdecl"
	"github.com/wassette/wassette/envmerge"
	"github.com/wassette/wassette/internal/cmdline"
	"github.com/wassette/wassette/internal/compid"
	"github.com/wassette/wassette/internal/crashpoint"
	"github.com/wassette/wassette/internal/policyview"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// Errors wrapped by the Manager's errors, for errors.Is.
var (
	// ErrNotFound reports a component or tool that is not loaded.
	ErrNotFound = errors.New("not found")
	// ErrToolClash reports a tool name that another component, or wassette itself,
	// already uses.
	ErrToolClash = errors.New("tool name already in use")
	// ErrNotLoadedModule reports an approval for a module that is not the one loaded.
	ErrNotLoadedModule = errors.New("not the loaded module")
)

// Config configures a Manager.
type Config struct {
	// Dir is the components folder: <data>/components. Modules, their metadata and
	// their policies live there.
	Dir string
	// CacheDir keeps compiled machine code across restarts; empty means memory only.
	CacheDir string
	// Secrets and Policies are the stores the environment and sandbox of every call
	// are built from.
	Secrets  *secretstore.Store
	Policies *policy.Store
	// Environ is the host environment, in os.Environ form; only variables that a
	// component's policy names reach it. Nil means os.Environ() at Open.
	Environ []string
	// Limits are the defaults for every call; a component's policy may override the
	// timeout and memory limit. Zero fields mean the runtime's defaults.
	Limits runtime.Limits
	// Fetch is the base of the options used to fetch a component (HTTP client,
	// plain-HTTP registries, size cap); Load fills in the ID and digest pin.
	Fetch loader.Options
	// Reserved are tool names no component may declare (the server's own tools).
	Reserved []string
	// MaxConcurrentCalls caps the component calls (and the describe runs of loads)
	// running at once; more wait for a slot. Zero means the number of CPUs.
	MaxConcurrentCalls int
	// Guard refuses grants of wassette's own folders. The grant commands and tools
	// resolve and check a folder when it is granted; every call checks its mounts
	// again, so a hand-edited policy cannot reach those folders either. Nil guards
	// nothing.
	Guard *policy.Guard
	// CompiledBytes bounds the memory the compiled modules of loaded components
	// hold, estimated from the size of their binaries (a component counts by the sum
	// of its core modules): past it, the least recently used are released and
	// compiled again, from the disk cache, at their next call. Zero means
	// DefaultCompiledBytes; negative means no bound.
	CompiledBytes int64
	// IdleRelease is how long a compiled module may go unused before it is released
	// (and compiled again at its next call). Zero means DefaultIdleRelease; negative
	// means never.
	IdleRelease time.Duration
	// Logger receives what the manager does; never a secret value. Nil discards.
	Logger *slog.Logger
}

// Manager holds the loaded components. It is safe for concurrent use.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	rt      *runtime.Runtime // preview1 modules
	cmrt    *cmrun.Runtime   // WASI 0.2 components
	reg     *registry.Registry
	consent *consent.Store
	slots   chan struct{} // one element per call running
	res     *residency    // which compiled modules stay in memory
	stopRes context.CancelFunc
	resDone chan struct{}

	mu    sync.RWMutex
	comps map[string]*loaded // by component ID
	tools map[string]*loaded // by tool name
	// synced is the components folder's mtime when Sync last read it at rest. Every
	// change to the folder is a rename or removal, which moves that time, so while it
	// stands still Sync has nothing to read.
	synced time.Time
}

// folderSettle is how old the folder's mtime must be before Sync trusts it to reveal
// the next change: a change within the same timestamp tick would leave it as it was
// (the rule internal/safefile applies to files).
const folderSettle = 2 * time.Second

// loaded is one component in memory. Its module is compiled on first use after a
// restart (from the on-disk cache), and at once when it is loaded.
type loaded struct {
	meta    registry.Metadata
	tools   []Tool
	secrets []secretdecl.Secret // the secrets it declares it needs

	slot slot // its compiled module, while resident
}

// newLoaded returns a component whose module is not compiled yet.
func (m *Manager) newLoaded(meta registry.Metadata, tools []Tool, secrets []secretdecl.Secret) *loaded {
	return &loaded{meta: meta, tools: tools, secrets: secrets, slot: slot{r: m.res}}
}

// Info describes a loaded component.
type Info struct {
	ID       string         `json:"component_id"`
	Source   string         `json:"source"`
	Digest   string         `json:"digest"`
	Size     int64          `json:"size"`
	LoadedAt time.Time      `json:"loaded_at"`
	Tools    []runtime.Tool `json:"tools"`
	// Secrets are the secrets the component declares it needs (see package
	// secretdecl); MissingSecrets tells which of them it lacks now.
	Secrets []secretdecl.Secret `json:"declared_secrets,omitempty"`
	// Approved reports that a person approved this module to receive the component's
	// secrets and policy values.
	Approved bool `json:"approved"`
}

// Tool is a tool of a loaded component.
type Tool struct {
	ComponentID string
	runtime.Tool
	// OutputSchema is the JSON Schema of the tool's structured result, for a
	// WASI 0.2 component; nil for a preview1 module.
	OutputSchema json.RawMessage
}

// Open returns a Manager over the components in cfg.Dir: those loaded before, by this
// process or another, come back with their tools (recorded at load, so nothing runs).
func Open(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Secrets == nil || cfg.Policies == nil {
		return nil, errors.New("component: Config needs Secrets and Policies")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Environ == nil {
		cfg.Environ = os.Environ()
	}
	if cfg.Guard == nil {
		cfg.Guard = policy.NewGuard()
	}
	reg, err := registry.Open(cfg.Dir)
	if err != nil {
		return nil, err
	}
	rt, err := runtime.New(ctx, runtime.Config{CacheDir: cfg.CacheDir, Logger: log, Limits: cfg.Limits})
	if err != nil {
		return nil, fmt.Errorf("start the WebAssembly runtime: %w", err)
	}
	// Both runtimes may share the cache folder: entries are keyed by content.
	cmrt, err := cmrun.New(ctx, cmrun.Config{CacheDir: cfg.CacheDir, Logger: log, Limits: cfg.Limits})
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("start the component runtime: %w", err)
	}
	cons, err := consent.Open(cfg.Secrets.Dir())
	if err != nil {
		rt.Close(ctx)
		cmrt.Close(ctx)
		return nil, err
	}
	if cfg.MaxConcurrentCalls <= 0 {
		cfg.MaxConcurrentCalls = goruntime.NumCPU()
	}
	m := &Manager{cfg: cfg, log: log, rt: rt, cmrt: cmrt, reg: reg, consent: cons, slots: make(chan struct{}, cfg.MaxConcurrentCalls)}
	m.res = &residency{budget: cfg.CompiledBytes, idle: cfg.IdleRelease}
	if m.res.budget == 0 {
		m.res.budget = DefaultCompiledBytes
	}
	if m.res.idle == 0 {
		m.res.idle = DefaultIdleRelease
	}
	var resCtx context.Context
	resCtx, m.stopRes = context.WithCancel(context.Background())
	m.resDone = make(chan struct{})
	go func() {
		defer close(m.resDone)
		m.res.run(resCtx)
	}()
	if _, err := m.Sync(); err != nil {
		m.Close(ctx)
		return nil, err
	}
	return m, nil
}

// Guard returns the guard of wassette's own folders that grants must pass.
func (m *Manager) Guard() *policy.Guard { return m.cfg.Guard }

// Close stops calls in progress and releases the runtimes.
func (m *Manager) Close(ctx context.Context) error {
	m.stopRes()
	<-m.resDone
	return errors.Join(m.rt.Close(ctx), m.cmrt.Close(ctx))
}

// Sync brings the Manager up to date with the components folder, which another
// process (the CLI) may have changed. It reports whether any component was added,
// replaced or removed, and so whether the set of tools may have changed.
func (m *Manager) Sync() (changed bool, err error) {
	// The folder is read and the result installed under one lock, so that a Load or
	// Unload of this Manager cannot fall in between and be undone by a stale listing.
	m.mu.Lock()
	defer m.mu.Unlock()
	var stamp time.Time // the folder's mtime, if it is old enough to trust
	if fi, err := os.Stat(m.cfg.Dir); err == nil {
		if !m.synced.IsZero() && fi.ModTime().Equal(m.synced) {
			return false, nil
		}
		if time.Since(fi.ModTime()) >= folderSettle {
			stamp = fi.ModTime()
		}
	}
	metas, listErr := m.reg.List()
	if listErr != nil && len(metas) == 0 {
		return false, fmt.Errorf("list components: %w", listErr)
	}
	if listErr != nil {
		m.log.Warn("some components could not be read", "err", listErr)
		stamp = time.Time{} // read again next time, to pick up a fix
	}
	next := make(map[string]*loaded, len(metas))
	for _, meta := range metas {
		if cur, ok := m.comps[meta.ID]; ok && cur.meta.Digest == meta.Digest {
			next[meta.ID] = cur
			continue
		}
		d, err := parseDescription(meta.Tools)
		if err != nil {
			m.log.Warn("component skipped: its recorded tools are invalid; load it again", "component", meta.ID, "err", err)
			continue
		}
		next[meta.ID] = m.newLoaded(meta, d.Tools, d.Secrets)
	}

	changed = len(next) != len(m.comps)
	for id, c := range next {
		if m.comps[id] != c {
			changed = true
		}
	}
	if !changed {
		m.synced = stamp
		return false, nil
	}
	index, err := m.indexTools(next)
	if err != nil {
		return false, err
	}
	for id, c := range m.comps {
		if next[id] != c {
			c.release() // removed or replaced
		}
	}
	m.comps, m.tools = next, index
	m.synced = stamp
	return true, nil
}

// indexTools maps tool names to components, refusing any name used twice.
func (m *Manager) indexTools(comps map[string]*loaded) (map[string]*loaded, error) {
	index := map[string]*loaded{}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range comps {
			if !yield(id) {
				return
			}
		}
	})
	for _, id := range ids {
		c := comps[id]
		for _, t := range c.tools {
			if slices.Contains(m.cfg.Reserved, t.Name) {
				return nil, fmt.Errorf("%w: component %s declares tool %q, which is one of wassette's own tools; rename the tool in the component",
					ErrToolClash, compid.Quote(id), t.Name)
			}
			if other, ok := index[t.Name]; ok {
				return nil, fmt.Errorf("%w: components %s and %s both declare tool %q; unload one of them, or rename the tool",
					ErrToolClash, compid.Quote(other.meta.ID), compid.Quote(id), t.Name)
			}
			index[t.Name] = c
		}
	}
	return index, nil
}

// LoadOptions are the choices of one Load.
type LoadOptions struct {
	// ID names the component; empty derives it from the URI (the file name without
	// .wasm, or the OCI repository's last element).
	ID string
	// Digest pins the module's bytes: "sha256:<hex>".
	Digest string
	// PlainHTTP allows http:// URLs and OCI registries without TLS, for a registry or
	// file server on this machine.
	PlainHTTP bool
	// Approve records that a person approved this module to receive the component's
	// secrets and policy values. Set it only when a person loads the component (the
	// CLI), never for a load a model asked for.
	Approve bool
}

// Load fetches the component at uri (a path, file://, https:// or oci://), compiles it,
// asks it for its tools, and keeps it in the components folder, replacing a component
// of the same ID. A tool name that another component already declares is refused.
func (m *Manager) Load(ctx context.Context, uri string, opts LoadOptions) (Info, error) {
	fo := m.cfg.Fetch
	fo.ID, fo.Digest = opts.ID, opts.Digest
	if opts.PlainHTTP {
		fo.AllowHTTP, fo.OCIPlainHTTP = true, true
	}
	f, err := loader.Fetch(ctx, uri, fo)
	if err != nil {
		return Info{}, err
	}
	mod, d, err := m.compile(ctx, f.ID, f.Data, true)
	if err != nil {
		return Info{}, fmt.Errorf("load %s: %w", f.Source, err)
	}
	tools, secrets, doc := d.Tools, d.Secrets, d.doc
	c := m.newLoaded(registry.Metadata{ID: f.ID}, tools, secrets) // ID for clash messages

	m.mu.Lock()
	defer m.mu.Unlock()
	next := cloneMap(m.comps)
	next[f.ID] = c
	index, err := m.indexTools(next)
	if err != nil {
		mod.Close(ctx)
		return Info{}, fmt.Errorf("load %s as %s: %w", f.Source, compid.Quote(f.ID), err)
	}
	// A person's approval is recorded beside the one of the module it replaces before
	// the switch, and narrowed to it after: a crash at any point leaves the module on
	// disk, old or new, approved.
	if opts.Approve {
		if err := m.consent.Approve(f.ID, consent.Approval{Digest: f.Digest, Source: f.Source}, true); err != nil {
			mod.Close(ctx)
			return Info{}, err
		}
		crashpoint.Reach("component: new module approved")
	}
	meta := registry.Metadata{Source: f.Source, Tools: doc}
	if err := m.reg.Add(f.ID, f.Data, meta); err != nil {
		mod.Close(ctx)
		return Info{}, err
	}
	crashpoint.Reach("component: module registered")
	if c.meta, err = m.reg.Get(f.ID); err != nil {
		mod.Close(ctx)
		return Info{}, err
	}
	if opts.Approve {
		if err := m.consent.Keep(f.ID, f.Digest); err != nil {
			m.log.Warn("could not drop the approval of the replaced module", "component", f.ID, "err", err)
		}
		crashpoint.Reach("component: approval narrowed")
	}
	if old := m.comps[f.ID]; old != nil {
		old.release()
	}
	c.slot.adopt(mod, compiledCost(len(f.Data)))
	m.comps, m.tools = next, index
	m.log.Info("component loaded", "component", f.ID, "source", f.Source, "digest", c.meta.Digest, "tools", len(tools),
		"approved", opts.Approve)
	return m.info(c), nil
}

// Approve records that a person approved the module now loaded under id to receive the
// component's secrets and policy values; it replaces any earlier approval. A non-empty
// digest ("sha256:<hex>") must be the loaded module's, or the error wraps
// ErrNotLoadedModule and nothing is approved: a person who checked a digest approves
// that module, not whatever was loaded in the meantime.
func (m *Manager) Approve(id, digest string) (Info, error) {
	if _, err := m.Sync(); err != nil {
		return Info{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.comps[id]
	if !ok {
		return Info{}, fmt.Errorf("%w: component %s is not loaded; load it instead (a person's load approves it)", ErrNotFound, compid.Quote(id))
	}
	if digest != "" && !strings.EqualFold(digest, c.meta.Digest) {
		return Info{}, fmt.Errorf("%w: component %s is loaded from %s with digest %s, not %s; nothing was approved",
			ErrNotLoadedModule, compid.Quote(id), loader.SafeSource(c.meta.Source), c.meta.Digest, digest)
	}
	a := consent.Approval{Digest: c.meta.Digest, Source: loader.SafeSource(c.meta.Source)}
	if err := m.consent.Approve(id, a, false); err != nil {
		return Info{}, err
	}
	m.log.Info("component approved", "component", id, "digest", c.meta.Digest)
	return m.info(c), nil
}

// cloneMap copies m into a new map, never nil, so a change is installed in one swap.
func cloneMap(m map[string]*loaded) map[string]*loaded {
	out := make(map[string]*loaded, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Unload removes component id and its policy; with deleteSecrets, its secrets too.
// It reports how many secrets the component has left (0 if they were deleted).
func (m *Manager) Unload(ctx context.Context, id string, deleteSecrets bool) (secretsKept int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.comps[id]; !ok {
		if _, err := m.reg.Get(id); err != nil {
			return 0, fmt.Errorf("%w: component %s is not loaded; see list-components", ErrNotFound, compid.Quote(id))
		}
	}
	if err := m.reg.Remove(id); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return 0, err
	}
	if err := m.cfg.Policies.Remove(id); err != nil {
		return 0, err
	}
	if deleteSecrets {
		if err := m.cfg.Secrets.Remove(id); err != nil {
			return 0, err
		}
		if err := m.consent.Remove(id); err != nil {
			return 0, err
		}
	} else {
		sec, err := m.cfg.Secrets.Get(id)
		if err != nil {
			return 0, err
		}
		secretsKept = sec.Len()
	}
	next := cloneMap(m.comps)
	if c := next[id]; c != nil {
		c.release()
	}
	delete(next, id)
	index, _ := m.indexTools(next) // removing a component cannot create a clash
	m.comps, m.tools = next, index
	m.log.Info("component unloaded", "component", id, "secrets_deleted", deleteSecrets)
	return secretsKept, nil
}

// List returns the loaded components, sorted by ID.
func (m *Manager) List() []Info {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Info, 0, len(m.comps))
	for _, c := range m.comps {
		out = append(out, m.info(c))
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Get returns the loaded component id.
func (m *Manager) Get(id string) (Info, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.comps[id]
	if !ok {
		return Info{}, false
	}
	return m.info(c), true
}

// Tools returns every tool of every loaded component, sorted by name.
func (m *Manager) Tools() []Tool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Tool, 0, len(m.tools))
	for _, c := range m.comps {
		for _, t := range c.tools {
			t.ComponentID = c.meta.ID
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b Tool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// release closes c's module, which a Load, Unload or Sync has just removed, once the
// calls using it end (and a compilation in progress, when it ends). A call that
// reaches c later fails with ErrNotFound.
func (c *loaded) release() {
	c.slot.end(fmt.Errorf("%w: the component was unloaded or replaced", ErrNotFound))
}

// info describes c. Its source is shown without query or fragment, also if an earlier
// version recorded them.
func (m *Manager) info(c *loaded) Info {
	rec, err := m.consent.Get(c.meta.ID)
	tools := make([]runtime.Tool, len(c.tools))
	for i, t := range c.tools {
		tools[i] = t.Tool
	}
	return Info{
		ID: c.meta.ID, Source: loader.SafeSource(c.meta.Source), Digest: c.meta.Digest, Size: c.meta.Size,
		LoadedAt: c.meta.LoadedAt, Tools: tools, Secrets: slices.Clone(c.secrets),
		Approved: err == nil && rec.Approves(c.meta.Digest),
	}
}

// declaredSecrets merges the secrets a module declares in its describe document with
// those of its wassette:secrets custom sections (secretdecl.FromWasm), checked together.
func declaredSecrets(wasm []byte, d runtime.Description) ([]secretdecl.Secret, error) {
	names := make([]string, len(d.Tools))
	for i, t := range d.Tools {
		names[i] = t.Name
	}
	section, err := secretdecl.FromWasm(wasm, names)
	if err != nil {
		return nil, err
	}
	all := append(slices.Clone(d.Secrets), section...)
	if err := secretdecl.Check(all, names); err != nil {
		return nil, err
	}
	return all, nil
}

// MissingSecrets returns the secrets component id declares that a call of tool needs
// (every declared secret, if tool is empty) and that its environment lacks now: no
// secret, policy value or allowed host variable gives the key a non-empty value. A
// secret the ID has but withholds from an unapproved module is not missing.
func (m *Manager) MissingSecrets(id, tool string) ([]secretdecl.Secret, error) {
	m.mu.RLock()
	c, ok := m.comps[id]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: component %s is not loaded; see list-components", ErrNotFound, compid.Quote(id))
	}
	if len(c.secrets) == 0 {
		return nil, nil
	}
	// What the ID has, approved or not: a secret withheld from a module no person
	// approved is not missing (asking for it again would not help); Consent says so.
	sb, err := m.sandbox(id, c.meta.Digest, true)
	if err != nil {
		return nil, err
	}
	return secretdecl.Missing(c.secrets, tool, func(key string) bool {
		v, ok := sb.full.Lookup(key)
		return ok && v.Value.Reveal() != ""
	}), nil
}

// Result is the outcome of a tool call that ran to completion.
type Result struct {
	// ComponentID is the component whose tool ran.
	ComponentID string
	// IsError reports a tool that failed; Text then holds its message.
	IsError bool
	// Text is the tool's JSON output, or its error message, with every value the
	// component received (from its secrets, its policy or the host), and its common
	// encodings, replaced by [REDACTED], so a component that echoes its key does not
	// hand it to the model.
	Text string
	// Output is the tool's JSON output, redacted like Text; nil on error or if
	// redaction broke the JSON. For a WASI 0.2 component it is the structured
	// result, {"result": ...}, and Structured reports it.
	Output json.RawMessage
	// Consent says whether the module that ran is approved to receive the component's
	// secrets; if not, Consent.Withheld lists what it ran without.
	Consent Consent
	// Structured reports that Output is a structured result that matches the
	// tool's OutputSchema (a WASI 0.2 component's).
	Structured bool
}

// Consent is whether the module loaded under an ID may receive the ID's secrets and
// policy values: only if a person approved that module (see package consent).
type Consent struct {
	// ComponentID is the component.
	ComponentID string
	// ModuleDigest is the digest of the module loaded under it now.
	ModuleDigest string
	// Approved reports that a person approved this module.
	Approved bool
	// ApprovedDigest is the module a person approved last, if that is not this one.
	ApprovedDigest string
	// Withheld lists the keys of the secrets and policy values that this module does
	// not get because it is not approved; empty when it is approved or has none.
	Withheld []string
}

// ApproveCommand is the command a person runs to approve the loaded module.
func (c Consent) ApproveCommand() string {
	return policyview.ApproveCommand(c.ComponentID)
}

// ErrCallSlot is wrapped by the error of a call that waited for a call slot (see
// Config.MaxConcurrentCalls) until its time limit or its cancellation, and never ran.
var ErrCallSlot = errors.New("no call slot came free")

// errReplaced reports a module file that is no longer the one this Manager loaded.
var errReplaced = errors.New("the component was replaced on disk since it was loaded here")

// defaultCallTimeout is the runtime's own default time limit of a call, which also
// bounds how long a call waits for a slot when neither the policy nor Config.Limits
// sets one.
const defaultCallTimeout = 30 * time.Second

// Call runs tool in a fresh instance of its component, in the sandbox the component's
// policy grants now, with the environment envmerge builds now. If as many calls as
// Config.MaxConcurrentCalls allows are running, it first waits for one to end, at most
// for the call's time limit and as long as ctx lasts; a call that gets no slot does not
// run, and its error wraps ErrCallSlot (and ctx's error if ctx ended).
func (m *Manager) Call(ctx context.Context, tool string, args json.RawMessage) (Result, error) {
	m.mu.RLock()
	c, ok := m.tools[tool]
	m.mu.RUnlock()
	if !ok {
		return Result{}, fmt.Errorf("%w: no loaded component has a tool %q", ErrNotFound, tool)
	}
	id := c.meta.ID
	mod, done, err := m.module(c)
	if errors.Is(err, errReplaced) {
		// Replaced on disk since the last sync: pick up the new module and its consent.
		if _, serr := m.Sync(); serr != nil {
			return Result{}, serr
		}
		m.mu.RLock()
		c, ok = m.tools[tool]
		m.mu.RUnlock()
		if !ok {
			return Result{}, fmt.Errorf("%w: no loaded component has a tool %q", ErrNotFound, tool)
		}
		id = c.meta.ID
		mod, done, err = m.module(c)
	}
	if err != nil {
		return Result{}, err
	}
	defer done()
	sb, err := m.sandbox(id, c.meta.Digest, true)
	if err != nil {
		return Result{}, err
	}
	release, err := m.acquire(ctx, id, sb.opts.Limits.Timeout)
	if err != nil {
		return Result{ComponentID: id}, err
	}
	defer release()
	// Every value the component could hold is hidden, also those withheld from it.
	red := newRedactor(sb.full)
	res, err := mod.call(ctx, tool, args, sb.opts)
	if err != nil {
		// The error may quote the module's stderr (after a crash): redacted like Text.
		return Result{}, red.redactError(fmt.Errorf("component %s: %w", compid.Quote(id), err)) // err names the tool
	}
	out := Result{ComponentID: id, IsError: res.isError, Text: red.redact(res.text), Consent: sb.consent}
	if out.IsError {
		return out, nil
	}
	if o := red.redact(string(res.output)); res.output != nil && json.Valid([]byte(o)) {
		out.Output, out.Structured = json.RawMessage(o), res.structured
	}
	return out, nil
}

// acquire takes one of the call slots, waiting at most timeout (or the default time
// limit) and as long as ctx lasts. The returned function gives the slot back.
func (m *Manager) acquire(ctx context.Context, id string, timeout time.Duration) (release func(), err error) {
	release = func() { <-m.slots }
	select {
	case m.slots <- struct{}{}:
		return release, nil
	default:
	}
	if timeout <= 0 {
		timeout = m.cfg.Limits.Timeout
	}
	if timeout <= 0 {
		timeout = defaultCallTimeout
	}
	start := time.Now()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m.slots <- struct{}{}:
		if waited := time.Since(start); waited > time.Second {
			m.log.Info("call waited for a slot", "component", id, "waited", waited.Round(time.Millisecond))
		}
		return release, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("component %s: %w: the call was stopped after waiting %s for a call slot, "+
			"all %d being taken by other calls; it did not run: %w",
			compid.Quote(id), ErrCallSlot, time.Since(start).Round(time.Millisecond), cap(m.slots), ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("component %s: %w: the call waited %s, its time limit, for a call slot, "+
			"all %d being taken by other calls, and did not run; try again later, or start the server with "+
			"a larger --max-concurrent-calls", compid.Quote(id), ErrCallSlot, timeout, cap(m.slots))
	}
}

// module returns c's compiled module, compiling it on first use after a restart or
// after it was released (see Config.CompiledBytes), and the function to call when the
// call using it ends. The compilation is not tied to the first caller's context: its
// result is shared.
func (m *Manager) module(c *loaded) (module, func(), error) {
	mod, done, err := c.slot.acquire(func() (module, int64, error) {
		wasm, err := m.reg.Wasm(c.meta.ID)
		if err != nil {
			return nil, 0, err
		}
		// What runs must be what the consent check saw: another process may have
		// replaced the component since this Manager last synced.
		if sum := sha256.Sum256(wasm); "sha256:"+hex.EncodeToString(sum[:]) != c.meta.Digest {
			return nil, 0, errReplaced
		}
		mod, _, err := m.compile(context.Background(), c.meta.ID, wasm, false)
		return mod, compiledCost(len(wasm)), err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("component %s: %w", compid.Quote(c.meta.ID), err)
	}
	return mod, done, nil
}

// Sandbox returns what a call of component id gets now: its call options and its
// environment (with where each variable came from) built from its policy, its secrets
// and the host, without what its module is not approved to get (see Consent).
func (m *Manager) Sandbox(id string) (runtime.CallOptions, envmerge.Env, error) {
	m.mu.RLock()
	c, loaded := m.comps[id]
	m.mu.RUnlock()
	digest := ""
	if loaded {
		digest = c.meta.Digest
	}
	sb, err := m.sandbox(id, digest, loaded)
	return sb.opts, sb.given, err
}

// Consent returns whether the module loaded under id may receive its secrets and policy
// values, and what it would go without now.
func (m *Manager) Consent(id string) (Consent, error) {
	m.mu.RLock()
	c, loaded := m.comps[id]
	m.mu.RUnlock()
	if !loaded {
		return Consent{}, fmt.Errorf("%w: component %s is not loaded", ErrNotFound, compid.Quote(id))
	}
	sb, err := m.sandbox(id, c.meta.Digest, true)
	return sb.consent, err
}

// sandboxed is what sandbox builds for one call.
type sandboxed struct {
	opts    runtime.CallOptions
	given   envmerge.Env // the environment the call gets
	full    envmerge.Env // given, plus what is withheld from an unapproved module
	consent Consent
}

// sandbox builds a call of component id whose loaded module has digest; a module not
// loaded (loaded false) is not checked for approval.
func (m *Manager) sandbox(id, digest string, loaded bool) (sandboxed, error) {
	pol, _, err := m.cfg.Policies.Get(id)
	if err != nil {
		return sandboxed{}, err
	}
	sec, err := m.cfg.Secrets.Get(id)
	if err != nil {
		return sandboxed{}, err
	}
	sb := sandboxed{consent: Consent{ComponentID: id, ModuleDigest: digest, Approved: true}}
	sb.full = envmerge.Merge(pol.Permissions.Environment.Allow, sec, m.cfg.Environ)
	sb.given = sb.full
	if loaded {
		rec, err := m.consent.Get(id)
		if err != nil {
			// An unreadable record approves nothing; the call goes on without secrets.
			m.log.Warn("consent record unreadable; the component's secrets are withheld", "component", id, "err", err)
		}
		sb.consent.Approved = err == nil && rec.Approves(digest)
		if n := len(rec.Approved); n > 0 && rec.Approved[n-1].Digest != digest {
			sb.consent.ApprovedDigest = rec.Approved[n-1].Digest
		}
		if !sb.consent.Approved {
			sb.given, sb.consent.Withheld = sb.full.Withhold()
		}
	}
	sb.opts = runtime.CallOptions{ComponentID: id, Env: sb.given.Environ()}
	for _, s := range pol.Permissions.Storage.Allow {
		path := strings.TrimPrefix(s.URI, "fs://")
		if err := m.cfg.Guard.Check(filepath.FromSlash(path), id); err != nil {
			return sandboxed{}, fmt.Errorf("component %s: its policy grants the folder %s, which is refused: %w; "+
				"revoke it (revoke-storage-permission, or: %s)",
				compid.Quote(id), path, err, cmdline.Wassette("permission", "revoke", "storage", id, s.URI))
		}
		sb.opts.Mounts = append(sb.opts.Mounts, runtime.Mount{HostPath: path, GuestPath: path, Writable: slices.Contains(s.Access, policy.Write)})
	}
	for _, n := range pol.Permissions.Network.Allow {
		sb.opts.AllowedHosts = append(sb.opts.AllowedHosts, n.Host)
	}
	mem, _ := pol.MemoryLimit() // checked when the policy was read
	timeout, _ := pol.Timeout()
	body, _ := pol.HTTPResponseLimit()
	sb.opts.Limits = runtime.Limits{MemoryBytes: mem, Timeout: timeout, HTTPResponseBytes: int(body)}
	return sb, nil
}
