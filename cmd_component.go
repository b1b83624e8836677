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
	wasmrt "github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

func (a *app) componentCmd() *cobra.Command {
	c := groupCmd("component", "Load, list and unload WebAssembly components",
		a.componentLoadCmd(), a.componentUnloadCmd(), a.componentListCmd())
	c.Long = `Load, list and unload WebAssembly components (WASI preview1 modules that speak the
wassette tool protocol). Loaded components are kept in <data-dir>/components and come back
when the server restarts; a running server picks up changes made here within seconds.`
	return c
}

func (a *app) componentLoadCmd() *cobra.Command {
	var opts component.LoadOptions
	var output string
	c := &cobra.Command{
		Use:   "load <path | file://... | https://... | oci://...>",
		Short: "Load a component and record the tools it declares",
		Long: `Fetch a component, compile it, ask it for its tools (in an empty sandbox), and keep it
in the data folder. A component with the same ID is replaced. The ID defaults to the file
name without .wasm, or the last element of an OCI repository.`,
		Example: `  wassette component load ./weather.wasm
  wassette component load https://example.com/weather.wasm --sha256 9f86d0...
  wassette component load oci://ghcr.io/example/weather:latest --id weather`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
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
			info, err := mgr.Load(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			if output == "json" {
				return a.writeJSON(info)
			}
			fmt.Fprintf(a.stdout, "Component '%s' loaded from %s (%s), %d tool(s): %s\n",
				info.ID, info.Source, info.Digest, len(info.Tools), strings.Join(toolNames(info.Tools), ", "))
			return nil
		},
	}
	c.Flags().StringVar(&opts.ID, "id", "", "component ID (default: derived from the URI)")
	c.Flags().StringVar(&opts.Digest, "sha256", "", "expected sha256 of the module, hex or sha256:<hex>")
	c.Flags().BoolVar(&opts.PlainHTTP, "plain-http", false, "allow http:// and OCI registries without TLS (for a local registry)")
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
		Use:   "unload <component-id>",
		Short: "Unload a component and remove its policy",
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
				fmt.Fprintf(a.stdout, "Its %d secret(s) were kept; remove them with 'wassette secret delete %s <key>'\n", kept, id)
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
			if err := checkOutput(output); err != nil {
				return err
			}
			mgr, err := a.components(cmd.Context(), wasmrt.Limits{})
			if err != nil {
				return err
			}
			defer mgr.Close(cmd.Context())
			infos := mgr.List()
			type item struct {
				component.Info
				MissingSecrets []string `json:"missing_secrets"` // declared and not set
			}
			items := make([]item, len(infos))
			for i, in := range infos {
				items[i] = item{Info: in, MissingSecrets: []string{}}
				missing, err := mgr.MissingSecrets(in.ID, "")
				if err != nil {
					return err
				}
				for _, m := range missing {
					items[i].MissingSecrets = append(items[i].MissingSecrets, m.Key)
				}
			}
			if output == "json" {
				return a.writeJSON(struct {
					Components []item `json:"components"`
				}{items})
			}
			if len(infos) == 0 {
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COMPONENT\tTOOLS\tMISSING SECRETS\tSOURCE")
			for _, in := range items {
				missing := strings.Join(in.MissingSecrets, ",")
				if missing == "" {
					missing = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.ID, strings.Join(toolNames(in.Tools), ","), missing, in.Source)
			}
			return tw.Flush()
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
			if err := checkOutput(output); err != nil {
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
		Example: `  wassette tool invoke get_weather --args '{"city":"Paris"}'`,
		Args:    usageArgs(cobra.ExactArgs(1)),
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
