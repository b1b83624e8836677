package secretstore_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/wassette/wassette/internal/keyringtest"
	"github.com/wassette/wassette/secretstore"
)

const canaryAfter = "canary-after-0b4e8d2f7a1c9e63"

// noPlaintext fails t if any file under dir holds one of the canaries, in plain, base64 or
// hex form.
func noPlaintext(t *testing.T, dir string, canaries ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(path)
		for _, c := range canaries {
			for _, form := range []string{c, base64.StdEncoding.EncodeToString([]byte(c)), hex.EncodeToString([]byte(c))} {
				if bytes.Contains(data, []byte(form)) {
					t.Errorf("%s holds a plaintext value (%q)", path, form)
				}
			}
		}
		return nil
	})
}

// encryptedStore returns a store with two components' secrets set before encryption was
// enabled with a key file, and one set after.
func encryptedStore(t *testing.T) (*secretstore.Store, string) {
	t.Helper()
	s := open(t)
	if err := s.Set("weather", vals("API_KEY", canary, "ENDPOINT_URL", "https://api.weather.com/v1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("other", vals("TOKEN", "x")); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "wassette.key")
	c, err := s.EnableEncryption(key)
	if err != nil || !c.Enabled || c.Rewritten != 2 || len(c.Failed) != 0 || c.KeyFile != key {
		t.Fatalf("EnableEncryption = %+v, %v", c, err)
	}
	if err := s.Set("weather", vals("NEW", canaryAfter)); err != nil {
		t.Fatal(err)
	}
	return s, key
}

func TestEncryptionWithKeyFile(t *testing.T) {
	s, key := encryptedStore(t)
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	noPlaintext(t, s.Dir(), canary, canaryAfter)
	want := map[string]string{"API_KEY": canary, "ENDPOINT_URL": "https://api.weather.com/v1", "NEW": canaryAfter}
	if got := plain(t, s, "weather"); !equal(got, want) {
		t.Errorf("this process reads %v", got)
	}
	// Another process (a new store) reads them with the key file the settings name.
	again, _ := secretstore.Open(s.Dir())
	if got := plain(t, again, "weather"); !equal(got, want) {
		t.Errorf("a new store reads %v", got)
	}
	// The file says it is encrypted, keeps its keys readable, and every value is an
	// envelope.
	path, _ := s.Path("weather")
	data, _ := os.ReadFile(path)
	text := string(data)
	if !strings.Contains(text, "encrypted with age") || strings.Count(text, `: "age:`) != 3 || !strings.Contains(text, "\nAPI_KEY: ") {
		t.Errorf("encrypted file:\n%s", text)
	}
	// A set that changes one value leaves the other lines as they were.
	if err := again.Set("weather", vals("NEW", "changed")); err != nil {
		t.Fatal(err)
	}
	data2, _ := os.ReadFile(path)
	if lineOf(string(data), "API_KEY") != lineOf(string(data2), "API_KEY") || lineOf(string(data), "NEW") == lineOf(string(data2), "NEW") {
		t.Errorf("a set rewrote values it did not change")
	}
	es, err := s.EncryptionStatus()
	if err != nil || !es.Enabled || es.KeyErr != nil || es.Files != 2 || es.Plaintext != 0 || es.KeyFile != key {
		t.Errorf("status = %+v, %v", es, err)
	}
	// Enabling again with the same key only finishes what is left: nothing.
	if c, err := s.EnableEncryption(""); err != nil || c.Rewritten != 0 {
		t.Errorf("enable again = %+v, %v", c, err)
	}
	if _, err := s.EnableEncryption(filepath.Join(t.TempDir(), "other.key")); err == nil || !strings.Contains(err.Error(), "rotate") {
		t.Errorf("enable with another key: %v, want a pointer to rotate", err)
	}
}

func lineOf(text, key string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, key+": ") {
			return l
		}
	}
	return ""
}

