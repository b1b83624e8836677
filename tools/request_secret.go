package tools

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/component/secretdecl"
	"github.com/wassette/wassette/secretpage"
	"github.com/wassette/wassette/secretstore"
)

// RequestSecretTool asks the person for a secret through a one-time page in their
// browser, so that the value never passes through the model.
const RequestSecretTool = "request-secret"

// maxReasonLen bounds the reason an agent gives, in bytes.
const maxReasonLen = 500

var reasonArg = arg{
	name: "reason",
	description: `Optional: one sentence, shown to the person on the page, saying why the secret is needed ` +
		`now, e.g. "get_weather needs it to call api.weather.com". At most 500 bytes, one line.`,
	maxLen: maxReasonLen, optional: true,
}

const requestSecretOutputSchema = `{
  "type": "object",
  "properties": {
    "component_id": {"type": "string", "description": "The component the secret belongs to."},
    "key": {"type": "string", "description": "The secret's name."},
    "set": {"type": "boolean", "description": "True if the person entered a value during this call and it is stored."},
    "status": {"type": "string", "enum": ["stored", "awaiting_person", "declined", "cancelled", "expired"],
      "description": "stored: the value is stored. awaiting_person: the person must open url in their browser. declined or cancelled: the person said no to opening the page. expired: the page expired before a value was entered."},
    "masked_value": {"type": "string", "description": "The stored value, masked (only when set)."},
    "replaced": {"type": "boolean", "description": "True if the key had a value before (only when set)."},
    "url": {"type": "string", "description": "The one-time page for the person to open (only when awaiting_person)."},
    "expires_at": {"type": "string", "description": "When the page stops working, RFC 3339 (only when awaiting_person)."}
  },
  "required": ["component_id", "key", "set", "status"]
}`

// RequestSecretOutput is the structured content of a request-secret result. It never
// holds a value: only whether one was stored, masked.
type RequestSecretOutput struct {
	ComponentID string `json:"component_id"`
	Key         string `json:"key"`
	Set         bool   `json:"set"`
	Status      string `json:"status"`
	MaskedValue string `json:"masked_value,omitempty"`
	Replaced    *bool  `json:"replaced,omitempty"`
	URL         string `json:"url,omitempty"`
	ExpiresAt   string `json:"expires_at,omitempty"`
}

// SecretRequests asks the person for secrets on one-time pages (package secretpage):
// through the request-secret tool, and when a component's call needs a secret the
// component declares but lacks. Where the client declared URL-mode elicitation (MCP
// 2025-11-25), the client is asked to open the page; otherwise the page's address is
// given in the result, for the person to open.
type SecretRequests struct {
	s     *server.MCPServer
	pages *secretpage.Server
	store *secretstore.Store
	mgr   *component.Manager // nil: no declared descriptions
	log   *slog.Logger

	mu       sync.Mutex
	watching map[string]bool // session ID + page ID pairs a completion is owed to
}

// RegisterRequestSecret adds the request-secret tool to s. Values the person enters go
// to store through pages; mgr, if not nil, supplies what a component declares about a
// secret. Pass the result to Components.RequireDeclaredSecrets so that calls needing a
// missing declared secret ask for it.
func RegisterRequestSecret(s *server.MCPServer, pages *secretpage.Server, store *secretstore.Store,
	mgr *component.Manager, log *slog.Logger) *SecretRequests {
	r := NewSecretRequests(s, pages, store, mgr, log)
	s.AddTools(r.Tool())
	return r
}

// NewSecretRequests returns a SecretRequests without registering its tool.
func NewSecretRequests(s *server.MCPServer, pages *secretpage.Server, store *secretstore.Store,
	mgr *component.Manager, log *slog.Logger) *SecretRequests {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SecretRequests{s: s, pages: pages, store: store, mgr: mgr, log: log, watching: map[string]bool{}}
}

// Tool returns the request-secret tool.
func (r *SecretRequests) Tool() server.ServerTool {
	args := []arg{componentIDArg, keyArg, reasonArg}
	t := newTool(RequestSecretTool,
		"Ask the person to enter a secret, such as an API key, for one component, without the value passing "+
			"through you: it opens a one-time page on the person's computer where they type it, and it goes "+
			"straight into the secret store. Use it instead of set-secret whenever the person has not already "+
			"given you the value, and never ask them to type or paste a secret into the chat. If their client "+
			"can open pages, the call waits until they have entered it (or declined); otherwise the result gives "+
			"a URL to show them. The result says only whether the key was set, with the value masked.",
		hints{title: "Ask the person for a component secret"},
		requestSecretOutputSchema, args...)
	h := handler(r.log, t, args, r.request)
	return server.ServerTool{Tool: t, Handler: func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if req.Params.Meta != nil && req.Params.Meta.ProgressToken != nil {
			ctx = context.WithValue(ctx, progressKey{}, req.Params.Meta.ProgressToken)
		}
		return h(ctx, req)
	}}
}

