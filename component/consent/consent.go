// Package consent records which module a person approved to receive a component's
// secrets.
//
// Setting a secret for a component is a person's consent to give it to the code they
// loaded under that ID. That consent is bound to the module's digest: a record lists the
// digests a person approved for an ID, and a module whose digest is not listed gets no
// secrets (and no policy values) until a person approves it at the command line.
//
// Records live beside the secrets, in <secrets>/<stem>.consent (0600), written like the
// secrets files: under the folder's lock, to a temporary file renamed over the old one.
// The secret store ignores these names. A record normally lists one digest; it lists two
// only for the moment a person replaces a component's module, so that a crash at any
// point leaves whichever module is on disk approved.
package consent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/wassette/wassette/internal/compid"
	"github.com/wassette/wassette/internal/safefile"
)

// Ext ends the name of every record: <stem>.consent.
const Ext = ".consent"

const maxFileSize = 64 << 10

// Approval is one module a person approved for a component.
type Approval struct {
	// Digest is "sha256:<hex>" of the module's bytes.
	Digest string `json:"digest"`
	// Source is where the module was loaded from, as recorded (no query or fragment).
	Source string `json:"source,omitempty"`
	// At is when the person approved it.
	At time.Time `json:"approved_at"`
}

// Record is what a component's record file holds.
type Record struct {
	ComponentID string     `json:"component_id"`
	Approved    []Approval `json:"approved"`
}

// Approves reports whether the record approves the module with digest.
func (r Record) Approves(digest string) bool {
	return digest != "" && slices.ContainsFunc(r.Approved, func(a Approval) bool { return a.Digest == digest })
}

// Store keeps the records of one secrets folder. It is safe for concurrent use, also by
// several processes.
type Store struct {
	dir   string
	cache *safefile.Cache[Record]
}

// Open returns the store of the secrets folder dir. Nothing is created until a write.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("consent records in %s: %w", dir, err)
	}
	return &Store{dir: abs, cache: safefile.NewCache(maxFileSize, parse)}, nil
}

func parse(path string, data []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("%s is not a valid consent record; remove it and approve the component again "+
			"(wassette component approve <id>): %v", path, err)
	}
	return r, nil
}

func (s *Store) path(id string) (dir, name string, err error) {
	stem, err := compid.Stem(id)
	if err != nil {
		return "", "", err
	}
	return s.dir, stem + Ext, nil
}

// Get returns the record of component id; a component without one has an empty record.
func (s *Store) Get(id string) (Record, error) {
	dir, name, err := s.path(id)
	if err != nil {
		return Record{}, err
	}
	r, ok, err := s.cache.Load(filepath.Join(dir, name))
	if err != nil {
		return Record{}, fmt.Errorf("read the consent record of component %s: %w", compid.Quote(id), err)
	}
	if !ok || r.ComponentID != id {
		return Record{ComponentID: id}, nil
	}
	return r, nil
}

// Approve records that a person approved the module a for component id. With keep, the
// digests approved before stay approved too (for the moment of a replacement);
// otherwise a is the only one.
func (s *Store) Approve(id string, a Approval, keep bool) error {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	a.At = a.At.UTC()
	return s.update(id, func(r *Record) {
		if !keep {
			r.Approved = nil
		}
		r.Approved = slices.DeleteFunc(r.Approved, func(old Approval) bool { return old.Digest == a.Digest })
		r.Approved = append(r.Approved, a)
	})
}

// Keep drops every approval of component id but the one of digest, if there is one.
func (s *Store) Keep(id, digest string) error {
	return s.update(id, func(r *Record) {
		r.Approved = slices.DeleteFunc(r.Approved, func(a Approval) bool { return a.Digest != digest })
	})
}

// Remove deletes the record of component id; none is not an error.
func (s *Store) Remove(id string) error {
	return s.update(id, func(r *Record) { r.Approved = nil })
}

func (s *Store) update(id string, change func(*Record)) error {
	dir, name, err := s.path(id)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	unlock, err := safefile.Lock(dir)
	if err != nil {
		return fmt.Errorf("record consent for component %s: %w", compid.Quote(id), err)
	}
	defer unlock()
	defer s.cache.Forget(path)
	r := Record{ComponentID: id}
	data, err := safefile.ReadFile(path, maxFileSize)
	switch {
	case err == nil:
		// A broken record is replaced: it approves nothing, so nothing is lost.
		if old, perr := parse(path, data); perr == nil && old.ComponentID == id {
			r = old
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("record consent for component %s: %w", compid.Quote(id), err)
	}
	change(&r)
	if len(r.Approved) == 0 {
		return safefile.Remove(dir, name)
	}
	out, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return safefile.WriteAtomic(dir, name, append(out, '\n'))
}