func TestEncryptionWithEnvironmentVariable(t *testing.T) {
	key := filepath.Join(t.TempDir(), "service.key")
	t.Setenv(secretstore.IdentityFileEnv, key)
	s := open(t)
	if err := s.Set("c", vals("K", canary)); err != nil {
		t.Fatal(err)
	}
	c, err := s.EnableEncryption("")
	if err != nil || c.KeyFile != key {
		t.Fatalf("enable with %s set = %+v, %v", secretstore.IdentityFileEnv, c, err)
	}
	noPlaintext(t, s.Dir(), canary)
	again, _ := secretstore.Open(s.Dir())
	if got := plain(t, again, "c")["K"]; got != canary {
		t.Errorf("read back %q", got)
	}
}

// A folder's key may be kept in a key file while a service reads it from a copy that the
// variable names; and a key file open to others is refused like a secrets file.
func TestKeyFileRules(t *testing.T) {
	s, key := encryptedStore(t)
	os.Chmod(key, 0o644)
	fresh, _ := secretstore.Open(s.Dir())
	if _, err := fresh.Get("weather"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key file open to others: %v", err)
	}
	os.Chmod(key, 0o600)
	copyPath := filepath.Join(t.TempDir(), "copy.key")
	data, _ := os.ReadFile(key)
	os.WriteFile(copyPath, data, 0o600)
	os.Rename(key, key+".moved")
	t.Setenv(secretstore.IdentityFileEnv, copyPath)
	fresh, _ = secretstore.Open(s.Dir())
	if got := plain(t, fresh, "weather")["API_KEY"]; got != canary {
		t.Errorf("read with the variable's copy: %q", got)
	}
}

// A missing key, a wrong key, a damaged value and a value moved by hand are errors that
// say where the key was looked for or which value is wrong, never a value; and no writer
// rewrites the file.
func TestEncryptionFailuresLoseNothing(t *testing.T) {
	s, key := encryptedStore(t)
	path, _ := s.Path("weather")
	original, _ := os.ReadFile(path)
	keyData, _ := os.ReadFile(key)

	check := func(name string, want ...string) {
		t.Helper()
		fresh, _ := secretstore.Open(s.Dir()) // a new process: the key is read again
		_, err := fresh.Get("weather")
		errSet := fresh.Set("weather", vals("X", "y"))
		errDel := fresh.Delete("weather", "API_KEY")
		for _, e := range []error{err, errSet, errDel} {
			if e == nil {
				t.Errorf("%s: no error", name)
				continue
			}
			for _, w := range want {
				if !strings.Contains(e.Error(), w) {
					t.Errorf("%s: %v\nwant it to say %q", name, e, w)
				}
			}
			for _, c := range []string{canary, canaryAfter, strings.TrimSpace(strings.Split(string(keyData), "\n")[2])} {
				if strings.Contains(e.Error(), c) {
					t.Errorf("%s: the error shows a secret: %v", name, e)
				}
			}
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, original) {
			t.Errorf("%s: the file changed", name)
		}
	}

	os.Rename(key, key+".away")
	check("missing key", key, secretstore.IdentityFileEnv+": not set", "no key to decrypt")
	t.Setenv(secretstore.IdentityFileEnv, filepath.Join(t.TempDir(), "nothing-here"))
	check("missing key, variable set", key, "nothing-here")
	t.Setenv(secretstore.IdentityFileEnv, "")

	other, _ := age.GenerateX25519Identity()
	os.WriteFile(key, []byte(other.String()+"\n"), 0o600)
	check("wrong key", key, "wrong key", other.Recipient().String())
	os.WriteFile(key, keyData, 0o600)

	// A damaged value: one character of the envelope changed.
	damaged := bytes.Replace(original, []byte(lineOf(string(original), "API_KEY")[40:60]), []byte(strings.Repeat("A", 20)), 1)
	os.WriteFile(path, damaged, 0o600)
	original = damaged
	check("damaged value", path, "line", `"API_KEY" is damaged`)

	// A value moved by hand to another key.
	lines := strings.Split(string(originalFresh(t, s)), "\n")
	var apiLine, endpointLine int
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "API_KEY: "):
			apiLine = i
		case strings.HasPrefix(l, "ENDPOINT_URL: "):
			endpointLine = i
		}
	}
	lines[endpointLine] = "ENDPOINT_URL: " + strings.TrimPrefix(lines[apiLine], "API_KEY: ")
	original = []byte(strings.Join(lines, "\n"))
	os.WriteFile(path, original, 0o600)
	check("moved value", `"ENDPOINT_URL" was encrypted for another component or key`)
}

