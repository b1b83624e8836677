// Package keyringtest gives tests a Secret Service (the OS keyring of Linux desktops) of
// their own, so that no test ever touches the keyring of the person who runs it. It is
// used by tests only.
//
// Start runs gnome-keyring-daemon, unlocked, on a private D-Bus session bus, with its
// keyring files in a temporary folder. With WASSETTE_TEST_SECRET_SERVICE=1 it uses the
// session bus of the environment instead: .ci/run runs the keyring tests under
// dbus-run-session with an unlocked gnome-keyring that way. Tests that need a Secret
// Service are skipped when there is none, except in CI (CI set), where that fails them.
package keyringtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// AmbientEnv names the variable that says the environment's session bus has a Secret
// Service made for tests.
const AmbientEnv = "WASSETTE_TEST_SECRET_SERVICE"

var (
	once    sync.Once
	address string
	failure string // why there is no Secret Service
	procs   []*exec.Cmd
	tmp     string
)

// Start returns the D-Bus address of a Secret Service for tests, starting one the first
// time it is called in the process, and points DBUS_SESSION_BUS_ADDRESS of this process at
// it (set it in the environment of any child that needs it). It skips or fails t when
// there is none (see the package comment).
func Start(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if failure != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Secret Service for the keyring tests: %s (CI installs gnome-keyring and dbus: see .ci/run)", failure)
		}
		t.Skipf("no Secret Service: %s", failure)
	}
	return address
}

// Stop ends what Start started. Call it from TestMain, after the tests ran.
func Stop() {
	for _, p := range procs {
		p.Process.Kill()
		p.Wait()
	}
	procs = nil
	if tmp != "" {
		os.RemoveAll(tmp)
	}
}

// start starts the Secret Service from a goroutine that keeps its thread for the life of
// the test binary: on Linux the processes get a signal to die when the thread that
// started them ends (so a test binary killed by its timeout leaves none behind), and a
// test's own goroutine, and its thread, ends with the test.
func start() {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		startHere()
		close(done)
		select {}
	}()
	<-done
}

func startHere() {
	if os.Getenv(AmbientEnv) == "1" {
		address = os.Getenv("DBUS_SESSION_BUS_ADDRESS")
		if address == "" {
			failure = AmbientEnv + " is set but DBUS_SESSION_BUS_ADDRESS is not"
			return
		}
		if err := waitForSecrets(address); err != nil {
			failure = err.Error()
		}
		return
	}
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			failure = bin + " is not installed (Debian: apt-get install dbus gnome-keyring)"
			return
		}
	}
	if err := startPrivate(); err != nil {
		failure = err.Error()
		Stop()
	}
}

func startPrivate() error {
	var err error
	if tmp, err = os.MkdirTemp("", "wassette-keyring-"); err != nil {
		return err
	}
	env := []string{"HOME=" + tmp, "PATH=" + os.Getenv("PATH"), "LANG=C",
		"XDG_DATA_HOME=" + filepath.Join(tmp, "data"), "XDG_CONFIG_HOME=" + filepath.Join(tmp, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(tmp, "cache"), "XDG_RUNTIME_DIR=" + filepath.Join(tmp, "run")}
	if err := os.Mkdir(filepath.Join(tmp, "run"), 0o700); err != nil {
		return err
	}
	bus := exec.Command("dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1")
	bus.Env = env
	dieWithParent(bus)
	out, err := bus.StdoutPipe()
	if err != nil {
		return err
	}
	if err := bus.Start(); err != nil {
		return fmt.Errorf("start dbus-daemon: %w", err)
	}
	procs = append(procs, bus)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("dbus-daemon printed no address: %w", err)
	}
	address = strings.TrimSpace(line)
	// The standard way to start gnome-keyring unlocked without a person: the password
	// on stdin. The login keyring is made with it on first use.
	kr := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	kr.Env = append(env, "DBUS_SESSION_BUS_ADDRESS="+address)
	kr.Stdin = strings.NewReader("wassette-test")
	dieWithParent(kr)
	if err := kr.Start(); err != nil {
		return fmt.Errorf("start gnome-keyring-daemon: %w", err)
	}
	procs = append(procs, kr)
	if err := waitForSecrets(address); err != nil {
		return err
	}
	return os.Setenv("DBUS_SESSION_BUS_ADDRESS", address)
}

// waitForSecrets waits until the Secret Service owns its name on the bus at address.
func waitForSecrets(address string) error {
	conn, err := dbus.Connect(address)
	if err != nil {
		return fmt.Errorf("connect to the session bus: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(60 * time.Second) // a generous bound for a busy machine
	for {
		var has bool
		err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.secrets").Store(&has)
		if err == nil && has {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Secret Service did not appear on the session bus (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
