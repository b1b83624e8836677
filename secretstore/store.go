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
// A folder may be encrypted at rest (EnableEncryption): each value is then an age
// envelope, opened with a key kept in the OS keyring or a key file and read once per
// process; plaintext exists only in memory (and in the file of a running Edit).
//
// Values are held as Value, which never prints its plaintext. Files in the folder whose
// names the store does not write (<stem>.yaml, .lock, .encryption.yaml, .edit/) are
// other code's, and are left alone.
package secretstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"filippo.io/age"

	"github.com/wassette/wassette/internal/compid"
	"github.com/wassette/wassette/internal/safefile"
)

const ext = ".yaml"

// Store is one secrets folder. It is safe for concurrent use, and other processes may
// use the same folder at the same time.
type Store struct {
	dir      string
	cache    *safefile.Cache[Secrets]
	settings *safefile.Cache[*settings]
	keys     keys
	sweep    sync.Once
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
	s := &Store{dir: abs, settings: safefile.NewCache(64<<10, parseSettings)}
	s.cache = safefile.NewCache(MaxFileSize, s.parse)
	return s, nil
}

// parse reads a secrets file for the cache, opening its encrypted values.
func (s *Store) parse(path string, data []byte) (Secrets, error) {
	m, err := parseMap(path, data)
	if err != nil {
		return Secrets{}, err
	}
	id, _ := idOf(filepath.Base(path))
	raw := maps.Clone(m)
	current, recipient, err := s.openValues(id, path, data, m)
	if err != nil {
		return Secrets{}, err
	}
	return snapshotOf(m, raw, current, recipient), nil
}

// snapshotOf makes the Secrets of plain, remembering the envelopes of raw that are for
// recipient (the keys in current).
func snapshotOf(plain, raw map[string]string, current map[string]bool, recipient string) Secrets {
	sec := newSecrets(plain)
	for k, v := range raw {
		if current[k] {
			if sec.stored == nil {
				sec.stored, sec.sealedFor = map[string]string{}, recipient
			}
			sec.stored[k] = v
		}
	}
	return sec
}

// idOf returns the component whose secrets file is named name.
func idOf(name string) (string, bool) {
	stem, ok := strings.CutSuffix(name, ext)
	if !ok {
		return "", false
	}
	return compid.Parse(stem)
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
	unlock, err := safefile.Lock(s.dir)
	if err != nil {
		return err
	}
	defer unlock()
	s.sweep.Do(func() { _ = safefile.SweepTemps(s.dir) })
	s.sweepEdits()
	return s.updateLocked(id, stem+ext, change, writeOpts{})
}

// writeMode says how a write stores values.
type writeMode int

const (
	// writeKeep stores values as the folder's settings say: in an encrypted folder, a
	// value that did not change keeps its envelope (so a write touches only the lines it
	// changes), and every other value is encrypted.
	writeKeep writeMode = iota
	// writeReseal encrypts every value anew, for the current key (a rotation).
	writeReseal
	// writePlain stores every value in plaintext (encryption being turned off).
	writePlain
)

type writeOpts struct {
	mode    writeMode
	header  []byte // the comment block to write, if not the file's own
	changed *bool  // set to whether the file was rewritten
}

// updateLocked is update for a caller that holds the write lock. A nil change changes
// nothing: the file is rewritten only if how it stores values must change.
func (s *Store) updateLocked(id, name string, change func(map[string]string) error, opt writeOpts) (err error) {
	path := filepath.Join(s.dir, name)
	defer func() {
		if err != nil {
			s.cache.Forget(path)
		}
	}()
	snap, err := s.readLocked(id, path)
	if err != nil {
		return err
	}
	data, existed, raw, plain, current, st := snap.data, snap.existed, snap.raw, snap.plain, snap.current, snap.st
	before := maps.Clone(plain)
	if change != nil {
		if err := change(plain); err != nil {
			return err
		}
	}
	if len(plain) == 0 {
		s.cache.Forget(path)
		if !existed {
			return nil
		}
		if opt.changed != nil {
			*opt.changed = true
		}
		return safefile.Remove(s.dir, name)
	}
	encrypted := st != nil && opt.mode != writePlain
	hdr := header(data)
	if opt.header != nil {
		hdr = opt.header
	}
	if !existed || bytes.Equal(hdr, header(newHeader(id, false))) || bytes.Equal(hdr, header(newHeader(id, true))) {
		hdr = newHeader(id, encrypted) // the default comment says whether values are encrypted
	}
	stored := plain
	sealed := map[string]bool{}
	if encrypted {
		stored = make(map[string]string, len(plain))
		for k, v := range plain {
			sealed[k] = true
			if old, ok := before[k]; ok && old == v && current[k] && opt.mode == writeKeep {
				stored[k] = raw[k]
				continue
			}
			if stored[k], err = seal(snap.recipient, id, k, v); err != nil {
				return fmt.Errorf("encrypt the value of %s: %w", quoteKey(k), err)
			}
		}
	}
	out := encode(hdr, stored)
	if len(out) > MaxFileSize {
		return fmt.Errorf("the file would be %d bytes, the limit is %d", len(out), MaxFileSize)
	}
	if change == nil && bytes.Equal(out, data) {
		return nil // a conversion with nothing to convert
	}
	if err := safefile.WriteAtomic(s.dir, name, out); err != nil {
		return err
	}
	if opt.changed != nil {
		*opt.changed = true
	}
	recipient := ""
	if encrypted {
		recipient = st.Current.Recipient
	}
	s.cache.Put(path, out, snapshotOf(plain, stored, sealed, recipient))
	return nil
}

