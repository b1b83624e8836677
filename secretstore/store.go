// Package secretstore keeps each component's secrets in its own file, and is the only
// code that reads or writes those files.
//
// A component's secrets live in <dir>/<stem>.yaml, a flat YAML mapping of string keys to
// string values that a person may edit by hand; <stem> is the component ID mapped to a
// safe file name (see internal/compid). The folder is 0700 and the files 0600. Writers
// from any number of processes serialise on <dir>/.lock and replace files atomically, so
// no update is lost and no reader sees a torn file. Reads are lazy and cached per
// component; a cached read costs one stat and still sees hand edits.
//
// Values are held as Value, which never prints its plaintext.
package secretstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/wassette/wassette/internal/compid"
	"github.com/wassette/wassette/internal/safefile"
)

const ext = ".yaml"

// Store is one secrets folder. It is safe for concurrent use, and other processes may
// use the same folder at the same time.
type Store struct {
	dir   string
	cache *safefile.Cache[Secrets]
	sweep sync.Once
}

// Open returns the store kept in dir. The folder is created, with mode 0700, by the first
// write; an existing folder that is not the user's own, or is open to group or others, is
// refused.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("secrets folder %s: %w", dir, err)
	}
	if err := safefile.CheckDir(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("secrets folder: %w", err)
	}
	return &Store{dir: abs, cache: safefile.NewCache(MaxFileSize, parse)}, nil
}

// Dir returns the store's folder as an absolute path.
func (s *Store) Dir() string { return s.dir }

// Path returns the file that holds the secrets of component id.
func (s *Store) Path(id string) (string, error) {
	stem, err := compid.Stem(id)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.dir, stem+ext), nil
}

// Get returns the secrets of component id; none is an empty Secrets, not an error. The
// file is read only if it changed since the last Get in this process.
func (s *Store) Get(id string) (Secrets, error) {
	path, err := s.Path(id)
	if err != nil {
		return Secrets{}, err
	}
	sec, _, err := s.cache.Load(path)
	if err != nil {
		return Secrets{}, fmt.Errorf("read secrets of component %s: %w", compid.Quote(id), err)
	}
	return sec, nil
}

// Lookup returns one secret of component id.
func (s *Store) Lookup(id, key string) (Value, bool, error) {
	sec, err := s.Get(id)
	if err != nil {
		return Value{}, false, err
	}
	v, ok := sec.Lookup(key)
	return v, ok, nil
}

// Set adds or replaces the given secrets of component id in one atomic write, creating
// its file if needed. Every key and value is checked before anything is written.
func (s *Store) Set(id string, values map[string]Value) error {
	for k, v := range values {
		if err := ValidateKey(k); err != nil {
			return err
		}
		if err := ValidateValue(v.Reveal()); err != nil {
			return fmt.Errorf("secret %s: %w", quoteKey(k), err)
		}
	}
	err := s.update(id, func(m map[string]string) error {
		for k, v := range values {
			m[k] = v.Reveal()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set secrets of component %s: %w", compid.Quote(id), err)
	}
	return nil
}

// Delete removes the given keys of component id in one atomic write. If any key is
// missing nothing is removed and the error wraps ErrNotFound. The file is removed with
// its last key.
func (s *Store) Delete(id string, keys ...string) error {
	err := s.update(id, func(m map[string]string) error {
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				return notFoundError{id: id, key: k}
			}
		}
		for _, k := range keys {
			delete(m, k)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete secrets of component %s: %w", compid.Quote(id), err)
	}
	return err
}

// Remove deletes every secret of component id. A component without secrets is not an
// error.
func (s *Store) Remove(id string) error {
	err := s.update(id, func(m map[string]string) error {
		clear(m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove secrets of component %s: %w", compid.Quote(id), err)
	}
	return nil
}

// update runs change on the current contents of id's file under the write lock, and
// writes the result back: atomically, or by removing the file if nothing is left.
func (s *Store) update(id string, change func(map[string]string) error) error {
	stem, err := compid.Stem(id)
	if err != nil {
		return err
	}
	name := stem + ext
	path := filepath.Join(s.dir, name)
	unlock, err := safefile.Lock(s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	defer s.cache.Forget(path)
	s.sweep.Do(func() { _ = safefile.SweepTemps(s.dir) })

	data, err := safefile.ReadFile(path, MaxFileSize)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	existed := err == nil
	m, err := parseMap(path, data)
	if err != nil {
		return err
	}
	if err := change(m); err != nil {
		return err
	}
	if len(m) == 0 {
		if !existed {
			return nil
		}
		return safefile.Remove(s.dir, name)
	}
	hdr := header(data)
	if !existed {
		hdr = newHeader(id)
	}
	out := encode(hdr, m)
	if len(out) > MaxFileSize {
		return fmt.Errorf("the file would be %d bytes, the limit is %d", len(out), MaxFileSize)
	}
	return safefile.WriteAtomic(s.dir, name, out)
}

// notFoundError reports a missing key; it matches ErrNotFound.
type notFoundError struct{ id, key string }

func (e notFoundError) Error() string {
	return fmt.Sprintf("component %s has no secret %s", compid.Quote(e.id), quoteKey(e.key))
}

func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

// Component is one entry of Components.
type Component struct {
	ID    string // the component ID
	Count int    // how many secrets it has
	Err   error  // why its file could not be read, if it could not
}

// Components lists the components that have secrets, sorted by ID. A file that cannot be
// read is listed with its error rather than failing the whole list. Files whose names
// the store would not produce (hand-made names, temporary files) are skipped.
func (s *Store) Components() ([]Component, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list secrets folder: %w", err)
	}
	var out []Component
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), ext)
		if !ok {
			continue
		}
		id, ok := compid.Parse(stem)
		if !ok {
			continue
		}
		c := Component{ID: id}
		path := filepath.Join(s.dir, e.Name())
		data, err := safefile.ReadFile(path, MaxFileSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since ReadDir
		}
		if err == nil {
			var m map[string]string
			m, err = parseMap(path, data)
			c.Count = len(m)
		}
		c.Err = err
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Component) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
