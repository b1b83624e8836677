package tools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.yaml.in/yaml/v3"

	"github.com/wassette/wassette/internal/cmdline"
	"github.com/wassette/wassette/internal/policyview"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// Names of the permission tools.
const (
	GetPolicyTool                           = "get-policy"
	GrantStoragePermissionTool              = "grant-storage-permission"
	GrantNetworkPermissionTool              = "grant-network-permission"
	GrantEnvironmentVariablePermissionTool  = "grant-environment-variable-permission"
	RevokeStoragePermissionTool             = "revoke-storage-permission"
	RevokeNetworkPermissionTool             = "revoke-network-permission"
	RevokeEnvironmentVariablePermissionTool = "revoke-environment-variable-permission"
	ResetPermissionTool                     = "reset-permission"
)

// Permission kinds, as results name them (the same words as the CLI's).
const (
	permStorage = "storage"
	permNetwork = "network"
	permEnv     = "environment-variable"
)

var (
	policyIDArg = arg{
		name: "component_id",
		description: `ID of the component whose permissions to use, as list-components shows it, ` +
			`e.g. "weather".`,
		minLen: 1, maxLen: secretstore.MaxIDLen,
	}
	storageURIArg = arg{
		name: "uri",
		description: `The folder, as an fs:// URI of an absolute path ("fs:///home/me/data") or as an ` +
			`absolute path ("/home/me/data"). The component sees it at the same path.`,
		minLen: 1, maxLen: 4096,
	}
	accessArg = arg{
		name: "access",
		description: `What the component may do in the folder: ["read"] or ["read", "write"] ` +
			`(write implies read). Grant write only if the component must change files there.`,
		kind: stringListArg, enum: []string{string(policy.Read), string(policy.Write)},
	}
	hostArg = arg{
		name: "host",
		description: `The host the component may reach over HTTP(S): "api.example.com" (any port), ` +
			`"api.example.com:8443" (that port only), "*.example.com" (its subdomains, not example.com ` +
			`itself) or an IP address with a port ("127.0.0.1:8080").`,
		minLen: 1, maxLen: 260,
	}
	envKeyArg = arg{
		name: "key",
		description: `Name of the host environment variable, e.g. "HOME_REGION". Case-sensitive; ` +
			`1 to 256 bytes with no '=', whitespace or control characters.`,
		minLen: 1, maxLen: secretstore.MaxKeyLen,
	}
)

const getPolicyOutputSchema = `{
  "type": "object",
  "properties": {
    "component_id": {"type": "string", "description": "The component."},
    "policy_file": {"type": "string", "description": "The file that holds its policy."},
    "has_policy": {"type": "boolean", "description": "False if it has no policy file: it may use nothing."},
    "version": {"type": "string", "description": "The policy format version."},
    "description": {"type": "string", "description": "The policy's description, if any."},
    "permissions": {
      "type": "object",
      "description": "What the policy grants.",
      "properties": {
        "storage": {
          "type": "array",
          "description": "Folders, as fs:// URIs, with their access.",
          "items": {
            "type": "object",
            "properties": {
              "uri": {"type": "string"},
              "access": {"type": "array", "items": {"type": "string", "enum": ["read", "write"]}}
            },
            "required": ["uri", "access"]
          }
        },
        "network": {"type": "array", "items": {"type": "string"}, "description": "Hosts it may reach."},
        "environment": {
          "type": "array",
          "description": "Host variables it may see; value is set (masked) when the policy itself gives the value.",
          "items": {
            "type": "object",
            "properties": {
              "key": {"type": "string"},
              "value": {"type": "string", "description": "The policy's value, masked."}
            },
            "required": ["key"]
          }
        }
      },
      "required": ["storage", "network", "environment"]
    },
    "limits": {
      "type": "object",
      "description": "Per-call limits the policy sets; absent fields mean the server's defaults.",
      "properties": {
        "memory": {"type": "string"},
        "timeout": {"type": "string"}
      }
    },
    "consent": {
      "type": "object",
      "description": "Whether the module loaded under this ID may receive its secrets and policy values; absent if no module is loaded.",
      "properties": {
        "module_digest": {"type": "string", "description": "sha256:<hex> of the loaded module."},
        "approved": {"type": "boolean", "description": "True if the user approved this module; otherwise its secrets and policy values are withheld."},
        "approved_digest": {"type": "string", "description": "The module the user approved last, if it is not this one."},
        "withheld": {"type": "array", "items": {"type": "string"}, "description": "Keys withheld from the module."},
        "note": {"type": "string", "description": "What the user must run to approve the module."}
      },
      "required": ["module_digest", "approved"]
    },
    "environment": {
      "type": "array",
      "description": "The environment the component would get if called now, values masked, without what is withheld. Precedence: policy value, then secret, then host variable.",
      "items": {
        "type": "object",
        "properties": {
          "key": {"type": "string"},
          "source": {"type": "string", "enum": ["policy", "secret", "host"]},
          "value": {"type": "string", "description": "The value, masked."}
        },
        "required": ["key", "source", "value"]
      }
    }
  },
  "required": ["component_id", "policy_file", "has_policy", "version", "permissions", "limits", "environment"]
}`

