package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// fileSource prepares to read a plain path, taken literally.
func fileSource(path, pin string) (source, error) {
	if path == "" {
		return source{}, errors.New("empty file path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return source{}, fmt.Errorf("resolve path %q: %w", path, err)
	}
	slashed := filepath.ToSlash(abs)
	if !strings.HasPrefix(slashed, "/") {
		slashed = "/" + slashed // C:/dir/x.wasm on Windows
	}
	canonical := (&url.URL{Scheme: "file", Path: slashed}).String()
	return source{
		canonical: canonical,
		baseName:  filepath.Base(abs),
		pin:       pin,
		read: func(ctx context.Context, max int64) ([]byte, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return readFile(abs, max)
		},
	}, nil
}

// fileURISource prepares to read the path of a file:// URI, given without its scheme
// and fragment: "/abs/path", "localhost/abs/path" or "relative/path".
func fileURISource(body, pin string) (source, error) {
	if rest, ok := strings.CutPrefix(body, "localhost/"); ok {
		body = "/" + rest
	}
	if i := strings.IndexByte(body, '?'); i >= 0 {
		return source{}, errors.New("a file:// URI takes no query; write '?' in a file name as %3F")
	}
	path, err := url.PathUnescape(body)
	if err != nil {
		return source{}, fmt.Errorf("file URI path %q: %w; write '%%' in a file name as %%25", body, err)
	}
	// file:///C:/dir/x.wasm names C:\dir\x.wasm on Windows.
	if runtime.GOOS == "windows" && len(path) >= 3 && path[0] == '/' && path[2] == ':' {
		path = path[1:]
	}
	if path == "" {
		return source{}, errors.New("the file:// URI names no file")
	}
	return fileSource(filepath.FromSlash(path), pin)
}

// readFile reads a regular file of at most max bytes.
func readFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no file at %s; check the path: %w", path, err)
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUnsupported, path)
	}
	if fi.Size() > max {
		return nil, capError(fi.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, capError(-1, max)
	}
	return data, nil
}
