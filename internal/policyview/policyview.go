// Package policyview builds what a person or a model is shown of a component's policy:
// its grants, and the environment the component would get now with the source of each
// variable, every value masked. `wassette policy get` and the get-policy tool both
// show this view, so they cannot drift apart.
package policyview

import (
	"github.com/wassette/wassette/envmerge"
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
	Environment []Var         `yaml:"environment" json:"environment"`
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
// whether it exists), given its secrets and the host environment.
func Build(id, path string, has bool, p *policy.Policy, sec secretstore.Secrets, environ []string) View {
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
	for _, ev := range envmerge.Merge(p.Permissions.Environment.Allow, sec, environ) {
		v.Environment = append(v.Environment, Var{Key: ev.Key, Source: string(ev.Source), Value: ev.Value.Masked()})
	}
	return v
}
