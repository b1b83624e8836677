package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/wassette/wassette/component/consent"
	"github.com/wassette/wassette/component/registry"
	"github.com/wassette/wassette/internal/policyview"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

func (a *app) policyCmd() *cobra.Command {
	return groupCmd("policy", "Show or set a component's policy and the environment it gets", a.policyGetCmd(), a.policySetCmd())
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
server's.

If the module loaded under the ID is not one you approved, "consent" says so, lists the
secrets and policy values it goes without, and gives the command that approves it.`,
		Example: `  wassette policy get weather
  wassette policy get weather -o json`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeComponentIDs,
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkOutput(&output); err != nil {
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
			a.noteID(id, "")
			v := policyview.Build(id, path, has, p, sec, os.Environ(), a.loadedModule(id))
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

// loadedModule describes the module loaded under id, for a policy view, without
// starting the runtime; nil if none is loaded (or it cannot be read: a view is
// informative).
func (a *app) loadedModule(id string) *policyview.Module {
	meta, err := registry.At(a.componentsDir()).Get(id)
	if err != nil {
		return nil
	}
	mod := &policyview.Module{Digest: meta.Digest}
	if store, err := consent.Open(a.secretsDir()); err == nil {
		if rec, err := store.Get(id); err == nil {
			mod.Approved = rec.Approves(meta.Digest)
			if n := len(rec.Approved); n > 0 && rec.Approved[n-1].Digest != meta.Digest {
				mod.ApprovedDigest = rec.Approved[n-1].Digest
			}
		}
	}
	return mod
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

// completePermission completes (kind, component ID, item) for grant and revoke.
func (a *app) completePermission(revoke bool) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return []string{kindStorage, kindNetwork, kindEnv}, cobra.ShellCompDirectiveNoFileComp
		case 1:
			return a.componentIDs(toComplete), cobra.ShellCompDirectiveNoFileComp
		case 2:
			if !revoke {
				if args[0] == kindStorage {
					return nil, cobra.ShellCompDirectiveFilterDirs
				}
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			policies, err := a.policies()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			p, _, err := policies.Get(args[1])
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var items []string
			switch args[0] {
			case kindStorage:
				for _, s := range p.Permissions.Storage.Allow {
					items = append(items, s.URI)
				}
			case kindNetwork:
				for _, n := range p.Permissions.Network.Allow {
					items = append(items, n.Host)
				}
			case kindEnv:
				for _, e := range p.Permissions.Environment.Allow {
					items = append(items, e.Key)
				}
			}
			return items, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

func (a *app) permissionGrantCmd() *cobra.Command {
	var access, value string
	var valueStdin, allowEmpty bool
	grant := &cobra.Command{
		Use:   "grant (storage | network | environment-variable) <component-id> <uri | host | key>",
		Short: "Grant a component a folder, a host or an environment variable",
		Long: `Grant a component access to:

  storage <id> <fs:///abs/path | path> [--access read,write]   a folder (default: read)
  network <id> <host>             a host: api.example.com, api.example.com:8443, *.example.com
  environment-variable <id> <KEY> [--value V | --value-stdin]
                                  the host's variable KEY; with a value, that value instead,
                                  which also wins over the component's secrets

A folder must exist; it is resolved now to its real path (symbolic links followed), which
is what the policy keeps. wassette's own data, secrets, config and cache folders, anything
inside them and any folder that holds them (your home, /) are refused. So are wassette's
own variables (WASSETTE_*).

Granting a variable that is already granted with a value keeps that value: give --value
or --value-stdin to change it, or revoke the variable to remove it.`,
		Example: `  wassette permission grant network weather api.weather.com
  wassette permission grant storage weather ./data --access read,write
  wassette permission grant environment-variable weather API_KEY`,
		Args:              usageArgs(cobra.ExactArgs(3)),
		ValidArgsFunction: a.completePermission(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, id, item := args[0], args[1], args[2]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			if kind != kindStorage && cmd.Flags().Changed("access") {
				return usagef("--access applies to storage only")
			}
			if kind != kindEnv && (valueStdin || cmd.Flags().Changed("value") || allowEmpty) {
				return usagef("--value, --value-stdin and --allow-empty apply to environment-variable only")
			}
			var change func(*policy.Policy) error
			keptValue := false
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
					if v == "" && !allowEmpty {
						return usagef("the value of %s on stdin is empty (an unset shell variable?); nothing was granted. "+
							"Pass --allow-empty to give an empty value", item)
					}
					val = &v
				case cmd.Flags().Changed("value"):
					val = &value
				}
				change = func(p *policy.Policy) error {
					// A bare grant of a key granted with a value keeps the value: the
					// reference's troubleshooting step must not silently drop it.
					if val == nil {
						for _, e := range p.Permissions.Environment.Allow {
							if e.Key == item && e.Value != nil {
								keptValue = true
								return nil
							}
						}
					}
					return p.GrantEnvironment(item, val)
				}
			default:
				return usagef("unknown permission kind %q: use storage, network or environment-variable", kind)
			}
			policies, err := a.policies()
			if err != nil {
				return err
			}
			if err := policies.Update(id, change); err != nil {
				if errors.Is(err, policy.ErrProtected) {
					return usageError{err}
				}
				return err
			}
			if keptValue {
				fmt.Fprintf(a.stdout, "Already granted: environment-variable '%s' for component '%s', with a value, which is kept; "+
					"use --value or --value-stdin to change it, or revoke it to remove it\n", item, id)
			} else {
				a.log.Info("permission granted", "component", id, "kind", kind, "item", item)
				fmt.Fprintf(a.stdout, "Permission granted: %s '%s' for component '%s'\n", kind, item, id)
			}
			a.noteID(id, "the permission is kept for a component loaded under this ID later")
			return nil
		},
	}
	grant.Flags().StringVar(&access, "access", "read", "storage: read or read,write")
	grant.Flags().StringVar(&value, "value", "", "environment-variable: the value to give (wins over secrets and host)")
	grant.Flags().BoolVar(&valueStdin, "value-stdin", false, "environment-variable: read the value from stdin")
	grant.Flags().BoolVar(&allowEmpty, "allow-empty", false, "environment-variable: accept an empty value from stdin")
	_ = grant.RegisterFlagCompletionFunc("access", cobra.FixedCompletions([]string{"read", "read,write"}, cobra.ShellCompDirectiveNoFileComp))
	return grant
}

func (a *app) permissionRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke (storage | network | environment-variable) <component-id> <uri | host | key>",
		Short: "Revoke a grant from a component",
		Example: `  wassette permission revoke network weather api.weather.com
  wassette permission revoke environment-variable weather API_KEY`,
		Args:              usageArgs(cobra.ExactArgs(3)),
		ValidArgsFunction: a.completePermission(true),
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
		Use:               "reset <component-id>",
		Short:             "Remove every permission of a component (deletes its policy file)",
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeComponentIDs,
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

func (a *app) policySetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set <component-id> <file.yaml | ->",
		Short: "Validate a policy file and install it as a component's policy",
		Long: `Read a policy in Wassette's format from a file (or stdin, with '-'), check it, and install
it as the component's whole policy in one atomic write, replacing what was there (even a
policy file that no longer parses). Nothing is written if the file is invalid.