// snapshot is a secrets file as a writer reads it, under the lock.
type snapshot struct {
	data      []byte
	existed   bool
	raw       map[string]string // the values as stored
	plain     map[string]string // the values, opened
	current   map[string]bool   // keys whose envelope is for the folder's current key
	st        *settings         // the folder's encryption, or nil
	recipient age.Recipient     // the current key's recipient, when encrypted
}

// readLocked reads the file at path of component id for a writer, which holds the lock.
// In an encrypted folder the key must be at hand even for a file that holds no
// encrypted value: a writer with a missing or wrong key fails before it writes.
func (s *Store) readLocked(id, path string) (*snapshot, error) {
	data, err := safefile.ReadFile(path, MaxFileSize)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	snap := &snapshot{data: data, existed: err == nil}
	if snap.raw, err = parseMap(path, data); err != nil {
		return nil, err
	}
	if snap.st, err = s.loadSettings(); err != nil {
		return nil, err
	}
	if snap.st != nil {
		ident, err := s.keys.identity(snap.st.Current)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		snap.recipient = ident.Recipient()
	}
	if sec, ok := s.cache.Peek(path, data); ok && sec.openedAs(snap.st) {
		// Parsed and opened before, in this process, under the same settings.
		snap.plain, snap.current = map[string]string{}, map[string]bool{}
		for k, v := range sec.All() {
			snap.plain[k] = v.Reveal()
			_, snap.current[k] = sec.stored[k]
		}
		return snap, nil
	}
	snap.plain = maps.Clone(snap.raw)
	if snap.current, _, err = s.openValues(id, path, data, snap.plain); err != nil {
		return nil, err
	}
	return snap, nil
}

// openedAs reports whether sec was opened under the settings st: with every envelope for
// st's current key and no rotation under way, or with no envelope in a plain folder.
func (sec Secrets) openedAs(st *settings) bool {
	if st == nil {
		return len(sec.stored) == 0
	}
	return st.Previous == nil && (len(sec.stored) == 0 || sec.sealedFor == st.Current.Recipient)
}

// openValues replaces every encrypted value of m, read from path (data), by its
// plaintext, and reports which keys had an envelope for the folder's current key, and
// that key's recipient.
func (s *Store) openValues(id, path string, data []byte, m map[string]string) (map[string]bool, string, error) {
	current := map[string]bool{}
	prev, _ := s.cache.Last(path)
	var st *settings
	loaded := false
	var ids []*age.X25519Identity
	for k, v := range m {
		// In an encrypted folder every value that starts with "age:" is an envelope (so a
		// damaged one is an error, not a value); elsewhere such a value is plaintext,
		// unless it is plainly an age file.
		if !strings.HasPrefix(v, envelopePrefix) {
			continue
		}
		if !loaded {
			var err error
			if st, err = s.loadSettings(); err != nil {
				return nil, "", err
			}
			loaded = true
		}
		if st == nil {
			if isEnvelope(v) {
				return nil, "", fmt.Errorf("%s: line %d: the value of %s is encrypted, but encryption is not enabled for %s (it has no %s); "+
					"secrets files cannot be moved between folders by hand: use `wassette secret list --show-values` and `secret import`",
					path, valueLine(data, k), quoteKey(k), s.dir, settingsName)
			}
			continue
		}
		if prev.stored[k] == v && prev.openedAs(st) {
			// Opened before, in this process, from the last version of this file.
			pv, _ := prev.Lookup(k)
			m[k] = pv.Reveal()
			current[k] = true
			continue
		}
		if ids == nil {
			ident, err := s.keys.identity(st.Current)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", path, err)
			}
			ids = []*age.X25519Identity{ident}
		}
		pt, by, err := open(v, ids, id, k)
		if err != nil && st.Previous != nil && len(ids) == 1 {
			if old, perr := s.keys.identity(*st.Previous); perr == nil {
				ids = append(ids, old)
				pt, by, err = open(v, ids, id, k)
			}
		}
		if err == nil {
			err = ValidateValue(pt)
		}
		if err != nil {
			return nil, "", fmt.Errorf("%s: line %d: the value of %s %w", path, valueLine(data, k), quoteKey(k), err)
		}
		m[k] = pt
		current[k] = by == ids[0]
	}
	recipient := ""
	if st != nil {
		recipient = st.Current.Recipient
	}
	return current, recipient, nil
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
		id, ok := idOf(e.Name())
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