// progressKey carries a call's progress token in its context.
type progressKey struct{}

// progressEvery is how often a call waiting for the person reports progress, so that a
// client which resets its timeout on progress keeps waiting.
var progressEvery = 10 * time.Second

// wait waits for a value on page, sending notifications/progress while it waits if the
// call asked for them.
func (r *SecretRequests) wait(ctx context.Context, page *secretpage.Page) (secretpage.Outcome, error) {
	token := ctx.Value(progressKey{})
	if token == nil {
		return page.Wait(ctx)
	}
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-page.Done():
			return page.Wait(ctx)
		case <-ctx.Done():
			return secretpage.Outcome{}, ctx.Err()
		case <-tick.C:
			err := r.s.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
				"progressToken": token, "progress": n,
				"message": fmt.Sprintf("waiting for the person to enter %s on the page", page.Request().Key),
			})
			if err != nil {
				r.log.Debug("could not send a progress notification", "err", err)
			}
		}
	}
}

func (r *SecretRequests) request(ctx context.Context, args map[string]string) *mcp.CallToolResult {
	id, key, reason := args["component_id"], args["key"], strings.TrimSpace(args["reason"])
	if bad := checkID(id); bad != nil {
		return bad
	}
	if bad := checkKey(key); bad != nil {
		return bad
	}
	if problem := checkReason(reason); problem != "" {
		return toolError("argument \"reason\" of %s %s; give one plain sentence of at most %d bytes, or leave it out.",
			RequestSecretTool, problem, maxReasonLen)
	}
	page, err := r.pages.Request(secretpage.Request{ComponentID: id, Key: key, Reason: reason, Description: r.description(id, key)})
	if err != nil {
		return toolError("could not open the secret page: %v. Try again later, or ask the person to run "+
			"'wassette secret set %s %s --browser' in a terminal.", err, id, key)
	}
	session := server.ClientSessionFromContext(ctx)
	if !r.canOpen(ctx, session, true) {
		return r.awaiting(page, "")
	}
	res, err := r.s.RequestURLElicitation(ctx, session, page.ID(), page.URL(), r.message(page))
	if err != nil {
		if ctx.Err() != nil {
			return toolError("the call was stopped before the person answered")
		}
		r.log.Warn("the client did not open the secret page; returning its URL instead", "component", id, "key", key, "err", err)
		return r.awaiting(page, " (The client could not open it itself.)")
	}
	switch res.Action {
	case mcp.ElicitationResponseActionAccept:
	case mcp.ElicitationResponseActionDecline, mcp.ElicitationResponseActionCancel:
		page.Revoke()
		status, did := "declined", "declined to open"
		if res.Action == mcp.ElicitationResponseActionCancel {
			status, did = "cancelled", "dismissed the request to open"
		}
		out := RequestSecretOutput{ComponentID: id, Key: key, Status: status}
		return mcp.NewToolResultStructured(out, fmt.Sprintf("The person %s the page for secret %s of component %q; "+
			"nothing was stored. Do not ask for the value in the chat; ask the person how they want to proceed.", did, key, id))
	default:
		page.Revoke()
		return toolError("the client answered the request to open the page with %q; nothing was stored", truncate(string(res.Action)))
	}
	outcome, err := r.wait(ctx, page)
	switch {
	case err == nil:
		if err := r.s.SendElicitationComplete(ctx, session, page.ID()); err != nil {
			r.log.Debug("could not send notifications/elicitation/complete", "err", err)
		}
		return stored(id, key, outcome)
	case errors.Is(err, secretpage.ErrExpired), errors.Is(err, secretpage.ErrRevoked):
		out := RequestSecretOutput{ComponentID: id, Key: key, Status: "expired"}
		return mcp.NewToolResultStructured(out, fmt.Sprintf("The page for secret %s of component %q expired or was withdrawn "+
			"before the person entered a value; nothing was stored. Call %s again if they still want to set it.", key, id, RequestSecretTool))
	default:
		return toolError("the call was stopped before the person entered the value; the page stays open until %s, "+
			"and list-secrets shows the key once it is set", page.Expires().UTC().Format(time.RFC3339))
	}
}

