package fsys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

func TestOpenMounts(t *testing.T) {
	tr := newTree(t)
	ms, err := OpenMounts([]Mount{
		{HostPath: tr.in, GuestPath: "/data", Writable: true},
		{HostPath: tr.out, GuestPath: "/ro"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	if len(ms) != 2 || ms[0].GuestPath != "/data" || ms[1].GuestPath != "/ro" || !ms[0].FS.Writable() || ms[1].FS.Writable() {
		t.Fatalf("OpenMounts = %+v", ms)
	}
	if e := ms[1].FS.Mkdir("made", 0o755); e != experimentalsys.EROFS {
		t.Errorf("mkdir in the read-only mount: %v, want EROFS", e)
	}
	if st, e := ms[0].FS.Stat("file.txt"); e != 0 || st.Size != int64(len("inside")) {
		t.Errorf("stat in the writable mount: %+v %v", st, e)
	}

	link := filepath.Join(tr.base, "link")
	if err := os.Symlink(tr.in, link); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		mounts []Mount
		want   string
	}{
		"relative guest path": {[]Mount{{HostPath: tr.in, GuestPath: "data"}}, "clean absolute path"},
		"unclean guest path":  {[]Mount{{HostPath: tr.in, GuestPath: "/data/../etc"}}, "clean absolute path"},
		"guest path twice":    {[]Mount{{HostPath: tr.in, GuestPath: "/d"}, {HostPath: tr.out, GuestPath: "/d"}}, "more than one mount"},
		"missing host path":   {[]Mount{{HostPath: tr.in, GuestPath: "/a"}, {HostPath: filepath.Join(tr.base, "nope"), GuestPath: "/b"}}, "no such file"},
		"symbolic link":       {[]Mount{{HostPath: tr.in, GuestPath: "/a"}, {HostPath: link, GuestPath: "/b"}}, "symbolic link"},
	} {
		ms, err := OpenMounts(c.mounts)
		if err == nil || ms != nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v %v, want an error containing %q", name, ms, err, c.want)
		}
		if name == "symbolic link" && !errors.Is(err, ErrSymlink) {
			t.Errorf("%s: %v does not wrap ErrSymlink", name, err)
		}
	}
}
