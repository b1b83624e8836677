package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wassette/wassette/server"
	"github.com/wassette/wassette/tools"
)

// serveCmd is `wassette serve`: the MCP server, on stdio (the default) or over HTTP.
func (a *app) serveCmd() *cobra.Command {
	var stdio, sse, streamable bool
	var bind, token string
	c := &cobra.Command{
		Use:   "serve [--stdio | --sse | --streamable-http]",
		Short: "Run the MCP server (stdio by default)",
		Long: `Run the MCP server that AI agents connect to.

Transports (pick one; stdio is the default):
  --stdio            JSON-RPC on stdin/stdout, for clients that start wassette themselves
                     (Claude Code, Claude Desktop, VS Code). Logs go to stderr.
  --sse              HTTP+SSE (protocol 2024-11-05): GET /sse, POST /message.
  --streamable-http  Streamable HTTP at /mcp.

The HTTP transports listen on --bind (default ` + server.DefaultAddr + `), answer GET /healthz,
and refuse requests whose Host or Origin header names another site (DNS rebinding
protection). With a bearer token (WASSETTE_AUTH_TOKEN, or --auth-token, which other
users can see in the process list) every request must carry "Authorization: Bearer
<token>". Listening on a non-loopback address requires a token.

Secrets changed with 'wassette secret ...' while the server runs are seen by the next
tool call. The server stops cleanly on SIGINT or SIGTERM, and in stdio mode when stdin
ends.`,
		Example: `  wassette serve --stdio
  wassette serve --streamable-http --bind 127.0.0.1:9001
  WASSETTE_AUTH_TOKEN=$(openssl rand -hex 32) wassette serve --sse --bind 0.0.0.0:9001`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, on := range []bool{stdio, sse, streamable} {
				if on {
					n++
				}
			}
			if n > 1 {
				return usagef("choose one transport: --stdio, --sse or --streamable-http")
			}
			httpMode := sse || streamable
			if !httpMode && (cmd.Flags().Changed("bind") || cmd.Flags().Changed("auth-token")) {
				return usagef("--bind and --auth-token apply to --sse and --streamable-http only")
			}
			if token == "" {
				token = os.Getenv("WASSETTE_AUTH_TOKEN")
			}
			if httpMode {
				if err := server.CheckBind(bind, token); err != nil {
					return err
				}
			}
			if a.logLevel == "" {
				a.logLevel = "info"
				if err := a.setupLogging(); err != nil {
					return err
				}
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			s := server.New(version, a.log)
			tools.RegisterSecrets(s, store, a.log)

			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			switch {
			case sse, streamable:
				t := server.StreamableHTTP
				if sse {
					t = server.SSE
				}
				a.log.Info("starting wassette", "version", version, "transport", t.String(), "secrets_dir", store.Dir())
				return server.ServeHTTP(ctx, s, server.HTTPConfig{
					Transport: t, Addr: bind, AuthToken: token, Log: a.log,
				})
			default:
				a.log.Info("starting wassette", "version", version, "transport", "stdio", "secrets_dir", store.Dir())
				err := server.ServeStdio(ctx, s, a.stdin, a.stdout, a.log)
				a.log.Info("stopped", "transport", "stdio")
				return err
			}
		},
	}
	f := c.Flags()
	f.BoolVar(&stdio, "stdio", false, "serve on stdin/stdout (the default)")
	f.BoolVar(&sse, "sse", false, "serve HTTP+SSE: GET /sse, POST /message")
	f.BoolVar(&streamable, "streamable-http", false, "serve streamable HTTP at /mcp")
	f.StringVar(&bind, "bind", server.DefaultAddr, "host:port for the HTTP transports; port 0 picks a free one")
	f.StringVar(&token, "auth-token", "", "bearer token HTTP clients must send (default $WASSETTE_AUTH_TOKEN)")
	return c
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