func stored(id, key string, o secretpage.Outcome) *mcp.CallToolResult {
	replaced := o.Replaced
	out := RequestSecretOutput{ComponentID: id, Key: key, Set: true, Status: "stored", MaskedValue: o.Masked, Replaced: &replaced}
	verb := "stored"
	if replaced {
		verb = "replaced"
	}
	return mcp.NewToolResultStructured(out, fmt.Sprintf("The person entered secret %s of component %q; it is %s (value %s). "+
		"The component receives it from its next call on.", key, id, verb, o.Masked))
}

// awaiting is the result for a client that does not open pages: the URL, for the person.
func (r *SecretRequests) awaiting(p *secretpage.Page, why string) *mcp.CallToolResult {
	req := p.Request()
	out := RequestSecretOutput{ComponentID: req.ComponentID, Key: req.Key, Status: "awaiting_person", URL: p.URL(),
		ExpiresAt: p.Expires().UTC().Format(time.RFC3339)}
	text := fmt.Sprintf("Show the person this link and ask them to open it in a browser on this computer, to enter secret %s "+
		"of component %q:\n%s\nIt works once and expires at %s.%s Tell them NOT to type or paste the value into this chat: it "+
		"would pass through you. Once they say they have entered it, call list-secrets to check that %s is set; call %s "+
		"again only if the link expired.",
		req.Key, req.ComponentID, p.URL(), out.ExpiresAt, why, req.Key, RequestSecretTool)
	return mcp.NewToolResultStructured(out, text)
}

// message is what the client shows the person beside the URL.
func (r *SecretRequests) message(p *secretpage.Page) string {
	req := p.Request()
	m := fmt.Sprintf("wassette asks you to enter the secret %s of component %q on a one-time page on this computer. "+
		"The value goes straight to wassette's secret store; the AI agent never sees it.", req.Key, req.ComponentID)
	if req.Reason != "" {
		m += " The agent's reason: " + req.Reason
	}
	return m
}

// canOpen reports whether the client of session can be asked to open a page: it
// declared URL-mode elicitation (capabilities.elicitation.url), speaks a revision that
// has it (2025-11-25; later revisions ask through multi round-trip results instead),
// and, when request is true, its transport can carry a request to it.
func (r *SecretRequests) canOpen(ctx context.Context, session server.ClientSession, request bool) bool {
	if session == nil {
		return false
	}
	info, ok := session.(server.SessionWithClientInfo)
	if !ok {
		return false
	}
	caps := info.GetClientCapabilities()
	if caps.Elicitation == nil || caps.Elicitation.URL == nil {
		return false
	}
	v := server.RequestProtocolVersion(ctx)
	if v < mcp.ProtocolVersion20251125 || mcp.IsModernProtocol(v) {
		return false
	}
	if request {
		_, ok := session.(server.SessionWithElicitation)
		return ok
	}
	return true
}

// description is what component id declares about key, if it is loaded and does.
func (r *SecretRequests) description(id, key string) string {
	if r.mgr == nil {
		return ""
	}
	info, ok := r.mgr.Get(id)
	if !ok {
		return ""
	}
	for _, s := range info.Secrets {
		if s.Key == key {
			return s.Description
		}
	}
	return ""
}

func checkReason(s string) string {
	switch {
	case len(s) > maxReasonLen:
		return fmt.Sprintf("is %d bytes long", len(s))
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return "contains control characters or line breaks"
		}
	}
	return ""
}

// RequireDeclaredSecrets makes every call of a component's tool first check the secrets
// the component declares: when one the tool needs is missing, the call is answered, without
// running, with a URLElicitationRequiredError (-32042) that points at a one-time page if
// the client declared URL-mode elicitation, and otherwise with an isError result telling
// the model to call request-secret.
func (c *Components) RequireDeclaredSecrets(r *SecretRequests) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secretRequests = r
}

