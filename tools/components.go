package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/component/loader"
	"github.com/wassette/wassette/internal/cmdline"
	"github.com/wassette/wassette/internal/policyview"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// Names of the component tools.
const (
	LoadComponentTool   = "load-component"
	UnloadComponentTool = "unload-component"
	ListComponentsTool  = "list-components"
)

// BuiltinToolNames returns the names of all of wassette's own tools (secrets,
// components and permissions), sorted. Pass them as component.Config.Reserved so that
// no component can declare a tool under one of these names.
func BuiltinToolNames() []string {
	names := []string{
		ListSecretsTool, SetSecretTool, DeleteSecretTool, RequestSecretTool,
		LoadComponentTool, UnloadComponentTool, ListComponentsTool,
		GetPolicyTool,
		GrantStoragePermissionTool, GrantNetworkPermissionTool, GrantEnvironmentVariablePermissionTool,
		RevokeStoragePermissionTool, RevokeNetworkPermissionTool, RevokeEnvironmentVariablePermissionTool,
		ResetPermissionTool,
	}
	slices.Sort(names)
	return names
}

var (
	pathArg = arg{
		name: "path",
		description: `Where the component's WebAssembly module is: an absolute file path on the user's ` +
			`machine ("/home/me/weather.wasm"), a file:// URI, an https:// URL, or an OCI reference ` +
			`("oci://ghcr.io/org/tool:1.0"). A URI may end with "#sha256=<64 hex digits>" to pin the bytes.`,
		minLen: 1, maxLen: 4096,
	}
	loadIDArg = arg{
		name: "component_id",
		description: `ID to load the component under, e.g. "weather"; its secrets and policy are kept under ` +
			`this ID. Default: the file name without ".wasm", or the OCI repository's last element. ` +
			`Loading under the ID of a loaded component replaces it, and its secrets are then withheld ` +
			`from the new module until the user approves it.`,
		minLen: 1, maxLen: secretstore.MaxIDLen, optional: true,
	}
	loadIDAlias = arg{
		name:        "id",
		description: `The same as component_id, which is preferred; kept for clients written for earlier versions.`,
		minLen:      1, maxLen: secretstore.MaxIDLen, optional: true,
	}
	sha256Arg = arg{
		name: "sha256",
		description: `Expected SHA-256 digest of the module's bytes, as 64 hex digits or "sha256:<hex>". ` +
			`If the bytes differ, nothing is loaded.`,
		minLen: 64, maxLen: 71, optional: true,
	}
	unloadIDArg = arg{
		name:        "component_id",
		description: `ID of the loaded component to unload, as list-components shows it, e.g. "weather". Required (or its alias id).`,
		minLen:      1, maxLen: secretstore.MaxIDLen, optional: true,
	}
	unloadIDAlias = arg{
		name:        "id",
		description: `The same as component_id, which is preferred; kept for clients written for earlier versions.`,
		minLen:      1, maxLen: secretstore.MaxIDLen, optional: true,
	}
	deleteSecretsArg = arg{
		name: "delete_secrets",
		description: `Also delete the component's stored secrets (API keys and the like). Default false: ` +
			`they are kept, so that loading the component again under the same ID gives them back. ` +
			`Only set it to true if the user asked for the secrets to be deleted.`,
		kind: boolArg, optional: true,
	}
)

const toolSummarySchema = `{
  "type": "object",
  "properties": {
    "name": {"type": "string", "description": "The tool's name, as tools/list shows it."},
    "description": {"type": "string", "description": "What the tool does, as the component declares it."}
  },
  "required": ["name", "description"]
}`

const componentInfoProperties = `
    "component_id": {"type": "string", "description": "The component's ID."},
    "source": {"type": "string", "description": "Where the module was loaded from, in canonical form."},
    "digest": {"type": "string", "description": "sha256:<hex> of the module's bytes."},
    "size": {"type": "integer", "description": "The module's size in bytes."},
    "approved": {"type": "boolean", "description": "True if the user approved this module to receive the secrets and policy values of its ID; until then they are withheld from it. Only the user can approve, at the command line."},
    "tools": {"type": "array", "description": "The tools the component offers, sorted by name.", "items": ` + toolSummarySchema + `}`

