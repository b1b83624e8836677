package cmtest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gofrs/flock"
)

// Call is one call of an exported function through the oracle (testdata/components/oracle/
// run.mjs): the component's path, the tool name (upstream's naming rule: the interface export
// name lower-cased with every character outside [a-z0-9-] turned into '_', then '_', then the
// function name; a bare function by its name), the arguments as a JSON object keyed by
// parameter name, the environment the component sees through both wasi:cli/environment and
// wasi:config/store, and preopened folders (guest path -> host path).
type Call struct {
	Component string            `json:"component"`
	Tool      string            `json:"tool"`
	Args      json.RawMessage   `json:"args,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	Preopens  map[string]string `json:"preopens,omitempty"`
}

// Outcome is what the oracle answered for a Call. Exactly one of these holds: Result is the
// function's result as JSON (README.md's conventions), nil for a function without a result;
// Trap is set when the component trapped; Error is set when the oracle refused the call (an
// unknown tool, bad arguments: it names the argument's path).
type Outcome struct {
	Result json.RawMessage `json:"result,omitempty"`
	Trap   string          `json:"trap,omitempty"`
	Error  string          `json:"error,omitempty"`
	Stdout string          `json:"stdout"`
	Stderr string          `json:"stderr"`
}

// Tool is an exported function as the oracle names and types it.
type Tool struct {
	Name   string `json:"name"`
	Params []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"params"`
	Result *string `json:"result"`
}

// Oracle is a running jco reference host: one Node process that answers calls in order, each
// in a fresh instance of its component. It is safe for concurrent use.
type Oracle struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr lockedBuffer
	nextID int
	cache  string
}

// StartOracle starts the oracle for t (it needs the corpus's node_modules, so it builds or
// finds the corpus first) and stops it when t ends.
func StartOracle(t testing.TB) *Oracle {
	t.Helper()
	cache := filepath.Join(Dir(t), ".oracle-cache")
	if err := installPackages(); err != nil {
		t.Fatal(err)
	}
	o := &Oracle{cache: cache}
	o.cmd = o.command("batch")
	o.cmd.Stderr = &o.stderr
	var err error
	if o.in, err = o.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := o.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	o.out = bufio.NewReaderSize(stdout, 1<<20)
	if err := o.cmd.Start(); err != nil {
		t.Fatalf("cmtest: starting the oracle: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func (o *Oracle) command(args ...string) *exec.Cmd {
	script := filepath.Join(SourceDir(), "oracle", "run.mjs")
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = SourceDir()
	// The oracle gives a component nothing of its own environment; node needs only these.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "WASSETTE_ORACLE_CACHE=" + o.cache}
	return cmd
}

// CallAll sends every call at once and returns their outcomes in the same order.
func (o *Oracle) CallAll(calls []Call) ([]Outcome, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd == nil {
		return nil, errors.New("cmtest: the oracle is closed")
	}
	ids := make([]int, len(calls))
	var buf bytes.Buffer
	for i, c := range calls {
		o.nextID++
		ids[i] = o.nextID
		line, err := json.Marshal(struct {
			ID int `json:"id"`
			Call
		}{o.nextID, c})
		if err != nil {
			return nil, fmt.Errorf("cmtest: call %d: %v", i, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	// Write from another goroutine: the oracle answers while we still write.
	werr := make(chan error, 1)
	go func() {
		_, err := o.in.Write(buf.Bytes())
		werr <- err
	}()
	outs := make([]Outcome, len(calls))
	for i := range calls {
		line, err := o.out.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("cmtest: the oracle stopped answering: %v\n%s", err, o.stderr.String())
		}
		var resp struct {
			ID int `json:"id"`
			Outcome
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&resp); err != nil {
			return nil, fmt.Errorf("cmtest: the oracle answered %q: %v", line, err)
		}
		if resp.ID != ids[i] {
			return nil, fmt.Errorf("cmtest: the oracle answered call %d for call %d: %s", resp.ID, ids[i], line)
		}
		outs[i] = resp.Outcome
	}
	if err := <-werr; err != nil {
		return nil, fmt.Errorf("cmtest: writing to the oracle: %v", err)
	}
	return outs, nil
}

// Call runs one call.
func (o *Oracle) Call(c Call) (Outcome, error) {
	outs, err := o.CallAll([]Call{c})
	if err != nil {
		return Outcome{}, err
	}
	return outs[0], nil
}

// Tools lists the component's exported functions as the oracle names and types them.
func (o *Oracle) Tools(component string) ([]Tool, error) {
	cmd := o.command("list", component)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("cmtest: oracle list %s: %v\n%s", component, err, stderr.String())
	}
	var r struct {
		Tools []Tool `json:"tools"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("cmtest: oracle list %s: %v", component, err)
	}
	return r.Tools, nil
}

// lockedBuffer collects the oracle's stderr, written by exec's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Close stops the oracle.
func (o *Oracle) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd == nil {
		return nil
	}
	o.in.Close()
	err := o.cmd.Wait()
	o.cmd = nil
	if err != nil {
		return fmt.Errorf("cmtest: the oracle exited: %v\n%s", err, o.stderr.String())
	}
	return nil
}

// installPackages runs npm ci in testdata/components when its node_modules is missing:
// the corpus may come from the cache, built from another checkout of the same sources,
// while the oracle runs jco from this one's packages.
func installPackages() error {
	src := SourceDir()
	if _, err := os.Stat(filepath.Join(src, "node_modules", "@bytecodealliance", "jco", "package.json")); err == nil {
		return nil
	}
	sum := sha256.Sum256([]byte(src)) // a lock per checkout, outside the hashed sources
	lock := flock.New(filepath.Join(os.TempDir(), fmt.Sprintf("wassette-cmtest-npm-%x.lock", sum[:6])))
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("cmtest: lock %s: %v", lock.Path(), err)
	}
	defer lock.Unlock()
	if _, err := os.Stat(filepath.Join(src, "node_modules", "@bytecodealliance", "jco", "package.json")); err == nil {
		return nil // another test binary installed them while we waited
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cmtest: npm ci in %s (the oracle's jco) failed: %v\n%s", src, err, out)
	}
	return nil
}
