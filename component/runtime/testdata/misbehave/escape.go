// The escape tool: given a writable grant, a read-only grant and the path of a
// folder outside both, it tries every way out it knows (symbolic and hard links made
// inside the writable grant, relative and absolute; renames, removals and truncation
// through the read-only grant; links someone placed inside either grant; ".." paths)
// and reports, for each attempt, whether it succeeded, what error it got and what it
// read.

package main

import (
	"encoding/json"
	"errors"
	"os"
	"path"
	"time"

	"github.com/wassette/wassette/guest"
)

type escapeArgs struct {
	RW      string `json:"rw"`      // a writable grant
	RO      string `json:"ro"`      // a read-only grant
	Outside string `json:"outside"` // a folder outside both, holding secret.txt
}

// attempt is the outcome of one try.
type attempt struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	Err  string `json:"err,omitempty"`
	Data string `json:"data,omitempty"` // what a read returned
}

var escapeTool = guest.Tool{
	Name:        "escape",
	Description: "Tries every way out of its grants and reports each attempt.",
	InputSchema: json.RawMessage(`{"type":"object","properties":{"rw":{"type":"string"},"ro":{"type":"string"},"outside":{"type":"string"}}}`),
	Handler: func(raw json.RawMessage) (any, error) {
		var a escapeArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, err
		}
		return escape(a), nil
	},
}

