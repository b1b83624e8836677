package wasi

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wassette/wassette/component/cm"
)

func TestPollWaitsForTheFirstReady(t *testing.T) {
	ctx := context.Background()
	slow, fast := newTimer(time.Hour), newTimer(10*time.Millisecond)
	defer slow.Close()
	got, err := poll(ctx, []Pollable{slow, fast})
	if err != nil || len(got.([]any)) != 1 || got.([]any)[0] != uint32(1) {
		t.Fatalf("poll = %v, %v; want [1]", got, err)
	}
	got, _ = poll(ctx, []Pollable{Ready, slow, Ready})
	if l := got.([]any); len(l) != 2 || l[0] != uint32(0) || l[1] != uint32(2) {
		t.Fatalf("poll of ready ones = %v", got)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := poll(cctx, []Pollable{slow}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll past the call's end: %v", err)
	}
}

func TestStreams(t *testing.T) {
	in := &readerStream{data: []byte("abcdef")}
	res, err := readStream(context.Background(), []any{InputStream(in), uint64(4)}, false, false)
	if err != nil || string(res.(cm.Variant).Value.([]byte)) != "abcd" {
		t.Fatalf("read: %v %v", res, err)
	}
	res, _ = readStream(context.Background(), []any{InputStream(in), uint64(4)}, true, true)
	if res.(cm.Variant).Value != uint64(2) {
		t.Fatalf("skip: %v", res)
	}
	res, _ = readStream(context.Background(), []any{InputStream(in), uint64(4)}, false, false)
	if v := res.(cm.Variant); v.Case != 1 || v.Value.(cm.Variant).Case != 1 {
		t.Fatalf("read at the end: %#v, want err(closed)", res)
	}

	w := &writerStream{w: &failAfter{n: 3}}
	res, _ = writeStream(context.Background(), []any{OutputStream(w), []byte("ab")}, true)
	if res.(cm.Variant).Case != 0 {
		t.Fatalf("write: %v", res)
	}
	res, _ = writeStream(context.Background(), []any{OutputStream(w), []byte("cd")}, false)
	v := res.(cm.Variant)
	if v.Case != 1 || v.Value.(cm.Variant).Case != 0 {
		t.Fatalf("failed write: %#v, want err(last-operation-failed)", res)
	}
	if n, err := w.CheckWrite(); err == nil || n != 0 {
		t.Fatal("a stream that failed still accepts writes")
	}
}

// failAfter accepts n bytes, then fails like an output limit.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errors.New("output limit reached")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestDescriptorRefusesEscapes(t *testing.T) {
	d := &descriptor{path: ".", dir: true}
	for _, p := range []string{"/etc/passwd", "..", "../x", "a/../../x", "a/\x00"} {
		if _, _, ok := d.resolve(p); ok {
			t.Errorf("resolve(%q) was allowed", p)
		}
	}
	if j, _, ok := d.resolve("a/../b"); !ok || j != "b" {
		t.Errorf("resolve(a/../b) = %q %v", j, ok)
	}
	if _, code, _ := (&descriptor{path: "f"}).resolve("x"); code != ecNotDirectory {
		t.Errorf("a file as a directory: %d", code)
	}
}

func TestFilesystemOperations(t *testing.T) {
	dir := t.TempDir()
	fs := sysfs.DirFS(dir)
	root, e := fs.OpenFile(".", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
	if e != 0 {
		t.Fatal(e)
	}
	d := &descriptor{fs: fs, path: ".", file: root, dir: true, flags: dfRead | dfWrite | dfMutateDirectory}
	defer d.Close()
	// open-at with create, write, then read it back through a stream.
	res, _ := openAt(d, []any{uint32(0), "f.txt", uint32(1), uint32(dfRead | dfWrite)})
	v := res.(cm.Variant)
	if v.Case != 0 {
		t.Fatalf("open-at create: error %v", errorCodeNames[v.Value.(uint32)])
	}
	f := v.Value.(*descriptor)
	defer f.Close()
	out := &fileOutput{f: f.file}
	if err := out.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	in := &fileInput{f: f.file, off: 1}
	b, err := in.Read(100)
	if err != nil || string(b) != "ello" {
		t.Fatalf("read %q %v", b, err)
	}
	if _, err := in.Read(100); err != io.EOF {
		t.Fatalf("read at the end: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f.txt")); string(got) != "hello" {
		t.Fatalf("file holds %q", got)
	}
	// exclusive create of an existing file
	res, _ = openAt(d, []any{uint32(0), "f.txt", uint32(1 | 4), uint32(dfWrite)})
	if v := res.(cm.Variant); v.Case != 1 || v.Value != uint32(ecExist) {
		t.Fatalf("exclusive create: %#v", res)
	}
	// opening what is not there
	res, _ = openAt(d, []any{uint32(0), "none", uint32(0), uint32(dfRead)})
	if v := res.(cm.Variant); v.Case != 1 || v.Value != uint32(ecNoEntry) {
		t.Fatalf("missing file: %#v", res)
	}
	// an absolute path
	res, _ = openAt(d, []any{uint32(0), "/etc/passwd", uint32(0), uint32(dfRead)})
	if v := res.(cm.Variant); v.Case != 1 || v.Value != uint32(ecNotPermitted) {
		t.Fatalf("absolute path: %#v", res)
	}
	if res, _ := atPath(d, []any{"sub"}, 0, func(p string) experimentalsys.Errno { return fs.Mkdir(p, 0o755) }); res.(cm.Variant).Case != 0 {
		t.Fatalf("mkdir: %v", res)
	}
	st, e := stat(fs, "sub", true)
	if e != 0 || typeOf(st.Mode) != dtDirectory {
		t.Fatalf("stat sub: %v %v", st, e)
	}
}

func TestNewTimes(t *testing.T) {
	a, m, ok := newTimes([]any{cm.Variant{Case: 0}, cm.Variant{Case: 2, Value: []any{uint64(5), uint32(7)}}})
	if !ok || a != experimentalsys.UTIME_OMIT || m != 5_000_000_007 {
		t.Fatalf("%d %d %v", a, m, ok)
	}
	if _, _, ok := newTimes([]any{cm.Variant{Case: 2, Value: []any{uint64(1 << 62), uint32(0)}}, cm.Variant{}}); ok {
		t.Fatal("an overflowing time was accepted")
	}
}