const loadOutputSchema = `{
  "type": "object",
  "properties": {` + componentInfoProperties + `,
    "replaced": {"type": "boolean", "description": "True if a component was already loaded under this ID and has been replaced."},
    "secrets": {"type": "integer", "description": "How many secrets are stored for this ID; an approved module receives them all as environment variables."},
    "withheld": {"type": "array", "items": {"type": "string"}, "description": "The keys of the secrets and policy values this module does not receive because the user has not approved it."}
  },
  "required": ["component_id", "source", "digest", "size", "approved", "tools", "replaced", "secrets", "withheld"]
}`

const unloadOutputSchema = `{
  "type": "object",
  "properties": {
    "component_id": {"type": "string", "description": "The unloaded component."},
    "tools_removed": {"type": "array", "items": {"type": "string"}, "description": "The tools that are gone with it."},
    "secrets_deleted": {"type": "boolean", "description": "True if its secrets were deleted (delete_secrets was true)."},
    "secrets_kept": {"type": "integer", "description": "How many of its secrets are still stored (0 if they were deleted)."}
  },
  "required": ["component_id", "tools_removed", "secrets_deleted", "secrets_kept"]
}`

const listComponentsOutputSchema = `{
  "type": "object",
  "properties": {
    "count": {"type": "integer", "description": "How many components are loaded."},
    "components": {
      "type": "array",
      "description": "The loaded components, sorted by ID.",
      "items": {
        "type": "object",
        "properties": {` + componentInfoProperties + `,
          "loaded_at": {"type": "string", "description": "When the component was loaded (RFC 3339)."},
          "declared_secrets": ` + declaredSecretsSchema + `
        },
        "required": ["component_id", "source", "digest", "size", "approved", "tools", "loaded_at"]
      }
    }
  },
  "required": ["count", "components"]
}`

// ToolSummary is one tool of a component, as load-component and list-components show it.
type ToolSummary struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// LoadComponentOutput is the structured content of a load-component result.
type LoadComponentOutput struct {
	ComponentID string        `json:"component_id"`
	Source      string        `json:"source"`
	Digest      string        `json:"digest"`
	Size        int64         `json:"size"`
	Approved    bool          `json:"approved"`
	Tools       []ToolSummary `json:"tools"`
	Replaced    bool          `json:"replaced"`
	Secrets     int           `json:"secrets"`
	Withheld    []string      `json:"withheld"`
}

// UnloadComponentOutput is the structured content of an unload-component result.
type UnloadComponentOutput struct {
	ComponentID    string   `json:"component_id"`
	ToolsRemoved   []string `json:"tools_removed"`
	SecretsDeleted bool     `json:"secrets_deleted"`
	SecretsKept    int      `json:"secrets_kept"`
}

// ComponentSummary is one loaded component, as list-components shows it.
type ComponentSummary struct {
	ComponentID string        `json:"component_id"`
	Source      string        `json:"source"`
	Digest      string        `json:"digest"`
	Size        int64         `json:"size"`
	Approved    bool          `json:"approved"`
	Tools       []ToolSummary `json:"tools"`
	LoadedAt    string        `json:"loaded_at"`
	// DeclaredSecrets are the secrets the component declares it needs, each saying
	// whether it is missing.
	DeclaredSecrets []DeclaredSecret `json:"declared_secrets,omitempty"`
}

