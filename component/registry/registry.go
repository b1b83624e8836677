// Package registry keeps the loaded components on disk, so they survive a restart.
//
// A registry is one folder, <data>/components. Each component has two files named after
// its ID by compid.Stem: <stem>.wasm, the module's bytes, and <stem>.json, its
// [Metadata]. The folder also holds <stem>.policy.yaml files that belong to the policy
// package; this package never reads, lists, writes or deletes them.
//
// Writers hold the folder's lock (safefile.Lock) and replace each file atomically. Add
// writes the module before the metadata and Remove deletes the metadata before the
// module, so a crash can leave a module without metadata, which Open deletes, but never
// metadata without a module. A crash while replacing a component can leave the new
// module beside the old metadata; Wasm then reports a digest mismatch, and loading the
// component again repairs it.
package registry

import (
	"bytes"
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
	"github.com/wassette/wassette/internal/safefile"
)

const (
	wasmExt = ".wasm"
	metaExt = ".json"
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
}

// Registry is the store in one folder. Its methods are safe for concurrent use, also
// by several processes sharing the folder.
type Registry struct {
	dir string
}

// Open returns the registry in dir, creating the folder (0700) if needed. It removes
// what crashed writers left behind: temporary files, and modules without metadata.
func Open(dir string) (*Registry, error) {
	unlock, err := safefile.Lock(dir)
	if err != nil {
		return nil, fmt.Errorf("open component registry %s: %w", dir, err)
	}
	defer unlock()
	if err := safefile.SweepTemps(dir); err != nil {
		return nil, fmt.Errorf("open component registry %s: clean temporary files: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open component registry %s: %w", dir, err)
	}
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), wasmExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if _, ok := compid.Parse(stem); !ok {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, stem+metaExt)); errors.Is(err, fs.ErrNotExist) {
			if err := safefile.Remove(dir, e.Name()); err != nil {
				return nil, fmt.Errorf("open component registry %s: remove orphaned module: %w", dir, err)
			}
		}
	}
	return &Registry{dir: dir}, nil
}

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
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the tools' text as the caller wrote it
	if err := enc.Encode(meta); err != nil {
		return fmt.Errorf("add component %s: encode metadata: %w", compid.Quote(id), err)
	}
	data := buf.Bytes()
	if len(data) > maxMetaBytes {
		return fmt.Errorf("add component %s: the metadata is %d bytes, the limit is %d; record fewer tools", compid.Quote(id), len(data), maxMetaBytes)
	}

	unlock, err := safefile.Lock(r.dir)
	if err != nil {
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}
	defer unlock()
	if err := safefile.WriteAtomic(r.dir, stem+wasmExt, wasm); err != nil {
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}
	if err := safefile.WriteAtomic(r.dir, stem+metaExt, data); err != nil {
		return fmt.Errorf("add component %s: %w", compid.Quote(id), err)
	}
	return nil
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
	path := filepath.Join(r.dir, stem+wasmExt)
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
	found := false
	for _, name := range []string{stem + metaExt, stem + wasmExt} {
		_, err := os.Lstat(filepath.Join(r.dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		found = true
		if err := safefile.Remove(r.dir, name); err != nil {
			return fmt.Errorf("remove component %s: %w", compid.Quote(id), err)
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
	}
	return meta, nil
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
