package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	goruntime "runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wassette/wassette/component"
	wasmrt "github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretpage"
	"github.com/wassette/wassette/server"
	"github.com/wassette/wassette/tools"
)

// syncInterval is how often a running server looks for components that the CLI loaded
// or unloaded in another process.
const syncInterval = 2 * time.Second

// Default per-call limits of `serve`; a component's policy (resources.limits) wins.
const (
	defaultCallTimeout = 30 * time.Second
	defaultMemoryLimit = "256Mi"
	// defaultCompiledMemory is component.DefaultCompiledBytes.
	defaultCompiledMemory = "128Mi"
)

// serveLimits checks serve's --timeout and --memory-limit values and returns them as
// the runtime's per-call defaults.
func serveLimits(timeout time.Duration, memory string) (wasmrt.Limits, error) {
	if timeout <= 0 {
		return wasmrt.Limits{}, usagef("invalid --timeout %s: use a positive duration like 30s or 2m", timeout)
	}
	mem, err := policy.ParseMemory(memory) // the syntax and bounds of a policy's limit
	if err != nil {
		return wasmrt.Limits{}, usageError{fmt.Errorf("invalid --memory-limit: %w", err)}
	}
	return wasmrt.Limits{Timeout: timeout, MemoryBytes: mem}, nil
}

// serveCmd is `wassette serve`: the MCP server, on stdio (the default) or over HTTP.
func (a *app) serveCmd() *cobra.Command {
	var stdio, sse, streamable bool
	var bind, token, memoryLimit string
	var timeout, pageExpiry time.Duration
	var maxSessions, maxConns int
	var sessionIdle, bodyTimeout time.Duration
	var maxCalls int
	var compiledMemory string
	var idleRelease time.Duration
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
protection). They hold at most --max-connections connections and cut off a request
body not sent within --body-timeout. Streamable HTTP keeps at most --max-sessions
sessions and ends one unused for --session-idle-timeout. With a bearer token (WASSETTE_AUTH_TOKEN, or --auth-token, which other
users can see in the process list) every request must carry "Authorization: Bearer
<token>". Listening on a non-loopback address requires a token.