const permissionOutputSchema = `{
  "type": "object",
  "properties": {
    "component_id": {"type": "string", "description": "The component."},
    "permission": {"type": "string", "enum": ["storage", "network", "environment-variable"], "description": "The kind of permission."},
    "target": {"type": "string", "description": "The folder (fs:// URI), host or variable name."},
    "access": {"type": "array", "items": {"type": "string"}, "description": "Storage: the access now granted to the folder."},
    "granted": {"type": "boolean", "description": "Whether the permission is granted after this call."},
    "changed": {"type": "boolean", "description": "False if the policy already said so and nothing was written."}
  },
  "required": ["component_id", "permission", "target", "granted", "changed"]
}`

const resetOutputSchema = `{
  "type": "object",
  "properties": {
    "component_id": {"type": "string", "description": "The component."},
    "policy_file": {"type": "string", "description": "The policy file that was removed."},
    "had_policy": {"type": "boolean", "description": "False if there was no policy to remove."}
  },
  "required": ["component_id", "policy_file", "had_policy"]
}`

// PermissionOutput is the structured content of the grant-* and revoke-* tools.
type PermissionOutput struct {
	ComponentID string   `json:"component_id"`
	Permission  string   `json:"permission"`
	Target      string   `json:"target"`
	Access      []string `json:"access,omitempty"`
	Granted     bool     `json:"granted"`
	Changed     bool     `json:"changed"`
}

// ResetPermissionOutput is the structured content of a reset-permission result.
type ResetPermissionOutput struct {
	ComponentID string `json:"component_id"`
	PolicyFile  string `json:"policy_file"`
	HadPolicy   bool   `json:"had_policy"`
}

