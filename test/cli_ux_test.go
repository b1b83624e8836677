package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBareGrantKeepsPolicyValue is the reference's troubleshooting step 3, verbatim,
// after a value was given: the value stays, and the command says so.
func TestBareGrantKeepsPolicyValue(t *testing.T) {
	e := newEnv(t)
	must(t, e, 0, "prodval-0123456789ab", "permission", "grant", "environment-variable", "gd", "API_KEY", "--value-stdin")
	out, _ := must(t, e, 0, "", "permission", "grant", "environment-variable", "gd", "API_KEY")
	if !strings.Contains(out, "Already granted") || !strings.Contains(out, "with a value, which is kept") || !strings.Contains(out, "--value") {
		t.Errorf("bare grant printed %q", out)
	}
	pol, _ := must(t, e, 0, "", "policy", "get", "gd", "-o", "json")
	if !strings.Contains(pol, `"source": "policy"`) || !strings.Contains(pol, `"value": "pro***9ab"`) {
		t.Errorf("the policy value was lost:\n%s", pol)
	}
	// --value still changes it; an empty value on stdin needs --allow-empty.
	must(t, e, 0, "", "permission", "grant", "environment-variable", "gd", "API_KEY", "--value", "newval")
	_, stderr := must(t, e, 2, "", "permission", "grant", "environment-variable", "gd", "API_KEY", "--value-stdin")
	if !strings.Contains(stderr, "--allow-empty") {
		t.Errorf("empty --value-stdin: %s", stderr)
	}
}

// TestValueArgumentsAreNeverParsedOrEchoed: issue 7 point 3's two commands.
func TestValueArgumentsAreNeverParsedOrEchoed(t *testing.T) {
	e := newEnv(t)
	out, stderr := must(t, e, 0, "", "secret", "set", "leak", "TOKEN", "-hunter2secret")
	if out != "Secret 'TOKEN' set for component 'leak'\n" || strings.Contains(stderr, "hunter2") {
		t.Errorf("a value starting with '-': %q %q", out, stderr)
	}
	if out, _ := must(t, e, 0, "", "secret", "list", "leak", "--show-values", "--yes"); out != "TOKEN: -hunter2secret\n" {
		t.Errorf("stored %q", out)
	}
	for _, args := range [][]string{
		{"secret", "set", "leak", "URL=https://x", "secret-value-987"},
		{"secret", "set", "-secret-value-987"},
		{"secret", "set", "--secret-value-987", "leak", "K", "v"},
		{"secret", "set", "leak", "-secret-value-987"},
		{"secret", "set", "leak", "K", "v", "secret-value-987"},
	} {
		out, stderr, code := e.Run(t, "", args...)
		if code != 2 || strings.Contains(out+stderr, "secret-value-987") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		}
	}
	// An empty value from stdin (an unset variable piped in) is refused.
	_, stderr = must(t, e, 2, "", "secret", "set", "leak", "EMPTY", "-")
	if !strings.Contains(stderr, "--allow-empty") {
		t.Errorf("empty stdin: %s", stderr)
	}
	must(t, e, 0, "", "secret", "set", "--allow-empty", "leak", "EMPTY", "-")
}

