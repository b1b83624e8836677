package secretstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/wassette/wassette/internal/safefile"
)

// EncryptionStatus describes a folder's encryption at rest.
type EncryptionStatus struct {
	Enabled   bool   // values are encrypted
	Recipient string // the age public key (age1...) they are encrypted for
	KeyFile   string // where the key is kept: this file, or "" for the OS keyring
	// Rotating is set when a rotation was interrupted: values may be encrypted for the
	// previous key until `RotateKey` runs again and finishes it.
	Rotating bool
	// KeyErr says why the key cannot be read now (nil when it can). With KeyErr set,
	// nothing in the folder can be read or written.
	KeyErr error
	Files  int // secrets files in the folder
	// Plaintext counts the files that hold values that are not encrypted (hand edits, or a
	// file added by hand); each is encrypted at its next write, or by EnableEncryption.
	Plaintext int
	// Unreadable lists the files that could not be read, with why.
	Unreadable []error
}

// KeyPlace says where the key is kept, for a person.
func (e EncryptionStatus) KeyPlace() string {
	return keyRef{Recipient: e.Recipient, KeyFile: e.KeyFile}.place()
}

// Conversion reports what EnableEncryption, DisableEncryption or RotateKey did.
type Conversion struct {
	EncryptionStatus
	Rewritten int     // files rewritten
	Failed    []error // files left as they were, with why; the operation can be run again
}

// EncryptionStatus reports whether the folder is encrypted, where its key is, and
// whether the key can be read now.
func (s *Store) EncryptionStatus() (EncryptionStatus, error) {
	st, err := s.loadSettings()
	if err != nil {
		return EncryptionStatus{}, err
	}
	var es EncryptionStatus
	if st != nil {
		es = EncryptionStatus{Enabled: true, Recipient: st.Current.Recipient, KeyFile: st.Current.KeyFile, Rotating: st.Previous != nil}
		_, es.KeyErr = s.keys.identity(st.Current)
	}
	files, err := s.ownedFiles()
	if err != nil {
		return es, err
	}
	for _, f := range files {
		path := filepath.Join(s.dir, f[1])
		data, err := safefile.ReadFile(path, MaxFileSize)
		var m map[string]string
		if err == nil {
			m, err = parseMap(path, data)
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		es.Files++
		if err != nil {
			es.Unreadable = append(es.Unreadable, err)
			continue
		}
		for _, v := range m {
			if !strings.HasPrefix(v, envelopePrefix) || !es.Enabled && !isEnvelope(v) {
				es.Plaintext++
				break
			}
		}
	}
	return es, nil
}

// EnableEncryption turns encryption at rest on for the folder and rewrites every secrets
// file encrypted, atomically and under the writers' lock. The key is a new age X25519
// identity kept in the OS keyring; or, with keyFile, the identity in that file (which is
// created, mode 0600, if it does not exist, and refused if it is open to others). With
// keyFile "" and IdentityFileEnv set, that variable's file is used the same way.
//
// Run on a folder that is already encrypted (with the same key), it encrypts the files
// that still hold plaintext values. A file that cannot be read is left as it was and
// reported in Failed.
func (s *Store) EnableEncryption(keyFile string) (Conversion, error) {
	st, err := s.loadSettings()
	if err != nil {
		return Conversion{}, err
	}
	if st != nil {
		if keyFile != "" {
			abs, err := filepath.Abs(keyFile)
			if err != nil || abs != st.Current.KeyFile {
				return Conversion{}, fmt.Errorf("encryption is already enabled for %s, with the key in %s; to move to another key, run: wassette secret encryption rotate --key-file %s",
					s.dir, st.Current.place(), keyFile)
			}
		}
		return s.convert(nil, writeKeep, keep)
	}
	ref, ident, err := newKey(keyFile, true)
	if err != nil {
		return Conversion{}, err
	}
	return s.convert(func(old *settings) (*settings, error) {
		if old != nil {
			return nil, fmt.Errorf("another process enabled encryption for %s meanwhile; the key made for this run stays in %s", s.dir, ref.place())
		}
		s.keys.add(ident)
		return &settings{Current: ref}, nil
	}, writeKeep, keep)
}

func keep(st *settings) *settings { return st }

// endRotation drops the previous key from the settings, once no value needs it.
func endRotation(st *settings) *settings { return &settings{Current: st.Current} }

// DisableEncryption rewrites every secrets file with plaintext values, then turns
// encryption off. The key is not deleted: it stays where it was kept (backups of the
// encrypted files still need it). A file that cannot be read or opened is left as it was
// and reported in Failed; encryption then stays on, and DisableEncryption can be run
// again.
func (s *Store) DisableEncryption() (Conversion, error) {
	return s.convert(nil, writePlain, func(*settings) *settings { return nil })
}

// RotateKey moves the folder to a new key: a new identity in the OS keyring, or the one
// in keyFile (created if it does not exist), and re-encrypts every value for it. The old
// key is not deleted (backups of the files still need it). Until every file is
// re-encrypted, both keys are needed; an interrupted rotation is finished by running
// RotateKey again, which then makes no new key.
func (s *Store) RotateKey(keyFile string) (Conversion, error) {
	st, err := s.loadSettings()
	if err != nil {
		return Conversion{}, err
	}
	if st == nil {
		return Conversion{}, fmt.Errorf("encryption is not enabled for %s; enable it with: wassette secret encryption enable", s.dir)
	}
	if _, err := s.keys.identity(st.Current); err != nil {
		return Conversion{}, err
	}
	if st.Previous != nil { // finish the interrupted rotation
		return s.convert(nil, writeReseal, endRotation)
	}
	ref, ident, err := newKey(keyFile, false)
	if err != nil {
		return Conversion{}, err
	}
	if ref.Recipient == st.Current.Recipient {
		return Conversion{}, fmt.Errorf("%s holds the folder's current key; give a new file (it is created) or none (a new key in the OS keyring)", ref.KeyFile)
	}
	return s.convert(func(now *settings) (*settings, error) {
		if now == nil || now.Current != st.Current {
			return nil, fmt.Errorf("the encryption of %s changed meanwhile; the key made for this run stays in %s", s.dir, ref.place())
		}
		s.keys.add(ident)
		prev := st.Current
		return &settings{Current: ref, Previous: &prev}, nil
	}, writeReseal, endRotation)
}

// ExportKey writes the folder's key to a new file at path (mode 0600), as age-keygen
// writes keys: a backup, or a key file for a service (IdentityFileEnv).
func (s *Store) ExportKey(path string) error {
	st, err := s.loadSettings()
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("encryption is not enabled for %s: there is no key", s.dir)
	}
	ident, err := s.keys.identity(st.Current)
	if err != nil {
		return err
	}
	return writeKeyFile(path, ident)
}