// originalFresh restores a good encrypted file for weather and returns it.
func originalFresh(t *testing.T, s *secretstore.Store) []byte {
	t.Helper()
	path, _ := s.Path("weather")
	os.Remove(path)
	fresh, _ := secretstore.Open(s.Dir())
	if err := fresh.Set("weather", vals("API_KEY", canary, "ENDPOINT_URL", "https://x")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	return data
}

func TestDisableRestoresPlaintext(t *testing.T) {
	s, key := encryptedStore(t)
	before := plain(t, s, "weather")
	// A file that is not the store's is left alone by both conversions.
	foreign := filepath.Join(s.Dir(), "weather.consent")
	os.WriteFile(foreign, []byte("not ours"), 0o600)
	c, err := s.DisableEncryption()
	if err != nil || c.Enabled || c.Rewritten != 2 || len(c.Failed) != 0 {
		t.Fatalf("DisableEncryption = %+v, %v", c, err)
	}
	fresh, _ := secretstore.Open(s.Dir())
	if got := plain(t, fresh, "weather"); !equal(got, before) {
		t.Errorf("after disable: %v, want %v", got, before)
	}
	path, _ := s.Path("weather")
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "age:") || strings.Contains(string(data), "encrypted") || !strings.Contains(string(data), canary) {
		t.Errorf("disabled file:\n%s", data)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), ".encryption.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("the settings are still there")
	}
	if _, err := os.Stat(key); err != nil {
		t.Error("disable deleted the key: backups of the encrypted files need it")
	}
	if got, _ := os.ReadFile(foreign); string(got) != "not ours" {
		t.Error("a file that is not the store's was changed")
	}
	if es, _ := fresh.EncryptionStatus(); es.Enabled {
		t.Errorf("status after disable: %+v", es)
	}
}

func TestRotateKey(t *testing.T) {
	s, oldKey := encryptedStore(t)
	path, _ := s.Path("weather")
	before, _ := os.ReadFile(path)
	want := plain(t, s, "weather")
	newKey := filepath.Join(t.TempDir(), "new.key")
	c, err := s.RotateKey(newKey)
	if err != nil || c.Rotating || c.KeyFile != newKey || c.Rewritten != 2 || len(c.Failed) != 0 {
		t.Fatalf("RotateKey = %+v, %v", c, err)
	}
	after, _ := os.ReadFile(path)
	if lineOf(string(before), "API_KEY") == lineOf(string(after), "API_KEY") {
		t.Error("a value was not encrypted anew")
	}
	// Only the new key is needed now.
	os.Rename(oldKey, oldKey+".retired")
	fresh, _ := secretstore.Open(s.Dir())
	if got := plain(t, fresh, "weather"); !equal(got, want) {
		t.Errorf("after rotation: %v", got)
	}
	if _, err := s.RotateKey(newKey); err == nil {
		t.Error("rotating to the current key was accepted")
	}
}

// A rotation stopped half-way (a file could not be rewritten) leaves both keys in the
// settings; values open with either, and running it again finishes it.
func TestInterruptedRotationFinishes(t *testing.T) {
	s, _ := encryptedStore(t)
	broken, _ := s.Path("broken")
	os.WriteFile(broken, []byte("A: [\n"), 0o600)
	c, err := s.RotateKey(filepath.Join(t.TempDir(), "new.key"))
	if err != nil || !c.Rotating || len(c.Failed) != 1 {
		t.Fatalf("RotateKey with a broken file = %+v, %v", c, err)
	}
	fresh, _ := secretstore.Open(s.Dir())
	if got := plain(t, fresh, "weather")["API_KEY"]; got != canary {
		t.Errorf("mid-rotation read: %q", got)
	}
	os.Remove(broken)
	if c, err = fresh.RotateKey(""); err != nil || c.Rotating || len(c.Failed) != 0 {
		t.Fatalf("finishing the rotation = %+v, %v", c, err)
	}
}