// ListComponents returns the list-components view of infos, components of mgr, each
// declared secret marked missing or not; the CLI's `component list -o json` prints the
// same. The error reports the first component whose missing secrets could not be told.
func ListComponents(mgr *component.Manager, infos []component.Info) (ListComponentsOutput, error) {
	out := ListComponentsOutput{Count: len(infos), Components: []ComponentSummary{}}
	var first error
	for _, info := range infos {
		ds, err := declaredSecretsOf(mgr, info)
		if err != nil && first == nil {
			first = err
		}
		out.Components = append(out.Components, ComponentSummary{
			ComponentID: info.ID, Source: info.Source, Digest: info.Digest, Size: info.Size, Approved: info.Approved,
			Tools: summaries(info), LoadedAt: info.LoadedAt.UTC().Format(time.RFC3339), DeclaredSecrets: ds,
		})
	}
	return out, first
}

// ListComponentsOutput is the structured content of a list-components result.
type ListComponentsOutput struct {
	Count      int                `json:"count"`
	Components []ComponentSummary `json:"components"`
}

// Components serves a Manager's components over MCP: the built-in tools that load,
// unload and list components and edit their permissions, and one MCP tool for each tool
// a loaded component declares, kept in step with the Manager. It is safe for concurrent
// use.
type Components struct {
	s        *server.MCPServer
	mgr      *component.Manager
	policies *policy.Store
	secrets  *secretstore.Store
	log      *slog.Logger
	environ  func() []string // the host environment get-policy shows

	mu             sync.Mutex            // serialises Refresh
	registered     map[string]registered // component tools on s, by name
	secretRequests *SecretRequests       // asks for missing declared secrets; nil: calls run without

	syncMu      sync.Mutex
	lastSyncErr string // the last Sync error logged, so Watch logs each one once
}

// registered is a component tool as it was added to the server.
type registered struct {
	componentID string
	signature   string // what the model sees of it; a change means re-adding it
}

// RegisterComponents adds to s the component tools (load-component, unload-component,
// list-components), the permission tools (get-policy, grant-*, revoke-*,
// reset-permission) and the tools of every component mgr has loaded. policies and
// secrets must be the stores mgr was opened with. Each call is logged on log at info
// level, without argument values.
//
// Call Refresh after changing mgr other than through these tools, and Sync (or Watch)
// to pick up components another process loaded or unloaded. Create s with
// WithToolCapabilities(true) so that clients hear of each change.
func RegisterComponents(s *server.MCPServer, mgr *component.Manager, policies *policy.Store,
	secrets *secretstore.Store, log *slog.Logger) *Components {
	c := newComponents(s, mgr, policies, secrets, log)
	s.AddTools(append(c.componentTools(), c.policyTools()...)...)
	c.Refresh()
	return c
}

func newComponents(s *server.MCPServer, mgr *component.Manager, policies *policy.Store,
	secrets *secretstore.Store, log *slog.Logger) *Components {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Components{
		s: s, mgr: mgr, policies: policies, secrets: secrets, log: log,
		environ: os.Environ, registered: map[string]registered{},
	}
}

// componentTools returns load-component, unload-component and list-components.
func (c *Components) componentTools() []server.ServerTool {
	return []server.ServerTool{
		c.tool(LoadComponentTool,
			"Load a component: a sandboxed WebAssembly module that offers tools, from a file path, a file:// "+
				"or https:// URL, or an OCI registry (oci://). Its tools appear in the tool list right away. "+
				"A component starts with no permissions: no network, no folders and no host environment "+
				"variables; grant what it needs with the grant-*-permission tools. The secrets stored under its "+
				"ID (see list-secrets) reach it only once the user has approved this very module at the command "+
				"line (wassette component approve <id>); a module the user loaded themselves is approved. Loading "+
				"under an ID that is already loaded replaces that component. Fails, loading nothing, if one of "+
				"its tool names is already taken.",
			hints{title: "Load a component", idempotent: true, openWorld: true},
			loadOutputSchema, c.load, pathArg, loadIDArg, loadIDAlias, sha256Arg),
		c.tool(UnloadComponentTool,
			"Unload a component: its tools disappear and its policy (permissions) is deleted. Its secrets "+
				"are kept unless delete_secrets is true; the result says how many were kept. Use "+
				"list-components to see the loaded IDs.",
			hints{title: "Unload a component", destructive: true},
			unloadOutputSchema, c.unload, unloadIDArg, unloadIDAlias, deleteSecretsArg),
		c.tool(ListComponentsTool,
			"List the loaded components: each one's ID, source, digest and tools. Components loaded or "+
				"unloaded by the user from the command line show up too.",
			hints{title: "List components", readOnly: true, idempotent: true},
			listComponentsOutputSchema, c.list),
	}
}

