package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wassette/wassette/internal/dotenv"
	"github.com/wassette/wassette/secretpage"
	"github.com/wassette/wassette/secretstore"
)

func (a *app) secretCmd() *cobra.Command {
	c := groupCmd("secret", "Manage each component's secrets",
		a.secretListCmd(), a.secretSetCmd(), a.secretDeleteCmd(), a.secretImportCmd())
	c.Long = `Manage each component's secrets.

Secrets are stored per component in <secrets-dir>/<component-id>.yaml (mode 0600, folder
0700) and reach the component as environment variables, below policy values and above
allowed host variables. Changes take effect on the next tool call of a running server.`
	a.addEncryptionCommands(c)
	return c
}

func (a *app) secretListCmd() *cobra.Command {
	var output string
	var show, yes bool
	c := &cobra.Command{
		Use:   "list [component-id]",
		Short: "List a component's secrets (masked), or the components that have secrets",
		Long: `With a component ID, print its secrets as "KEY: value" lines sorted by key, values
masked: a value of 20 characters or more shows its first and last 3 ("sk-abc***xyz"), a
shorter one shows "***". Nothing is printed for a component without secrets.

Without a component ID, list the components that have secrets, with their counts.`,
		Example: `  wassette secret list weather
  wassette secret list weather -o json
  wassette secret list weather --show-values --yes   # plaintext, for a person at a terminal`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				if show {
					return usagef("--show-values needs a component ID")
				}
				return a.listComponents(store, output)
			}
			id := args[0]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			sec, err := store.Get(id)
			if err != nil {
				return err
			}
			if show && sec.Len() > 0 && !yes {
				if err := a.confirm(fmt.Sprintf("Print %d plaintext secret value(s) of component %q to stdout?", sec.Len(), id)); err != nil {
					return err
				}
			}
			render := func(v secretstore.Value) string {
				if show {
					return v.Reveal()
				}
				return v.Masked()
			}
			if output == "json" {
				type item struct {
					Key   string `json:"key"`
					Value string `json:"value"`
				}
				out := struct {
					ComponentID string `json:"component_id"`
					Masked      bool   `json:"masked"`
					Secrets     []item `json:"secrets"`
				}{ComponentID: id, Masked: !show, Secrets: []item{}}
				for k, v := range sec.All() {
					out.Secrets = append(out.Secrets, item{k, render(v)})
				}
				return a.writeJSON(out)
			}
			for k, v := range sec.All() {
				fmt.Fprintf(a.stdout, "%s: %s\n", k, render(v))
			}
			return nil
		},
	}
	outputFlag(c, &output)
	c.Flags().BoolVar(&show, "show-values", false, "print values in plaintext (asks for confirmation on stderr)")
	c.Flags().BoolVarP(&yes, "yes", "y", false, "with --show-values: do not ask for confirmation")
	return c
}

