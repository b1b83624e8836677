// Package registry keeps the loaded components on disk, so they survive a restart.
//
// A registry is one folder, <data>/components. Each component has a metadata file,
// <stem>.json (its [Metadata]; the stem is its ID mapped by compid.Stem), and a module
// file that the metadata names: <stem>@<16 hex digits>.wasm, a name chosen afresh at
// every Add. Components stored by earlier versions keep the name <stem>.wasm, which
// their metadata does not name. The folder also holds <stem>.policy.yaml files that
// belong to the policy package; this package never reads, lists, writes or deletes
// them.
//
// Writers hold the folder's lock (safefile.Lock). Add writes the new module under its
// new name, then replaces the metadata in one atomic rename (the switch), then removes
// the old module. A crash before the switch leaves the old metadata naming the old
// module, which is still there; a crash after it leaves the new metadata naming the new
// module. Either way the component works, as before or as new. Remove deletes the
// metadata before the modules. Module files that no metadata names are left-overs of a
// crash, removed by Open and by the next Add or Remove of that component.
package registry

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wassette/wassette/internal/compid"
	"github.com/wassette/wassette/internal/crashpoint"
	"github.com/wassette/wassette/internal/safefile"
)

const (
	wasmExt = ".wasm"
	metaExt = ".json"
	// moduleSep separates a stem from the token that makes its module's name new at
	// every Add. compid never leaves '@' unescaped in a stem, so a name with one is
	// never the legacy module of another component.
	moduleSep = "@"
)

// maxMetaBytes caps a metadata file; the tool list is the only part that can grow.
const maxMetaBytes = 16 << 20

var (
	// ErrNotFound is wrapped by the error for an ID that has no component.
	ErrNotFound = errors.New("component not found")
	// ErrTampered is wrapped by the error for a module file whose bytes do not match
	// the digest or size its metadata recorded.
	ErrTampered = errors.New("component file does not match its recorded digest")
)

// Metadata describes one stored component. It is stored as JSON beside the module.
type Metadata struct {
	// ID is the component's ID.
	ID string `json:"id"`
	// Source is the URI the module was loaded from.
	Source string `json:"source"`
	// Digest is "sha256:<hex>" of the module's bytes.
	Digest string `json:"digest"`
	// Size is the module's length in bytes.
	Size int64 `json:"size"`
	// LoadedAt is when the component was added; it is stored in RFC 3339 form, UTC.
	LoadedAt time.Time `json:"loaded_at"`
	// Tools is what the caller recorded about the tools the module declares, so that a
	// restart need not run the module to learn them. It is opaque here: any valid JSON,
	// or empty. It is stored with insignificant white space removed.
	Tools json.RawMessage `json:"tools,omitempty"`
	// Module is the name of the module's file in the folder; Add sets it. Empty means
	// <stem>.wasm, the name earlier versions used.
	Module string `json:"module,omitempty"`
}

// Registry is the store in one folder. Its methods are safe for concurrent use, also
// by several processes sharing the folder.
type Registry struct {
	dir string
}

// Open returns the registry in dir, creating the folder (0700) if needed. It removes
// what crashed writers left behind: temporary files, and modules that no metadata names.
func Open(dir string) (*Registry, error) {
	unlock, err := safefile.Lock(dir)
	if err != nil {
		return nil, fmt.Errorf("open component registry %s: %w", dir, err)
	}
	defer unlock()
	if err := safefile.SweepTemps(dir); err != nil {
		return nil, fmt.Errorf("open component registry %s: clean temporary files: %w", dir, err)
	}
	r := &Registry{dir: dir}
	if err := r.sweep(""); err != nil {
		return nil, fmt.Errorf("open component registry %s: %w", dir, err)
	}
	return r, nil
}