// policyTools returns get-policy and the grant, revoke and reset tools.
func (c *Components) policyTools() []server.ServerTool {
	return []server.ServerTool{
		c.tool(GetPolicyTool,
			"Show a component's permissions (folders, hosts, host environment variables, limits) and the "+
				"environment it would get if called now, each variable with its source: policy, secret or host. "+
				"Values are always masked. It also says whether the user approved the loaded module to receive its "+
				"secrets (consent). Use it to find out why a component cannot reach a host or lacks a variable.",
			hints{title: "Get a component's policy", readOnly: true, idempotent: true},
			getPolicyOutputSchema, c.getPolicy, policyIDArg),
		c.tool(GrantStoragePermissionTool,
			"Let a loaded component use a folder on the user's machine, read-only or read-write, from its next "+
				"call on. Grant only what the user's request needs: the narrowest folder, and write only if needed. "+
				"The folder must exist; it is resolved to its real path (symbolic links followed) now. wassette's own "+
				"folders (its data, secrets, config and cache folders), anything inside them and any folder that holds "+
				"them (such as the home folder or /) are refused.",
			hints{title: "Grant folder access", idempotent: true},
			permissionOutputSchema, c.grantStorage, policyIDArg, storageURIArg, accessArg),
		c.tool(GrantNetworkPermissionTool,
			"Let a loaded component make HTTP(S) requests to a host, from its next call on. A component that "+
				"fails with \"network access to <host> is not granted\" needs this for that host.",
			hints{title: "Grant network access", idempotent: true},
			permissionOutputSchema, c.grantNetwork, policyIDArg, hostArg),
		c.tool(GrantEnvironmentVariablePermissionTool,
			"Let a loaded component see one environment variable of the host (the wassette server's own "+
				"environment), from its next call on. It does not set a value: the component gets the host's value, "+
				"if the host has the variable. A secret or a value the user put in the policy for the same key wins "+
				"over the host. wassette's own variables (WASSETTE_*, such as its bearer token) are refused. To give a "+
				"component an API key, use set-secret instead.",
			hints{title: "Grant a host environment variable", idempotent: true},
			permissionOutputSchema, c.grantEnv, policyIDArg, envKeyArg),
		c.tool(RevokeStoragePermissionTool,
			"Take a folder away from a component, from its next call on. Fails if that folder is not granted; "+
				"get-policy lists the granted folders.",
			hints{title: "Revoke folder access", destructive: true},
			permissionOutputSchema, c.revokeStorage, policyIDArg, storageURIArg),
		c.tool(RevokeNetworkPermissionTool,
			"Take a host away from a component, from its next call on. Give the host exactly as granted; "+
				"fails if it is not granted (get-policy lists the granted hosts).",
			hints{title: "Revoke network access", destructive: true},
			permissionOutputSchema, c.revokeNetwork, policyIDArg, hostArg),
		c.tool(RevokeEnvironmentVariablePermissionTool,
			"Take a host environment variable away from a component, from its next call on. If the user gave "+
				"that key a value in the policy, the value is removed too. Secrets are not affected. Fails if "+
				"the key is not granted (get-policy lists the granted keys).",
			hints{title: "Revoke a host environment variable", destructive: true},
			permissionOutputSchema, c.revokeEnv, policyIDArg, envKeyArg),
		c.tool(ResetPermissionTool,
			"Remove every permission of a component by deleting its policy file: no folders, no hosts, no host "+
				"variables, default limits, from its next call on. Its secrets are kept. Values the user set in "+
				"the policy are lost, so ask the user first.",
			hints{title: "Reset a component's permissions", destructive: true, idempotent: true},
			resetOutputSchema, c.reset, policyIDArg),
	}
}

// known checks that component id is loaded (syncing with the components folder first if
// it is not), or, unless mustBeLoaded, that it has a policy.
func (c *Components) known(id string, mustBeLoaded bool) *mcp.CallToolResult {
	if bad := checkID(id); bad != nil {
		return bad
	}
	if _, ok := c.mgr.Get(id); ok {
		return nil
	}
	_, _ = c.Sync() // the CLI may have loaded it a moment ago; Watch logs failures
	if _, ok := c.mgr.Get(id); ok {
		return nil
	}
	if !mustBeLoaded {
		if _, has, err := c.policies.Get(id); err == nil && has {
			return nil
		}
	}
	return toolError("component %q is not loaded. IDs are case-sensitive; list-components shows the loaded "+
		"components, and load-component loads one.", id)
}

func (c *Components) getPolicy(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id := args["component_id"]
	if bad := c.known(id, false); bad != nil {
		return bad
	}
	p, has, err := c.policies.Get(id)
	if err != nil {
		return policyError("read the policy of component", id, err)
	}
	path, err := c.policies.Path(id)
	if err != nil {
		return policyError("find the policy file of component", id, err)
	}
	sec, err := c.secrets.Get(id)
	if err != nil {
		return storeError("read the secrets of component", id, err)
	}
	v := policyview.Build(id, path, has, p, sec, c.environ(), c.module(id))
	var text bytes.Buffer
	enc := yaml.NewEncoder(&text)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return toolError("could not show the policy of component %q: %v", id, err)
	}
	enc.Close()
	return mcp.NewToolResultStructured(v, strings.TrimRight(text.String(), "\n"))
}

// module describes the module loaded under id for a policy view; nil if none is.
func (c *Components) module(id string) *policyview.Module {
	cons, err := c.mgr.Consent(id)
	if err != nil {
		return nil
	}
	return &policyview.Module{Digest: cons.ModuleDigest, Approved: cons.Approved, ApprovedDigest: cons.ApprovedDigest}
}

// errUnchanged makes policy.Store.Update skip a write that would change nothing.
var errUnchanged = errors.New("unchanged")

