package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Folder is one of wassette's own folders, which no component may be granted.
type Folder struct {
	// What names the folder for a person: "data folder", "secrets folder", ...
	What string
	// Path is the folder, absolute; it need not exist yet.
	Path string
}

// Guard refuses storage grants that would let a component reach wassette's own
// folders: the folder itself, anything inside it, or anything that holds it. A
// component granted the secrets folder could read every component's secrets; one
// granted the data folder could also rewrite its own policy.
//
// A Guard compares real paths (symbolic links resolved), so a link to a protected
// folder, or a protected folder reached through a link, is refused too. It is safe for
// concurrent use.
type Guard struct {
	folders []guarded
}

type guarded struct {
	what  string
	forms []string // the absolute path as given and its real path, if different
}

// NewGuard returns a Guard over folders. A folder that does not exist yet is resolved
// through its nearest existing parent, so a later mkdir does not open a gap.
func NewGuard(folders ...Folder) *Guard {
	g := &Guard{}
	for _, f := range folders {
		if f.Path == "" {
			continue
		}
		abs, err := filepath.Abs(f.Path)
		if err != nil {
			continue
		}
		abs = filepath.Clean(abs)
		forms := []string{abs}
		if real := realPrefix(abs); real != abs {
			forms = append(forms, real)
		}
		g.folders = append(g.folders, guarded{what: f.What, forms: forms})
	}
	return g
}

// realPrefix resolves the symbolic links of the longest existing prefix of abs and
// appends the rest unchanged.
func realPrefix(abs string) string {
	rest := ""
	p := abs
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return abs
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// ErrProtected is wrapped by the error for a folder that is, holds, or is inside one of
// wassette's own folders.
var ErrProtected = errors.New("protected folder")

// ErrNotDir is wrapped by the error for a granted path that does not exist or is not a
// folder.
var ErrNotDir = errors.New("not an existing folder")

// ResolveStorage returns the real folder that a storage grant of path must store: path
// (absolute, or an fs:// URI) with every symbolic link resolved, once, now. It must
// exist and be a folder, and must not be, hold, or be inside one of the guarded
// folders. id names the component, for the suggestion in the error.
func (g *Guard) ResolveStorage(path, id string) (string, error) {
	p := path
	if rest, ok := strings.CutPrefix(p, "fs://"); ok {
		p = filepath.FromSlash(rest)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("storage path %q is not absolute", path)
	}
	p = filepath.Clean(p)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", tagged(ErrNotDir, "%s does not exist; create the folder first (mkdir -p %s)", p, p)
		}
		return "", tagged(ErrNotDir, "cannot resolve %s: %v", p, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", tagged(ErrNotDir, "%s: %v", p, err)
	}
	if !fi.IsDir() {
		return "", tagged(ErrNotDir, "%s is a file; grant the folder that holds what the component needs", p)
	}
	if err := g.Check(real, id); err != nil {
		if real != p {
			return "", fmt.Errorf("%s leads to %s: %w", p, real, err)
		}
		return "", err
	}
	return real, nil
}

// Check reports an error wrapping ErrProtected if the absolute folder path is, holds, or
// is inside one of the guarded folders. It compares path as given; ResolveStorage
// resolves links first. id names the component, for the suggestion in the error.
func (g *Guard) Check(path, id string) error {
	path = filepath.Clean(path)
	for _, f := range g.folders {
		for _, form := range f.forms {
			switch {
			case samePath(path, form):
				return tagged(ErrProtected, "%s is wassette's %s; %s. Grant a folder outside wassette's folders instead%s",
					path, f.what, why, g.suggest(outsideSuggestion(id), id))
			case within(path, form):
				return tagged(ErrProtected, "%s is inside wassette's %s %s; %s. Grant a folder outside wassette's folders instead%s",
					path, f.what, form, why, g.suggest(outsideSuggestion(id), id))
			case within(form, path):
				return tagged(ErrProtected, "%s holds wassette's %s %s; %s. Grant a sub-folder that does not hold it instead%s",
					path, f.what, form, why, g.suggest(filepath.Join(path, folderName(id)), id))
			}
		}
	}
	return nil
}

// why is the reason every refusal gives.
const why = "a component granted it could read every component's secrets or rewrite its own policy"

// suggest returns ", such as <dir>" for a suggested folder the guard would accept, or "".
func (g *Guard) suggest(dir, id string) string {
	if dir == "" || g.Check(dir, id) != nil {
		return ""
	}
	return ", such as " + dir
}

// outsideSuggestion is a folder for the component in the user's home.
func outsideSuggestion(id string) string {
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		return ""
	}
	return filepath.Join(home, folderName(id))
}

// folderName is a folder name for the files of component id.
func folderName(id string) string {
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' || r == 0x7f {
			return '-'
		}
		return r
	}, id)
	name = strings.TrimLeft(name, ".")
	if name == "" {
		name = "component"
	}
	return name + "-files"
}

// samePath and within compare cleaned absolute paths; on the file systems macOS and
// Windows use by default, case does not tell paths apart.
func samePath(a, b string) bool {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// within reports whether a lies strictly inside b.
func within(a, b string) bool {
	if len(a) <= len(b) {
		return false
	}
	prefix := b
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	return len(a) > len(prefix) && samePath(a[:len(prefix)], prefix)
}

// ReservedEnvPrefix starts the names of wassette's own environment variables
// (WASSETTE_AUTH_TOKEN, WASSETTE_DATA_DIR, ...). No component may be granted a host
// variable of that name, and no host variable of that name ever reaches one.
const ReservedEnvPrefix = "WASSETTE_"

// IsReservedEnvKey reports whether key names one of wassette's own variables, in any
// case (Windows does not tell variable names apart by case).
func IsReservedEnvKey(key string) bool {
	return len(key) >= len(ReservedEnvPrefix) && strings.EqualFold(key[:len(ReservedEnvPrefix)], ReservedEnvPrefix)
}

// CheckEnvGrant checks a key for an environment grant: a valid key that is not one of
// wassette's own variables. The error never contains a value.
func CheckEnvGrant(key string) error {
	if err := validateEnv(key, nil); err != nil {
		return err
	}
	if IsReservedEnvKey(key) {
		return errReservedEnv(key)
	}
	return nil
}

// errReservedEnv is the refusal of a grant of one of wassette's own variables.
func errReservedEnv(key string) error {
	return tagged(ErrProtected, "%s is one of wassette's own variables (%s*: its bearer token, its folders); no component may be granted it. "+
		"To give a component a value under that name, store it as a secret instead", key, ReservedEnvPrefix)
}

// tagged returns an error with the formatted message that matches kind for errors.Is.
func tagged(kind error, format string, args ...any) error {
	return &taggedError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type taggedError struct {
	kind error
	msg  string
}

func (e *taggedError) Error() string        { return e.msg }
func (e *taggedError) Is(target error) bool { return target == e.kind }
