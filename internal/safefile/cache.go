package safefile

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"
)

// racyWindow is how close to a file's last change a read must be for the read to be
// untrusted. File systems keep timestamps in ticks (a kernel clock tick, a second, two on
// FAT), so two same-size writes within one tick leave the same stat behind. A file read
// that soon after its change is read again on the next lookup, and compared by content,
// until a read happens a full window after the change: the same rule git uses for its
// "racily clean" index entries.
const racyWindow = 2 * time.Second

// Cache holds files parsed into values of type T, one entry per path in use. A lookup
// whose file has not changed costs one lstat.
type Cache[T any] struct {
	limit int64
	parse func(path string, data []byte) (T, error)

	mu      sync.RWMutex
	entries map[string]*entry[T]
}

type entry[T any] struct {
	fp   fingerprint
	sum  [sha256.Size]byte
	racy bool
	val  T
}

// fingerprint is what one stat tells about a file's content.
type fingerprint struct {
	size     int64
	mtimeNs  int64
	ctimeNs  int64
	dev, ino uint64
	mode     fs.FileMode
}

func fingerprintOf(fi fs.FileInfo) fingerprint {
	dev, ino, ctimeNs := sysFingerprint(fi)
	return fingerprint{
		size:    fi.Size(),
		mtimeNs: fi.ModTime().UnixNano(),
		ctimeNs: ctimeNs,
		dev:     dev,
		ino:     ino,
		mode:    fi.Mode(),
	}
}

// racy reports whether a read at now may have missed a change that left the same stat.
func (fp fingerprint) racy(now time.Time) bool {
	changed := max(fp.mtimeNs, fp.ctimeNs)
	return now.UnixNano()-changed < int64(racyWindow)
}

// NewCache returns an empty cache whose files are at most limit bytes and are turned
// into values by parse. parse must not keep data.
func NewCache[T any](limit int64, parse func(path string, data []byte) (T, error)) *Cache[T] {
	return &Cache[T]{limit: limit, parse: parse, entries: make(map[string]*entry[T])}
}

// Load returns the parsed content of the file at path, reading it only if it changed
// since the last Load. It reports false, and no error, for a missing file. The file is
// refused, as by ReadFile, if it is a link, someone else's, or open to others.
func (c *Cache[T]) Load(path string) (T, bool, error) {
	var zero T
	fi, err := os.Lstat(path)
	if err != nil {
		c.Forget(path)
		if errors.Is(err, fs.ErrNotExist) {
			return zero, false, nil
		}
		return zero, false, err
	}
	if err := checkFile(path, fi); err != nil {
		c.Forget(path)
		return zero, false, err
	}
	c.mu.RLock()
	e := c.entries[path]
	c.mu.RUnlock()
	if e != nil && !e.racy && e.fp == fingerprintOf(fi) {
		return e.val, true, nil
	}

	data, fi, err := readChecked(path, c.limit)
	if err != nil {
		c.Forget(path)
		if errors.Is(err, fs.ErrNotExist) {
			return zero, false, nil
		}
		return zero, false, err
	}
	next := &entry[T]{fp: fingerprintOf(fi), sum: sha256.Sum256(data)}
	// c.parse may call Last for path: it must see e, so no lock is held here.
	next.racy = next.fp.racy(time.Now())
	if e != nil && e.sum == next.sum {
		next.val = e.val
	} else if next.val, err = c.parse(path, data); err != nil {
		c.Forget(path)
		return zero, false, err
	}
	c.mu.Lock()
	c.entries[path] = next
	c.mu.Unlock()
	return next.val, true, nil
}

// Peek returns the value cached for path if it was parsed from exactly data. A writer
// that has just read a file under the lock uses it to skip parsing what it already has.
func (c *Cache[T]) Peek(path string, data []byte) (T, bool) {
	c.mu.RLock()
	e := c.entries[path]
	c.mu.RUnlock()
	if e == nil || e.sum != sha256.Sum256(data) {
		var zero T
		return zero, false
	}
	return e.val, true
}

// Last returns the value cached for path, whatever the file holds now: a parser may
// reuse the parts of the last version that did not change.
func (c *Cache[T]) Last(path string) (T, bool) {
	c.mu.RLock()
	e := c.entries[path]
	c.mu.RUnlock()
	if e == nil {
		var zero T
		return zero, false
	}
	return e.val, true
}

// Put records val as the parsed content of data, which the caller has just written to
// path (holding the write lock). The entry is marked racy, so the next Load still reads
// the file once and compares it with data: a change made since is not missed.
func (c *Cache[T]) Put(path string, data []byte, val T) {
	fi, err := os.Lstat(path)
	if err != nil {
		c.Forget(path)
		return
	}
	e := &entry[T]{fp: fingerprintOf(fi), sum: sha256.Sum256(data), racy: true, val: val}
	c.mu.Lock()
	c.entries[path] = e
	c.mu.Unlock()
}

// Forget drops the entry for path, so the next Load reads the file.
func (c *Cache[T]) Forget(path string) {
	c.mu.RLock()
	_, ok := c.entries[path]
	c.mu.RUnlock()
	if ok { // the common miss, a component without a file, takes no write lock
		c.mu.Lock()
		delete(c.entries, path)
		c.mu.Unlock()
	}
}

// Len reports how many files the cache holds.
func (c *Cache[T]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
