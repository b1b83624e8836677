package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/secretstore"
)

// Names of the secret tools.
const (
	ListSecretsTool  = "list-secrets"
	SetSecretTool    = "set-secret"
	DeleteSecretTool = "delete-secret"
)

var (
	componentIDArg = arg{
		name: "component_id",
		description: `ID of the component (a sandboxed WebAssembly tool) whose secrets to use, ` +
			`e.g. "weather". 1 to 128 bytes, no control characters.`,
		minLen: 1, maxLen: secretstore.MaxIDLen,
	}
	keyArg = arg{
		name: "key",
		description: `Name of the secret, which the component reads as an environment variable, ` +
			`e.g. "API_KEY". Case-sensitive; 1 to 256 bytes with no '=', whitespace or control characters.`,
		minLen: 1, maxLen: secretstore.MaxKeyLen,
	}
	valueArg = arg{
		name: "value",
		description: `The secret's value, e.g. the API key itself. UTF-8 text of at most 64 KiB ` +
			`without NUL characters; newlines are allowed. It is stored, never shown back.`,
	}
)

const listOutputSchema = `{
  "type": "object",
  "properties": {
    "component_id": {"type": "string", "description": "The component the secrets belong to."},
    "count": {"type": "integer", "description": "How many secrets the component has."},
    "secrets": {
      "type": "array",
      "description": "The secrets, sorted by key.",
      "items": {
        "type": "object",
        "properties": {
          "key": {"type": "string", "description": "The secret's name."},
          "masked_value": {"type": "string", "description": "The value masked: first and last 3 characters around *** for values of 20 characters or more, otherwise ***."}
        },
        "required": ["key", "masked_value"]
      }
    }
  },
  "required": ["component_id", "count", "secrets"]
}`

const setOutputSchema = `{
  "type": "object",
  "properties": {
    "component_id": {"type": "string", "description": "The component the secret belongs to."},
    "key": {"type": "string", "description": "The secret's name."},
    "masked_value": {"type": "string", "description": "The stored value, masked."},
    "replaced": {"type": "boolean", "description": "True if the key existed and its value was replaced."}
  },
  "required": ["component_id", "key", "masked_value", "replaced"]
}`

const deleteOutputSchema = `{
  "type": "object",
  "properties": {
    "component_id": {"type": "string", "description": "The component the secret belonged to."},
    "key": {"type": "string", "description": "The deleted secret's name."},
    "deleted": {"type": "boolean", "description": "Always true: a missing key is an error instead."}
  },
  "required": ["component_id", "key", "deleted"]
}`

// ListSecretsOutput is the structured content of a list-secrets result.
type ListSecretsOutput struct {
	ComponentID string         `json:"component_id"`
	Count       int            `json:"count"`
	Secrets     []MaskedSecret `json:"secrets"`
}

// MaskedSecret is one secret as a model may see it: its key and its masked value.
type MaskedSecret struct {
	Key         string `json:"key"`
	MaskedValue string `json:"masked_value"`
}

// SetSecretOutput is the structured content of a set-secret result.
type SetSecretOutput struct {
	ComponentID string `json:"component_id"`
	Key         string `json:"key"`
	MaskedValue string `json:"masked_value"`
	Replaced    bool   `json:"replaced"`
}

// DeleteSecretOutput is the structured content of a delete-secret result.
type DeleteSecretOutput struct {
	ComponentID string `json:"component_id"`
	Key         string `json:"key"`
	Deleted     bool   `json:"deleted"`
}

// ConsentChecker tells whether the module loaded under a component ID may receive its
// secrets; *component.Manager is one.
type ConsentChecker interface {
	Consent(id string) (component.Consent, error)
}

// SecretOption adjusts the secret tools.
type SecretOption func(*secretTools)

// WithConsent makes set-secret and list-secrets say when the module loaded under the ID
// does not receive the secrets because no person approved it.
func WithConsent(c ConsentChecker) SecretOption {
	return func(st *secretTools) { st.consent = c }
}

// RegisterSecrets adds the secret tools (list-secrets, set-secret, delete-secret) to s.
// They use store for every read and write, so changes made by the CLI or by hand are
// seen by the next call, and changes made here are seen by the CLI at once. Each call is
// logged on log at info level, without values.
func RegisterSecrets(s *server.MCPServer, store *secretstore.Store, log *slog.Logger, opts ...SecretOption) {
	s.AddTools(SecretTools(store, log, opts...)...)
}

// SecretTools returns the secret tools, for RegisterSecrets or a custom server.
func SecretTools(store *secretstore.Store, log *slog.Logger, opts ...SecretOption) []server.ServerTool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := secretTools{store: store}
	for _, o := range opts {
		o(&st)
	}
	return []server.ServerTool{
		st.tool(log, ListSecretsTool,
			"List the secrets stored for one component (a sandboxed WebAssembly tool). "+
				"Returns each secret's key with its value masked; plaintext values are never returned. "+
				"The component receives these secrets as environment variables on each call. "+
				"Use it to check which keys a component has before setting or deleting one.",
			hints{title: "List component secrets", readOnly: true, idempotent: true},
			listOutputSchema, st.list, componentIDArg),
		st.tool(log, SetSecretTool,
			"Store a secret, such as an API key, for one component: adds the key, or replaces its value "+
				"if it exists. The component receives it as an environment variable from its next call on, "+
				"with no restart. The value is kept in a file only the user can read and is never shown "+
				"again: the result shows it masked. Only store a value the user gave you for this component.",
			hints{title: "Set a component secret", idempotent: true},
			setOutputSchema, st.set, componentIDArg, keyArg, valueArg),
		st.tool(log, DeleteSecretTool,
			"Delete one secret of a component; the component no longer receives it from its next call on. "+
				"Fails if the component has no secret with that key. Keys are case-sensitive: call "+
				"list-secrets first if unsure of the exact key.",
			hints{title: "Delete a component secret", destructive: true},
			deleteOutputSchema, st.delete, componentIDArg, keyArg),
	}
}