// moduleStem returns the stem of the component a module file name belongs to, and
// whether name is a module file name at all.
func moduleStem(name string) (string, bool) {
	base, ok := strings.CutSuffix(name, wasmExt)
	if !ok || strings.HasPrefix(name, ".") {
		return "", false
	}
	if stem, token, ok := strings.Cut(base, moduleSep); ok {
		if !validToken(token) {
			return "", false
		}
		base = stem
	}
	if _, ok := compid.Parse(base); !ok {
		return "", false
	}
	return base, true
}

// validToken reports whether t is the token Add puts in a module's name.
func validToken(t string) bool {
	if len(t) != 16 {
		return false
	}
	_, err := hex.DecodeString(t)
	return err == nil && strings.ToLower(t) == t
}

// sweep removes the module files that the metadata of their component does not name:
// of every component, or only of the one whose stem is only. The caller holds the lock.
func (r *Registry) sweep(only string) error {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return err
	}
	referenced := map[string]*string{} // stem -> the module its metadata names; nil: keep all
	for _, e := range entries {
		stem, ok := moduleStem(e.Name())
		if !ok || !e.Type().IsRegular() || (only != "" && stem != only) {
			continue
		}
		want, seen := referenced[stem]
		if !seen {
			want = r.referencedModule(stem)
			referenced[stem] = want
		}
		if want == nil || e.Name() == *want {
			continue
		}
		if err := safefile.Remove(r.dir, e.Name()); err != nil {
			return fmt.Errorf("remove a left-over module: %w", err)
		}
	}
	return nil
}

// referencedModule returns the module file the metadata of stem names; "" if it has no
// metadata (its modules are then left-overs), nil if its metadata cannot be read (its
// modules are then kept, so that a person can repair it; List and Get report it).
func (r *Registry) referencedModule(stem string) *string {
	id, _ := compid.Parse(stem)
	meta, err := r.readMeta(id, stem)
	if errors.Is(err, ErrNotFound) {
		none := ""
		return &none
	}
	if err != nil {
		return nil
	}
	name := moduleName(stem, meta)
	return &name
}

// moduleName is the module file that meta names.
func moduleName(stem string, meta Metadata) string {
	if meta.Module == "" {
		return stem + wasmExt
	}
	return meta.Module
}

// At returns the registry in dir for reading only: unlike Open it neither creates the
// folder nor cleans it, so a command that only looks (wassette policy get) changes
// nothing. Its Get and List work as Open's; do not write through it.
func At(dir string) *Registry { return &Registry{dir: dir} }

// Dir returns the registry's folder.
func (r *Registry) Dir() string { return r.dir }

// Add stores wasm as the component id, replacing any component with that ID (module,
// metadata and all). It fills in meta's ID, Digest and Size from its arguments, and
// LoadedAt with the current time if it is zero. A meta.ID or meta.Digest that
// disagrees with id or wasm is an error, as is meta.Tools that is not valid JSON.
func (r *Registry) Add(id string, wasm []byte, meta Metadata) error {
	stem, err := compid.Stem(id)
	if err != nil {
		return fmt.Errorf("add component: %w", err)
	}
	sum := sha256.Sum256(wasm)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	switch {
	case len(wasm) == 0:
		return fmt.Errorf("add component %s: the module is empty", compid.Quote(id))
	case meta.ID != "" && meta.ID != id:
		return fmt.Errorf("add component %s: the metadata names %s", compid.Quote(id), compid.Quote(meta.ID))
	case meta.Digest != "" && !strings.EqualFold(meta.Digest, digest):
		return fmt.Errorf("add component %s: the metadata digest %s is not the module's %s", compid.Quote(id), meta.Digest, digest)
	case len(meta.Tools) > 0 && !json.Valid(meta.Tools):
		return fmt.Errorf("add component %s: the tools are not valid JSON", compid.Quote(id))
	}
	meta.ID, meta.Digest, meta.Size = id, digest, int64(len(wasm))
	if meta.LoadedAt.IsZero() {
		meta.LoadedAt = time.Now()
	}
	meta.LoadedAt = meta.LoadedAt.UTC()
	if _, err := encodeMeta(meta); err != nil { // before anything is written
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}

	unlock, err := safefile.Lock(r.dir)
	if err != nil {
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}
	defer unlock()
	var token [8]byte
	if _, err := rand.Read(token[:]); err != nil {
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}
	meta.Module = stem + moduleSep + hex.EncodeToString(token[:]) + wasmExt
	data, err := encodeMeta(meta)
	if err != nil {
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}
	// Before the switch, the old metadata names the old module: both are untouched.
	if err := safefile.WriteAtomic(r.dir, meta.Module, wasm); err != nil {
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}
	crashpoint.Reach("registry: new module written")
	if err := safefile.WriteAtomic(r.dir, stem+metaExt, data); err != nil {
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}
	crashpoint.Reach("registry: metadata switched")
	// After it, the new metadata names the new module; the old one is a left-over.
	if err := r.sweep(stem); err != nil {
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}
	crashpoint.Reach("registry: old module removed")
	return nil
}