// missingSecrets answers a call of tool that needs declared secrets the component lacks;
// nil, nil lets the call run.
func (c *Components) missingSecrets(ctx context.Context, tool, componentID string) (*mcp.CallToolResult, error) {
	c.mu.Lock()
	r := c.secretRequests
	c.mu.Unlock()
	if r == nil {
		return nil, nil
	}
	missing, err := c.mgr.MissingSecrets(componentID, tool)
	if err != nil || len(missing) == 0 {
		return nil, nil // the call reports a real problem itself
	}
	session := server.ClientSessionFromContext(ctx)
	if r.canOpen(ctx, session, false) {
		var els []mcp.ElicitationParams
		for _, s := range missing {
			page, err := r.pages.Request(secretpage.Request{ComponentID: componentID, Key: s.Key, Description: s.Description,
				Reason: fmt.Sprintf("the tool %s needs it", tool)})
			if err != nil {
				r.log.Warn("could not open a secret page", "component", componentID, "key", s.Key, "err", err)
				els = nil
				break
			}
			els = append(els, mcp.ElicitationParams{Mode: mcp.ElicitationModeURL, ElicitationID: page.ID(), URL: page.URL(),
				Message: r.message(page)})
			go r.completeWhenStored(session, page)
		}
		if len(els) > 0 {
			c.log.Info("tool call needs secrets the person must enter", "tool", tool, "component_id", componentID,
				"missing", keysOf(missing), "outcome", "url_elicitation_required")
			return nil, mcp.URLElicitationRequiredError{Elicitations: els}
		}
	}
	keys := keysOf(missing)
	var text strings.Builder
	fmt.Fprintf(&text, "The tool %s of component %q needs the secret%s %s, which %s not set, so it did not run. ",
		tool, componentID, plural(len(keys)), list(quoteAll(keys)), isAre(len(keys)))
	for _, s := range missing {
		fmt.Fprintf(&text, "%s: %s. ", s.Key, s.Description)
	}
	fmt.Fprintf(&text, "Call %s with component_id %q and key %q to ask the person for it on a one-time page in their "+
		"browser; do not ask them to type or paste it into the chat. Then call %s again.", RequestSecretTool, componentID, keys[0], tool)
	return toolError("%s", text.String()), nil
}

// completeWhenStored tells the client of session that the elicitation of page is
// complete once a value is stored through it.
func (r *SecretRequests) completeWhenStored(session server.ClientSession, page *secretpage.Page) {
	k := session.SessionID() + "\x00" + page.ID()
	r.mu.Lock()
	if r.watching[k] { // the same page handed to the same client again: one completion
		r.mu.Unlock()
		return
	}
	r.watching[k] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.watching, k)
		r.mu.Unlock()
	}()
	if _, err := page.Wait(context.Background()); err != nil {
		return
	}
	if err := r.s.SendElicitationComplete(context.Background(), session, page.ID()); err != nil {
		r.log.Debug("could not send notifications/elicitation/complete", "err", err)
	}
}

const declaredSecretsSchema = `{
            "type": "array",
            "description": "The secrets the component declares it needs; a missing one stops the tools that need it until it is set (request-secret asks the person for it).",
            "items": {
              "type": "object",
              "properties": {
                "key": {"type": "string", "description": "The secret's name."},
                "description": {"type": "string", "description": "What the value is, as the component declares it."},
                "tools": {"type": "array", "items": {"type": "string"}, "description": "The tools that need it; absent means all."},
                "missing": {"type": "boolean", "description": "True if no secret, policy value or allowed host variable gives it a value."}
              },
              "required": ["key", "description", "missing"]
            }
          }`

// DeclaredSecret is a secret a component declares it needs, as list-components shows it.
type DeclaredSecret struct {
	Key         string   `json:"key"`
	Description string   `json:"description"`
	Tools       []string `json:"tools,omitempty"`
	Missing     bool     `json:"missing"`
}

// declaredSecrets returns what info declares, each marked missing or not.
func (c *Components) declaredSecrets(info component.Info) []DeclaredSecret {
	if len(info.Secrets) == 0 {
		return nil
	}
	missing, err := c.mgr.MissingSecrets(info.ID, "")
	if err != nil {
		c.log.Warn("could not tell which declared secrets are missing", "component", info.ID, "err", err)
	}
	out := make([]DeclaredSecret, 0, len(info.Secrets))
	for _, s := range info.Secrets {
		gone := slices.ContainsFunc(missing, func(m secretdecl.Secret) bool { return m.Key == s.Key })
		out = append(out, DeclaredSecret{Key: s.Key, Description: s.Description, Tools: s.Tools, Missing: gone})
	}
	return out
}

// missingText is list-components' note on the missing declared secrets, or "".
func missingText(ds []DeclaredSecret) string {
	var keys []string
	for _, d := range ds {
		if d.Missing {
			keys = append(keys, d.Key)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	return fmt.Sprintf("; missing secret%s %s (call %s to ask the person)", plural(len(keys)), list(keys), RequestSecretTool)
}

func keysOf(ss []secretdecl.Secret) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Key
	}
	return out
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
