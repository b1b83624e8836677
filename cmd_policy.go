package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/wassette/wassette/internal/policyview"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

func (a *app) policyCmd() *cobra.Command {
	return groupCmd("policy", "Show a component's policy and the environment it gets", a.policyGetCmd())
}

func (a *app) policyGetCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "get <component-id>",
		Short: "Show a component's policy and the environment it would see now",
		Long: `Show a component's policy, then the environment the component would get if it were
called now: every variable with its source (policy, secret or host) and its masked value.

Precedence, strongest first: a value set in the policy, then the component's secrets, then
host variables that the policy allows by key. No other host variable reaches it. Host
variables are read from this command's own environment, which may differ from a running
server's.`,
		Example: `  wassette policy get weather
  wassette policy get weather -o json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			id := args[0]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			policies, err := a.policies()
			if err != nil {
				return err
			}
			p, has, err := policies.Get(id)
			if err != nil {
				return err
			}
			path, _ := policies.Path(id)
			store, err := a.secrets()
			if err != nil {
				return err
			}
			sec, err := store.Get(id)
			if err != nil {
				return err
			}
			v := policyview.Build(id, path, has, p, sec, os.Environ())
			if output == "json" {
				return a.writeJSON(v)
			}
			enc := yaml.NewEncoder(a.stdout)
			enc.SetIndent(2)
			if err := enc.Encode(v); err != nil {
				return err
			}
			return enc.Close()
		},
	}
	outputFlag(c, &output)
	return c
}

// Permission kinds, as the CLI names them.
const (
	kindStorage = "storage"
	kindNetwork = "network"
	kindEnv     = "environment-variable"
)

func (a *app) permissionCmd() *cobra.Command {
	c := groupCmd("permission", "Grant or revoke what a component may use",
		a.permissionGrantCmd(), a.permissionRevokeCmd(), a.permissionResetCmd())
	c.Long = `Grant or revoke what a component may use: folders (storage), hosts (network) and
host environment variables (environment-variable). Each change is written to the
component's policy file (<data-dir>/components/<id>.policy.yaml) and applies to its next
call.`
	return c
}

func (a *app) permissionGrantCmd() *cobra.Command {
	var access, value string
	var valueStdin bool
	grant := &cobra.Command{
		Use:   "grant (storage | network | environment-variable) <component-id> <uri | host | key>",
		Short: "Grant a component a folder, a host or an environment variable",
		Long: `Grant a component access to:

  storage <id> <fs:///abs/path | path> [--access read,write]   a folder (default: read)
  network <id> <host>             a host: api.example.com, api.example.com:8443, *.example.com
  environment-variable <id> <KEY> [--value V | --value-stdin]
                                  the host's variable KEY; with a value, that value instead,
                                  which also wins over the component's secrets`,
		Example: `  wassette permission grant network weather api.weather.com
  wassette permission grant storage weather ./data --access read,write
  wassette permission grant environment-variable weather API_KEY`,
		Args: usageArgs(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, id, item := args[0], args[1], args[2]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			var change func(*policy.Policy) error
			switch kind {
			case kindStorage:
				acc, err := parseAccess(access)
				if err != nil {
					return err
				}
				uri, err := a.grantableFolder(item, id)
				if err != nil {
					return err
				}
				item = uri
				change = func(p *policy.Policy) error { return p.GrantStorage(uri, acc...) }
			case kindNetwork:
				if err := policy.ValidateHost(item); err != nil {
					return usageError{err}
				}
				change = func(p *policy.Policy) error { return p.GrantNetwork(item) }
			case kindEnv:
				if err := policy.CheckEnvGrant(item); err != nil {
					return usageError{err}
				}
				var val *string
				switch {
				case valueStdin && cmd.Flags().Changed("value"):
					return usagef("use --value or --value-stdin, not both")
				case valueStdin:
					v, err := a.readValue()
					if err != nil {
						return err
					}
					val = &v
				case cmd.Flags().Changed("value"):
					val = &value
				}
				change = func(p *policy.Policy) error { return p.GrantEnvironment(item, val) }
			default:
				return usagef("unknown permission kind %q: use storage, network or environment-variable", kind)
			}
			if kind != kindStorage && cmd.Flags().Changed("access") {
				return usagef("--access applies to storage only")
			}
			if kind != kindEnv && (valueStdin || cmd.Flags().Changed("value")) {
				return usagef("--value applies to environment-variable only")
			}
			policies, err := a.policies()
			if err != nil {
				return err
			}
			if err := policies.Update(id, change); err != nil {
				return err
			}
			a.log.Info("permission granted", "component", id, "kind", kind, "item", item)
			fmt.Fprintf(a.stdout, "Permission granted: %s '%s' for component '%s'\n", kind, item, id)
			return nil
		},
	}
	grant.Flags().StringVar(&access, "access", "read", "storage: read or read,write")
	grant.Flags().StringVar(&value, "value", "", "environment-variable: the value to give (wins over secrets and host)")
	grant.Flags().BoolVar(&valueStdin, "value-stdin", false, "environment-variable: read the value from stdin")
	return grant
}