// tool builds one built-in tool with the shared argument handling and logging.
func (c *Components) tool(name, description string, h hints, outputSchema string, fn callFunc, args ...arg) server.ServerTool {
	t := newTool(name, description, h, outputSchema, args...)
	return server.ServerTool{Tool: t, Handler: handler(c.log, t, args, fn)}
}

// idArgument returns the component ID given as component_id or as its alias id.
func idArgument(tool string, args map[string]string, required bool) (string, bool, *mcp.CallToolResult) {
	id, ok := args["component_id"]
	if alias, aok := args["id"]; aok {
		if ok && alias != id {
			return "", false, toolError("%s got component_id %q and id %q: give component_id only (id is its old name)",
				tool, truncate(id), truncate(alias))
		}
		id, ok = alias, true
	}
	if !ok {
		if required {
			return "", false, toolError("missing required argument \"component_id\" of %s: the ID of the component, "+
				"as list-components shows it", tool)
		}
		return "", false, nil
	}
	if bad := checkID(id); bad != nil {
		return "", false, bad
	}
	return id, true, nil
}

func (c *Components) load(ctx context.Context, args map[string]string) *mcp.CallToolResult {
	uri := strings.TrimSpace(args["path"])
	if uri == "" {
		return toolError(`argument "path" of %s is empty: give the file path, file:// or https:// URL, or oci:// `+
			`reference of a WebAssembly module`, LoadComponentTool)
	}
	var opts component.LoadOptions // never Approve: a model's load is not a person's consent
	id, given, bad := idArgument(LoadComponentTool, args, false)
	if bad != nil {
		return bad
	}
	if given {
		opts.ID = id
	}
	if d, ok := args["sha256"]; ok {
		opts.Digest = strings.TrimSpace(d)
	}
	before := map[string]bool{}
	for _, info := range c.mgr.List() {
		before[info.ID] = true
	}
	info, err := c.mgr.Load(ctx, uri, opts)
	if err != nil {
		switch {
		case errors.Is(err, component.ErrToolClash):
			return toolError("%v. Nothing was loaded. To replace a loaded component, load the new one under its ID; "+
				"to keep both, unload one first (unload-component).", err)
		case errors.Is(err, loader.ErrDigestMismatch):
			return toolError("%v. Nothing was loaded: check the sha256 pin with the user.", err)
		case errors.Is(err, loader.ErrPlainHTTP):
			return toolError("%v. Nothing was loaded: %s cannot fetch plain http://; give an https:// URL, or ask the "+
				"user to load it themselves if the server is on their machine.", err, LoadComponentTool)
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return toolError("loading stopped before it finished: %v. Try again.", err)
		}
		return toolError("%v. Nothing was loaded; check the path or URL (a plain path is read on the user's machine, "+
			"and is best absolute).", err)
	}
	c.Refresh()
	sec, _ := c.secrets.Get(info.ID) // a count for the model; a bad file shows up at call time
	cons, _ := c.mgr.Consent(info.ID)
	out := LoadComponentOutput{
		ComponentID: info.ID, Source: info.Source, Digest: info.Digest, Size: info.Size, Approved: info.Approved,
		Tools: summaries(info), Replaced: before[info.ID], Secrets: sec.Len(), Withheld: append([]string{}, cons.Withheld...),
	}
	var text strings.Builder
	verb := "Loaded"
	if out.Replaced {
		verb = "Replaced"
	}
	fmt.Fprintf(&text, "%s component %q from %s (%s). Its tool%s: %s.", verb, info.ID, info.Source, info.Digest,
		plural(len(out.Tools)), list(toolNames(out.Tools)))
	switch {
	case len(out.Withheld) > 0:
		fmt.Fprintf(&text, " It does NOT receive the secrets and policy values stored under its ID (%s): %s.",
			strings.Join(out.Withheld, ", "), withheldReason(info.ID))
	case out.Approved && out.Secrets > 0:
		fmt.Fprintf(&text, " It receives the %d secret%s stored under its ID.", out.Secrets, plural(out.Secrets))
	case out.Approved:
		text.WriteString(" No secrets are stored under its ID; set-secret stores one.")
	default:
		fmt.Fprintf(&text, " No secrets are stored under its ID. Secrets stored for it later reach it only once the "+
			"user approves this module: %s.", withheldReason(info.ID))
	}
	text.WriteString(" Grant the network hosts, folders and host variables it needs with the grant-*-permission tools; get-policy shows what it has.")
	return mcp.NewToolResultStructured(out, text.String())
}