// encodeMeta returns the metadata file's content.
func encodeMeta(meta Metadata) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the tools' text as the caller wrote it
	if err := enc.Encode(meta); err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	if buf.Len() > maxMetaBytes {
		return nil, fmt.Errorf("the metadata is %d bytes, the limit is %d; record fewer tools", buf.Len(), maxMetaBytes)
	}
	return buf.Bytes(), nil
}

// Get returns the metadata of the component id, or an error wrapping ErrNotFound.
func (r *Registry) Get(id string) (Metadata, error) {
	stem, err := compid.Stem(id)
	if err != nil {
		return Metadata{}, err
	}
	return r.readMeta(id, stem)
}

// Wasm returns the module of the component id, after checking that its bytes have the
// digest and size its metadata recorded; if not, the error wraps ErrTampered.
func (r *Registry) Wasm(id string) ([]byte, error) {
	stem, err := compid.Stem(id)
	if err != nil {
		return nil, err
	}
	data, err := r.readWasm(id, stem)
	if errors.Is(err, ErrTampered) || errors.Is(err, safefile.ErrTooLarge) || errors.Is(err, fs.ErrNotExist) {
		// A writer may be between the module and the metadata; under the lock no
		// writer is, so a mismatch seen there is real.
		unlock, lerr := safefile.Lock(r.dir)
		if lerr != nil {
			return nil, fmt.Errorf("component %s: %w", compid.Quote(id), lerr)
		}
		defer unlock()
		data, err = r.readWasm(id, stem)
	}
	return data, err
}

func (r *Registry) readWasm(id, stem string) ([]byte, error) {
	meta, err := r.readMeta(id, stem)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(r.dir, moduleName(stem, meta))
	data, err := safefile.ReadFile(path, meta.Size)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("component %s: its module file %s is missing; load the component again: %w", compid.Quote(id), path, err)
	case errors.Is(err, safefile.ErrTooLarge):
		return nil, fmt.Errorf("component %s: %w: %s is larger than the %d bytes recorded; load the component again (%v)",
			compid.Quote(id), ErrTampered, path, meta.Size, err)
	case err != nil:
		return nil, fmt.Errorf("component %s: %w", compid.Quote(id), err)
	}
	sum := sha256.Sum256(data)
	if got := "sha256:" + hex.EncodeToString(sum[:]); int64(len(data)) != meta.Size || got != meta.Digest {
		return nil, fmt.Errorf("component %s: %w: %s has digest %s, %d bytes, but %s was recorded, %d bytes; it was changed outside wassette, load the component again",
			compid.Quote(id), ErrTampered, path, got, len(data), meta.Digest, meta.Size)
	}
	return data, nil
}

