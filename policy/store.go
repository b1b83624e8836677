package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/wassette/wassette/internal/compid"
	"github.com/wassette/wassette/internal/safefile"
)

// ext ends every policy file's name: <dir>/<stem>.policy.yaml.
const ext = ".policy.yaml"

// maxFileSize bounds a policy file.
const maxFileSize = 1 << 20

// Store keeps the policies of all components in one folder, one file each, with the
// same locked, atomic writes and checked, cached reads as the secret store. It is safe
// for concurrent use by goroutines and processes.
type Store struct {
	dir   string
	cache *safefile.Cache[*Policy]
}

// Open returns the store kept in dir. The folder is created, 0700, by the first write.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("policy folder %s: %w", dir, err)
	}
	if err := safefile.CheckDir(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("policy folder: %w", err)
	}
	return &Store{dir: abs, cache: safefile.NewCache(maxFileSize, Parse)}, nil
}

// Path returns the file that holds the policy of component id.
func (s *Store) Path(id string) (string, error) {
	stem, err := compid.Stem(id)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.dir, stem+ext), nil
}

// Get returns the policy of component id, and false if it has none. The returned policy
// is shared: do not modify it; use Update.
func (s *Store) Get(id string) (*Policy, bool, error) {
	path, err := s.Path(id)
	if err != nil {
		return nil, false, err
	}
	p, ok, err := s.cache.Load(path)
	if err != nil {
		return nil, false, fmt.Errorf("read policy of component %s: %w", compid.Quote(id), err)
	}
	if !ok {
		return New(), false, nil
	}
	return p, true, nil
}

// Update applies change to the policy of component id (a new, empty policy if it has
// none) and writes the result, holding the folder's write lock from the read to the
// write so that no concurrent change is lost. If change fails nothing is written.
func (s *Store) Update(id string, change func(*Policy) error) error {
	stem, err := compid.Stem(id)
	if err != nil {
		return err
	}
	name := stem + ext
	path := filepath.Join(s.dir, name)
	unlock, err := safefile.Lock(s.dir)
	if err != nil {
		return fmt.Errorf("update policy of component %s: %w", compid.Quote(id), err)
	}
	defer unlock()
	defer s.cache.Forget(path)

	p := New()
	data, err := safefile.ReadFile(path, maxFileSize)
	switch {
	case err == nil:
		if p, err = Parse(path, data); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("update policy of component %s: %w", compid.Quote(id), err)
	}
	if err := change(p); err != nil {
		return err
	}
	out, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("update policy of component %s: %w", compid.Quote(id), err)
	}
	return safefile.WriteAtomic(s.dir, name, out)
}

// Remove deletes the policy of component id; a component without one is not an error.
func (s *Store) Remove(id string) error {
	stem, err := compid.Stem(id)
	if err != nil {
		return err
	}
	unlock, err := safefile.Lock(s.dir)
	if err != nil {
		return fmt.Errorf("remove policy of component %s: %w", compid.Quote(id), err)
	}
	defer unlock()
	defer s.cache.Forget(filepath.Join(s.dir, stem+ext))
	return safefile.Remove(s.dir, stem+ext)
}