type secretTools struct {
	store   *secretstore.Store
	consent ConsentChecker // nil: no notes about approval
}

// withheldNote is a sentence for the text of a result about id's secrets, if the module
// loaded under id does not receive them; "" otherwise.
func (st secretTools) withheldNote(id string) string {
	if st.consent == nil {
		return ""
	}
	c, err := st.consent.Consent(id)
	if err != nil || c.Approved {
		return ""
	}
	return " The module loaded under this ID does NOT receive them: " + withheldReason(id) + "."
}

func (st secretTools) tool(log *slog.Logger, name, description string, h hints, outputSchema string,
	fn callFunc, args ...arg) server.ServerTool {
	t := newTool(name, description, h, outputSchema, args...)
	return server.ServerTool{Tool: t, Handler: handler(log, t, args, fn)}
}

func (st secretTools) list(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id := args["component_id"]
	if bad := checkID(id); bad != nil {
		return bad
	}
	secrets, err := st.store.Get(id)
	if err != nil {
		return storeError("read the secrets of component", id, err)
	}
	out := ListSecretsOutput{ComponentID: id, Count: secrets.Len(), Secrets: []MaskedSecret{}}
	for k, v := range secrets.All() {
		out.Secrets = append(out.Secrets, MaskedSecret{Key: k, MaskedValue: v.Masked()})
	}
	var text strings.Builder
	if out.Count == 0 {
		fmt.Fprintf(&text, "Component %q has no secrets.", id)
	} else {
		fmt.Fprintf(&text, "Component %q has %d secret%s (values masked):", id, out.Count, plural(out.Count))
		for _, s := range out.Secrets {
			fmt.Fprintf(&text, "\n%s: %s", s.Key, s.MaskedValue)
		}
		if note := st.withheldNote(id); note != "" {
			text.WriteString("\n" + strings.TrimSpace(note))
		}
	}
	return mcp.NewToolResultStructured(out, text.String())
}

func (st secretTools) set(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id, key := args["component_id"], args["key"]
	value := secretstore.NewValue(args["value"])
	delete(args, "value") // nothing after this point, logging included, can reach it
	if bad := checkID(id); bad != nil {
		return bad
	}
	if bad := checkKey(key); bad != nil {
		return bad
	}
	if err := secretstore.ValidateValue(value.Reveal()); err != nil {
		return toolError("%v. Send the value as plain UTF-8 text of at most %d bytes with no NUL characters.",
			err, secretstore.MaxValueLen)
	}
	_, replaced, _ := st.store.Lookup(id, key) // informative only; Set reports real failures
	if err := st.store.Set(id, map[string]secretstore.Value{key: value}); err != nil {
		return storeError("store the secret of component", id, err)
	}
	out := SetSecretOutput{ComponentID: id, Key: key, MaskedValue: value.Masked(), Replaced: replaced}
	verb := "Stored"
	if replaced {
		verb = "Replaced"
	}
	text := fmt.Sprintf("%s secret %s of component %q (value %s). The component receives it from its next call on.",
		verb, key, id, out.MaskedValue)
	if note := st.withheldNote(id); note != "" {
		text = fmt.Sprintf("%s secret %s of component %q (value %s).%s", verb, key, id, out.MaskedValue, note)
	}
	return mcp.NewToolResultStructured(out, text)
}

func (st secretTools) delete(_ context.Context, args map[string]string) *mcp.CallToolResult {
	id, key := args["component_id"], args["key"]
	if bad := checkID(id); bad != nil {
		return bad
	}
	if bad := checkKey(key); bad != nil {
		return bad
	}
	if err := st.store.Delete(id, key); err != nil {
		if errors.Is(err, secretstore.ErrNotFound) {
			return toolError("component %q has no secret %q, so nothing was deleted. Keys are case-sensitive; "+
				"call list-secrets to see the component's keys.", id, key)
		}
		return storeError("delete the secret of component", id, err)
	}
	out := DeleteSecretOutput{ComponentID: id, Key: key, Deleted: true}
	text := fmt.Sprintf("Deleted secret %s of component %q. The component no longer receives it from its next call on.", key, id)
	return mcp.NewToolResultStructured(out, text)
}

func checkID(id string) *mcp.CallToolResult {
	if err := secretstore.ValidateID(id); err != nil {
		return toolError("%v. A component ID is 1 to %d bytes of text without control characters, "+
			"e.g. \"weather\"; use the ID the component was loaded under.", err, secretstore.MaxIDLen)
	}
	return nil
}

func checkKey(key string) *mcp.CallToolResult {
	if err := secretstore.ValidateKey(key); err != nil {
		return toolError("%v. A key is the environment variable name the component reads, e.g. \"API_KEY\": "+
			"1 to %d bytes with no '=', whitespace or control characters.", err, secretstore.MaxKeyLen)
	}
	return nil
}

// storeError reports a failure of the store itself (permissions, a corrupt file, I/O).
// The store's errors never contain values; they name the file and how to fix it.
func storeError(what, id string, err error) *mcp.CallToolResult {
	return toolError("could not %s %q: %v. This is a problem on the user's machine, not in your "+
		"arguments: tell the user, who can fix it with the 'wassette secret' commands or by hand.", what, truncate(id), err)
}