// A file with plaintext values in an encrypted folder (added or edited by hand) reads as
// it is and is encrypted at its next write.
func TestPlaintextInEncryptedFolderIsEncryptedAtNextWrite(t *testing.T) {
	s, _ := encryptedStore(t)
	writeFile(t, s, "hand", "TOKEN: \""+canary+"\"\n")
	if got := plain(t, s, "hand")["TOKEN"]; got != canary {
		t.Fatalf("read %q", got)
	}
	if es, _ := s.EncryptionStatus(); es.Plaintext != 1 {
		t.Errorf("status counts %d files with plaintext, want 1", es.Plaintext)
	}
	if err := s.Set("hand", vals("OTHER", "1")); err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, s.Dir(), canary, canaryAfter)
	if got := plain(t, s, "hand"); got["TOKEN"] != canary || got["OTHER"] != "1" {
		t.Errorf("after the write: %v", got)
	}
}

// The key is read once per process: once a store has it, its files keep working without
// the key file, and a cached lookup reads nothing.
func TestKeyReadOncePerProcess(t *testing.T) {
	s, key := encryptedStore(t)
	plain(t, s, "weather")
	os.Rename(key, key+".away")
	if err := s.Set("weather", vals("MORE", "1")); err != nil {
		t.Errorf("a write after the key file went away: %v", err)
	}
	if got := plain(t, s, "weather")["MORE"]; got != "1" {
		t.Errorf("read %q", got)
	}
}

func TestExportKey(t *testing.T) {
	s, key := encryptedStore(t)
	backup := filepath.Join(t.TempDir(), "backup.key")
	if err := s.ExportKey(backup); err != nil {
		t.Fatal(err)
	}
	if err := s.ExportKey(backup); err == nil {
		t.Error("ExportKey overwrote a file")
	}
	if fi, _ := os.Stat(backup); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v", fi.Mode())
	}
	os.Remove(key)
	t.Setenv(secretstore.IdentityFileEnv, backup)
	fresh, _ := secretstore.Open(s.Dir())
	if got := plain(t, fresh, "weather")["API_KEY"]; got != canary {
		t.Errorf("read with the backup: %q", got)
	}
}

// With the OS keyring (a Secret Service of the test's own): enable keeps the key there,
// another process reads with it, and the files hold no plaintext.
func TestEncryptionWithKeyring(t *testing.T) {
	keyringtest.Start(t)
	s := open(t)
	if err := s.Set("weather", vals("API_KEY", canary)); err != nil {
		t.Fatal(err)
	}
	c, err := s.EnableEncryption("")
	if err != nil || !c.Enabled || c.KeyFile != "" || !strings.Contains(c.KeyPlace(), "OS keyring") {
		t.Fatalf("EnableEncryption with the keyring = %+v, %v", c, err)
	}
	if err := s.Set("weather", vals("NEW", canaryAfter)); err != nil {
		t.Fatal(err)
	}
	noPlaintext(t, s.Dir(), canary, canaryAfter)
	fresh, _ := secretstore.Open(s.Dir())
	if got := plain(t, fresh, "weather"); got["API_KEY"] != canary || got["NEW"] != canaryAfter {
		t.Errorf("read through the keyring: %v", got)
	}
	if es, err := fresh.EncryptionStatus(); err != nil || es.KeyErr != nil {
		t.Errorf("status: %+v, %v", es, err)
	}
	// Rotation to a new keyring key, then back to plaintext.
	if c, err := fresh.RotateKey(""); err != nil || c.Recipient == "" || c.KeyFile != "" {
		t.Fatalf("RotateKey in the keyring = %+v, %v", c, err)
	}
	again, _ := secretstore.Open(s.Dir())
	if c, err := again.DisableEncryption(); err != nil || c.Enabled {
		t.Fatalf("DisableEncryption = %+v, %v", c, err)
	}
	if got := plain(t, again, "weather")["API_KEY"]; got != canary {
		t.Errorf("after disable: %q", got)
	}
}

