package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wassette/wassette/policy"
)

// guardFixture is a home with wassette's folders where XDG puts them, plus a secrets
// folder moved elsewhere by a flag, and folders of the user's own.
type guardFixture struct {
	home, data, secrets, config, cache, work string
	guard                                    *policy.Guard
}

func newGuardFixture(t *testing.T) guardFixture {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := guardFixture{
		home:    filepath.Join(root, "home"),
		data:    filepath.Join(root, "home", ".local", "share", "wassette"),
		secrets: filepath.Join(root, "vault", "wassette-secrets"), // --secrets-dir elsewhere
		config:  filepath.Join(root, "home", ".config", "wassette"),
		cache:   filepath.Join(root, "home", ".cache", "wassette"), // never created: guarded all the same
		work:    filepath.Join(root, "home", "work"),
	}
	for _, d := range []string{f.data, filepath.Join(f.data, "components"), f.secrets, f.config, f.work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	f.guard = policy.NewGuard(
		policy.Folder{What: "data folder", Path: f.data},
		policy.Folder{What: "secrets folder", Path: f.secrets},
		policy.Folder{What: "config folder", Path: f.config},
		policy.Folder{What: "cache folder", Path: f.cache},
	)
	return f
}

func TestGuardRefusesWassettesFolders(t *testing.T) {
	f := newGuardFixture(t)
	root := filepath.Dir(f.home)
	linkToData := filepath.Join(f.work, "innocent")
	if err := os.Symlink(f.data, linkToData); err != nil {
		t.Fatal(err)
	}
	linkToHome := filepath.Join(root, "home-link")
	if err := os.Symlink(f.home, linkToHome); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.home, ".cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"the data folder", f.data, "is wassette's data folder"},
		{"the secrets folder, moved by a flag", f.secrets, "is wassette's secrets folder"},
		{"the config folder", f.config, "is wassette's config folder"},
		{"inside the data folder", filepath.Join(f.data, "components"), "is inside wassette's data folder"},
		{"above the data folder: home", f.home, "holds wassette's data folder"},
		{"above the secrets folder", filepath.Dir(f.secrets), "holds wassette's secrets folder"},
		{"the root", "/", "holds wassette's"},
		{"above a cache folder that does not exist yet", filepath.Join(f.home, ".cache"), "holds wassette's cache folder"},
		{"a link to the data folder", linkToData, "is wassette's data folder"},
		{"a link to home", linkToHome, "holds wassette's data folder"},
		{"an fs:// URI of the data folder", "fs://" + filepath.ToSlash(f.data), "is wassette's data folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.guard.ResolveStorage(tc.path, "weather")
			if !errors.Is(err, policy.ErrProtected) {
				t.Fatalf("ResolveStorage(%s) = %q, %v; want ErrProtected", tc.path, got, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "secrets") {
				t.Errorf("message does not say why: %s", msg)
			}
			if !strings.Contains(msg, "instead") {
				t.Errorf("message suggests nothing: %s", msg)
			}
		})
	}

	// Above: the suggestion is a sub-folder the guard accepts.
	_, err := f.guard.ResolveStorage(f.home, "weather")
	if want := ", such as " + filepath.Join(f.home, "weather-files"); !strings.Contains(err.Error(), want) {
		t.Errorf("no sub-folder suggested (want %q): %v", want, err)
	}
}

func TestGuardResolvesGrantsOnce(t *testing.T) {
	f := newGuardFixture(t)
	got, err := f.guard.ResolveStorage(f.work, "weather")
	if err != nil || got != f.work {
		t.Fatalf("own folder: %q, %v", got, err)
	}

	// A link is resolved to its target now: re-pointing it later does not move the grant.
	other := filepath.Join(f.home, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(f.home, "current")
	if err := os.Symlink("work", link); err != nil { // relative
		t.Fatal(err)
	}
	got, err = f.guard.ResolveStorage(link, "weather")
	if err != nil || got != f.work {
		t.Fatalf("link: %q, %v; want %s", got, err, f.work)
	}
	got, err = f.guard.ResolveStorage(filepath.Join(f.work, "..", "work", "."), "weather")
	if err != nil || got != f.work {
		t.Fatalf("dots: %q, %v", got, err)
	}

	for name, path := range map[string]string{
		"missing":  filepath.Join(f.home, "missing"),
		"a file":   writeFile(t, filepath.Join(f.work, "notes.txt")),
		"relative": "work",
	} {
		if got, err := f.guard.ResolveStorage(path, "weather"); err == nil {
			t.Errorf("%s: granted as %q", name, got)
		} else if name != "relative" && !errors.Is(err, policy.ErrNotDir) {
			t.Errorf("%s: %v, want ErrNotDir", name, err)
		}
	}
	if _, err := f.guard.ResolveStorage(filepath.Join(f.home, "missing"), "w"); !strings.Contains(err.Error(), "mkdir -p") {
		t.Errorf("missing folder: the error gives no fix: %v", err)
	}
}

func TestGuardCheckIsWhatCallsUse(t *testing.T) {
	f := newGuardFixture(t)
	if err := f.guard.Check(f.work, "w"); err != nil {
		t.Errorf("own folder refused: %v", err)
	}
	// A sibling whose name starts like a guarded folder is not inside it.
	if err := f.guard.Check(f.data+"-backup", "w"); err != nil {
		t.Errorf("sibling refused: %v", err)
	}
	if err := f.guard.Check(filepath.Join(f.secrets, "x"), "w"); !errors.Is(err, policy.ErrProtected) {
		t.Errorf("inside the secrets folder: %v", err)
	}
	if err := policy.NewGuard().Check("/", "w"); err != nil {
		t.Errorf("an empty guard refuses: %v", err)
	}
}

func TestEnvGrantsRefuseWassettesVariables(t *testing.T) {
	for _, key := range []string{"WASSETTE_AUTH_TOKEN", "WASSETTE_DATA_DIR", "wassette_secrets_dir", "Wassette_X"} {
		if err := policy.CheckEnvGrant(key); !errors.Is(err, policy.ErrProtected) {
			t.Errorf("CheckEnvGrant(%s) = %v", key, err)
		}
		p := policy.New()
		v := "value"
		if err := p.GrantEnvironment(key, &v); !errors.Is(err, policy.ErrProtected) {
			t.Errorf("GrantEnvironment(%s) = %v", key, err)
		}
		if len(p.Permissions.Environment.Allow) != 0 {
			t.Errorf("GrantEnvironment(%s) granted it", key)
		}
	}
	for _, key := range []string{"WASSETTE", "MY_WASSETTE_TOKEN", "HOME"} {
		if err := policy.CheckEnvGrant(key); err != nil {
			t.Errorf("CheckEnvGrant(%s) = %v", key, err)
		}
	}
}

func writeFile(t *testing.T, path string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
