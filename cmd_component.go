package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/component/loader"
	wasmrt "github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/internal/cmdline"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
	"github.com/wassette/wassette/tools"
)

func (a *app) componentCmd() *cobra.Command {
	c := groupCmd("component", "Load, approve, list and unload WebAssembly components",
		a.componentLoadCmd(), a.componentApproveCmd(), a.componentUnloadCmd(), a.componentListCmd())
	c.Long = `Load, approve, list and unload WebAssembly components (WASI preview1 modules that speak
the wassette tool protocol). Loaded components are kept in <data-dir>/components and come
back when the server restarts; a running server picks up changes made here within seconds.

A component's secrets reach only a module you approved: loading it here approves it; a
module a model loaded (load-component) gets no secrets until you run 'wassette component
approve <id>'.`
	return c
}

func (a *app) componentLoadCmd() *cobra.Command {
	var opts component.LoadOptions
	var output string
	c := &cobra.Command{
		Use:   "load <path | file://... | https://... | oci://...>",
		Short: "Load a component, approve it for its secrets, and record the tools it declares",
		Long: `Fetch a component, compile it, ask it for its tools (in an empty sandbox), and keep it
in the data folder. A component with the same ID is replaced. The ID defaults to the file
name without .wasm, or the last element of an OCI repository.

Loading a component here is your approval of this module (by its sha256 digest) to
receive the secrets and policy values stored under its ID.`,
		Example: `  wassette component load ./weather.wasm
  wassette component load https://example.com/weather.wasm --sha256 9f86d0...
  wassette component load oci://ghcr.io/example/weather:latest --id weather
  wassette component load http://127.0.0.1:8000/weather.wasm --plain-http`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(&output); err != nil {
				return err
			}
			if opts.ID != "" {
				if err := secretstore.ValidateID(opts.ID); err != nil {
					return usageError{err}
				}
			}
			mgr, err := a.components(cmd.Context(), wasmrt.Limits{})
			if err != nil {
				return err
			}
			defer mgr.Close(cmd.Context())
			before := map[string]bool{}
			for _, info := range mgr.List() {
				before[info.ID] = true
			}
			opts.Approve = true // a person at the command line
			info, err := mgr.Load(cmd.Context(), args[0], opts)
			if errors.Is(err, loader.ErrPlainHTTP) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			secrets := 0
			if store, err := a.secrets(); err == nil {
				if sec, err := store.Get(info.ID); err == nil {
					secrets = sec.Len()
				}
			}
			if output == "json" {
				return a.writeJSON(loadOutput(mgr, info, before[info.ID], secrets))
			}
			verb := "loaded"
			if before[info.ID] {
				verb = "replaced"
			}
			fmt.Fprintf(a.stdout, "Component '%s' %s from %s (%s), %d tool(s): %s\n",
				info.ID, verb, info.Source, info.Digest, len(info.Tools), strings.Join(toolNames(info.Tools), ", "))
			if secrets > 0 {
				fmt.Fprintf(a.stdout, "It receives its %d secret(s) from its next call on.\n", secrets)
			}
			return nil
		},
	}
	c.Flags().StringVar(&opts.ID, "id", "", "component ID (default: derived from the URI)")
	c.Flags().StringVar(&opts.Digest, "sha256", "", "expected sha256 of the module, hex or sha256:<hex>")
	c.Flags().BoolVar(&opts.PlainHTTP, "plain-http", false, "allow http:// and OCI registries without TLS (for a server on this machine)")
	outputFlag(c, &output)
	return c
}

// summaryNames returns the names of ts.
func summaryNames(ts []tools.ToolSummary) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return names
}

// loadOutput is the JSON of `component load -o json`: what load-component returns.
func loadOutput(mgr *component.Manager, info component.Info, replaced bool, secrets int) tools.LoadComponentOutput {
	out, _ := tools.ListComponents(mgr, []component.Info{info})
	list := out.Components[0]
	return tools.LoadComponentOutput{
		ComponentID: info.ID, Source: info.Source, Digest: info.Digest, Size: info.Size, Approved: info.Approved,
		Tools: list.Tools, Replaced: replaced, Secrets: secrets, Withheld: []string{},
	}
}

