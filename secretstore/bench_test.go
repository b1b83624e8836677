package secretstore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wassette/wassette/secretstore"
)

// A file read within two seconds of its last change is re-read on the next lookup (see
// internal/safefile); benchmarks of the cached path measure files at rest, so they wait
// that long once after writing their fixtures.
const settle = 2100 * time.Millisecond

func benchStore(b *testing.B) (*secretstore.Store, string) { return benchStoreOf(b, false) }

// benchStoreOf is benchStore, encrypted at rest (with a key file) if encrypted is set.
func benchStoreOf(b *testing.B, encrypted bool) (*secretstore.Store, string) {
	b.Helper()
	s, err := secretstore.Open(filepath.Join(b.TempDir(), "secrets"))
	if err != nil {
		b.Fatal(err)
	}
	if encrypted {
		if _, err := s.EnableEncryption(filepath.Join(b.TempDir(), "key")); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Set("weather", vals("API_KEY", "sk-1234567890abcdef", "ENDPOINT_URL", "https://api.weather.com/v1", "TIMEOUT", "30")); err != nil {
		b.Fatal(err)
	}
	path, _ := s.Path("weather")
	return s, path
}

// BenchmarkStat is the baseline of BenchmarkLookupCached: one bare os.Stat of the file.
func BenchmarkStat(b *testing.B) {
	_, path := benchStore(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := os.Stat(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupCached is one secret lookup whose file has not changed.
func BenchmarkLookupCached(b *testing.B) { lookupCached(b, false) }

// BenchmarkLookupCachedEncrypted is BenchmarkLookupCached with encryption at rest: the
// same one stat, since the cache holds the opened values.
func BenchmarkLookupCachedEncrypted(b *testing.B) { lookupCached(b, true) }

func lookupCached(b *testing.B, encrypted bool) {
	s, _ := benchStoreOf(b, encrypted)
	time.Sleep(settle)
	s.Lookup("weather", "API_KEY") // load once; the rest are hits
	b.ResetTimer()
	for b.Loop() {
		if _, ok, err := s.Lookup("weather", "API_KEY"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkBareWrite is the baseline of BenchmarkSet: the same bytes written to a
// temporary file, fsynced and renamed over the target, with no lock, read or check.
func BenchmarkBareWrite(b *testing.B) { bareWrite(b, false) }

// BenchmarkBareWriteSyncDir is BenchmarkBareWrite plus the folder fsync that makes the
// rename itself durable, which design.md requires of every write: the baseline that
// isolates what the store adds (lock, re-read, parse, encode, checks).
func BenchmarkBareWriteSyncDir(b *testing.B) { bareWrite(b, true) }

func bareWrite(b *testing.B, syncDir bool) {
	_, path := benchStore(b)
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Dir(path)
	b.ResetTimer()
	for b.Loop() {
		f, err := os.CreateTemp(dir, ".bare-*")
		if err != nil {
			b.Fatal(err)
		}
		f.Write(data)
		f.Sync()
		f.Close()
		if err := os.Rename(f.Name(), path); err != nil {
			b.Fatal(err)
		}
		if syncDir {
			d, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			d.Sync()
			d.Close()
		}
	}
}

// BenchmarkSet is one `secret set` that changes an existing key: lock, re-read, parse,
// encode, write, fsync, rename, fsync the folder, unlock.
func BenchmarkSet(b *testing.B) { set(b, false) }

// BenchmarkSetEncrypted is BenchmarkSet with encryption at rest: the same, plus the
// encryption of the new value (the others keep their envelopes).
func BenchmarkSetEncrypted(b *testing.B) { set(b, true) }

func set(b *testing.B, encrypted bool) {
	s, _ := benchStoreOf(b, encrypted)
	v := []map[string]secretstore.Value{vals("API_KEY", "sk-1234567890abcdef"), vals("API_KEY", "sk-fedcba0987654321")}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if err := s.Set("weather", v[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLookupComponents looks up secrets round-robin across n components that all
// have secrets: the cost of a lookup must not grow with n.
func BenchmarkLookupComponents(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "secrets")
			s, err := secretstore.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			os.MkdirAll(dir, 0o700)
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("component-%05d", i)
				path, _ := s.Path(ids[i])
				if err := os.WriteFile(path, []byte("API_KEY: \"sk-1234567890abcdef\"\nTIMEOUT: \"30\"\n"), 0o600); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(settle)
			for _, id := range ids {
				s.Lookup(id, "API_KEY")
			}
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, ok, err := s.Lookup(ids[i%n], "API_KEY"); !ok || err != nil {
					b.Fatal(ok, err)
				}
				i++
			}
		})
	}
}
