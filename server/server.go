// Package server runs wassette's MCP server: it builds the mcp-go server and serves it
// over stdio, SSE or streamable HTTP, with the protections each transport needs
// (bounded messages, DNS-rebinding checks, bearer-token auth, body timeouts, caps on
// connections and sessions) and graceful shutdown. It serves the protocol as each
// revision defines it where mcp-go does not: streamable HTTP sessions are checked,
// cancelled requests get no answer, batches are answered per revision, requests before
// initialize are refused on stdio, and every request runs on its own so that cheap ones
// never wait behind component calls.
//
// The tools themselves live in package tools; this package knows nothing about them.
package server

import (
	"log/slog"

	mcpserver "github.com/mark3labs/mcp-go/server"
)

// Name is the server name announced in the initialize response.
const Name = "wassette"

// Instructions is what the server tells the model in the initialize response.
const Instructions = `wassette runs sandboxed WebAssembly tools ("components") and keeps each component's ` +
	`secrets, such as API keys, which the component receives as environment variables. ` +
	`Use list-secrets to see a component's keys (values are always masked), request-secret to ask ` +
	`the user for a value on a one-time page (never ask them to type a secret into the chat), set-secret ` +
	`to store a value the user already gave you, and delete-secret to remove one. Changes apply from the ` +
	`component's next call, with no restart. Secret values can never be read back through this server. ` +
	`load-component, unload-component and list-components manage components; each loaded component's ` +
	`tools appear in the tool list (the server announces changes). A component starts with no ` +
	`network, folder or host-variable access: get-policy shows what it has, and the grant-*-permission ` +
	`and revoke-*-permission tools change it.`

// New returns the MCP server, named Name and announcing version and Instructions, with
// panic recovery and output-schema validation; add tools to it before serving. It
// announces tools.listChanged and sends notifications/tools/list_changed whenever tools
// are added or deleted, as when a component is loaded or unloaded. Requests are logged
// on log at debug level.
func New(version string, log *slog.Logger) *mcpserver.MCPServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return mcpserver.NewMCPServer(Name, version,
		mcpserver.WithInstructions(Instructions),
		mcpserver.WithToolCapabilities(true),
		mcpserver.WithRecovery(),
		mcpserver.WithOutputSchemaValidation(),
		mcpserver.WithLogger(debugLogger(log)),
	)
}

// debugLogger lowers mcp-go's per-request info lines to debug: the tools log each call at
// info themselves, with the arguments that matter.
func debugLogger(log *slog.Logger) *slog.Logger {
	return slog.New(levelShift{log.Handler()})
}