Secrets changed with 'wassette secret ...' while the server runs are seen by the next
tool call, and components loaded or unloaded with 'wassette component ...' appear in (or
leave) the tool list at once (within 2 seconds where the system gives no file
notifications). The compiled code of components stays in memory up to --compiled-memory
and for --idle-release after its last call; past that it is released and compiled again,
from the disk cache, at the next call. Each component call runs with --timeout and
--memory-limit unless the component's policy sets its own limits. At most
--max-concurrent-calls component calls run at once (default: the number of CPUs); more
wait for a slot, as long as their time limit allows. The server stops cleanly on SIGINT
or SIGTERM, and in stdio mode when stdin ends.`,
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
			for _, f := range []string{"bind", "auth-token", "max-connections", "body-timeout"} {
				if !httpMode && cmd.Flags().Changed(f) {
					return usagef("--%s applies to --sse and --streamable-http only", f)
				}
			}
			for _, f := range []string{"max-sessions", "session-idle-timeout"} {
				if !streamable && cmd.Flags().Changed(f) {
					return usagef("--%s applies to --streamable-http only", f)
				}
			}
			if maxSessions <= 0 || maxConns <= 0 {
				return usagef("--max-sessions and --max-connections must be positive numbers")
			}
			if sessionIdle <= 0 || bodyTimeout <= 0 {
				return usagef("--session-idle-timeout and --body-timeout must be positive durations like 30s or 10m")
			}
			if token == "" {
				token = os.Getenv("WASSETTE_AUTH_TOKEN")
			}
			if pageExpiry < time.Second || pageExpiry > 24*time.Hour {
				return usagef("invalid --secret-page-expiry %s: use a duration from 1s to 24h, like 10m", pageExpiry)
			}
			limits, err := serveLimits(timeout, memoryLimit)
			if err != nil {
				return err
			}
			if maxCalls < 1 {
				return usagef("invalid --max-concurrent-calls %d: use 1 or more", maxCalls)
			}
			compiled, err := policy.ParseMemory(compiledMemory)
			if err != nil {
				return usageError{fmt.Errorf("invalid --compiled-memory: %w", err)}
			}
			if idleRelease <= 0 {
				return usagef("invalid --idle-release %s: use a positive duration like 10m", idleRelease)
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
			policies, err := a.policies()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			mgr, err := a.components(ctx, limits, func(c *component.Config) {
				c.MaxConcurrentCalls = maxCalls
				c.CompiledBytes = int64(compiled)
				c.IdleRelease = idleRelease
			})
			if err != nil {
				return fmt.Errorf("open the components: %w", err)
			}
			s := server.New(version, a.log)
			tools.RegisterSecrets(s, store, a.log, tools.WithConsent(mgr))
			comps := tools.RegisterComponents(s, mgr, policies, store, a.log)
			// request-secret and declared secrets: one-time pages on 127.0.0.1, from the
			// first request on, whatever the transport.
			pages := secretpage.New(secretpage.Config{Store: store, ServerName: server.Name, Expiry: pageExpiry, Log: a.log})
			defer pages.Close()
			comps.RequireDeclaredSecrets(tools.RegisterRequestSecret(s, pages, store, mgr, a.log))

			// Pick up components the CLI loads or unloads while the server runs: at
			// once through file notifications on the folders the CLI writes, and by
			// polling where those are not available. The watcher ends before the
			// manager is closed.
			watchCtx, stopWatch := context.WithCancel(ctx)
			notes := component.Watch(watchCtx, a.log, a.componentsDir(), a.secretsDir())
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				comps.Watch(watchCtx, syncInterval, notes.C)
			}()
			defer func() {
				stopWatch()
				<-watched
				<-notes.Done()
				closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := mgr.Close(closeCtx); err != nil {
					a.log.Warn("closing the components", "err", err)
				}
			}()
			switch {
			case sse, streamable:
				t := server.StreamableHTTP
				if sse {
					t = server.SSE
				}
				a.log.Info("starting wassette", "version", version, "transport", t.String(), "secrets_dir", store.Dir(),
					"components", len(mgr.List()))
				return server.ServeHTTP(ctx, s, server.HTTPConfig{
					Transport: t, Addr: bind, AuthToken: token, Log: a.log,
					MaxSessions: maxSessions, SessionIdleTimeout: sessionIdle,
					BodyTimeout: bodyTimeout, MaxConnections: maxConns,
				})
			default:
				a.log.Info("starting wassette", "version", version, "transport", "stdio", "secrets_dir", store.Dir(),
					"components", len(mgr.List()))
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
	f.IntVar(&maxSessions, "max-sessions", server.DefaultMaxSessions, "most streamable HTTP sessions at once; at the cap a new one ends the least recently used idle one, or gets 503 if none is idle")
	f.DurationVar(&sessionIdle, "session-idle-timeout", server.DefaultSessionIdleTimeout, "end a streamable HTTP session unused for this long")
	f.DurationVar(&bodyTimeout, "body-timeout", server.DefaultBodyTimeout, "longest an HTTP client may take to send a request body (then 408)")
	f.IntVar(&maxConns, "max-connections", server.DefaultMaxConnections, "most HTTP connections open at once; further clients wait")
	f.DurationVar(&timeout, "timeout", defaultCallTimeout, "longest a component call may run, unless its policy sets resources.limits.timeout")
	f.DurationVar(&pageExpiry, "secret-page-expiry", secretpage.DefaultExpiry, "how long a one-time page of request-secret stays valid")
	f.StringVar(&memoryLimit, "memory-limit", defaultMemoryLimit, "most memory a component call may use (Ki/Mi/Gi or k/M/G), unless its policy sets resources.limits.memory")
	f.IntVar(&maxCalls, "max-concurrent-calls", goruntime.NumCPU(), "most component calls running at once; more wait for a slot")
	f.StringVar(&compiledMemory, "compiled-memory", defaultCompiledMemory, "memory the compiled code of components may hold (Ki/Mi/Gi or k/M/G); past it the least recently used are released and compiled again, from the disk cache, at their next call")
	f.DurationVar(&idleRelease, "idle-release", component.DefaultIdleRelease, "release the compiled code of a component unused for this long (compiled again, from the disk cache, at its next call)")
	return c
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