// List returns the metadata of every stored component, sorted by ID. A metadata file
// that cannot be read or is invalid is left out and named in the returned error, which
// comes with the components that could be read, so a caller can use those and report
// the rest.
func (r *Registry) List() ([]Metadata, error) {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("list components in %s: %w", r.dir, err)
	}
	var (
		list []Metadata
		errs []error
	)
	for _, e := range entries {
		name := e.Name()
		stem, ok := strings.CutSuffix(name, metaExt)
		if !ok || strings.HasPrefix(name, ".") {
			continue // the lock, temporary files, modules, policies
		}
		id, ok := compid.Parse(stem)
		if !ok {
			continue // not a name this package writes
		}
		meta, err := r.readMeta(id, stem)
		if errors.Is(err, ErrNotFound) {
			continue // removed since ReadDir
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list = append(list, meta)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list, errors.Join(errs...)
}

// Remove deletes the component id: its module and metadata, not its policy. An ID
// with no component is an error wrapping ErrNotFound.
func (r *Registry) Remove(id string) error {
	stem, err := compid.Stem(id)
	if err != nil {
		return fmt.Errorf("remove component: %w", err)
	}
	unlock, err := safefile.Lock(r.dir)
	if err != nil {
		return fmt.Errorf("remove component %s: %w", compid.Quote(id), err)
	}
	defer unlock()
	_, err = os.Lstat(filepath.Join(r.dir, stem+metaExt))
	found := err == nil
	if err := safefile.Remove(r.dir, stem+metaExt); err != nil {
		return fmt.Errorf("remove component %s: %w", compid.Quote(id), err)
	}
	// Without metadata, every module of the component is a left-over.
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return fmt.Errorf("remove component %s: %w", compid.Quote(id), err)
	}
	for _, e := range entries {
		if s, ok := moduleStem(e.Name()); ok && s == stem {
			found = true
			if err := safefile.Remove(r.dir, e.Name()); err != nil {
				return fmt.Errorf("remove component %s: %w", compid.Quote(id), err)
			}
		}
	}
	if !found {
		return fmt.Errorf("remove component %s: %w; list the loaded components to see their IDs", compid.Quote(id), ErrNotFound)
	}
	return nil
}

// readMeta reads and checks the metadata file of id.
func (r *Registry) readMeta(id, stem string) (Metadata, error) {
	path := filepath.Join(r.dir, stem+metaExt)
	data, err := safefile.ReadFile(path, maxMetaBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return Metadata{}, fmt.Errorf("component %s: %w; list the loaded components to see their IDs", compid.Quote(id), ErrNotFound)
	}
	if err != nil {
		return Metadata{}, fmt.Errorf("component %s: %w", compid.Quote(id), err)
	}
	var meta Metadata
	if err := json.Unmarshal(data, &meta); err != nil {
		return Metadata{}, fmt.Errorf("component %s: %s is not valid metadata (%v); remove the component and load it again", compid.Quote(id), path, err)
	}
	switch {
	case meta.ID != id:
		return Metadata{}, fmt.Errorf("component %s: %s records the ID %s; remove the component and load it again", compid.Quote(id), path, compid.Quote(meta.ID))
	case meta.Size <= 0 || !validDigest(meta.Digest):
		return Metadata{}, fmt.Errorf("component %s: %s records no valid digest and size; remove the component and load it again", compid.Quote(id), path)
	case meta.Module != "" && !validModule(stem, meta.Module):
		return Metadata{}, fmt.Errorf("component %s: %s names a module file that this registry would not write; remove the component and load it again", compid.Quote(id), path)
	}
	return meta, nil
}

// validModule reports whether name is a module file name Add writes for stem.
func validModule(stem, name string) bool {
	base, ok := strings.CutSuffix(name, wasmExt)
	if !ok {
		return false
	}
	token, ok := strings.CutPrefix(base, stem+moduleSep)
	return ok && validToken(token)
}

// validDigest reports whether d is "sha256:" and 64 lower-case hex digits.
func validDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