// update applies change to the policy of id and reports whether it changed anything.
// change returns errUnchanged, or any error, to leave the file alone.
func (c *Components) update(id string, change func(*policy.Policy) error) (changed bool, err error) {
	err = c.policies.Update(id, func(p *policy.Policy) error {
		before, _ := p.Marshal()
		if err := change(p); err != nil {
			return err
		}
		after, _ := p.Marshal()
		if bytes.Equal(before, after) {
			return errUnchanged
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return false, nil
	}
	return err == nil, err
}

// storageTarget turns a uri argument into the fs:// URI a policy holds.
func storageTarget(s string) (string, *mcp.CallToolResult) {
	uri, err := policy.StorageURI(s)
	if err != nil {
		return "", toolError("%v. Give the folder as fs:// and an absolute path, e.g. \"fs:///home/me/data\", "+
			"or as an absolute path.", err)
	}
	return uri, nil
}

func checkHost(host string) *mcp.CallToolResult {
	if err := policy.ValidateHost(host); err != nil {
		return toolError("%v. Give a host name or IP address, with a port if needed: \"api.example.com\", "+
			"\"api.example.com:8443\", \"*.example.com\" or \"127.0.0.1:8080\"; not a URL.", err)
	}
	return nil
}

func (c *Components) grantStorage(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id := args["component_id"]
	uri, bad := storageTarget(args["uri"])
	if bad != nil {
		return bad
	}
	var access []policy.Access
	for _, a := range listArg(args, "access") {
		access = append(access, policy.Access(a))
	}
	if bad := c.known(id, true); bad != nil {
		return bad
	}
	// The folder is resolved once, now, to its real path, which is what the policy
	// keeps: re-pointing a link later does not re-target the grant.
	real, err := c.mgr.Guard().ResolveStorage(uri, id)
	switch {
	case errors.Is(err, policy.ErrProtected):
		return toolError("refused: %v. Nothing was granted. Do not try another path to the same folder; "+
			"ask the user which folder the component should use.", err)
	case err != nil:
		return toolError("%v. Nothing was granted.", err)
	}
	if uri, err = policy.StorageURI(real); err != nil {
		return toolError("%v. Nothing was granted.", err)
	}
	var now []string
	changed, err := c.update(id, func(p *policy.Policy) error {
		if err := p.GrantStorage(uri, access...); err != nil {
			return err
		}
		for _, s := range p.Permissions.Storage.Allow {
			if s.URI == uri {
				for _, a := range s.Access {
					now = append(now, string(a))
				}
			}
		}
		return nil
	})
	if err != nil {
		return policyError("grant storage to component", id, err)
	}
	out := PermissionOutput{ComponentID: id, Permission: permStorage, Target: uri, Access: now, Granted: true, Changed: changed}
	return permissionResult(out, fmt.Sprintf("may now use the folder %s (%s)", uri, strings.Join(now, ", ")))
}

func (c *Components) grantNetwork(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id, host := args["component_id"], args["host"]
	if bad := checkHost(host); bad != nil {
		return bad
	}
	if bad := c.known(id, true); bad != nil {
		return bad
	}
	changed, err := c.update(id, func(p *policy.Policy) error { return p.GrantNetwork(host) })
	if err != nil {
		return policyError("grant network access to component", id, err)
	}
	out := PermissionOutput{ComponentID: id, Permission: permNetwork, Target: host, Granted: true, Changed: changed}
	return permissionResult(out, "may now reach "+host)
}

func (c *Components) grantEnv(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id, key := args["component_id"], args["key"]
	if bad := checkKey(key); bad != nil {
		return bad
	}
	if err := policy.CheckEnvGrant(key); err != nil {
		return toolError("refused: %v. Nothing was granted.", err)
	}
	if bad := c.known(id, true); bad != nil {
		return bad
	}
	changed, err := c.update(id, func(p *policy.Policy) error {
		if slices.ContainsFunc(p.Permissions.Environment.Allow, func(e policy.EnvironmentAllow) bool { return e.Key == key }) {
			return errUnchanged // keep a value the user may have set for it
		}
		return p.GrantEnvironment(key, nil)
	})
	if err != nil {
		return policyError("grant an environment variable to component", id, err)
	}
	out := PermissionOutput{ComponentID: id, Permission: permEnv, Target: key, Granted: true, Changed: changed}
	return permissionResult(out, "may now see the host's variable "+key+
		" if the server's environment has it (a secret or policy value for "+key+" wins over the host's)")
}

func (c *Components) revokeStorage(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id := args["component_id"]
	uri, bad := storageTarget(args["uri"])
	if bad != nil {
		return bad
	}
	// Grants hold real paths: a path given through a link revokes what it leads to.
	real := uri
	if r, err := filepath.EvalSymlinks(filepath.FromSlash(strings.TrimPrefix(uri, "fs://"))); err == nil {
		real, _ = policy.StorageURI(r)
	}
	return c.revoke(id, permStorage, uri, func(p *policy.Policy) bool { return p.RevokeStorage(uri) || p.RevokeStorage(real) })
}

func (c *Components) revokeNetwork(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id, host := args["component_id"], args["host"]
	if bad := checkHost(host); bad != nil {
		return bad
	}
	return c.revoke(id, permNetwork, host, func(p *policy.Policy) bool { return p.RevokeNetwork(host) })
}

func (c *Components) revokeEnv(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id, key := args["component_id"], args["key"]
	if bad := checkKey(key); bad != nil {
		return bad
	}
	return c.revoke(id, permEnv, key, func(p *policy.Policy) bool { return p.RevokeEnvironment(key) })
}

// errNotGranted reports a revoke of something the policy does not grant.
var errNotGranted = errors.New("not granted")

func (c *Components) revoke(id, kind, target string, revoke func(*policy.Policy) bool) *mcp.CallToolResult {
	if bad := c.known(id, false); bad != nil {
		return bad
	}
	_, err := c.update(id, func(p *policy.Policy) error {
		if !revoke(p) {
			return errNotGranted
		}
		return nil
	})
	if errors.Is(err, errNotGranted) {
		return toolError("component %q has no %s permission for %q, so nothing was revoked. get-policy shows "+
			"what it is granted; give the %s exactly as listed there.", id, kind, target, map[string]string{
			permStorage: "folder URI", permNetwork: "host", permEnv: "key"}[kind])
	}
	if err != nil {
		return policyError("revoke a permission of component", id, err)
	}
	out := PermissionOutput{ComponentID: id, Permission: kind, Target: target, Granted: false, Changed: true}
	return permissionResult(out, "")
}

func permissionResult(out PermissionOutput, grantText string) *mcp.CallToolResult {
	var text string
	switch {
	case !out.Granted:
		text = fmt.Sprintf("Revoked: component %q no longer has the %s permission for %s, from its next call on.",
			out.ComponentID, out.Permission, out.Target)
	case out.Changed:
		text = fmt.Sprintf("Granted: component %q %s, from its next call on.", out.ComponentID, grantText)
	default:
		text = fmt.Sprintf("Already granted: component %q %s; nothing changed.", out.ComponentID, grantText)
	}
	return mcp.NewToolResultStructured(out, text)
}

func (c *Components) reset(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id := args["component_id"]
	if bad := c.known(id, false); bad != nil {
		return bad
	}
	path, err := c.policies.Path(id)
	if err != nil {
		return policyError("find the policy file of component", id, err)
	}
	_, has, err := c.policies.Get(id)
	if err != nil {
		// An unreadable policy can still be removed: that is what reset is for.
		c.log.Warn("resetting an unreadable policy", "component", id, "err", err)
		has = true
	}
	if err := c.policies.Remove(id); err != nil {
		return policyError("remove the policy of component", id, err)
	}
	out := ResetPermissionOutput{ComponentID: id, PolicyFile: path, HadPolicy: has}
	text := fmt.Sprintf("Reset: component %q has no permissions from its next call on (removed %s). Its secrets are kept.", id, path)
	if !has {
		text = fmt.Sprintf("Component %q had no policy, so it already has no permissions; nothing changed.", id)
	}
	return mcp.NewToolResultStructured(out, text)
}

// policyError reports a failure of the policy store (a broken or insecure file, I/O).
// Its errors name the file and the fix, never a value.
func policyError(what, id string, err error) *mcp.CallToolResult {
	return toolError("could not %s %q: %v. This is a problem on the user's machine, not in your arguments: "+
		"tell the user, who can fix the file by hand or run '%s'; %s also removes the broken policy, with every "+
		"permission in it, so call it only if the user agrees.", what, truncate(id), err,
		cmdline.Wassette("permission", "reset", id), ResetPermissionTool)
}
