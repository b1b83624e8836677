package component_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/policy"
)

// TestConsentBoundToCode replaces, as a model would, the module under an ID whose
// secrets a person set, and checks that the new module runs without them until a person
// approves it, and that nothing else gives them back.
func TestConsentBoundToCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, nil)
	m := f.m
	echo := f.load(t, "echo", "svc") // a person's load
	if !echo.Approved {
		t.Fatalf("a person's load is not approved: %+v", echo)
	}
	const token = "svc-token-0123456789"
	f.setSecrets(t, "svc", map[string]string{"TOKEN": token, "MARK": "m1"})
	f.updatePolicy(t, "svc", func(p *policy.Policy) error {
		return errors.Join(p.GrantEnvironment("POLVAL", ptr("pv")), p.GrantEnvironment("HOST_ALLOWED", nil))
	})
	_, env := callEnv(t, m, "env")
	wantEnv(t, "approved module", env, map[string]string{"TOKEN": "[REDACTED]", "MARK": "m1", "POLVAL": "pv", "HOST_ALLOWED": "host-ok"})

	// A model loads its own module under the same ID.
	twin, err := m.Load(ctx, wasmPath("envtwin"), component.LoadOptions{ID: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if twin.Approved {
		t.Errorf("a model's load is approved: %+v", twin)
	}
	res := call(t, m, "twin_env", "")
	_, env = callEnv(t, m, "twin_env")
	wantEnv(t, "unapproved module", env, map[string]string{"HOST_ALLOWED": "host-ok"})
	wantConsent := component.Consent{ComponentID: "svc", ModuleDigest: twin.Digest, ApprovedDigest: echo.Digest,
		Withheld: []string{"MARK", "POLVAL", "TOKEN"}}
	if !consentEqual(res.Consent, wantConsent) {
		t.Errorf("Result.Consent = %+v\nwant %+v", res.Consent, wantConsent)
	}
	if got, err := m.Consent("svc"); err != nil || !consentEqual(got, wantConsent) {
		t.Errorf("Consent = %+v, %v", got, err)
	}
	if _, senv, _ := m.Sandbox("svc"); len(senv) != 1 || senv[0].Key != "HOST_ALLOWED" {
		t.Errorf("Sandbox env = %v", senv)
	}
	if got := wantConsent.ApproveCommand(); got != "wassette component approve svc" {
		t.Errorf("ApproveCommand = %q", got)
	}
	if strings.Contains(res.Text, token) {
		t.Errorf("the token reached the unapproved module's output: %s", res.Text)
	}

	// Another Manager (the CLI) sees the same.
	other := f.open(t, f.cfg)
	if c, err := other.Consent("svc"); err != nil || c.Approved {
		t.Errorf("another Manager: %+v, %v", c, err)
	}

	// A person approves, naming the wrong module first: nothing is approved.
	if _, err := m.Approve("svc", echo.Digest); !errors.Is(err, component.ErrNotLoadedModule) {
		t.Errorf("Approve with the old digest: %v", err)
	}
	if _, env = callEnv(t, m, "twin_env"); env["TOKEN"] != "" {
		t.Errorf("a failed approval approved: %v", env)
	}
	info, err := m.Approve("svc", twin.Digest)
	if err != nil || !info.Approved {
		t.Fatalf("Approve: %+v, %v", info, err)
	}
	_, env = callEnv(t, m, "twin_env")
	wantEnv(t, "approved twin", env, map[string]string{"TOKEN": "[REDACTED]", "MARK": "m1", "POLVAL": "pv", "HOST_ALLOWED": "host-ok"})
	if _, err := m.Approve("nope", ""); !errors.Is(err, component.ErrNotFound) {
		t.Errorf("Approve of an unloaded ID: %v", err)
	}

	// The approval is for that module only: loading the first one back, by a model,
	// withholds again, as does loading it under another ID.
	if _, err := m.Load(ctx, wasmPath("echo"), component.LoadOptions{ID: "svc"}); err != nil {
		t.Fatal(err)
	}
	if _, env = callEnv(t, m, "env"); env["TOKEN"] != "" || env["MARK"] != "" {
		t.Errorf("an earlier module regained the secrets: %v", env)
	}

	// The record lives beside the secrets under a name the secret store ignores.
	rec := filepath.Join(f.secDir, "svc.consent")
	if fi, err := os.Stat(rec); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("consent record: %v, %v", fi, err)
	}
	if comps, err := f.secrets.Components(); err != nil || len(comps) != 1 || comps[0].ID != "svc" {
		t.Errorf("the secret store lists %+v, %v", comps, err)
	}

	// Unloading with the secrets removes the record too; keeping them keeps it.
	if _, err := m.Unload(ctx, "svc", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record after unload with the secrets: %v", err)
	}

	// A module a model loads under a fresh ID has nothing to withhold.
	if _, err := m.Load(ctx, wasmPath("echo"), component.LoadOptions{ID: "fresh"}); err != nil {
		t.Fatal(err)
	}
	if r := call(t, m, "env", ""); r.IsError || len(r.Consent.Withheld) != 0 || r.Consent.Approved {
		t.Errorf("fresh unapproved component: %+v", r)
	}
}

// TestReplacedOnDiskBeforeFirstCall: a Manager that has not compiled a component yet
// (after a restart) while another process replaces it must not run the new module with
// the consent the old one had.
func TestReplacedOnDiskBeforeFirstCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, nil)
	f.load(t, "echo", "svc")
	f.setSecrets(t, "svc", map[string]string{"TOKEN": "tok"})
	restarted := f.open(t, f.cfg) // knows svc as echo, not compiled yet
	other := f.open(t, f.cfg)
	if _, err := other.Load(ctx, wasmPath("envtwin"), component.LoadOptions{ID: "svc"}); err != nil {
		t.Fatal(err)
	}
	if res, err := restarted.Call(ctx, "env", nil); !errors.Is(err, component.ErrNotFound) {
		t.Fatalf("a call of the replaced module's tool: %+v, %v", res, err)
	}
	res := call(t, restarted, "twin_env", "")
	if !slices.Equal(res.Consent.Withheld, []string{"TOKEN"}) {
		t.Errorf("the new module ran with its secrets: %+v", res)
	}
}

func consentEqual(a, b component.Consent) bool {
	return a.ComponentID == b.ComponentID && a.ModuleDigest == b.ModuleDigest && a.Approved == b.Approved &&
		a.ApprovedDigest == b.ApprovedDigest && slices.Equal(a.Withheld, b.Withheld)
}
