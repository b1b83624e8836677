package secretstore

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/zalando/go-keyring"

	"github.com/wassette/wassette/internal/safefile"
)

// Encryption at rest.
//
// A folder is encrypted when it holds settingsName, which names the age recipient its
// values are encrypted for and where the matching identity (the private key) is kept: in
// the OS keyring, under KeyringService and an account named by the recipient, or in a key
// file. Each value of an encrypted file is "age:" and the base64 of an age file (X25519)
// whose plaintext is frameMagic, the component ID, the key and the value, one per line:
// the keys stay readable, and a value copied to another key or component fails to open.
// The identity is read once per process.

const (
	// KeyringService is the service under which the OS keyring keeps wassette's keys.
	KeyringService = "wassette"
	// IdentityFileEnv names the variable that points at a key file. When it is set, the
	// key is looked for there first, and the OS keyring is asked only if the file does
	// not hold it: services and CI set it to run without a keyring.
	IdentityFileEnv = "WASSETTE_AGE_IDENTITY_FILE"

	settingsName   = ".encryption.yaml"
	envelopePrefix = "age:"
	// ageMagic64 is the base64 of "age-encryption.org/v1", with which every age file
	// starts: a value is an envelope only if it starts with both.
	ageMagic64 = "YWdlLWVuY3J5cHRpb24ub3JnL3Yx"
	frameMagic = "wassette-secret/v1\n"
	maxKeyFile = 64 << 10
	// keyringTimeout bounds one call to the OS keyring, which may show a prompt or hang
	// when it is locked and nobody can answer.
	keyringTimeout = 2 * time.Minute
)

func isEnvelope(v string) bool { return strings.HasPrefix(v, envelopePrefix+ageMagic64) }

// keyRef says which key a folder's values are encrypted for and where it is kept.
type keyRef struct {
	Recipient string // the age public key, age1...
	KeyFile   string // the key file; "" for the OS keyring
}

func (r keyRef) place() string {
	if r.KeyFile != "" {
		return "the key file " + r.KeyFile
	}
	return fmt.Sprintf("the OS keyring (service %q, account %q)", KeyringService, r.Recipient)
}

// settings are the contents of settingsName. Previous is set while a rotation is under
// way: values may be encrypted for either key until it ends.
type settings struct {
	Current  keyRef
	Previous *keyRef
}

func (st *settings) refs() []keyRef {
	if st.Previous != nil {
		return []keyRef{st.Current, *st.Previous}
	}
	return []keyRef{st.Current}
}

func parseSettings(path string, data []byte) (*settings, error) {
	m, err := parseMap(path, data)
	if err != nil {
		return nil, err
	}
	ref := func(prefix string) (keyRef, error) {
		r := keyRef{Recipient: m[prefix+"recipient"]}
		switch m[prefix+"key"] {
		case "keyring":
		case "file":
			r.KeyFile = m[prefix+"key_file"]
			if !filepath.IsAbs(r.KeyFile) {
				return r, fmt.Errorf("%s: %skey_file must be an absolute path", path, prefix)
			}
		default:
			return r, fmt.Errorf("%s: %skey must be keyring or file", path, prefix)
		}
		if _, err := age.ParseX25519Recipient(r.Recipient); err != nil {
			return r, fmt.Errorf("%s: %srecipient is not an age X25519 recipient (age1...)", path, prefix)
		}
		return r, nil
	}
	st := &settings{}
	if st.Current, err = ref(""); err != nil {
		return nil, err
	}
	if _, ok := m["previous_recipient"]; ok {
		prev, err := ref("previous_")
		if err != nil {
			return nil, err
		}
		st.Previous = &prev
	}
	return st, nil
}

func (st *settings) encode() []byte {
	m := map[string]string{}
	put := func(prefix string, r keyRef) {
		m[prefix+"recipient"] = r.Recipient
		m[prefix+"key"] = "keyring"
		if r.KeyFile != "" {
			m[prefix+"key"] = "file"
			m[prefix+"key_file"] = r.KeyFile
		}
	}
	put("", st.Current)
	if st.Previous != nil {
		put("previous_", *st.Previous)
	}
	return encode([]byte("# The secrets files in this folder are encrypted with age, for this recipient; the\n"+
		"# key is kept where this file says. Written by `wassette secret encryption`: do not edit.\n\n"), m)
}

