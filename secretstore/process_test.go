package secretstore_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wassette/wassette/internal/keyringtest"
	"github.com/wassette/wassette/secretstore"
)

// The test binary doubles as the helper process of these tests: with WASSETTE_TEST_ROLE
// set it plays that role against the store in WASSETTE_TEST_DIR and exits.
func TestMain(m *testing.M) {
	if role := os.Getenv("WASSETTE_TEST_ROLE"); role != "" {
		if err := helper(role, os.Getenv("WASSETTE_TEST_DIR"), os.Getenv("WASSETTE_TEST_ARG")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	keyringtest.Stop()
	os.Exit(code)
}

func helper(role, dir, arg string) error {
	s, err := secretstore.Open(dir)
	if err != nil {
		return err
	}
	switch role {
	case "set-keys": // set n keys named <prefix>-<i>, one write each; arg is <prefix>/<n>
		prefix, count, _ := strings.Cut(arg, "/")
		n, err := strconv.Atoi(count)
		if err != nil {
			return err
		}
		arg = prefix
		for i := range n {
			k := fmt.Sprintf("%s-%03d", arg, i)
			if err := s.Set("shared", vals(k, k+"-value")); err != nil {
				return err
			}
		}
	case "flip": // rewrite the component's secrets forever, each state self-consistent
		for n := 1; ; n++ {
			if err := s.Set("crash", generation(n)); err != nil {
				return err
			}
		}
	case "edit": // overwrite the file in place: same inode, same size, old mtime
		path, _ := s.Path("c")
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		data, _ := os.ReadFile(path)
		edited := strings.Replace(string(data), "old-value", arg, 1)
		if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
			return err
		}
		return os.Chtimes(path, fi.ModTime(), fi.ModTime())
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	return nil
}

// generation n of the crash test's secrets: every value says n, and one is large, so a
// torn write could not pass for a whole one.
func generation(n int) map[string]secretstore.Value {
	s := strconv.Itoa(n)
	return vals("A", s, "BIG", strings.Repeat(s+".", 4000), "Z", s)
}

func helperCmd(t testing.TB, role, dir, arg string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WASSETTE_TEST_ROLE="+role, "WASSETTE_TEST_DIR="+dir, "WASSETTE_TEST_ARG="+arg)
	cmd.Stderr = os.Stderr
	return cmd
}

// withAndWithoutEncryption runs test on a plaintext folder and on one encrypted with a
// key file (which helper processes find through the folder's settings).
func withAndWithoutEncryption(t *testing.T, test func(t *testing.T, s *secretstore.Store, encrypted bool)) {
	t.Run("plaintext", func(t *testing.T) { test(t, open(t), false) })
	t.Run("encrypted", func(t *testing.T) {
		s := open(t)
		if _, err := s.EnableEncryption(filepath.Join(t.TempDir(), "key")); err != nil {
			t.Fatal(err)
		}
		test(t, s, true)
		entries, _ := os.ReadDir(s.Dir())
		for _, e := range entries {
			if _, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !strings.HasPrefix(e.Name(), ".") {
				data, _ := os.ReadFile(filepath.Join(s.Dir(), e.Name()))
				for _, l := range strings.Split(string(data), "\n") {
					if l != "" && l[0] != '#' && !strings.Contains(l, `: "age:`) {
						t.Fatalf("%s holds a plaintext value: %.40s", e.Name(), l)
					}
				}
			}
		}
	})
}

func TestConcurrentProcessesLoseNoUpdate(t *testing.T) {
	withAndWithoutEncryption(t, concurrentProcesses)
}

func concurrentProcesses(t *testing.T, s *secretstore.Store, encrypted bool) {
	// Encrypted, fewer keys: each of the writes re-reads the whole file, and 800
	// envelopes make it 300 KB of YAML; the property (no update lost between processes)
	// does not need that size.
	perProcess := 100
	if encrypted {
		perProcess = 20
	}
	var cmds []*exec.Cmd
	for p := range 8 {
		cmd := helperCmd(t, "set-keys", s.Dir(), fmt.Sprintf("P%d/%d", p, perProcess))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("writer process failed: %v", err)
		}
	}
	got := plain(t, s, "shared")
	if len(got) != 8*perProcess {
		t.Fatalf("%d keys at the end, want %d", len(got), 8*perProcess)
	}
	for k, v := range got {
		if v != k+"-value" {
			t.Errorf("%s = %q", k, v)
		}
	}
	assertNoTemps(t, s.Dir())
}

func TestWriterKilledAnywhereLeavesAWholeFile(t *testing.T) {
	withAndWithoutEncryption(t, writerKilled)
}

func writerKilled(t *testing.T, s *secretstore.Store, _ bool) {
	if err := s.Set("crash", generation(0)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 200
	if testing.Short() {
		kills = 20
	}
	for i := range kills {
		cmd := helperCmd(t, "flip", s.Dir(), "")
		cmd.Stderr = nil
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(25_000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		got := plain(t, s, "crash") // fails the test if the file does not parse
		if _, err := strconv.Atoi(got["A"]); err != nil || len(got) != 3 || got["Z"] != got["A"] || got["BIG"] != strings.Repeat(got["A"]+".", 4000) {
			t.Fatalf("kill %d: file holds a mixed state (A=%q Z=%q, %d keys)", i, got["A"], got["Z"], len(got))
		}
	}
	entries, _ := os.ReadDir(s.Dir())
	torn := 0
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			torn++
		}
	}
	t.Logf("%d of %d kills left a temporary file behind (killed mid-write)", torn, kills)
	// The next writer sweeps whatever temporary files the killed ones left. (A store
	// sweeps once, at its first write: this one wrote before the kills, so the next
	// writer is a new one, as the next process would be.)
	next, err := secretstore.Open(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Set("crash", vals("DONE", "1")); err != nil {
		t.Fatal(err)
	}
	assertNoTemps(t, s.Dir())
}

func TestLongRunningReaderSeesOtherProcessEdits(t *testing.T) {
	s := open(t)
	if err := s.Set("c", vals("K", "old-value")); err != nil {
		t.Fatal(err)
	}
	if got := plain(t, s, "c")["K"]; got != "old-value" {
		t.Fatal(got)
	}
	// Same size, same mtime, same inode: only the change time and content differ.
	if err := helperCmd(t, "edit", s.Dir(), "new-value").Run(); err != nil {
		t.Fatal(err)
	}
	if got := plain(t, s, "c")["K"]; got != "new-value" {
		t.Fatalf("reader still sees %q after another process's edit", got)
	}
	// A CLI-style write from another process (rename, new inode) is seen too.
	if err := helperCmd(t, "set-keys", s.Dir(), "Q/100").Run(); err != nil {
		t.Fatal(err)
	}
	if got := plain(t, s, "shared"); len(got) != 100 {
		t.Fatalf("reader sees %d keys, want 100", len(got))
	}
}
