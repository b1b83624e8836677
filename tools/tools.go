// Package tools defines the MCP tools that wassette offers a model and registers them on
// an mcp-go server.
//
// Tools are grouped by concern, one file each: secrets.go holds the per-component secret
// tools, components.go the tools that load, unload and list components (and the MCP
// tools of the loaded components themselves), policy.go the permission tools, and
// request_secret.go request-secret and the check of the secrets a component declares. Every
// built-in tool states all of its annotation hints explicitly, takes its arguments as a
// flat JSON object that is checked here rather than trusted, answers bad input with a
// tool result marked isError whose message tells the model what to fix, returns both
// structured content (matching its output schema) and readable text, and logs one line
// per call. A component's tools carry the schema the component declares and
// conservative hints, and return its (redacted) output as text. No tool ever puts a
// secret's plaintext in a result, an error or a log line.
package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// hints are the annotation hints every tool must state; mcp-go's defaults (destructive,
// open-world) are wrong for most of ours, so each tool sets all of them.
type hints struct {
	title                                        string
	readOnly, destructive, idempotent, openWorld bool
}

func (h hints) annotation() mcp.ToolAnnotation {
	return mcp.ToolAnnotation{
		Title:           h.title,
		ReadOnlyHint:    mcp.ToBoolPtr(h.readOnly),
		DestructiveHint: mcp.ToBoolPtr(h.destructive),
		IdempotentHint:  mcp.ToBoolPtr(h.idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(h.openWorld),
	}
}

// argKind is the JSON type of an argument.
type argKind int

const (
	stringArg     argKind = iota // a string (the default)
	boolArg                      // true or false
	stringListArg                // an array of strings, each one of arg.enum
)

// arg is one argument of a tool's input schema: a required string unless it says
// otherwise.
type arg struct {
	name, description string
	minLen, maxLen    int // in characters, for the schema only; 0 means none
	optional          bool
	kind              argKind
	enum              []string // stringListArg: the allowed items
}

// newTool builds a tool with the arguments args, and no others allowed.
func newTool(name, description string, h hints, outputSchema string, args ...arg) mcp.Tool {
	opts := []mcp.ToolOption{
		mcp.WithDescription(description),
		mcp.WithToolAnnotation(h.annotation()),
		mcp.WithSchemaAdditionalProperties(false),
		mcp.WithRawOutputSchema(json.RawMessage(outputSchema)),
	}
	for _, a := range args {
		var p []mcp.PropertyOption
		if !a.optional {
			p = append(p, mcp.Required())
		}
		p = append(p, mcp.Description(a.description))
		switch a.kind {
		case boolArg:
			opts = append(opts, mcp.WithBoolean(a.name, append(p, mcp.DefaultBool(false))...))
		case stringListArg:
			p = append(p, mcp.WithStringEnumItems(a.enum), mcp.MinItems(1), mcp.UniqueItems(true))
			opts = append(opts, mcp.WithArray(a.name, p...))
		default:
			if a.minLen > 0 {
				p = append(p, mcp.MinLength(a.minLen))
			}
			if a.maxLen > 0 {
				p = append(p, mcp.MaxLength(a.maxLen))
			}
			opts = append(opts, mcp.WithString(a.name, p...))
		}
	}
	t := mcp.NewTool(name, opts...)
	t.InputSchema.PropertyOrder = argNames(args)
	return t
}

func argNames(args []arg) []string {
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = a.name
	}
	return names
}

// callFunc does the work of one tool call once its arguments have been decoded: args
// holds each argument that was given, as its string; a boolArg as "true" or "false",
// and a stringListArg as its items joined by commas (see listArg). An optional argument
// that was not given is absent.
type callFunc func(ctx context.Context, args map[string]string) *mcp.CallToolResult

// handler wraps fn with argument decoding and logging. Arguments that do not match args
// are answered with a tool error.
func handler(log *slog.Logger, tool mcp.Tool, args []arg, fn callFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, _ error) {
		start := time.Now()
		values, bad := decodeArgs(req, tool.Name, args)
		defer func() {
			logCall(ctx, log, tool.Name, values, res, time.Since(start))
		}()
		if bad != nil {
			return bad, nil
		}
		return fn(ctx, values), nil
	}
}

