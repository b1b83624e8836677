package secretstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gofrs/flock"

	"github.com/wassette/wassette/internal/compid"
	"github.com/wassette/wassette/internal/safefile"
)

// editDir holds the sessions of Edit, one folder each, inside the secrets folder.
const editDir = ".edit"

// ErrConflict is wrapped by the error of an Edit whose keys another writer changed
// while the person was editing.
var ErrConflict = errors.New("changed meanwhile")

// Edit lets a person change the secrets of component id as a whole file, decrypted.
//
// edit is called with the path of a file that holds the secrets in plaintext, as a
// secrets file (mode 0600, in its own 0700 folder under the secrets folder, so that an
// editor's swap and backup files land there too), and returns once the person is done, or
// an error to give up. If the edited file is not a valid secrets file, retry is asked
// whether to edit it again (a nil retry never is). The changes are then applied under the
// writers' lock to the file as it is by then, and encrypted if the folder is: a key that
// someone else changed meanwhile, and the person changed too, is a conflict (ErrConflict)
// and nothing is written.
//
// The session's folder is removed on every return. One left by a process that was
// killed is removed by the next writer. Edit reports whether anything changed.
func (s *Store) Edit(id string, edit func(path string) error, retry func(error) bool) (changed bool, err error) {
	stem, err := compid.Stem(id)
	if err != nil {
		return false, err
	}
	name := stem + ext
	unlock, err := safefile.Lock(s.dir)
	if err != nil {
		return false, err
	}
	s.sweepEdits()
	base, hdr, err := s.plaintext(id, name)
	var sess *editSession
	if err == nil {
		sess, err = newEditSession(s.dir, stem)
	}
	unlock()
	if err != nil {
		return false, fmt.Errorf("edit secrets of component %s: %w", compid.Quote(id), err)
	}
	defer sess.close()

	if bytes.Equal(hdr, header(newHeader(id, true))) {
		hdr = header(newHeader(id, false)) // the file being edited is plaintext
	}
	if err := sess.write(encode(hdr, base)); err != nil {
		return false, err
	}
	var edited map[string]string
	var data []byte
	for {
		if err := edit(sess.file); err != nil {
			return false, err
		}
		if data, err = sess.read(); err != nil {
			return false, err
		}
		if edited, err = parseMap(sess.file, data); err == nil {
			break
		}
		if retry == nil || !retry(err) {
			return false, fmt.Errorf("the edited secrets are not valid, nothing was changed: %w", err)
		}
	}
	newHdr := header(data)
	if maps.Equal(edited, base) && bytes.Equal(newHdr, hdr) {
		return false, nil
	}

	unlock, err = safefile.Lock(s.dir)
	if err != nil {
		return false, err
	}
	defer unlock()
	err = s.updateLocked(id, name, func(theirs map[string]string) error {
		return merge(base, edited, theirs)
	}, writeOpts{header: newHdr, changed: &changed})
	if err != nil {
		return false, fmt.Errorf("edit secrets of component %s: %w", compid.Quote(id), err)
	}
	return changed, nil
}

// plaintext returns the secrets of id, decrypted, and the comment block of its file.
// The caller holds the lock.
func (s *Store) plaintext(id, name string) (map[string]string, []byte, error) {
	snap, err := s.readLocked(id, filepath.Join(s.dir, name))
	if err != nil {
		return nil, nil, err
	}
	if !snap.existed {
		return snap.plain, header(newHeader(id, false)), nil
	}
	return snap.plain, header(snap.data), nil
}

// merge applies the person's edit (base to mine) to theirs, the file as it is now. A key
// that both changed, differently, is a conflict.
func merge(base, mine, theirs map[string]string) error {
	var conflicts []string
	for _, k := range slices.Sorted(maps.Keys(union(base, mine, theirs))) {
		b, bok := base[k]
		m, mok := mine[k]
		t, tok := theirs[k]
		switch {
		case mok == bok && m == b: // the person did not change k: keep theirs
		case tok == bok && t == b, tok == mok && t == m: // only the person changed k
			if mok {
				theirs[k] = m
			} else {
				delete(theirs, k)
			}
		default:
			conflicts = append(conflicts, quoteKey(k))
		}
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("%w: %s changed while you edited, and you changed it too; nothing was saved: run the edit again",
			ErrConflict, strings.Join(conflicts, ", "))
	}
	return nil
}

func union(ms ...map[string]string) map[string]bool {
	u := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			u[k] = true
		}
	}
	return u
}

// editSession is one Edit's folder, locked for as long as the session lives, so that
// the next writer tells a live session from one whose process was killed.
type editSession struct {
	dir, file string
	lock      *flock.Flock
}

// newEditSession makes a session folder. The caller holds the writers' lock, so the
// sweep of another process never sees it before it is locked.
func newEditSession(dir, stem string) (*editSession, error) {
	root := filepath.Join(dir, editDir)
	if err := safefile.EnsureDir(root); err != nil {
		return nil, err
	}
	sd, err := os.MkdirTemp(root, stem+"-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(sd, 0o700); err != nil {
		os.RemoveAll(sd)
		return nil, err
	}
	lock := flock.New(filepath.Join(sd, safefile.LockName), flock.SetPermissions(0o600))
	if ok, err := lock.TryLock(); !ok || err != nil {
		os.RemoveAll(sd)
		return nil, fmt.Errorf("lock the edit folder %s: %v", sd, err)
	}
	return &editSession{dir: sd, file: filepath.Join(sd, stem+ext), lock: lock}, nil
}

func (e *editSession) write(data []byte) error {
	f, err := os.OpenFile(e.file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// read reads the edited file; the editor may have replaced it.
func (e *editSession) read() ([]byte, error) {
	f, err := os.Open(e.file)
	if err != nil {
		return nil, fmt.Errorf("read the edited file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read the edited file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("the edited file is over %d bytes", MaxFileSize)
	}
	return data, nil
}

// close removes everything in the session (the edited file, and any swap or backup file
// an editor left), then unlocks it and removes its folder.
func (e *editSession) close() {
	entries, _ := os.ReadDir(e.dir)
	for _, ent := range entries {
		if ent.Name() != safefile.LockName {
			os.RemoveAll(filepath.Join(e.dir, ent.Name()))
		}
	}
	e.lock.Unlock()
	os.RemoveAll(e.dir)
}

// sweepEdits removes the session folders of Edits whose process is gone: their lock is
// free. The caller holds the writers' lock.
func (s *Store) sweepEdits() {
	root := filepath.Join(s.dir, editDir)
	entries, err := os.ReadDir(root)
	if err != nil {
		return // none (the usual case), or nothing this writer can do about it
	}
	for _, ent := range entries {
		sd := filepath.Join(root, ent.Name())
		if !ent.IsDir() {
			os.Remove(sd)
			continue
		}
		lock := flock.New(filepath.Join(sd, safefile.LockName), flock.SetPermissions(0o600))
		if ok, err := lock.TryLock(); ok && err == nil {
			lock.Unlock()
			os.RemoveAll(sd)
		}
	}
}