func TestEdit(t *testing.T) {
	s, _ := encryptedStore(t)
	var seen string
	changed, err := s.Edit("weather", func(path string) error {
		seen = path
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), canary) || strings.Contains(string(data), "age:") {
			t.Errorf("the edit file does not hold the plaintext: %v\n%s", err, data)
		}
		text := strings.Replace(string(data), "ENDPOINT_URL", "# ENDPOINT_URL", 1) + "ADDED: \"yes\"\n"
		return os.WriteFile(path, []byte(text), 0o600)
	}, nil)
	if err != nil || !changed {
		t.Fatalf("Edit = %v, %v", changed, err)
	}
	if !strings.HasPrefix(seen, filepath.Join(s.Dir(), ".edit")+string(filepath.Separator)) {
		t.Errorf("edit file at %s", seen)
	}
	if _, err := os.Stat(filepath.Dir(seen)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the session folder is still there: %v", err)
	}
	want := map[string]string{"API_KEY": canary, "NEW": canaryAfter, "ADDED": "yes"}
	if got := plain(t, s, "weather"); !equal(got, want) {
		t.Errorf("after the edit: %v", got)
	}
	noPlaintext(t, s.Dir(), canary, canaryAfter)

	// An invalid edit is offered again; the second try is applied.
	tries := 0
	changed, err = s.Edit("weather", func(path string) error {
		tries++
		line := "BROKEN: [\n"
		if tries == 2 {
			line = "SECOND: \"try\"\n"
		}
		data, _ := os.ReadFile(path)
		return os.WriteFile(path, append(bytes.Replace(data, []byte("BROKEN: [\n"), nil, 1), line...), 0o600)
	}, func(err error) bool { return strings.Contains(err.Error(), "line") })
	if err != nil || !changed || tries != 2 || plain(t, s, "weather")["SECOND"] != "try" {
		t.Errorf("retry: %v %v %d", changed, err, tries)
	}
	// Giving up changes nothing; no change is no write.
	boom := errors.New("boom")
	if _, err := s.Edit("weather", func(string) error { return boom }, nil); !errors.Is(err, boom) {
		t.Errorf("editor error: %v", err)
	}
	if changed, err := s.Edit("weather", func(string) error { return nil }, nil); changed || err != nil {
		t.Errorf("no change: %v, %v", changed, err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), ".edit"))
	if len(entries) != 0 {
		t.Errorf("sessions left: %v", entries)
	}
}

// A session whose process died is removed by the next writer; a live one is not.
func TestEditSessionsSwept(t *testing.T) {
	s := open(t)
	if err := s.Set("c", vals("K", "v")); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(s.Dir(), ".edit", "c-dead")
	os.MkdirAll(dead, 0o700)
	os.WriteFile(filepath.Join(dead, "c.yaml"), []byte("K: \""+canary+"\"\n"), 0o600)
	var during []string
	_, err := s.Edit("c", func(path string) error {
		// The edit swept the dead session when it began; while it lives, another
		// writer (a new store: another process) sweeps too, and leaves it.
		other, _ := secretstore.Open(s.Dir())
		if err := other.Set("c", vals("OTHER", "1")); err != nil {
			return err
		}
		entries, _ := os.ReadDir(filepath.Join(s.Dir(), ".edit"))
		for _, e := range entries {
			during = append(during, e.Name())
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 1 || strings.HasPrefix(during[0], "c-dead") {
		t.Errorf("sessions while editing: %v (the dead one should be gone, the live one kept)", during)
	}
	noPlaintext(t, s.Dir(), canary)
}