func (a *app) componentApproveCmd() *cobra.Command {
	var digest, output string
	c := &cobra.Command{
		Use:   "approve <component-id>",
		Short: "Approve the module loaded under an ID to receive its secrets",
		Long: `Approve the module now loaded under a component ID to receive the secrets and policy
values stored under that ID. A module loaded by a model (the load-component tool) gets none
of them until you approve it; one you load with 'wassette component load' is approved.

Check first where the module came from ('wassette component list' shows its source and
digest). With --sha256, only that module is approved: if the module under the ID has
changed since you looked, nothing is approved.`,
		Example: `  wassette component list
  wassette component approve weather
  wassette component approve weather --sha256 sha256:9f86d081884c7d65...`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeComponentIDs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(&output); err != nil {
				return err
			}
			id := args[0]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			if digest != "" && !strings.HasPrefix(digest, "sha256:") {
				digest = "sha256:" + digest
			}
			mgr, err := a.components(cmd.Context(), wasmrt.Limits{})
			if err != nil {
				return err
			}
			defer mgr.Close(cmd.Context())
			was, _ := mgr.Get(id)
			info, err := mgr.Approve(id, strings.ToLower(digest))
			if errors.Is(err, component.ErrNotFound) {
				a.noteUnknownID(id, a.loadedIDs())
				return fmt.Errorf("component '%s' is not loaded; load it with 'wassette component load', which approves it", id)
			}
			if err != nil {
				return err
			}
			secrets := 0
			if store, err := a.secrets(); err == nil {
				if sec, err := store.Get(id); err == nil {
					secrets = sec.Len()
				}
			}
			if output == "json" {
				out, err := tools.ListComponents(mgr, []component.Info{info})
				if err != nil {
					return err
				}
				return a.writeJSON(out.Components[0])
			}
			verb := "Approved"
			if was.Approved {
				verb = "Already approved"
			}
			fmt.Fprintf(a.stdout, "%s: component '%s', module %s from %s, tool(s): %s\n",
				verb, id, info.Digest, info.Source, strings.Join(toolNames(info.Tools), ", "))
			fmt.Fprintf(a.stdout, "It receives its %d secret(s) and its policy values from its next call on.\n", secrets)
			return nil
		},
	}
	c.Flags().StringVar(&digest, "sha256", "", "approve only if the loaded module has this digest (hex or sha256:<hex>)")
	outputFlag(c, &output)
	return c
}

func toolNames(tools []wasmrt.Tool) []string {
	names := make([]string, len(tools))
	for i, t := range tools {
		names[i] = t.Name
	}
	return names
}