// deniedHost finds the sandbox's refusal of a host in a tool's error message, which
// names the CLI command for the person.
var deniedHost = regexp.MustCompile(`network access to (\S+) is not granted to this component`)

// grantHint names, for the model, the tool that grants a host a component was refused;
// "" if msg reports no refused host.
func grantHint(id, msg string) string {
	m := deniedHost.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return fmt.Sprintf("To allow it, call %s with component_id %q and host %q, if the user's request needs that host.",
		GrantNetworkPermissionTool, id, m[1])
}

// withheldReason explains to the model why a module gets no secrets, and what the
// user must do.
func withheldReason(id string) string {
	return "the user has not approved this module to receive them, and no tool can approve it; ask the user to " +
		"check where the module came from and run: " + policyview.ApproveCommand(id)
}

func (c *Components) unload(ctx context.Context, args map[string]string) *mcp.CallToolResult {
	id, _, bad := idArgument(UnloadComponentTool, args, true)
	if bad != nil {
		return bad
	}
	deleteSecrets := args["delete_secrets"] == "true"
	info, ok := c.mgr.Get(id)
	if !ok { // the CLI may have loaded it a moment ago; Watch logs failures
		_, _ = c.Sync()
		info, _ = c.mgr.Get(id)
	}
	had := 0
	if sec, err := c.secrets.Get(id); err == nil {
		had = sec.Len()
	}
	kept, err := c.mgr.Unload(ctx, id, deleteSecrets)
	if err != nil {
		if errors.Is(err, component.ErrNotFound) {
			_, _ = c.Sync() // the CLI may have unloaded it: drop its tools now; Watch logs failures
			return toolError("component %q is not loaded, so nothing was unloaded. IDs are case-sensitive; "+
				"list-components shows the loaded components.", id)
		}
		return toolError("could not unload component %q: %v. This is a problem on the user's machine, not in your "+
			"arguments: tell the user, who can run 'wassette component unload' or fix the files by hand.", truncate(id), err)
	}
	c.Refresh()
	out := UnloadComponentOutput{ComponentID: id, ToolsRemoved: toolNames(summaries(info)), SecretsDeleted: deleteSecrets, SecretsKept: kept}
	var text strings.Builder
	fmt.Fprintf(&text, "Unloaded component %q", id)
	if len(out.ToolsRemoved) > 0 {
		fmt.Fprintf(&text, " (tool%s %s removed)", plural(len(out.ToolsRemoved)), list(out.ToolsRemoved))
	}
	text.WriteString(" and deleted its policy.")
	switch {
	case deleteSecrets && had > 0:
		fmt.Fprintf(&text, " Its %d secret%s %s deleted.", had, plural(had), wasWere(had))
	case deleteSecrets:
		text.WriteString(" It had no secrets to delete.")
	case kept > 0:
		fmt.Fprintf(&text, " Its %d secret%s %s KEPT: they reach a module loaded under the ID %q again only if "+
			"the user approved that module. To delete %s, call delete-secret for each key (list-secrets shows "+
			"them), or next time unload with delete_secrets true; the user can run: %s.", kept, plural(kept),
			wasWere(kept), id, itThem(kept), cmdline.Wassette("secret", "delete", id, "--all"))
	default:
		text.WriteString(" It had no secrets.")
	}
	return mcp.NewToolResultStructured(out, text.String())
}