// TestOutputCaseSuggestionsAndExitCodes covers point 8: -o in any case, "did you mean",
// usage errors exit 2, http:// names --plain-http, an unreadable file reported once.
func TestOutputCaseSuggestionsAndExitCodes(t *testing.T) {
	e := newEnv(t)
	must(t, e, 0, "", "secret", "set", "weather", "K", "v")
	for _, o := range []string{"JSON", "Json", "json"} {
		out, _ := must(t, e, 0, "", "secret", "list", "weather", "-o", o)
		if !json.Valid([]byte(out)) {
			t.Errorf("-o %s printed %q", o, out)
		}
	}
	_, stderr := must(t, e, 2, "", "secret", "list", "-o", "yaml")
	if !strings.Contains(stderr, "use text or json") {
		t.Errorf("-o yaml: %s", stderr)
	}
	for args, want := range map[string]string{
		"scret list":      `did you mean "secret"?`,
		"secret lst":      `did you mean "list"?`,
		"permision grant": `did you mean "permission"?`,
		"componet list":   `did you mean "component"?`,
	} {
		_, stderr := must(t, e, 2, "", strings.Fields(args)...)
		if !strings.Contains(stderr, want) {
			t.Errorf("%s: %s", args, stderr)
		}
	}
	bad := filepath.Join(e.Home, "bad.env")
	os.WriteFile(bad, []byte("BAD KEY=1\n"), 0o600)
	must(t, e, 2, "", "secret", "import", "weather", bad)
	must(t, e, 2, "", "permission", "grant", "storage", "weather", e.Home+"/x", "--access", "rw")
	must(t, e, 1, "", "secret", "delete", "weather", "MISSING")
	_, stderr = must(t, e, 2, "", "component", "load", "http://127.0.0.1:1/x.wasm")
	if !strings.Contains(stderr, "--plain-http") {
		t.Errorf("http:// refusal: %s", stderr)
	}

	// One unreadable secrets file: its error once, and the others still listed.
	broken := filepath.Join(e.SecretsDir(), "broken.yaml")
	os.WriteFile(broken, []byte("KEY: [1, 2]\n"), 0o600)
	out, stderr, code := e.Run(t, "", "secret", "list")
	if code != 1 || !strings.Contains(out, "weather") || !strings.Contains(out, "unreadable") || strings.Count(stderr, "broken.yaml") != 1 {
		t.Errorf("secret list with a broken file: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
}

// TestUnknownIDsAreAcceptedWithANote covers point 9.
func TestUnknownIDsAreAcceptedWithANote(t *testing.T) {
	e := newEnv(t)
	must(t, e, 0, "", "component", "load", exampleWasm(t, "weather"))
	for _, args := range [][]string{
		{"secret", "set", "wether", "API_KEY", "k"},
		{"secret", "list", "wether"},
		{"permission", "grant", "network", "wether", "api.weather.com"},
		{"policy", "get", "wether"},
	} {
		_, stderr := must(t, e, 0, "", args...)
		if !strings.Contains(stderr, "no component 'wether' is loaded (did you mean 'weather'?)") {
			t.Errorf("%q: stderr %q", args, stderr)
		}
	}
	// Far from every loaded ID: no suggestion; a loaded ID: no note.
	_, stderr := must(t, e, 0, "", "secret", "set", "zzz-other", "K", "v")
	if !strings.Contains(stderr, "no component 'zzz-other' is loaded;") || strings.Contains(stderr, "did you mean") {
		t.Errorf("unrelated ID: %q", stderr)
	}
	_, stderr = must(t, e, 0, "", "secret", "set", "weather", "K", "v")
	if stderr != "" {
		t.Errorf("a loaded, approved ID: %q", stderr)
	}
}

// TestCLIJSONUsesTheToolsFieldNames covers point 10's CLI half.
func TestCLIJSONUsesTheToolsFieldNames(t *testing.T) {
	e := newEnv(t)
	must(t, e, 0, "", "secret", "set", "weather", "API_KEY", "sk-abcdefghijklmnopqrstuvwxyz")
	out, _ := must(t, e, 0, "", "secret", "list", "weather", "-o", "json")
	var list struct {
		ComponentID string `json:"component_id"`
		Count       int    `json:"count"`
		Secrets     []map[string]string
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Count != 1 || list.Secrets[0]["masked_value"] != "sk-***xyz" {
		t.Errorf("secret list -o json: %v\n%s", err, out)
	}
	must(t, e, 0, "", "component", "load", exampleWasm(t, "echo"))
	out, _ = must(t, e, 0, "", "component", "list", "-o", "json")
	var comps struct {
		Count      int `json:"count"`
		Components []struct {
			ComponentID string `json:"component_id"`
			Approved    bool   `json:"approved"`
			Tools       []struct{ Name, Description string }
		}
	}
	if err := json.Unmarshal([]byte(out), &comps); err != nil || comps.Count != 1 || !comps.Components[0].Approved ||
		comps.Components[0].ComponentID != "echo" || len(comps.Components[0].Tools) != 2 {
		t.Errorf("component list -o json: %v\n%s", err, out)
	}
}

// TestCompletionVersionDeleteAllPolicySet covers point 11.
func TestCompletionVersionDeleteAllPolicySet(t *testing.T) {
	e := newEnv(t)
	must(t, e, 0, "", "component", "load", exampleWasm(t, "echo"))
	must(t, e, 0, "", "secret", "set", "stored-only", "K1=a", "K2=b")
	complete := func(args ...string) []string {
		t.Helper()
		out, _ := must(t, e, 0, "", append([]string{"__complete"}, args...)...)
		var items []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(l, ":") {
				items = append(items, strings.SplitN(l, "\t", 2)[0])
			}
		}
		return items
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"secret", "list", ""}, []string{"echo", "stored-only"}},
		{[]string{"secret", "set", "s"}, []string{"stored-only"}},
		{[]string{"secret", "delete", "stored-only", ""}, []string{"K1", "K2"}},
		{[]string{"tool", "invoke", ""}, []string{"echo", "env"}},
		{[]string{"permission", "grant", ""}, []string{"storage", "network", "environment-variable"}},
		{[]string{"permission", "grant", "network", ""}, []string{"echo", "stored-only"}},
		{[]string{"secret", "list", "-o", ""}, []string{"text", "json"}},
		{[]string{"component", "approve", ""}, []string{"echo", "stored-only"}},
	} {
		if got := complete(tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("completion of %q = %q, want %q", tc.args, got, tc.want)
		}
	}

	// --version names the commit the binary was built from, as its build info records it.
	out, _ := must(t, e, 0, "", "--version")
	info, err := exec.Command("go", "version", "-m", e.Bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if rev := buildSetting(string(info), "vcs.revision"); rev != "" {
		if !strings.Contains(out, "commit "+rev) {
			t.Errorf("--version = %q, want the commit %s", out, rev)
		}
		if modified := buildSetting(string(info), "vcs.modified") == "true"; modified != strings.Contains(out, "uncommitted changes") {
			t.Errorf("--version = %q, but vcs.modified is %v", out, modified)
		}
	} else if !strings.Contains(out, "commit unknown") {
		t.Errorf("--version = %q for a binary without version control information", out)
	}

	// secret delete --all
	out, _ = must(t, e, 0, "", "secret", "delete", "stored-only", "--all")
	if out != "Deleted 2 secret(s) of component 'stored-only'\n" {
		t.Errorf("delete --all printed %q", out)
	}
	if out, _ := must(t, e, 0, "", "secret", "list"); strings.Contains(out, "stored-only") {
		t.Errorf("after delete --all: %s", out)
	}
	must(t, e, 2, "", "secret", "delete", "echo")
	must(t, e, 2, "", "secret", "delete", "echo", "K", "--all")

	// policy set: validated, folders resolved and guarded, installed whole.
	work := filepath.Join(e.Home, "work")
	os.Mkdir(work, 0o700)
	os.Symlink(work, filepath.Join(e.Home, "work-link"))
	realWork, _ := filepath.EvalSymlinks(work)
	file := filepath.Join(e.Home, "production-policy.yaml")
	os.WriteFile(file, []byte(`version: "1.0"
permissions:
  storage:
    allow:
      - uri: "fs://`+filepath.ToSlash(filepath.Join(e.Home, "work-link"))+`"
        access: ["read"]
  network:
    allow:
      - host: "api.example.com"
`), 0o600)
	out, _ = must(t, e, 0, "", "policy", "set", "echo", file)
	if !strings.Contains(out, "1 folder(s), 1 host(s)") {
		t.Errorf("policy set printed %q", out)
	}
	pol, _ := must(t, e, 0, "", "policy", "get", "echo", "-o", "json")
	if !strings.Contains(pol, `"uri": "fs://`+filepath.ToSlash(realWork)+`"`) || !strings.Contains(pol, "api.example.com") {
		t.Errorf("policy after set:\n%s", pol)
	}
	for name, content := range map[string]string{
		"a typo":           "version: \"1.0\"\npermissions:\n  netwrk: {}\n",
		"the data folder":  "version: \"1.0\"\npermissions:\n  storage:\n    allow:\n      - uri: \"fs://" + filepath.ToSlash(e.DataDir) + "\"\n        access: [read]\n",
		"WASSETTE_ key":    "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: WASSETTE_AUTH_TOKEN\n",
		"a missing folder": "version: \"1.0\"\npermissions:\n  storage:\n    allow:\n      - uri: \"fs:///no/such/folder\"\n        access: [read]\n",
	} {
		_, stderr, code := e.Run(t, content, "policy", "set", "echo", "-")
		if code != 2 || !strings.Contains(stderr, "nothing was changed") {
			t.Errorf("policy set with %s: exit %d, %s", name, code, stderr)
		}
	}
	if again, _ := must(t, e, 0, "", "policy", "get", "echo", "-o", "json"); again != pol {
		t.Errorf("a refused policy set changed the policy:\n%s", again)
	}
}

// buildSetting returns a setting of `go version -m` output.
func buildSetting(info, key string) string {
	for _, l := range strings.Split(info, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], key+"=") {
			return strings.TrimPrefix(f[1], key+"=")
		}
	}
	return ""
}
