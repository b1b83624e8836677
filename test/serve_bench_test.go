package test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/wassette/wassette/secretstore"
)

// BenchmarkServeRSS reports the peak resident set (VmHWM) of `wassette serve --stdio`
// after list-secrets calls on `inUse` of `components` components that each hold 5
// secrets. components=0 is the baseline; the store loads only the components in use, so
// the number of files on disk should not matter. Linux only.
//
//	go test ./test -run '^$' -bench ServeRSS -benchtime 1x
func BenchmarkServeRSS(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc/<pid>/status")
	}
	for _, tc := range []struct{ components, inUse int }{{0, 10}, {1000, 10}, {1000, 1000}} {
		b.Run(fmt.Sprintf("components=%d/in-use=%d", tc.components, tc.inUse), func(b *testing.B) {
			e := newEnv(b)
			store, err := secretstore.Open(e.SecretsDir())
			if err != nil {
				b.Fatal(err)
			}
			for i := range tc.components {
				vals := map[string]secretstore.Value{}
				for _, k := range []string{"API_KEY", "ENDPOINT", "TIMEOUT", "RETRIES", "REGION"} {
					vals[k] = secretstore.NewValue(fmt.Sprintf("%s-value-of-component-%04d", k, i))
				}
				if err := store.Set(fmt.Sprintf("component-%04d", i), vals); err != nil {
					b.Fatal(err)
				}
			}
			var hwm, rss int
			for b.Loop() {
				p := startServe(b, e, "--log-level", "warn", "serve", "--stdio")
				c := p.stdioClient(b)
				for i := range tc.inUse {
					listKeys(b, c, fmt.Sprintf("component-%04d", i))
				}
				hwm, rss = procStatus(b, p.cmd.Process.Pid)
				c.Close()
				p.wait(b)
			}
			b.ReportMetric(float64(hwm), "VmHWM-kB")
			b.ReportMetric(float64(rss), "VmRSS-kB")
		})
	}
}

// procStatus returns VmHWM and VmRSS of a process, in kB.
func procStatus(b *testing.B, pid int) (hwm, rss int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch name {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	return hwm, rss
}