func (a *app) permissionRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke (storage | network | environment-variable) <component-id> <uri | host | key>",
		Short: "Revoke a grant from a component",
		Example: `  wassette permission revoke network weather api.weather.com
  wassette permission revoke environment-variable weather API_KEY`,
		Args: usageArgs(cobra.ExactArgs(3)),
		RunE: func(_ *cobra.Command, args []string) error {
			kind, id, item := args[0], args[1], args[2]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			var revoke func(*policy.Policy) bool
			switch kind {
			case kindStorage:
				uri, err := storageURI(item)
				if err != nil {
					return usageError{err}
				}
				item = uri
				// The grant stored the folder's real path: a path given through a
				// symbolic link revokes what it leads to.
				real := uri
				if r, err := filepath.EvalSymlinks(strings.TrimPrefix(uri, "fs://")); err == nil {
					real, _ = policy.StorageURI(r)
				}
				revoke = func(p *policy.Policy) bool { return p.RevokeStorage(uri) || p.RevokeStorage(real) }
			case kindNetwork:
				revoke = func(p *policy.Policy) bool { return p.RevokeNetwork(item) }
			case kindEnv:
				revoke = func(p *policy.Policy) bool { return p.RevokeEnvironment(item) }
			default:
				return usagef("unknown permission kind %q: use storage, network or environment-variable", kind)
			}
			policies, err := a.policies()
			if err != nil {
				return err
			}
			errNotGranted := fmt.Errorf("component '%s' has no %s permission for '%s'", id, kind, item)
			err = policies.Update(id, func(p *policy.Policy) error {
				if !revoke(p) {
					return errNotGranted
				}
				return nil
			})
			if err != nil {
				return err
			}
			a.log.Info("permission revoked", "component", id, "kind", kind, "item", item)
			fmt.Fprintf(a.stdout, "Permission revoked: %s '%s' for component '%s'\n", kind, item, id)
			return nil
		},
	}
}

func (a *app) permissionResetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reset <component-id>",
		Short: "Remove every permission of a component (deletes its policy file)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			id := args[0]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			policies, err := a.policies()
			if err != nil {
				return err
			}
			if err := policies.Remove(id); err != nil {
				return err
			}
			a.log.Info("permissions reset", "component", id)
			fmt.Fprintf(a.stdout, "Permissions reset for component '%s'\n", id)
			return nil
		},
	}
}

// parseAccess reads --access: read, or read,write (also write, which implies read).
func parseAccess(s string) ([]policy.Access, error) {
	var acc []policy.Access
	for _, part := range strings.Split(s, ",") {
		a := policy.Access(strings.ToLower(strings.TrimSpace(part)))
		if a != policy.Read && a != policy.Write {
			return nil, usagef("invalid --access %q: use read, or read,write", s)
		}
		acc = append(acc, a)
	}
	return acc, nil
}

// grantableFolder resolves a folder a person grants (a path or an fs:// URI) to the
// fs:// URI of its real path, refusing a folder that does not exist or that is, holds or
// is inside one of wassette's own folders.
func (a *app) grantableFolder(item, id string) (string, error) {
	uri, err := storageURI(item)
	if err != nil {
		return "", usageError{err}
	}
	real, err := a.guard().ResolveStorage(uri, id)
	if err != nil {
		return "", usageError{fmt.Errorf("cannot grant %s: %w", item, err)}
	}
	uri, err = policy.StorageURI(real)
	if err != nil {
		return "", usageError{err}
	}
	return uri, nil
}

// storageURI accepts an fs:// URI or a path; a relative path is taken from the working
// directory, which a person at the CLI means (a server's would mean nothing).
func storageURI(s string) (string, error) {
	if !strings.Contains(s, "://") {
		abs, err := filepath.Abs(s)
		if err != nil {
			return "", err
		}
		s = abs
	}
	return policy.StorageURI(s)
}
