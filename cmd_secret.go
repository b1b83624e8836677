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

	"github.com/wassette/wassette/internal/dotenv"
	"github.com/wassette/wassette/secretpage"
	"github.com/wassette/wassette/secretstore"
	"github.com/wassette/wassette/tools"
)

func (a *app) secretCmd() *cobra.Command {
	c := groupCmd("secret", "Manage each component's secrets",
		a.secretListCmd(), a.secretSetCmd(), a.secretDeleteCmd(), a.secretImportCmd())
	c.Long = `Manage each component's secrets.

Secrets are stored per component in <secrets-dir>/<component-id>.yaml (mode 0600, folder
0700) and reach the component as environment variables, below policy values and above
allowed host variables, but only a module you approved ('wassette component load' by you,
or 'wassette component approve'). Changes take effect on the next tool call of a running
server.`
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
		Args:              usageArgs(cobra.MaximumNArgs(1)),
		ValidArgsFunction: a.completeComponentIDs,
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkOutput(&output); err != nil {
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
			a.noteID(id, "")
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
				if show { // plaintext is "value", so that a script cannot mistake one for the other
					type item struct {
						Key   string `json:"key"`
						Value string `json:"value"`
					}
					out := struct {
						ComponentID string `json:"component_id"`
						Count       int    `json:"count"`
						Secrets     []item `json:"secrets"`
					}{ComponentID: id, Count: sec.Len(), Secrets: []item{}}
					for k, v := range sec.All() {
						out.Secrets = append(out.Secrets, item{k, v.Reveal()})
					}
					return a.writeJSON(out)
				}
				out := tools.ListSecretsOutput{ComponentID: id, Count: sec.Len(), Secrets: []tools.MaskedSecret{}}
				for k, v := range sec.All() {
					out.Secrets = append(out.Secrets, tools.MaskedSecret{Key: k, MaskedValue: v.Masked()})
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
	// Each unreadable file is reported once, in the command's error.
	var failed error
	for _, c := range comps {
		if c.Err != nil {
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
	var browser, allowEmpty bool
	var expiry time.Duration
	c := &cobra.Command{
		Use:   "set [flags] <component-id> (<key> [<value> | -] | KEY=VALUE...)",
		Short: "Add or update secrets of a component",
		Long: `Add or update secrets of a component, creating its secrets file if needed.

  set <id> <key> <value>   the value as an argument (visible in shell history and ps)
  set <id> <key> -         the value read from stdin; one trailing newline is dropped
  set <id> <key>           on a terminal, prompts for the value without echo
                           (Ctrl-C or Ctrl-D cancels)
  set <id> K1=V1 K2=V2     several secrets in one atomic write
  set --browser <id> <key> serves a one-time page on 127.0.0.1, prints its URL (and opens
                           it with $BROWSER or the system's opener), and waits until the
                           value is entered there; exit 1 if it expires (--expiry, 10m)

Flags go before the component ID: everything after it is taken as it is, so a value may
start with '-'. An empty value from the prompt or from stdin is refused (an unset shell
variable piped in would store ""), unless --allow-empty is given.

Keys are case-sensitive and contain no '=', whitespace or control characters. Values are
UTF-8 text without NUL bytes, up to 64 KiB; newlines are kept (PEM keys).

The secrets reach the module loaded under the ID only if you approved it: 'wassette
component load' by you approves, a model's load-component does not ('wassette component
approve <id>').`,
		Example: `  wassette secret set weather API_KEY sk-1234567890abcdef
  wassette secret set weather ENDPOINT_URL=https://api.weather.com/v1 TIMEOUT=30
  pass show weather/api-key | wassette secret set weather API_KEY -
  wassette secret set --browser weather API_KEY
  wassette secret set weather TOKEN -starts-with-a-dash`,
		Args:              usageArgs(cobra.MinimumNArgs(2)),
		ValidArgsFunction: a.completeSecretKeys,
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
			values, err := a.secretArgs(args[1:], allowEmpty)
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
			a.noteID(id, "the secret is kept for a component loaded under this ID later")
			return nil
		},
	}
	c.Flags().BoolVar(&browser, "browser", false, "enter the value on a one-time page in a browser on this computer")
	c.Flags().DurationVar(&expiry, "expiry", secretpage.DefaultExpiry, "with --browser: how long the page stays valid")
	c.Flags().BoolVar(&allowEmpty, "allow-empty", false, "store an empty value read from the prompt or stdin")
	// Everything after the component ID is positional: a value is never parsed as a flag.
	c.Flags().SetInterspersed(false)
	// A flag error must not quote the argument: a misplaced value would be printed.
	c.SetFlagErrorFunc(func(cmd *cobra.Command, _ error) error {
		return usagef("a flag before the component ID is unknown or lacks its value (it is not shown: it may be a "+
			"secret value); flags go before the ID, and everything after it is taken as it is. See '%s --help'",
			cmd.CommandPath())
	})
	return c
}

// secretSetBrowser is `secret set --browser <id> <key>`: the value is entered on a
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
	a.noteID(args[0], "the secret is kept for a component loaded under this ID later")
	return nil
}

// secretArgs turns the arguments after the component ID into secrets, checked. No error
// quotes an argument that may be a value.
func (a *app) secretArgs(args []string, allowEmpty bool) (map[string]secretstore.Value, error) {
	values := map[string]secretstore.Value{}
	if strings.Contains(args[0], "=") {
		for i, arg := range args {
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				return nil, usagef("argument %d after the component ID is not KEY=VALUE (it is not shown: it may be a "+
					"value); use either <key> <value> or KEY=VALUE pairs, not both", i+1)
			}
			if err := secretstore.ValidateKey(k); err != nil {
				return nil, usageError{fmt.Errorf("argument %d after the component ID: %w", i+1, err)}
			}
			if _, dup := values[k]; dup {
				return nil, usagef("key %q is given twice", k)
			}
			values[k] = secretstore.NewValue(v)
		}
	} else {
		key := args[0]
		if strings.HasPrefix(key, "-") {
			return nil, usagef("the key (the argument after the component ID) starts with '-': flags go before the " +
				"component ID, and a key cannot start with '-'")
		}
		if err := secretstore.ValidateKey(key); err != nil {
			return nil, usageError{err}
		}
		// A flag of this command after the key was meant as a flag (the order of an
		// earlier version): refuse it rather than store it as the value.
		for _, arg := range args[1:] {
			for _, f := range []string{"--browser", "--allow-empty", "--expiry"} {
				if arg == f || strings.HasPrefix(arg, f+"=") {
					return nil, usagef("%s is a flag of this command, and flags go before the component ID: "+
						"wassette secret set %s <id> <key>; to store it as the value itself, use KEY=VALUE", f, f)
				}
			}
		}
		var v string
		var err error
		fromInput := false
		switch {
		case len(args) > 2:
			return nil, usagef("too many arguments: quote a value that contains spaces, or use KEY=VALUE pairs")
		case len(args) == 2 && args[1] == "-":
			v, err = a.readValue()
			fromInput = true
		case len(args) == 2:
			v = args[1]
		default:
			v, err = a.promptValue(key)
			fromInput = true
		}
		if err != nil {
			return nil, err
		}
		if fromInput && v == "" && !allowEmpty {
			return nil, usagef("the value of %s is empty (nothing typed, or nothing on stdin: an unset shell variable?); "+
				"nothing was stored. Pass --allow-empty to store an empty value", key)
		}
		values[key] = secretstore.NewValue(v)
	}
	for k, v := range values {
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
	v, err := a.promptHidden(fmt.Sprintf("Value for %s (input hidden; Ctrl-C or Ctrl-D cancels): ", key))
	if errors.Is(err, errNoTerminal) {
		return "", usagef("no value given for %s: pass it as an argument, or '-' to read it from stdin", key)
	}
	return v, err
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
	var all bool
	c := &cobra.Command{
		Use:   "delete <component-id> (<key>... | --all)",
		Short: "Remove secrets from a component",
		Long: `Remove secrets from a component, in one atomic write; its other secrets are untouched.
A missing key is an error (exit code 1) and then nothing is removed. With --all, every
secret of the component is removed (none is not an error). The component's secrets file is
removed with its last secret.`,
		Example: `  wassette secret delete weather OLD_API_KEY
  wassette secret delete weather --all`,
		Args:              usageArgs(cobra.MinimumNArgs(1)),
		ValidArgsFunction: a.completeSecretKeys,
		RunE: func(_ *cobra.Command, args []string) error {
			id, keys := args[0], args[1:]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			switch {
			case all && len(keys) > 0:
				return usagef("give keys or --all, not both")
			case !all && len(keys) == 0:
				return usagef("name the keys to delete, or pass --all to delete every secret of the component")
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			if all {
				sec, err := store.Get(id)
				if err != nil {
					return err
				}
				if err := store.Remove(id); err != nil {
					return err
				}
				a.log.Info("secrets deleted", "component", id, "count", sec.Len())
				fmt.Fprintf(a.stdout, "Deleted %d secret(s) of component '%s'\n", sec.Len(), id)
				if sec.Len() == 0 {
					a.noteID(id, "")
				}
				return nil
			}
			if err := store.Delete(id, keys...); err != nil {
				if errors.Is(err, secretstore.ErrNotFound) {
					a.noteID(id, "")
				}
				return err
			}
			a.log.Info("secrets deleted", "component", id, "keys", keys)
			for _, k := range keys {
				fmt.Fprintf(a.stdout, "Secret '%s' deleted from component '%s'\n", k, id)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "delete every secret of the component")
	return c
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
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return a.completeComponentIDs(cmd, args, toComplete)
			}
			return nil, cobra.ShellCompDirectiveDefault // a file
		},
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
			// What is wrong with the input is the caller's to fix: a usage error (exit 2).
			if len(data) > secretstore.MaxFileSize {
				return usagef("%s is over %d bytes", file, secretstore.MaxFileSize)
			}
			entries, err := dotenv.Parse(file, string(data))
			if err != nil {
				return usageError{err}
			}
			if len(entries) == 0 {
				return usagef("%s holds no KEY=VALUE lines; nothing imported", file)
			}
			values := make(map[string]secretstore.Value, len(entries))
			for _, e := range entries {
				if err := secretstore.ValidateKey(e.Key); err != nil {
					return usageError{fmt.Errorf("%s: line %d: %w; nothing imported", file, e.Line, err)}
				}
				if err := secretstore.ValidateValue(e.Value); err != nil {
					return usageError{fmt.Errorf("%s: line %d: value of %s: %w; nothing imported", file, e.Line, e.Key, err)}
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
			a.noteID(id, "the secrets are kept for a component loaded under this ID later")
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