// decodeArgs returns the tool's arguments, or a tool error naming what is wrong.
func decodeArgs(req mcp.CallToolRequest, tool string, args []arg) (map[string]string, *mcp.CallToolResult) {
	names := argNames(args)
	raw := req.Params.RawArguments
	if len(raw) == 0 && req.Params.Arguments != nil {
		var err error
		if raw, err = json.Marshal(req.Params.Arguments); err != nil {
			return nil, toolError("the arguments of %s could not be read; send a JSON object with %s", tool, list(names))
		}
	}
	fields := map[string]json.RawMessage{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, toolError("the arguments of %s must be a JSON object with %s", tool, list(names))
		}
	}
	var unknown []string
	for k := range fields {
		if !slices.Contains(names, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, toolError("%s does not take the argument%s %s; its arguments are %s",
			tool, plural(len(unknown)), list(quoteAll(truncateAll(unknown))), list(names))
	}
	values := make(map[string]string, len(names))
	for _, a := range args {
		n := a.name
		f, ok := fields[n]
		if !ok || string(f) == "null" {
			if a.optional {
				continue
			}
			return values, toolError("missing required argument %q of %s; its arguments are %s", n, tool, list(names))
		}
		switch a.kind {
		case boolArg:
			var b bool
			if err := json.Unmarshal(f, &b); err != nil {
				return values, toolError("argument %q of %s must be true or false, got %s", n, tool, jsonKind(f))
			}
			values[n] = strconv.FormatBool(b)
		case stringListArg:
			var items []string
			if err := json.Unmarshal(f, &items); err != nil {
				return values, toolError("argument %q of %s must be an array of strings, each one of %s; got %s",
					n, tool, list(quoteAll(a.enum)), jsonKind(f))
			}
			if len(items) == 0 {
				return values, toolError("argument %q of %s must not be empty: give at least one of %s",
					n, tool, list(quoteAll(a.enum)))
			}
			for _, it := range items {
				if !slices.Contains(a.enum, it) {
					return values, toolError("argument %q of %s has the item %q; each item must be one of %s",
						n, tool, truncate(it), list(quoteAll(a.enum)))
				}
			}
			values[n] = strings.Join(items, ",")
		default:
			var s string
			if err := json.Unmarshal(f, &s); err != nil {
				return values, toolError("argument %q of %s must be a string, got %s", n, tool, jsonKind(f))
			}
			values[n] = s
		}
	}
	return values, nil
}

// listArg returns the items of a stringListArg argument, as decodeArgs stored them.
func listArg(args map[string]string, name string) []string {
	v, ok := args[name]
	if !ok {
		return nil
	}
	return strings.Split(v, ",")
}

// loggedArgs are the arguments a call's log line shows: names, never values or paths
// (a load-component path may be a URL with a token in it).
var loggedArgs = []string{"component_id", "key", "id", "host", "uri"}

// logCall writes the one info line of a call: tool, component and key, outcome. It is
// given the decoded arguments and logs only loggedArgs, never a value.
func logCall(ctx context.Context, log *slog.Logger, tool string, args map[string]string, res *mcp.CallToolResult, d time.Duration) {
	attrs := []slog.Attr{slog.String("tool", tool)}
	for _, name := range loggedArgs {
		if v, ok := args[name]; ok {
			attrs = append(attrs, slog.String(name, truncate(v)))
		}
	}
	attrs = append(attrs, slog.Duration("duration", d))
	if res != nil && res.IsError {
		attrs = append(attrs, slog.String("outcome", "error"), slog.String("error", resultText(res)))
	} else {
		attrs = append(attrs, slog.String("outcome", "ok"))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "tool call", attrs...)
}

// toolError is a result the model sees as a failed call, with a message saying what to
// fix. Callers never pass a secret value in args.
func toolError(format string, args ...any) *mcp.CallToolResult {
	return mcp.NewToolResultError(fmt.Sprintf(format, args...))
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

func jsonKind(raw json.RawMessage) string {
	switch s := strings.TrimSpace(string(raw)); {
	case s == "true" || s == "false":
		return "a boolean"
	case strings.HasPrefix(s, "{"):
		return "an object"
	case strings.HasPrefix(s, "["):
		return "an array"
	default:
		return "a number"
	}
}

// truncate shortens untrusted text (an argument name, an ID) before it reaches a message
// or a log line.
func truncate(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "..."
}

func truncateAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = truncate(s)
	}
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// list joins items as "a", "a and b" or "a, b and c".
func list(items []string) string {
	switch len(items) {
	case 0:
		return "none"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