func (a *app) componentUnloadCmd() *cobra.Command {
	var deleteSecrets, keepSecrets bool
	c := &cobra.Command{
		Use:               "unload <component-id>",
		Short:             "Unload a component and remove its policy",
		ValidArgsFunction: a.completeComponentIDs,
		Long: `Remove a component and its policy. If the component has secrets, you are asked on
stderr whether to delete them too (answer on stdin; no answer keeps them), unless
--delete-secrets or --keep-secrets says so.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			if deleteSecrets && keepSecrets {
				return usagef("use --delete-secrets or --keep-secrets, not both")
			}
			mgr, err := a.components(cmd.Context(), wasmrt.Limits{})
			if err != nil {
				return err
			}
			defer mgr.Close(cmd.Context())
			if _, ok := mgr.Get(id); !ok {
				return fmt.Errorf("component '%s' is not loaded; see 'wassette component list'", id)
			}
			if !deleteSecrets && !keepSecrets {
				store, err := a.secrets()
				if err != nil {
					return err
				}
				sec, err := store.Get(id)
				if err != nil {
					return err
				}
				if sec.Len() > 0 {
					deleteSecrets = a.confirm(fmt.Sprintf("Component %q has %d secret(s). Delete them too?", id, sec.Len())) == nil
				}
			}
			kept, err := mgr.Unload(cmd.Context(), id, deleteSecrets)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Component '%s' unloaded\n", id)
			switch {
			case deleteSecrets:
				fmt.Fprintf(a.stdout, "Its secrets were deleted\n")
			case kept > 0:
				fmt.Fprintf(a.stdout, "Its %d secret(s) were kept; remove them with '%s'\n", kept,
					cmdline.Wassette("secret", "delete", id, "--all"))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&deleteSecrets, "delete-secrets", false, "also delete the component's secrets, without asking")
	c.Flags().BoolVar(&keepSecrets, "keep-secrets", false, "keep the component's secrets, without asking")
	return c
}

func (a *app) componentListCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "list",
		Short: "List the loaded components",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(&output); err != nil {
				return err
			}
			mgr, err := a.components(cmd.Context(), wasmrt.Limits{})
			if err != nil {
				return err
			}
			defer mgr.Close(cmd.Context())
			infos := mgr.List()
			out, err := tools.ListComponents(mgr, infos)
			if err != nil {
				return err
			}
			if output == "json" {
				return a.writeJSON(out)
			}
			if len(infos) == 0 {
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COMPONENT\tAPPROVED\tTOOLS\tMISSING SECRETS\tSOURCE\tDIGEST")
			for _, in := range out.Components {
				approved := "yes"
				if !in.Approved {
					approved = "no"
				}
				var missing []string
				for _, d := range in.DeclaredSecrets {
					if d.Missing {
						missing = append(missing, d.Key)
					}
				}
				if len(missing) == 0 {
					missing = []string{"-"}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ComponentID, approved, strings.Join(summaryNames(in.Tools), ","),
					strings.Join(missing, ","), in.Source, in.Digest)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, in := range infos {
				if !in.Approved {
					fmt.Fprintln(a.stderr, "Components not approved get none of their secrets; check their source, then run: wassette component approve <id>")
					break
				}
			}
			return nil
		},
	}
	outputFlag(c, &output)
	return c
}

func (a *app) toolCmd() *cobra.Command {
	return groupCmd("tool", "List and run the tools of loaded components, without a server",
		a.toolListCmd(), a.toolInvokeCmd())
}

func (a *app) toolListCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "list",
		Short: "List the tools of every loaded component",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(&output); err != nil {
				return err
			}
			mgr, err := a.components(cmd.Context(), wasmrt.Limits{})
			if err != nil {
				return err
			}
			defer mgr.Close(cmd.Context())
			tools := mgr.Tools()
			if output == "json" {
				type item struct {
					Name        string          `json:"name"`
					ComponentID string          `json:"component_id"`
					Description string          `json:"description"`
					InputSchema json.RawMessage `json:"inputSchema"`
				}
				out := struct {
					Tools []item `json:"tools"`
				}{Tools: []item{}}
				for _, t := range tools {
					out.Tools = append(out.Tools, item{t.Name, t.ComponentID, t.Description, t.InputSchema})
				}
				return a.writeJSON(out)
			}
			if len(tools) == 0 {
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOOL\tCOMPONENT\tDESCRIPTION")
			for _, t := range tools {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.ComponentID, firstLine(t.Description))
			}
			return tw.Flush()
		},
	}
	outputFlag(c, &output)
	return c
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (a *app) toolInvokeCmd() *cobra.Command {
	var args, memory string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "invoke <tool> [--args '<json object>' | --args -]",
		Short: "Run one tool call, as the server would, and print its result",
		Long: `Run one call of a loaded component's tool in the sandbox its policy grants, with the
environment it would get from a server started here now, and print the JSON result on
stdout. A tool error is printed on stderr with exit code 1. Values the component got from
its secrets or policy are replaced by [REDACTED] in what is printed.`,
		Example:           `  wassette tool invoke get_weather --args '{"city":"Paris"}'`,
		Args:              usageArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeToolNames,
		RunE: func(cmd *cobra.Command, pos []string) error {
			raw := []byte(args)
			if args == "-" {
				var err error
				if raw, err = io.ReadAll(io.LimitReader(a.stdin, 4<<20)); err != nil {
					return fmt.Errorf("read arguments from stdin: %w", err)
				}
			}
			var obj map[string]any
			if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
				return usagef("--args must be a JSON object, like '{\"city\":\"Paris\"}'")
			}
			limits, err := callLimits(timeout, memory)
			if err != nil {
				return err
			}
			mgr, err := a.components(cmd.Context(), limits)
			if err != nil {
				return err
			}
			defer mgr.Close(cmd.Context())
			res, err := mgr.Call(cmd.Context(), pos[0], raw)
			if errors.Is(err, component.ErrNotFound) {
				return fmt.Errorf("%w; see 'wassette tool list'", err)
			}
			if err != nil {
				return err
			}
			if w := res.Consent.Withheld; len(w) > 0 {
				fmt.Fprintf(a.stderr, "note: the module loaded under '%s' is not one you approved, so it ran without %s; "+
					"check it and run: %s\n", res.ComponentID, strings.Join(w, ", "), res.Consent.ApproveCommand())
			}
			if res.IsError {
				return fmt.Errorf("tool %q failed: %s", pos[0], res.Text)
			}
			fmt.Fprintln(a.stdout, res.Text)
			return nil
		},
	}
	c.Flags().StringVar(&args, "args", "{}", "the tool's arguments as a JSON object, or - to read them from stdin")
	c.Flags().DurationVar(&timeout, "timeout", 0, "call time limit (default 30s; a policy's limit wins)")
	c.Flags().StringVar(&memory, "memory-limit", "", "call memory limit, like 256Mi (default 256Mi; a policy's limit wins)")
	return c
}

// callLimits checks the --timeout and --memory-limit flags of commands that run tools.
func callLimits(timeout time.Duration, memory string) (wasmrt.Limits, error) {
	var l wasmrt.Limits
	if timeout < 0 {
		return l, usagef("--timeout must be positive")
	}
	l.Timeout = timeout
	if memory != "" {
		n, err := policy.ParseMemory(memory)
		if err != nil {
			return l, usageError{fmt.Errorf("--memory-limit: %w", err)}
		}
		l.MemoryBytes = n
	}
	return l, nil
}
