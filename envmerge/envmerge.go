// Package envmerge builds the environment a component sees, from its policy, its secrets
// and the host's environment, and records where each variable came from.
//
// The rules, strongest first:
//
//  1. Policy: an entry of permissions.environment.allow that carries a value.
//  2. Secret: every secret stored for the component.
//  3. Host: a host variable, only if the policy's environment.allow names its key, and
//     never one of wassette's own (WASSETTE_*), even if a hand-edited policy names it.
//
// Nothing else reaches the component. Merge is a pure function: callers build the
// environment afresh for every call, so a changed secret or policy takes effect at once.
package envmerge

import (
	"slices"
	"strings"

	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// Source says where a variable's value came from.
type Source string

// The sources, strongest first.
const (
	FromPolicy Source = "policy"
	FromSecret Source = "secret"
	FromHost   Source = "host"
)

// Var is one variable of a component's environment.
type Var struct {
	Key    string
	Value  secretstore.Value
	Source Source
}

// Env is a component's environment, sorted by key, each key once.
type Env []Var

// Merge returns the environment of a component whose policy allows the variables allow,
// whose secrets are secrets, and whose host environment is host, in os.Environ form
// ("KEY=value"; an entry without '=' is ignored, and a later entry for a key wins, as in
// a process environment).
func Merge(allow []policy.EnvironmentAllow, secrets secretstore.Secrets, host []string) Env {
	vars := make(map[string]Var, len(allow)+secrets.Len())
	if len(allow) > 0 {
		allowed := make(map[string]bool, len(allow))
		for _, a := range allow {
			allowed[a.Key] = true
		}
		for _, kv := range host {
			if k, v, ok := strings.Cut(kv, "="); ok && allowed[k] && !policy.IsReservedEnvKey(k) {
				vars[k] = Var{Key: k, Value: secretstore.NewValue(v), Source: FromHost}
			}
		}
	}
	for k, v := range secrets.All() {
		vars[k] = Var{Key: k, Value: v, Source: FromSecret}
	}
	for _, a := range allow {
		if a.Value != nil {
			vars[a.Key] = Var{Key: a.Key, Value: secretstore.NewValue(*a.Value), Source: FromPolicy}
		}
	}
	env := make(Env, 0, len(vars))
	for _, v := range vars {
		env = append(env, v)
	}
	slices.SortFunc(env, func(a, b Var) int { return strings.Compare(a.Key, b.Key) })
	return env
}

// Lookup returns the variable key.
func (e Env) Lookup(key string) (Var, bool) {
	i, ok := slices.BinarySearchFunc(e, key, func(v Var, k string) int { return strings.Compare(v.Key, k) })
	if !ok {
		return Var{}, false
	}
	return e[i], true
}

// Withhold splits e for a module that a person has not approved (see package
// component/consent): it keeps the host variables and returns the keys of the others,
// the secrets and the policy's values, which such a module must not get. A key withheld
// does not fall back to the host's variable of that name.
func (e Env) Withhold() (kept Env, withheld []string) {
	kept = make(Env, 0, len(e))
	for _, v := range e {
		if v.Source == FromHost {
			kept = append(kept, v)
		} else {
			withheld = append(withheld, v.Key)
		}
	}
	return kept, withheld
}

// Environ returns the environment as "KEY=value" strings, for the runtime that hands it
// to the component. These strings hold plaintext secrets: pass them on, never log them.
func (e Env) Environ() []string {
	out := make([]string, len(e))
	for i, v := range e {
		out[i] = v.Key + "=" + v.Value.Reveal()
	}
	return out
}