// convert rewrites every secrets file under the writers' lock, in mode. begin, when set,
// gets the folder's settings and returns the ones to write before the files. Once every
// file is rewritten, end gets the settings and returns those to keep (nil: none, which
// turns encryption off); when a file failed they stay as they are.
func (s *Store) convert(begin func(*settings) (*settings, error), mode writeMode, end func(*settings) *settings) (Conversion, error) {
	unlock, err := safefile.Lock(s.dir)
	if err != nil {
		return Conversion{}, err
	}
	defer unlock()
	settingsPath := filepath.Join(s.dir, settingsName)
	defer s.settings.Forget(settingsPath)
	s.sweep.Do(func() { _ = safefile.SweepTemps(s.dir) })
	s.sweepEdits()
	st, err := s.loadSettings()
	if err != nil {
		return Conversion{}, err
	}
	if begin != nil {
		if st, err = begin(st); err != nil {
			return Conversion{}, err
		}
		if err := safefile.WriteAtomic(s.dir, settingsName, st.encode()); err != nil {
			return Conversion{}, err
		}
		s.settings.Forget(settingsPath)
	}
	var c Conversion
	if st == nil {
		return c, nil // disable of a folder that is not encrypted
	}
	c.Enabled, c.Recipient, c.KeyFile, c.Rotating = true, st.Current.Recipient, st.Current.KeyFile, st.Previous != nil
	files, err := s.ownedFiles()
	if err != nil {
		return c, err
	}
	for _, f := range files {
		var changed bool
		err := s.updateLocked(f[0], f[1], nil, writeOpts{mode: mode, changed: &changed})
		switch {
		case err != nil:
			c.Failed = append(c.Failed, err)
		case changed:
			c.Rewritten++
		}
	}
	c.Files = len(files)
	if len(c.Failed) > 0 {
		return c, nil
	}
	switch next := end(st); {
	case next == nil:
		if err := safefile.Remove(s.dir, settingsName); err != nil {
			return c, err
		}
		c.Enabled, c.Rotating = false, false
	case *next != *st || (next.Previous == nil) != (st.Previous == nil):
		if err := safefile.WriteAtomic(s.dir, settingsName, next.encode()); err != nil {
			return c, err
		}
		c.Rotating = next.Previous != nil
	}
	return c, nil
}

// newKey makes the key of EnableEncryption and RotateKey: the identity in keyFile (made
// if the file does not exist), or, with keyFile "", a new identity stored in the OS
// keyring. With useEnv, keyFile "" means IdentityFileEnv's file when it is set.
func newKey(keyFile string, useEnv bool) (keyRef, *age.X25519Identity, error) {
	if keyFile == "" && useEnv {
		keyFile = os.Getenv(IdentityFileEnv)
	}
	if keyFile != "" {
		abs, err := filepath.Abs(keyFile)
		if err != nil {
			return keyRef{}, nil, err
		}
		ids, err := readKeyFile(abs)
		if errors.Is(err, fs.ErrNotExist) {
			ident, err := age.GenerateX25519Identity()
			if err != nil {
				return keyRef{}, nil, err
			}
			if err := writeKeyFile(abs, ident); err != nil {
				return keyRef{}, nil, err
			}
			return keyRef{Recipient: ident.Recipient().String(), KeyFile: abs}, ident, nil
		}
		if err != nil {
			return keyRef{}, nil, fmt.Errorf("key file: %w", err)
		}
		return keyRef{Recipient: ids[0].Recipient().String(), KeyFile: abs}, ids[0], nil
	}
	ident, err := age.GenerateX25519Identity()
	if err != nil {
		return keyRef{}, nil, err
	}
	if err := keyringStore(ident); err != nil {
		return keyRef{}, nil, fmt.Errorf("store the key: %w; on a machine without a keyring (a server, a container, CI), keep the key in a file instead: wassette secret encryption enable --key-file PATH", err)
	}
	return keyRef{Recipient: ident.Recipient().String()}, ident, nil
}