func (a *app) listComponents(store *secretstore.Store, output string) error {
	comps, err := store.Components()
	if err != nil {
		return err
	}
	var failed error
	for _, c := range comps {
		if c.Err != nil {
			a.log.Error("unreadable secrets file", "component", c.ID, "err", c.Err)
			failed = errors.Join(failed, c.Err)
		}
	}
	if output == "json" {
		type item struct {
			ID    string `json:"component_id"`
			Count int    `json:"count"`
			Error string `json:"error,omitempty"`
		}
		out := struct {
			Components []item `json:"components"`
		}{Components: []item{}}
		for _, c := range comps {
			it := item{ID: c.ID, Count: c.Count}
			if c.Err != nil {
				it.Error = c.Err.Error()
			}
			out.Components = append(out.Components, it)
		}
		if err := a.writeJSON(out); err != nil {
			return err
		}
		return failed
	}
	if len(comps) == 0 {
		return failed
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSECRETS")
	for _, c := range comps {
		if c.Err != nil {
			fmt.Fprintf(tw, "%s\tunreadable\n", c.ID)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\n", c.ID, c.Count)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return failed
}

func (a *app) secretSetCmd() *cobra.Command {
	var browser bool
	var expiry time.Duration
	c := &cobra.Command{
		Use:   "set <component-id> (<key> [<value> | -] | KEY=VALUE...)",
		Short: "Add or update secrets of a component",
		Long: `Add or update secrets of a component, creating its secrets file if needed.

  set <id> <key> <value>   the value as an argument (visible in shell history and ps)
  set <id> <key> -         the value read from stdin; one trailing newline is dropped
  set <id> <key>           on a terminal, prompts for the value without echo
  set <id> K1=V1 K2=V2     several secrets in one atomic write
  set <id> <key> --browser serves a one-time page on 127.0.0.1, prints its URL (and opens
                           it with $BROWSER or the system's opener), and waits until the
                           value is entered there; exit 1 if it expires (--expiry, 10m)

Keys are case-sensitive and contain no '=', whitespace or control characters. Values are
UTF-8 text without NUL bytes, up to 64 KiB; newlines are kept (PEM keys).`,
		Example: `  wassette secret set weather API_KEY sk-1234567890abcdef
  wassette secret set weather ENDPOINT_URL=https://api.weather.com/v1 TIMEOUT=30
  pass show weather/api-key | wassette secret set weather API_KEY -
  wassette secret set weather API_KEY --browser`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			if browser {
				return a.secretSetBrowser(cmd, args, expiry)
			}
			if cmd.Flags().Changed("expiry") {
				return usagef("--expiry applies to --browser only")
			}
			values, err := a.secretArgs(args[1:])
			if err != nil {
				return err
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			if err := store.Set(id, values); err != nil {
				return err
			}
			a.log.Info("secrets set", "component", id, "keys", slices.Sorted(maps.Keys(values)))
			for _, k := range slices.Sorted(maps.Keys(values)) {
				fmt.Fprintf(a.stdout, "Secret '%s' set for component '%s'\n", k, id)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&browser, "browser", false, "enter the value on a one-time page in a browser on this computer")
	c.Flags().DurationVar(&expiry, "expiry", secretpage.DefaultExpiry, "with --browser: how long the page stays valid")
	return c
}

// secretSetBrowser is `secret set <id> <key> --browser`: the value is entered on a
// one-time page this process serves (package secretpage).
func (a *app) secretSetBrowser(cmd *cobra.Command, args []string, expiry time.Duration) error {
	if len(args) != 2 {
		return usagef("--browser takes a component ID and one key, and no value")
	}
	if expiry < time.Second || expiry > 24*time.Hour {
		return usagef("invalid --expiry %s: use a duration from 1s to 24h, like 10m", expiry)
	}
	if err := secretstore.ValidateKey(args[1]); err != nil {
		return usageError{err}
	}
	store, err := a.secrets()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := secretpage.Browse(ctx, secretpage.Config{Store: store, Expiry: expiry, Log: a.log},
		secretpage.Request{ComponentID: args[0], Key: args[1]}, a.stderr)
	if err != nil {
		return fmt.Errorf("nothing was stored: %w", err)
	}
	fmt.Fprintf(a.stdout, "Secret '%s' set for component '%s' (%s)\n", args[1], args[0], out.Masked)
	return nil
}

// secretArgs turns the arguments after the component ID into secrets, checked.
func (a *app) secretArgs(args []string) (map[string]secretstore.Value, error) {
	values := map[string]secretstore.Value{}
	if strings.Contains(args[0], "=") {
		for _, arg := range args {
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				return nil, usagef("argument %q is not KEY=VALUE; use either <key> <value> or KEY=VALUE pairs, not both", arg)
			}
			if _, dup := values[k]; dup {
				return nil, usagef("key %q is given twice", k)
			}
			values[k] = secretstore.NewValue(v)
		}
	} else {
		key := args[0]
		if err := secretstore.ValidateKey(key); err != nil {
			return nil, usageError{err}
		}
		var v string
		var err error
		switch {
		case len(args) > 2:
			return nil, usagef("too many arguments: quote a value that contains spaces, or use KEY=VALUE pairs")
		case len(args) == 2 && args[1] == "-":
			v, err = a.readValue()
		case len(args) == 2:
			v = args[1]
		default:
			v, err = a.promptValue(key)
		}
		if err != nil {
			return nil, err
		}
		values[key] = secretstore.NewValue(v)
	}
	for k, v := range values {
		if err := secretstore.ValidateKey(k); err != nil {
			return nil, usageError{err}
		}
		if err := secretstore.ValidateValue(v.Reveal()); err != nil {
			return nil, usageError{fmt.Errorf("secret %q: %w", k, err)}
		}
	}
	return values, nil
}

// readValue reads a value from stdin, dropping one trailing newline.
func (a *app) readValue() (string, error) {
	data, err := io.ReadAll(io.LimitReader(a.stdin, secretstore.MaxValueLen+3))
	if err != nil {
		return "", fmt.Errorf("read value from stdin: %w", err)
	}
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	return s, nil
}

// promptValue asks for a value on the terminal without echoing it.
func (a *app) promptValue(key string) (string, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("no value given for %s: pass it as an argument, or '-' to read it from stdin", key)
	}
	fmt.Fprintf(a.stderr, "Value for %s (input hidden): ", key)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", fmt.Errorf("read value from terminal: %w", err)
	}
	return string(b), nil
}

// confirm asks a yes/no question on stderr and reads the answer from stdin.
func (a *app) confirm(question string) error {
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(a.stderr)
		return errors.New("not confirmed (no answer on stdin); pass --yes to skip the question")
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not confirmed")
}

func (a *app) secretDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete <component-id> <key>",
		Short: "Remove a secret from a component",
		Long: `Remove one secret from a component; its other secrets are untouched. A missing key is
an error (exit code 1). The component's secrets file is removed with its last secret.`,
		Example: `  wassette secret delete weather OLD_API_KEY`,
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(_ *cobra.Command, args []string) error {
			id, key := args[0], args[1]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			if err := store.Delete(id, key); err != nil {
				return err
			}
			a.log.Info("secret deleted", "component", id, "key", key)
			fmt.Fprintf(a.stdout, "Secret '%s' deleted from component '%s'\n", key, id)
			return nil
		},
	}
}

