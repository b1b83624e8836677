package component_test

import (
	"testing"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/policy"
)

// TestDeclaredSecrets: the secrets a component declares survive a restart (another
// Manager over the same folder), and MissingSecrets follows the environment a call
// would get: a secret, a policy value or an allowed host variable supplies a key.
func TestDeclaredSecrets(t *testing.T) {
	f := newFixture(t, nil)
	info := f.load(t, "needskey", "")
	if len(info.Secrets) != 1 || info.Secrets[0].Key != "API_KEY" || info.Secrets[0].Description == "" {
		t.Fatalf("declared secrets at load: %+v", info.Secrets)
	}
	other := f.open(t, f.cfg)
	if got, _ := other.Get("needskey"); len(got.Secrets) != 1 || got.Secrets[0].Key != "API_KEY" {
		t.Fatalf("declared secrets after a restart: %+v", got.Secrets)
	}
	missing := func(tool string) []string {
		t.Helper()
		m, err := f.m.MissingSecrets("needskey", tool)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, s := range m {
			keys = append(keys, s.Key)
		}
		return keys
	}
	if got := missing("needs_key"); len(got) != 1 {
		t.Fatalf("missing for needs_key = %v, want API_KEY", got)
	}
	if got := missing("no_key"); len(got) != 0 {
		t.Fatalf("missing for no_key = %v, want none", got)
	}
	if got := missing(""); len(got) != 1 {
		t.Fatalf("missing for the component = %v, want API_KEY", got)
	}
	f.setSecrets(t, "needskey", map[string]string{"API_KEY": ""})
	if got := missing("needs_key"); len(got) != 1 {
		t.Fatalf("an empty value counts as set: %v", got)
	}
	f.setSecrets(t, "needskey", map[string]string{"API_KEY": "sk-test-value-1234567"})
	if got := missing("needs_key"); len(got) != 0 {
		t.Fatalf("missing after set = %v", got)
	}
	if err := f.secrets.Remove("needskey"); err != nil {
		t.Fatal(err)
	}
	if err := f.policies.Update("needskey", func(p *policy.Policy) error {
		p.Permissions.Environment.Allow = append(p.Permissions.Environment.Allow, policy.EnvironmentAllow{Key: "API_KEY"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	other2 := f.open(t, func() component.Config { c := f.cfg; c.Environ = append(c.Environ, "API_KEY=from-the-host"); return c }())
	if m, err := other2.MissingSecrets("needskey", "needs_key"); err != nil || len(m) != 0 {
		t.Fatalf("an allowed host variable does not supply the key: %v, %v", m, err)
	}
	if _, err := f.m.MissingSecrets("nope", ""); err == nil {
		t.Fatal("MissingSecrets of an unknown component: no error")
	}
}
