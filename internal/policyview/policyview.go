// Package policyview builds what a person or a model is shown of a component's policy:
// its grants, and the environment the component would get now with the source of each
// variable, every value masked. `wassette policy get` and the get-policy tool both
// show this view, so they cannot drift apart.
package policyview

import (
	"fmt"
	"strings"

	"github.com/wassette/wassette/envmerge"
	"github.com/wassette/wassette/internal/cmdline"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// View is a component's policy and environment, values masked.
type View struct {
	ComponentID string        `yaml:"component_id" json:"component_id"`
	PolicyFile  string        `yaml:"policy_file" json:"policy_file"`
	HasPolicy   bool          `yaml:"has_policy" json:"has_policy"`
	Version     string        `yaml:"version" json:"version"`
	Description string        `yaml:"description,omitempty" json:"description,omitempty"`
	Permissions Permissions   `yaml:"permissions" json:"permissions"`
	Limits      policy.Limits `yaml:"limits,omitempty" json:"limits"`
	// Consent is whether the module loaded under the ID may receive its secrets; absent
	// if no module is loaded under it.
	Consent *Consent `yaml:"consent,omitempty" json:"consent,omitempty"`
	// Environment is what the component would get if it were called now: without
	// what is withheld from a module no person approved.
	Environment []Var `yaml:"environment" json:"environment"`
}

// Module is what Build needs to know of the module loaded under the ID.
type Module struct {
	// Digest is the loaded module's, "sha256:<hex>".
	Digest string
	// Approved reports that a person approved it to receive the component's secrets.
	Approved bool
	// ApprovedDigest is the module a person approved last, if not this one.
	ApprovedDigest string
}

// Consent says whether the loaded module gets the component's secrets and policy
// values, and, if not, which it goes without and what a person must run.
type Consent struct {
	ModuleDigest   string   `yaml:"module_digest" json:"module_digest"`
	Approved       bool     `yaml:"approved" json:"approved"`
	ApprovedDigest string   `yaml:"approved_digest,omitempty" json:"approved_digest,omitempty"`
	Withheld       []string `yaml:"withheld,omitempty" json:"withheld,omitempty"`
	Note           string   `yaml:"note,omitempty" json:"note,omitempty"`
}

// ApproveCommand is what a person runs to approve the module loaded under id.
func ApproveCommand(id string) string { return cmdline.Wassette("component", "approve", id) }

// WithheldNote says, for a person or a model, that the module loaded under id does not
// get the keys withheld, and what the person must run.
func WithheldNote(id string, withheld []string) string {
	return fmt.Sprintf("the secrets and policy values of component %q (%s) are withheld: the module loaded under "+
		"this ID is not one a person approved to receive them. No tool can approve it; the user must check "+
		"where it came from and run: %s", id, strings.Join(withheld, ", "), ApproveCommand(id))
}

// Permissions are the policy's grants.
type Permissions struct {
	Storage     []policy.StorageAllow `yaml:"storage" json:"storage"`
	Network     []string              `yaml:"network" json:"network"`
	Environment []EnvGrant            `yaml:"environment" json:"environment"`
}

// EnvGrant is one environment grant; Value is the policy's value, masked, if it sets one.
type EnvGrant struct {
	Key   string `yaml:"key" json:"key"`
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
}

// Var is one variable of the environment the component would get, value masked.
type Var struct {
	Key    string `yaml:"key" json:"key"`
	Source string `yaml:"source" json:"source"`
	Value  string `yaml:"value" json:"value"`
}

// Build returns the view of component id, whose policy file is path (has reports
// whether it exists), given its secrets, the host environment, and the module loaded
// under it (nil if none is).
func Build(id, path string, has bool, p *policy.Policy, sec secretstore.Secrets, environ []string, mod *Module) View {
	v := View{
		ComponentID: id, PolicyFile: path, HasPolicy: has,
		Version: p.Version, Description: p.Description,
		Permissions: Permissions{
			Storage:     append([]policy.StorageAllow{}, p.Permissions.Storage.Allow...),
			Network:     []string{},
			Environment: []EnvGrant{},
		},
		Limits:      p.Permissions.Resources.Limits,
		Environment: []Var{},
	}
	for _, n := range p.Permissions.Network.Allow {
		v.Permissions.Network = append(v.Permissions.Network, n.Host)
	}
	for _, e := range p.Permissions.Environment.Allow {
		g := EnvGrant{Key: e.Key}
		if e.Value != nil {
			g.Value = secretstore.Mask(*e.Value)
		}
		v.Permissions.Environment = append(v.Permissions.Environment, g)
	}
	env := envmerge.Merge(p.Permissions.Environment.Allow, sec, environ)
	if mod != nil {
		v.Consent = &Consent{ModuleDigest: mod.Digest, Approved: mod.Approved, ApprovedDigest: mod.ApprovedDigest}
		if !mod.Approved {
			env, v.Consent.Withheld = env.Withhold()
			if len(v.Consent.Withheld) > 0 {
				v.Consent.Note = WithheldNote(id, v.Consent.Withheld)
			}
		}
	}
	for _, ev := range env {
		v.Environment = append(v.Environment, Var{Key: ev.Key, Source: string(ev.Source), Value: ev.Value.Masked()})
	}
	return v
}