func (a *app) secretImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import <component-id> <file.env | ->",
		Short: "Set every secret of a .env file in one atomic write",
		Long: `Read KEY=VALUE lines from a .env file (or stdin, with '-') and set them all as secrets
of the component in one atomic write: either all are set or none is.

Blank lines and lines starting with # are skipped; "export " before a key is allowed.
Unquoted values are trimmed and end at " #". Double-quoted values understand \n, \r, \t,
\", \\ and \$ and may span lines; single-quoted values are taken literally. A key given
twice is an error.`,
		Example: `  wassette secret import weather secrets.env`,
		Args:    usageArgs(cobra.ExactArgs(2)),
		RunE: func(_ *cobra.Command, args []string) error {
			id, file := args[0], args[1]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			var data []byte
			var err error
			if file == "-" {
				file = "stdin"
				data, err = io.ReadAll(io.LimitReader(a.stdin, secretstore.MaxFileSize+1))
			} else {
				data, err = readLimited(file, secretstore.MaxFileSize+1)
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", file, err)
			}
			if len(data) > secretstore.MaxFileSize {
				return fmt.Errorf("%s is over %d bytes", file, secretstore.MaxFileSize)
			}
			entries, err := dotenv.Parse(file, string(data))
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return fmt.Errorf("%s holds no KEY=VALUE lines; nothing imported", file)
			}
			values := make(map[string]secretstore.Value, len(entries))
			for _, e := range entries {
				if err := secretstore.ValidateKey(e.Key); err != nil {
					return fmt.Errorf("%s: line %d: %w", file, e.Line, err)
				}
				if err := secretstore.ValidateValue(e.Value); err != nil {
					return fmt.Errorf("%s: line %d: value of %s: %w", file, e.Line, e.Key, err)
				}
				values[e.Key] = secretstore.NewValue(e.Value)
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			if err := store.Set(id, values); err != nil {
				return err
			}
			a.log.Info("secrets imported", "component", id, "count", len(values))
			for _, e := range slices.SortedFunc(slices.Values(entries), func(x, y dotenv.Entry) int { return strings.Compare(x.Key, y.Key) }) {
				fmt.Fprintf(a.stdout, "Secret '%s' set for component '%s'\n", e.Key, id)
			}
			return nil
		},
	}
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