The same rules as 'permission grant' apply: every folder must exist and is stored as its
real path; wassette's own folders and variables (WASSETTE_*) are refused.`,
		Example: `  wassette policy set weather production-policy.yaml
  wassette policy get weather -o json   # check the result`,
		Args: usageArgs(cobra.ExactArgs(2)),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return a.completeComponentIDs(cmd, args, toComplete)
			}
			return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(_ *cobra.Command, args []string) error {
			id, file := args[0], args[1]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			const maxPolicy = 1 << 20
			var data []byte
			var err error
			if file == "-" {
				file = "stdin"
				data, err = io.ReadAll(io.LimitReader(a.stdin, maxPolicy+1))
			} else {
				data, err = readLimited(file, maxPolicy+1)
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", file, err)
			}
			if len(data) > maxPolicy {
				return usagef("%s is over %d bytes", file, maxPolicy)
			}
			p, err := policy.Parse(file, data)
			if err != nil {
				return usageError{fmt.Errorf("%w; nothing was changed", err)}
			}
			guard := a.guard()
			for i, s := range p.Permissions.Storage.Allow {
				real, err := guard.ResolveStorage(s.URI, id)
				if err != nil {
					return usageError{fmt.Errorf("%s: permissions.storage.allow[%d]: %w; nothing was changed", file, i, err)}
				}
				if p.Permissions.Storage.Allow[i].URI, err = policy.StorageURI(real); err != nil {
					return usageError{err}
				}
			}
			for i, e := range p.Permissions.Environment.Allow {
				if policy.IsReservedEnvKey(e.Key) {
					return usageError{fmt.Errorf("%s: permissions.environment.allow[%d]: %w; nothing was changed",
						file, i, policy.CheckEnvGrant(e.Key))}
				}
			}
			policies, err := a.policies()
			if err != nil {
				return err
			}
			if err := policies.Replace(id, p); err != nil {
				return err
			}
			path, _ := policies.Path(id)
			a.log.Info("policy set", "component", id, "file", path)
			fmt.Fprintf(a.stdout, "Policy of component '%s' set from %s: %d folder(s), %d host(s), %d variable(s); see 'wassette policy get %s'\n",
				id, file, len(p.Permissions.Storage.Allow), len(p.Permissions.Network.Allow), len(p.Permissions.Environment.Allow), id)
			a.noteID(id, "the policy is kept for a component loaded under this ID later")
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