func (c *Components) list(context.Context, map[string]string) *mcp.CallToolResult {
	_, _ = c.Sync() // show what the CLI loaded or unloaded since the last sync; Watch logs failures
	infos := c.mgr.List()
	out, err := ListComponents(c.mgr, infos)
	if err != nil {
		c.log.Warn("could not tell which declared secrets are missing", "err", err)
	}
	var text strings.Builder
	if len(infos) == 0 {
		text.WriteString("No components are loaded. Load one with load-component.")
	} else {
		fmt.Fprintf(&text, "%d component%s loaded:", len(infos), plural(len(infos)))
	}
	for _, s := range out.Components {
		fmt.Fprintf(&text, "\n%s: %s (%s), tool%s %s", s.ComponentID, s.Source, s.Digest, plural(len(s.Tools)),
			list(toolNames(s.Tools)))
		text.WriteString(missingText(s.DeclaredSecrets))
		if !s.Approved {
			text.WriteString("; not approved by the user, so it gets no secrets")
		}
	}
	return mcp.NewToolResultStructured(out, text.String())
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

func itThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func summaries(info component.Info) []ToolSummary {
	out := make([]ToolSummary, 0, len(info.Tools))
	for _, t := range info.Tools {
		out = append(out, ToolSummary{Name: t.Name, Description: t.Description})
	}
	slices.SortFunc(out, func(a, b ToolSummary) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func toolNames(ts []ToolSummary) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return names
}

// Refresh makes the server's component tools match the Manager's: it adds the tools of
// newly loaded components, re-adds those whose definition changed and deletes those of
// unloaded components. mcp-go then sends notifications/tools/list_changed to every
// client. A component tool is never allowed to replace another tool on the server.
func (c *Components) Refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := map[string]component.Tool{}
	for _, t := range c.mgr.Tools() {
		want[t.Name] = t
	}
	var gone []string
	for name := range c.registered {
		if _, ok := want[name]; !ok {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	var add []server.ServerTool
	var added []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range want {
			if !yield(n) {
				return
			}
		}
	}) {
		t := want[name]
		sig := signature(t)
		cur, ours := c.registered[name]
		if ours && cur.signature == sig {
			continue
		}
		if !ours && (slices.Contains(BuiltinToolNames(), name) || c.s.GetTool(name) != nil) {
			c.log.Warn("component tool not offered: the name is taken by one of wassette's own tools; rename the tool in the component",
				"component", t.ComponentID, "tool", name)
			continue
		}
		add = append(add, c.componentTool(t))
		added = append(added, name)
		c.registered[name] = registered{componentID: t.ComponentID, signature: sig}
	}
	for _, name := range gone {
		delete(c.registered, name)
	}
	if len(gone) > 0 {
		c.s.DeleteTools(gone...)
	}
	if len(add) > 0 {
		c.s.AddTools(add...)
	}
	if len(gone)+len(add) > 0 {
		c.log.Info("component tools updated", "added", added, "removed", gone)
	}
}

// signature is what the model sees of a component tool.
func signature(t component.Tool) string {
	return t.ComponentID + "\x00" + t.Description + "\x00" + string(t.InputSchema) + "\x00" + string(t.OutputSchema)
}

// componentTool is the MCP tool for one tool of a component: its declared name,
// description and input schema, with conservative hints, since wassette cannot know
// what the tool does.
func (c *Components) componentTool(t component.Tool) server.ServerTool {
	tool := mcp.NewToolWithRawSchema(t.Name, t.Description, t.InputSchema)
	tool.RawOutputSchema = t.OutputSchema // a WASI 0.2 component's {"result": ...}
	tool.Annotations = hints{
		title:       fmt.Sprintf("%s (component %q)", t.Name, t.ComponentID),
		destructive: true, openWorld: true,
	}.annotation()
	return server.ServerTool{Tool: tool, Handler: c.callHandler(t.Name, t.ComponentID)}
}

// callHandler runs a component's tool. Every failure, the tool's own or the sandbox's
// (time, memory, output, a refused host), is a tool result with isError.
func (c *Components) callHandler(name, componentID string) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, _ error) {
		start := time.Now()
		id := componentID
		defer func() {
			logCall(ctx, c.log, name, map[string]string{"component_id": id}, res, time.Since(start))
		}()
		raw := req.Params.RawArguments
		if len(raw) == 0 && req.Params.Arguments != nil {
			var err error
			if raw, err = json.Marshal(req.Params.Arguments); err != nil {
				return toolError("the arguments of %s could not be read; send a JSON object matching its input schema", name), nil
			}
		}
		if s := strings.TrimSpace(string(raw)); s == "" || s == "null" {
			raw = json.RawMessage("{}")
		} else if !strings.HasPrefix(s, "{") || !json.Valid(raw) {
			return toolError("the arguments of %s must be a JSON object matching its input schema, got %s", name, jsonKind(raw)), nil
		}
		if res, err := c.missingSecrets(ctx, name, componentID); res != nil || err != nil {
			return res, err
		}
		r, err := c.mgr.Call(ctx, name, raw)
		if r.ComponentID != "" {
			id = r.ComponentID
		}
		note := ""
		if r.IsError {
			note = grantHint(id, r.Text)
		}
		if len(r.Consent.Withheld) > 0 {
			if note != "" {
				note += "\n\n"
			}
			note += fmt.Sprintf("Note from wassette: component %q ran WITHOUT its secrets and policy values (%s): %s.",
				id, strings.Join(r.Consent.Withheld, ", "), withheldReason(id))
		}
		switch {
		case errors.Is(err, component.ErrNotFound):
			c.Refresh()
			return toolError("the tool %s is no longer available: its component was unloaded. Call list-components "+
				"to see the loaded components and their tools.", name), nil
		case errors.Is(err, component.ErrCallSlot):
			return toolError("%v. The server runs a limited number of component calls at once; try again in a moment.", err), nil
		case err != nil:
			return toolError("%v", err), nil
		case r.IsError && note != "":
			return toolError("%s\n\n%s", r.Text, note), nil
		case r.IsError:
			return toolError("%s", r.Text), nil
		}
		res = mcp.NewToolResultText(r.Text)
		if r.Structured {
			res.RawStructuredContent = r.Output
		}
		if note != "" {
			res.Content = append(res.Content, mcp.NewTextContent(note))
		}
		return res, nil
	}
}

// Sync picks up components that another process (the CLI) loaded, replaced or
// unloaded: it calls the Manager's Sync and, on a change, Refresh. It reports whether
// the components changed.
func (c *Components) Sync() (bool, error) {
	changed, err := c.mgr.Sync()
	if err != nil {
		return false, err
	}
	if changed {
		c.Refresh()
	}
	return changed, nil
}

// Watch calls Sync every interval, and at once when wake (nil for none: file
// notifications, see component.Watch) receives, until ctx is done, so that components
// loaded or unloaded from the command line appear and disappear in the tool list
// without a restart. Each distinct failure is logged once, as a warning.
func (c *Components) Watch(ctx context.Context, interval time.Duration, wake <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-wake:
		}
		_, err := c.Sync()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		c.syncMu.Lock()
		if msg != c.lastSyncErr {
			if err != nil {
				c.log.Warn("could not pick up component changes from the components folder; fix it with 'wassette component' commands", "err", err)
			} else {
				c.log.Info("component changes picked up again")
			}
			c.lastSyncErr = msg
		}
		c.syncMu.Unlock()
	}
}
