// Command wassette is an MCP server that runs sandboxed WebAssembly tools for AI agents
// and gives each tool ("component") its own secrets, and a CLI over the same data.
//
// This file wires the command tree: global flags, where data lives, logging, and exit
// codes (0 ok, 1 failure, 2 usage). Each command group lives in its own cmd_*.go file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/adrg/xdg"
	"github.com/spf13/cobra"

	"github.com/wassette/wassette/component"
	wasmrt "github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
	"github.com/wassette/wassette/tools"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// app holds what every command shares: the standard streams, the global flags and the
// logger built from them.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	dataDirFlag    string
	secretsDirFlag string
	logLevel       string
	log            *slog.Logger
}

// buildDescription says what the binary was built from: the commit (vcs.revision, from
// runtime/debug.ReadBuildInfo), whether the tree had uncommitted changes, and the Go
// version. A binary built without version control information (outside a git checkout,
// or with -buildvcs=false) says so.
func buildDescription() string {
	commit, modified := "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	switch {
	case commit == "":
		return "commit unknown: built without version control information; " + runtime.Version()
	case modified:
		return "commit " + commit + ", with uncommitted changes; " + runtime.Version()
	}
	return "commit " + commit + "; " + runtime.Version()
}

// run executes one command line and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, log: slog.New(slog.DiscardHandler)}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "wassette: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return 2
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "wassette",
		Short: "Run sandboxed WebAssembly tools for AI agents, each with its own secrets",
		Long: `wassette is an MCP server that runs sandboxed WebAssembly tools ("components") for
AI agents and gives each component its own secrets, delivered as environment variables.
The same binary is a CLI over that data, usable while a server runs: changes take effect
on the next tool call, with no restart.`,
		Version:           version,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              unknownSubcommand,
		RunE:              func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.setupLogging() },
	}
	root.SetVersionTemplate("wassette {{.Version}} (" + buildDescription() + ")\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.dataDirFlag, "data-dir", "", "data folder (default $WASSETTE_DATA_DIR, else $XDG_DATA_HOME/wassette)")
	pf.StringVar(&a.secretsDirFlag, "secrets-dir", "", "secrets folder (default $WASSETTE_SECRETS_DIR, else <data-dir>/secrets)")
	pf.StringVar(&a.logLevel, "log-level", "", "log level on stderr: debug, info, warn, error (default warn; info for serve)")

	root.AddCommand(a.secretCmd(), a.policyCmd(), a.permissionCmd(), a.componentCmd(), a.toolCmd(), a.serveCmd())
	return root
}

func (a *app) setupLogging() error {
	level := slog.LevelWarn
	if a.logLevel != "" {
		if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
			return usageError{fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", a.logLevel)}
		}
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

// dataDir resolves the data folder: --data-dir, then $WASSETTE_DATA_DIR, then the
// platform's data folder (XDG on Linux and macOS, %APPDATA% on Windows) + "wassette".
func (a *app) dataDir() string {
	if a.dataDirFlag != "" {
		return a.dataDirFlag
	}
	if d := os.Getenv("WASSETTE_DATA_DIR"); d != "" {
		return d
	}
	if runtime.GOOS == "windows" {
		if d := os.Getenv("APPDATA"); d != "" {
			return filepath.Join(d, "wassette")
		}
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "wassette") // read now: tests and users may set it after start-up
	}
	return filepath.Join(xdg.DataHome, "wassette")
}

// secretsDir resolves the secrets folder: --secrets-dir, then $WASSETTE_SECRETS_DIR,
// then <data-dir>/secrets.
func (a *app) secretsDir() string {
	if a.secretsDirFlag != "" {
		return a.secretsDirFlag
	}
	if d := os.Getenv("WASSETTE_SECRETS_DIR"); d != "" {
		return d
	}
	return filepath.Join(a.dataDir(), "secrets")
}

// componentsDir is where components, their policies and metadata live.
func (a *app) componentsDir() string { return filepath.Join(a.dataDir(), "components") }

// cacheRoot is wassette's cache folder: $XDG_CACHE_HOME/wassette.
func (a *app) cacheRoot() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "wassette")
	}
	return filepath.Join(xdg.CacheHome, "wassette")
}

// cacheDir keeps compiled WebAssembly across restarts: <cache>/compiled.
func (a *app) cacheDir() string { return filepath.Join(a.cacheRoot(), "compiled") }

// configDir is wassette's configuration folder: $XDG_CONFIG_HOME/wassette.
func (a *app) configDir() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "wassette")
	}
	return filepath.Join(xdg.ConfigHome, "wassette")
}

// guard refuses storage grants of wassette's own folders, wherever flags, variables or
// XDG put them.
func (a *app) guard() *policy.Guard {
	return policy.NewGuard(
		policy.Folder{What: "data folder", Path: a.dataDir()},
		policy.Folder{What: "secrets folder", Path: a.secretsDir()},
		policy.Folder{What: "config folder", Path: a.configDir()},
		policy.Folder{What: "cache folder", Path: a.cacheRoot()},
	)
}

func (a *app) secrets() (*secretstore.Store, error) { return secretstore.Open(a.secretsDir()) }

// components opens the component manager over the data folder, with limits as the
// per-call defaults; set changes the rest of its configuration (serve's flags).
// Components may not declare the server's own tool names, whichever command loads them.
func (a *app) components(ctx context.Context, limits wasmrt.Limits, set ...func(*component.Config)) (*component.Manager, error) {
	secrets, err := a.secrets()
	if err != nil {
		return nil, err
	}
	policies, err := a.policies()
	if err != nil {
		return nil, err
	}
	cfg := component.Config{
		Dir:      a.componentsDir(),
		CacheDir: a.cacheDir(),
		Secrets:  secrets,
		Policies: policies,
		Limits:   limits,
		Reserved: tools.BuiltinToolNames(),
		Guard:    a.guard(),
		Logger:   a.log,
	}
	for _, f := range set {
		f(&cfg)
	}
	return component.Open(ctx, cfg)
}

func (a *app) policies() (*policy.Store, error) { return policy.Open(a.componentsDir()) }

// usageError marks an error as the caller's misuse of the command line: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// usageArgs turns an argument validator's complaint into a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// groupCmd returns a command that only holds subcommands: run bare it prints help, and
// an unknown subcommand is a usage error.
func groupCmd(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  unknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(subs...)
	return c
}

// unknownSubcommand is the Args check of a command that only holds subcommands: an
// argument is a subcommand that does not exist, and the usage error names the nearest.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return usageError{errors.New(msg)}
}

// outputFormats are the values of -o, as completion offers them.
var outputFormats = []string{"text", "json"}

// outputFlag adds -o/--output to a listing command.
func outputFlag(c *cobra.Command, dst *string) {
	c.Flags().StringVarP(dst, "output", "o", "text", "output format: text or json (any case)")
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
}

// checkOutput validates an -o value and turns it to lower case: -o JSON is -o json.
func checkOutput(v *string) error {
	lower := strings.ToLower(*v)
	if slices.Contains(outputFormats, lower) {
		*v = lower
		return nil
	}
	return usagef("invalid --output %q: use text or json", *v)
}
