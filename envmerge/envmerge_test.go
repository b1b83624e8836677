package envmerge_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wassette/wassette/envmerge"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

func ptr(s string) *string { return &s }

// secrets builds a Secrets snapshot the way the store does: from a file.
func secrets(t *testing.T, kv ...string) secretstore.Secrets {
	t.Helper()
	s, err := secretstore.Open(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]secretstore.Value{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = secretstore.NewValue(kv[i+1])
	}
	if len(m) > 0 {
		if err := s.Set("c", m); err != nil {
			t.Fatal(err)
		}
	}
	sec, err := s.Get("c")
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func TestMerge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allow   []policy.EnvironmentAllow
		secrets []string
		host    []string
		want    string // KEY=value@source, sorted
	}{
		{
			name:    "reference example: policy beats secret beats host",
			allow:   []policy.EnvironmentAllow{{Key: "API_KEY", Value: ptr("policy-override-key")}},
			secrets: []string{"API_KEY", "secret-key"},
			host:    []string{"API_KEY=host-key"},
			want:    "API_KEY=policy-override-key@policy",
		},
		{
			name:    "secret beats an allowed host variable",
			allow:   []policy.EnvironmentAllow{{Key: "API_KEY"}},
			secrets: []string{"API_KEY", "secret-key"},
			host:    []string{"API_KEY=host-key"},
			want:    "API_KEY=secret-key@secret",
		},
		{
			name:  "allowed host variable without secret",
			allow: []policy.EnvironmentAllow{{Key: "API_KEY"}},
			host:  []string{"PATH=/bin", "API_KEY=host-key", "HOME=/root"},
			want:  "API_KEY=host-key@host",
		},
		{
			name:    "no policy: host gives nothing, secrets everything",
			secrets: []string{"A", "1", "B", "2"},
			host:    []string{"PATH=/bin", "HOME=/root", "A=host"},
			want:    "A=1@secret B=2@secret",
		},
		{
			name:  "allowed but unset on the host: absent, not empty",
			allow: []policy.EnvironmentAllow{{Key: "MISSING"}},
			host:  []string{"OTHER=x"},
			want:  "",
		},
		{
			name:  "empty policy value is a value",
			allow: []policy.EnvironmentAllow{{Key: "DEBUG", Value: ptr("")}},
			host:  []string{"DEBUG=1"},
			want:  "DEBUG=@policy",
		},
		{
			name:  "host entries: later wins, malformed ignored, case-sensitive, value may hold =",
			allow: []policy.EnvironmentAllow{{Key: "K"}, {Key: "Q"}},
			host:  []string{"K=first", "K=second", "K", "k=lower", "Q=a=b", "=C:=C:\\"},
			want:  "K=second@host Q=a=b@host",
		},
		{
			name: "wassette's own host variables never pass, even when a hand-edited policy allows them",
			allow: []policy.EnvironmentAllow{{Key: "WASSETTE_AUTH_TOKEN"}, {Key: "wassette_data_dir"},
				{Key: "WASSETTE"}, {Key: "REGION"}},
			host: []string{"WASSETTE_AUTH_TOKEN=bearer-token-of-the-server", "wassette_data_dir=/data",
				"WASSETTE=not-the-prefix", "REGION=eu"},
			want: "REGION=eu@host WASSETTE=not-the-prefix@host",
		},
		{
			name:    "policy value for a key the host and secrets lack",
			allow:   []policy.EnvironmentAllow{{Key: "REGION", Value: ptr("eu")}, {Key: "HOME"}},
			secrets: []string{"TOKEN", "t"},
			host:    []string{"HOME=/root", "TOKEN=host"},
			want:    "HOME=/root@host REGION=eu@policy TOKEN=t@secret",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := envmerge.Merge(tc.allow, secrets(t, tc.secrets...), tc.host)
			var got []string
			for _, v := range env {
				got = append(got, v.Key+"="+v.Value.Reveal()+"@"+string(v.Source))
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("got  %s\nwant %s", g, tc.want)
			}
			environ := env.Environ()
			for i, v := range env {
				if environ[i] != v.Key+"="+v.Value.Reveal() {
					t.Errorf("Environ()[%d] = %q", i, environ[i])
				}
				if lv, ok := env.Lookup(v.Key); !ok || lv.Source != v.Source {
					t.Errorf("Lookup(%q) = %v, %v", v.Key, lv, ok)
				}
			}
			if _, ok := env.Lookup("NOT_THERE"); ok {
				t.Error("Lookup found a missing key")
			}
		})
	}
}