// loadSettings returns the folder's encryption settings, or nil if it is not encrypted.
func (s *Store) loadSettings() (*settings, error) {
	st, ok, err := s.settings.Load(filepath.Join(s.dir, settingsName))
	if err != nil {
		return nil, fmt.Errorf("encryption settings: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return st, nil
}

// keys holds the identities read in this process, by recipient, so that each is read
// once per process.
type keys struct {
	mu  sync.Mutex
	ids map[string]*age.X25519Identity
}

func (k *keys) add(id *age.X25519Identity) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ids == nil {
		k.ids = map[string]*age.X25519Identity{}
	}
	k.ids[id.Recipient().String()] = id
}

// identity returns the identity of ref: from the file IdentityFileEnv names if it holds
// it, else from where ref says. The error names every place it looked and never holds
// key material.
func (k *keys) identity(ref keyRef) (*age.X25519Identity, error) {
	k.mu.Lock()
	id := k.ids[ref.Recipient]
	k.mu.Unlock()
	if id != nil {
		return id, nil
	}
	var looked []string
	if env := os.Getenv(IdentityFileEnv); env != "" {
		ids, err := readKeyFile(env)
		if err == nil {
			if id = match(ids, ref.Recipient); id != nil {
				k.add(id)
				return id, nil
			}
			err = fmt.Errorf("it holds the key of %s, not this one", ids[0].Recipient())
		}
		looked = append(looked, fmt.Sprintf("$%s (%s): %v", IdentityFileEnv, env, err))
	} else {
		looked = append(looked, fmt.Sprintf("$%s: not set", IdentityFileEnv))
	}
	var err error
	if ref.KeyFile != "" {
		var ids []*age.X25519Identity
		if ids, err = readKeyFile(ref.KeyFile); err == nil {
			if id = match(ids, ref.Recipient); id == nil {
				err = fmt.Errorf("it holds the key of %s, not this one (a wrong key)", ids[0].Recipient())
			}
		}
	} else {
		id, err = keyringIdentity(ref.Recipient)
	}
	if err == nil {
		k.add(id)
		return id, nil
	}
	looked = append(looked, fmt.Sprintf("%s: %v", ref.place(), err))
	return nil, &KeyError{Recipient: ref.Recipient, Looked: looked}
}

// KeyError reports that the key of an encrypted folder could not be found.
type KeyError struct {
	Recipient string   // the recipient whose identity is missing
	Looked    []string // each place looked, with why it did not serve
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("no key to decrypt secrets encrypted for %s: looked in %s; set %s to a copy of the key (see README: back up the key)",
		e.Recipient, strings.Join(e.Looked, "; and in "), IdentityFileEnv)
}

func match(ids []*age.X25519Identity, recipient string) *age.X25519Identity {
	for _, id := range ids {
		if id.Recipient().String() == recipient {
			return id
		}
	}
	return nil
}

// readKeyFile reads an age identity file (as age-keygen writes it). It must be the
// user's and closed to group and others, like the secrets files; unlike them it may be
// reached through a symbolic link (a mounted secret, a systemd credential). Its errors
// never quote the file.
func readKeyFile(path string) ([]*age.X25519Identity, error) {
	data, err := safefile.ReadPrivate(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	var ids []*age.X25519Identity
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("line %d of %s is not an age X25519 identity (AGE-SECRET-KEY-1...)", i+1, path)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s holds no age identity (AGE-SECRET-KEY-1...)", path)
	}
	return ids, nil
}

// writeKeyFile creates path, which must not exist, holding id as age-keygen writes it,
// with mode 0600 whatever the umask.
func writeKeyFile(path string, id *age.X25519Identity) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			err = fmt.Errorf("write key file %s: %w", path, err)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "# created: %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id); err != nil {
		return err
	}
	return f.Sync()
}

// ErrNoKeyring is wrapped by the errors of an OS keyring that cannot be used.
var ErrNoKeyring = errors.New("the OS keyring is not available")

func keyringCall[T any](f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(keyringTimeout):
		var zero T
		return zero, fmt.Errorf("%w: it did not answer within %v (is it locked?)", ErrNoKeyring, keyringTimeout)
	}
}

func keyringIdentity(recipient string) (*age.X25519Identity, error) {
	s, err := keyringCall(func() (string, error) { return keyring.Get(KeyringService, recipient) })
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return nil, errors.New("not found")
	case err != nil:
		return nil, keyringError(err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(s))
	if err != nil || id.Recipient().String() != recipient {
		return nil, errors.New("the entry there is not this key's identity")
	}
	return id, nil
}

func keyringStore(id *age.X25519Identity) error {
	_, err := keyringCall(func() (struct{}, error) {
		return struct{}{}, keyring.Set(KeyringService, id.Recipient().String(), id.String())
	})
	if err != nil {
		return keyringError(err)
	}
	return nil
}

func keyringError(err error) error {
	if errors.Is(err, ErrNoKeyring) {
		return err
	}
	return fmt.Errorf("%w (%v)", ErrNoKeyring, err)
}

// seal encrypts value, bound to component id and key, for r.
func seal(r age.Recipient, id, key, value string) (string, error) {
	var b bytes.Buffer
	w, err := age.Encrypt(&b, r)
	if err != nil {
		return "", err
	}
	io.WriteString(w, frameMagic+id+"\n"+key+"\n"+value)
	if err := w.Close(); err != nil {
		return "", err
	}
	return envelopePrefix + base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

// errDamaged and errWrongPlace describe a value that cannot be opened.
var (
	errDamaged    = errors.New("is damaged: it is not a whole encrypted value (restore the file from a backup, or set the secret again)")
	errWrongPlace = errors.New("was encrypted for another component or key: encrypted values cannot be moved by hand (use `wassette secret edit`)")
)

// open decrypts an envelope of component id's key with one of ids. It also reports
// which identity opened it.
func open(env string, ids []*age.X25519Identity, id, key string) (string, *age.X25519Identity, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(env, envelopePrefix))
	if err != nil {
		return "", nil, errDamaged
	}
	for _, ident := range ids {
		r, err := age.Decrypt(bytes.NewReader(raw), ident)
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			continue
		}
		if err != nil {
			return "", nil, errDamaged
		}
		pt, err := io.ReadAll(io.LimitReader(r, int64(len(frameMagic)+MaxIDLen+MaxKeyLen+MaxValueLen+2)))
		if err != nil {
			return "", nil, errDamaged
		}
		want := frameMagic + id + "\n" + key + "\n"
		if !bytes.HasPrefix(pt, []byte(want)) {
			return "", nil, errWrongPlace
		}
		return string(pt[len(want):]), ident, nil
	}
	return "", nil, errors.New("was encrypted for a key other than this folder's")
}

// ownedFiles lists the secrets files of the folder (the names the store writes), as
// component IDs with their file names. Other files are not the store's, and are left
// alone.
func (s *Store) ownedFiles() ([][2]string, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list secrets folder: %w", err)
	}
	var out [][2]string
	for _, e := range entries {
		if id, ok := idOf(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, [2]string{id, e.Name()})
		}
	}
	return out, nil
}