func escape(a escapeArgs) []attempt {
	rw, ro, out := a.RW, a.RO, a.Outside
	rel := "../" + path.Base(out) // the outside folder, relative to either grant
	var res []attempt
	try := func(name string, fn func() error) {
		err := fn()
		at := attempt{Name: name, OK: err == nil}
		if err != nil {
			at.Err = err.Error()
		}
		res = append(res, at)
	}
	read := func(name, p string) {
		b, err := os.ReadFile(p)
		at := attempt{Name: name, OK: err == nil, Data: string(b)}
		if err != nil {
			at.Err = err.Error()
		}
		res = append(res, at)
	}
	list := func(name, p string) {
		ents, err := os.ReadDir(p)
		at := attempt{Name: name, OK: err == nil}
		for _, e := range ents {
			at.Data += e.Name() + "\n"
		}
		if err != nil {
			at.Err = err.Error()
		}
		res = append(res, at)
	}
	write := func(p string) func() error { return func() error { return os.WriteFile(p, []byte("pwned"), 0o644) } }

	// Controls: what the grants do allow.
	try("control: write in rw", write(rw+"/own.txt"))
	read("control: read back in rw", rw+"/own.txt")
	read("control: read in ro", ro+"/file.txt")
	read("control: link inside rw that stays inside", rw+"/pre-in")

	// Symbolic links made inside the writable grant.
	try("symlink relative dir", func() error { return os.Symlink(rel, rw+"/rel-link") })
	read("read through the relative dir link", rw+"/rel-link/secret.txt")
	try("symlink relative file", func() error { return os.Symlink(rel+"/secret.txt", rw+"/rel-file") })
	read("read through the relative file link", rw+"/rel-file")
	try("symlink absolute dir", func() error { return os.Symlink(out, rw+"/abs-link") })
	read("read through the absolute dir link", rw+"/abs-link/secret.txt")
	try("symlink absolute file", func() error { return os.Symlink(out+"/secret.txt", rw+"/abs-file") })
	try("write where the absolute file link was refused", write(rw+"/abs-file")) // a plain file
	try("symlink to the read-only grant", func() error { return os.Symlink(ro, rw+"/to-ro") })
	try("symlink inside the grant", func() error { return os.Symlink("own.txt", rw+"/own-link") })

	// Hard links made inside the writable grant.
	try("hard link relative", func() error { return os.Link(rw+"/"+rel+"/secret.txt", rw+"/hard-rel") })
	read("read the relative hard link", rw+"/hard-rel")
	try("hard link absolute", func() error { return os.Link(out+"/secret.txt", rw+"/hard-abs") })
	read("read the absolute hard link", rw+"/hard-abs")
	try("hard link from the read-only grant", func() error { return os.Link(ro+"/file.txt", rw+"/hard-ro") })
	try("write where the hard link from the read-only grant was refused", write(rw+"/hard-ro")) // a plain file
	// Linking a pre-placed link makes another link, which leads nowhere either.
	try("hard link of a pre-placed link", func() error { return os.Link(rw+"/pre-out", rw+"/hard-pre") })
	read("read the hard link of a pre-placed link", rw+"/hard-pre")

	// Links someone placed inside the writable grant.
	read("rw: read a pre-placed relative file link", rw+"/pre-out")
	read("rw: read a pre-placed absolute dir link", rw+"/pre-abs/secret.txt")
	list("rw: list a pre-placed dir link", rw+"/pre-out-dir")
	try("rw: write through a pre-placed file link", write(rw+"/pre-out"))
	try("rw: create through a pre-placed dir link", write(rw+"/pre-out-dir/new.txt"))
	try("rw: truncate through a pre-placed link", func() error { return os.Truncate(rw+"/pre-out", 0) })
	try("rw: remove through a pre-placed dir link", func() error { return os.Remove(rw + "/pre-out-dir/secret.txt") })
	try("rw: rename out through a pre-placed dir link", func() error { return os.Rename(rw+"/pre-out-dir/secret.txt", rw+"/stolen") })
	try("rw: rename in through a pre-placed dir link", func() error { return os.Rename(rw+"/own.txt", rw+"/pre-out-dir/planted") })
	try("rw: mkdir through a pre-placed dir link", func() error { return os.Mkdir(rw+"/pre-out-dir/d", 0o755) })
	try("rw: chtimes through a pre-placed link", func() error { return os.Chtimes(rw+"/pre-out", time.Unix(1, 0), time.Unix(1, 0)) })
	try("rw: chmod through a pre-placed link", func() error { return os.Chmod(rw+"/pre-out", 0o777) })

	// The read-only grant.
	try("ro: rename", func() error { return os.Rename(ro+"/file.txt", ro+"/moved.txt") })
	try("ro: rename out to rw", func() error { return os.Rename(ro+"/file.txt", rw+"/moved.txt") })
	try("ro: unlink", func() error { return os.Remove(ro + "/file.txt") })
	try("ro: rmdir", func() error { return os.Remove(ro + "/sub") })
	try("ro: truncate by path", func() error { return os.Truncate(ro+"/file.txt", 0) })
	try("ro: truncate through a read-only fd", func() error {
		f, err := os.Open(ro + "/file.txt")
		if err != nil {
			return errors.New("open: " + err.Error())
		}
		defer f.Close()
		return f.Truncate(0)
	})
	try("ro: write", write(ro+"/file.txt"))
	try("ro: create", write(ro+"/new.txt"))
	try("ro: append", func() error {
		f, err := os.OpenFile(ro+"/file.txt", os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			f.Close()
		}
		return err
	})
	try("ro: mkdir", func() error { return os.Mkdir(ro+"/d", 0o755) })
	try("ro: symlink", func() error { return os.Symlink("file.txt", ro+"/l") })
	try("ro: hard link", func() error { return os.Link(ro+"/file.txt", ro+"/h") })
	try("ro: chtimes", func() error { return os.Chtimes(ro+"/file.txt", time.Unix(1, 0), time.Unix(1, 0)) })
	try("ro: chmod", func() error { return os.Chmod(ro+"/file.txt", 0o777) })
	read("ro: read a pre-placed relative file link", ro+"/pre-out")
	read("ro: read a pre-placed absolute dir link", ro+"/pre-abs/secret.txt")
	list("ro: list a pre-placed dir link", ro+"/pre-out-dir")

	// ".." and paths outside every grant.
	read("dotdot from rw", rw+"/"+rel+"/secret.txt")
	read("dotdot from a sub-folder of rw", rw+"/sub/../"+rel+"/secret.txt")
	read("dotdot from ro", ro+"/"+rel+"/secret.txt")
	list("list the parent of rw", rw+"/..")
	list("list the root", "/")
	try("write through dotdot", write(rw+"/"+rel+"/new.txt"))
	read("read the outside by its absolute path", out+"/secret.txt")
	read("read a relative path", "../../../../"+path.Base(out)+"/secret.txt")
	read("read /etc/passwd", "/etc/passwd")
	return res
}
