package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wassette/wassette/secretstore"
)

// addEncryptionCommands adds `secret encryption ...` and `secret edit` to the secret
// command group.
func (a *app) addEncryptionCommands(secret *cobra.Command) {
	enc := groupCmd("encryption", "Encrypt the secrets files at rest (age), or stop",
		a.encryptionEnableCmd(), a.encryptionDisableCmd(), a.encryptionStatusCmd(),
		a.encryptionRotateCmd(), a.encryptionExportKeyCmd())
	enc.Long = `Encrypt the secrets files at rest with age, per data folder.

Every value of every secrets file is then an age envelope ("age:..."), while keys stay
readable. The key (an age X25519 identity) is kept in the OS keyring (Secret Service on
Linux, Keychain on macOS, Credential Manager on Windows), or in a key file (mode 0600)
with --key-file. $` + secretstore.IdentityFileEnv + ` names a key file that is tried first,
for services and CI. The key is read once per process; lookups cost what they cost
without encryption. See README, "Encryption at rest", for what it protects against.`
	secret.AddCommand(enc, a.secretEditCmd())
}

func (a *app) encryptionEnableCmd() *cobra.Command {
	var keyFile string
	c := &cobra.Command{
		Use:   "enable [--key-file PATH]",
		Short: "Encrypt every secrets file, with a new key in the OS keyring or a key file",
		Long: `Make a new age key, keep it in the OS keyring (or, with --key-file, in PATH: created
with mode 0600 if it does not exist, used if it does), and rewrite every secrets file
encrypted, atomically, under the writers' lock. With $` + secretstore.IdentityFileEnv + ` set and no
--key-file, that file is used the same way.

Run again on an encrypted folder, it encrypts the files that still hold plaintext values
(added or edited by hand). Back up the key: see 'wassette secret encryption export-key'.`,
		Example: `  wassette secret encryption enable
  wassette secret encryption enable --key-file ~/.config/wassette/age.key   # headless machines`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			store, err := a.secrets()
			if err != nil {
				return err
			}
			c, err := store.EnableEncryption(keyFile)
			if err != nil {
				return err
			}
			a.log.Info("encryption enabled", "folder", store.Dir(), "recipient", c.Recipient)
			fmt.Fprintf(a.stdout, "Encryption enabled for %s: %d file(s) encrypted now, %d in all.\nThe key is in %s.\n",
				store.Dir(), c.Rewritten, c.Files, c.KeyPlace())
			if c.KeyFile == "" {
				fmt.Fprintln(a.stdout, "Back it up: wassette secret encryption export-key <file>")
			}
			return a.conversionFailures(c, "enable")
		},
	}
	c.Flags().StringVar(&keyFile, "key-file", "", "keep the key in this file (mode 0600) instead of the OS keyring")
	return c
}

func (a *app) encryptionDisableCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "disable",
		Short: "Rewrite every secrets file in plaintext and stop encrypting",
		Long: `Rewrite every secrets file with plaintext values, atomically, under the writers' lock,
then turn encryption off. The key is not deleted: backups of the encrypted files still
need it. A file that cannot be decrypted is left as it is, encryption stays on, and the
command can be run again once it is fixed.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			store, err := a.secrets()
			if err != nil {
				return err
			}
			c, err := store.DisableEncryption()
			if err != nil {
				return err
			}
			if err := a.conversionFailures(c, "disable"); err != nil {
				return err
			}
			if c.Recipient == "" {
				fmt.Fprintf(a.stdout, "Encryption is not enabled for %s; nothing to do.\n", store.Dir())
				return nil
			}
			a.log.Info("encryption disabled", "folder", store.Dir())
			fmt.Fprintf(a.stdout, "Encryption disabled for %s: %d file(s) rewritten in plaintext.\nThe key stays in %s; remove it once no backup needs it.\n",
				store.Dir(), c.Rewritten, c.KeyPlace())
			return nil
		},
	}
}

func (a *app) encryptionRotateCmd() *cobra.Command {
	var keyFile string
	c := &cobra.Command{
		Use:   "rotate [--key-file PATH]",
		Short: "Move to a new key and re-encrypt every value for it",
		Long: `Make a new key (in the OS keyring, or in PATH with --key-file; an existing PATH is used
as it is) and re-encrypt every value for it. The old key is needed to read the files, and
is not deleted. If the rotation stops part-way, both keys stay in use until the command is
run again, which finishes it.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			store, err := a.secrets()
			if err != nil {
				return err
			}
			before, _ := store.EncryptionStatus()
			c, err := store.RotateKey(keyFile)
			if err != nil {
				return err
			}
			if err := a.conversionFailures(c, "rotate"); err != nil {
				return err
			}
			a.log.Info("encryption key rotated", "folder", store.Dir(), "recipient", c.Recipient)
			fmt.Fprintf(a.stdout, "Secrets in %s re-encrypted for a new key: %d file(s) rewritten.\nThe new key is in %s.\n",
				store.Dir(), c.Rewritten, c.KeyPlace())
			if before.Recipient != "" && before.Recipient != c.Recipient {
				fmt.Fprintf(a.stdout, "The old key stays in %s; remove it once no backup needs it.\n", before.KeyPlace())
			}
			return nil
		},
	}
	c.Flags().StringVar(&keyFile, "key-file", "", "keep the new key in this file (mode 0600) instead of the OS keyring")
	return c
}

func (a *app) encryptionExportKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export-key <file>",
		Short: "Write the key to a new file (mode 0600), to back it up",
		Long: `Write the folder's key to a new file, mode 0600, in the format of age-keygen. Keep it
somewhere other than the data folder's backups (a password manager, an offline medium):
anyone with the key and a copy of the files reads every secret. With the file, any
machine reads the files: ` + secretstore.IdentityFileEnv + `=<file> wassette ..., or
'wassette secret encryption rotate' there to move the secrets to a key of its own.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			store, err := a.secrets()
			if err != nil {
				return err
			}
			if err := store.ExportKey(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Key written to %s\n", args[0])
			return nil
		},
	}
}

func (a *app) encryptionStatusCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "status [-o json]",
		Short: "Say whether secrets are encrypted, where the key is, and whether it can be read",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(&output); err != nil {
				return err
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			es, err := store.EncryptionStatus()
			if err != nil {
				return err
			}
			keyErr := ""
			if es.KeyErr != nil {
				keyErr = es.KeyErr.Error()
			}
			if strings.ToLower(output) == "json" {
				type key struct {
					Store          string `json:"store"` // keyring or file
					File           string `json:"file,omitempty"`
					KeyringService string `json:"keyring_service,omitempty"`
					KeyringAccount string `json:"keyring_account,omitempty"`
					Readable       bool   `json:"readable"`
					Error          string `json:"error,omitempty"`
				}
				out := struct {
					Folder         string   `json:"folder"`
					Enabled        bool     `json:"enabled"`
					Recipient      string   `json:"recipient,omitempty"`
					Key            *key     `json:"key,omitempty"`
					IdentityFile   string   `json:"identity_file_env,omitempty"`
					Rotating       bool     `json:"rotating"`
					Files          int      `json:"files"`
					PlaintextFiles int      `json:"plaintext_files"`
					Unreadable     []string `json:"unreadable"`
				}{Folder: store.Dir(), Enabled: es.Enabled, Recipient: es.Recipient, Rotating: es.Rotating,
					IdentityFile: os.Getenv(secretstore.IdentityFileEnv), Files: es.Files, PlaintextFiles: es.Plaintext, Unreadable: []string{}}
				if es.Enabled {
					k := &key{Store: "keyring", KeyringService: secretstore.KeyringService, KeyringAccount: es.Recipient, Readable: es.KeyErr == nil, Error: keyErr}
					if es.KeyFile != "" {
						k = &key{Store: "file", File: es.KeyFile, Readable: es.KeyErr == nil, Error: keyErr}
					}
					out.Key = k
				}
				for _, u := range es.Unreadable {
					out.Unreadable = append(out.Unreadable, u.Error())
				}
				return a.writeJSON(out)
			}
			w := a.stdout
			fmt.Fprintf(w, "Folder:      %s\n", store.Dir())
			if !es.Enabled {
				fmt.Fprintf(w, "Encryption:  off (the files rely on their permissions; turn it on with: wassette secret encryption enable)\n")
				fmt.Fprintf(w, "Files:       %d\n", es.Files)
				return nil
			}
			fmt.Fprintf(w, "Encryption:  on (age)\nRecipient:   %s\nKey:         %s\n", es.Recipient, es.KeyPlace())
			if env := os.Getenv(secretstore.IdentityFileEnv); env != "" {
				fmt.Fprintf(w, "             tried first: $%s (%s)\n", secretstore.IdentityFileEnv, env)
			}
			if es.KeyErr != nil {
				fmt.Fprintf(w, "Key status:  NOT READABLE: %v\n", es.KeyErr)
			} else {
				fmt.Fprintf(w, "Key status:  readable\n")
			}
			if es.Rotating {
				fmt.Fprintf(w, "Rotation:    interrupted; finish it with: wassette secret encryption rotate\n")
			}
			switch {
			case es.Plaintext > 0:
				fmt.Fprintf(w, "Files:       %d, of which %d hold plaintext values (encrypted at their next write, or now with: wassette secret encryption enable)\n", es.Files, es.Plaintext)
			default:
				fmt.Fprintf(w, "Files:       %d, all encrypted\n", es.Files)
			}
			for _, u := range es.Unreadable {
				fmt.Fprintf(w, "Unreadable:  %v\n", u)
			}
			if es.KeyErr != nil {
				return errors.New("the key cannot be read: secrets cannot be read or written")
			}
			return nil
		},
	}
	outputFlag(c, &output)
	return c
}

// conversionFailures prints the files a conversion left as they were, and fails if any.
func (a *app) conversionFailures(c secretstore.Conversion, cmd string) error {
	for _, err := range c.Failed {
		fmt.Fprintf(a.stderr, "wassette: left as it was: %v\n", err)
	}
	if len(c.Failed) > 0 {
		return fmt.Errorf("%d file(s) could not be converted and are unchanged; fix them and run 'wassette secret encryption %s' again", len(c.Failed), cmd)
	}
	return nil
}

func (a *app) secretEditCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "edit <component-id>",
		Short: "Edit a component's secrets in your editor (decrypted if encrypted)",
		Long: `Open the component's secrets, as a secrets file in plaintext, in your editor: $VISUAL
(unless TERM is dumb), else $EDITOR, else vi. The editor runs through the shell as git runs
it, so the variable may carry arguments ("code --wait"). The file is mode 0600, in a
folder of its own inside the secrets folder, and is removed when the command ends, however
it ends (a leftover of a killed process is removed by the next write).

When the editor exits, the file is checked (an invalid file offers to edit it again, on
a terminal), and the changes are applied to the secrets as they are by then, encrypted if
the folder is. A key that someone else changed meanwhile, and you changed too, is a
conflict: nothing is saved. An editor that fails changes nothing.`,
		Example: `  wassette secret edit weather
  EDITOR="code --wait" wassette secret edit weather`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			id := args[0]
			if err := secretstore.ValidateID(id); err != nil {
				return usageError{err}
			}
			store, err := a.secrets()
			if err != nil {
				return err
			}
			// While the editor runs, wassette must outlive it to remove the plaintext file:
			// Ctrl-C and Ctrl-\ are the editor's (it gets them from the terminal too), and
			// a SIGTERM or SIGHUP is passed to the editor, then ends the edit.
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
			defer signal.Stop(sigs)
			editor := editorCommand()
			changed, err := store.Edit(id, func(path string) error {
				return a.runEditor(editor, path, sigs)
			}, a.askEditAgain)
			if err != nil {
				return err
			}
			if !changed {
				fmt.Fprintf(a.stderr, "No changes to the secrets of component '%s'\n", id)
				return nil
			}
			a.log.Info("secrets edited", "component", id)
			fmt.Fprintf(a.stdout, "Secrets of component '%s' updated\n", id)
			return nil
		},
	}
}

// editorCommand picks the editor as git does: $VISUAL unless the terminal is dumb, then
// $EDITOR, then vi.
func editorCommand() string {
	if v := os.Getenv("VISUAL"); v != "" && os.Getenv("TERM") != "dumb" {
		return v
	}
	if e := os.Getenv("EDITOR"); e != "" {
		return e
	}
	if runtime.GOOS == "windows" {
		return "notepad"
	}
	return "vi"
}

// runEditor runs editor on path through the shell, as git does ("$EDITOR" "$@"), and
// waits for it; a terminating signal that reaches wassette meanwhile is passed on.
func (a *app) runEditor(editor, path string, sigs <-chan os.Signal) error {
	if editor == ":" { // git's way of saying "no editor": keep the file as it is
		return nil
	}
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.Command("cmd", "/C", editor+` "`+path+`"`)
	} else {
		cmd = exec.Command("sh", "-c", editor+` "$@"`, editor, path)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the editor (%s): %w; nothing was changed", editor, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var stopped os.Signal
	for {
		select {
		case err := <-done:
			switch {
			case stopped != nil:
				return fmt.Errorf("stopped by %v; nothing was changed", stopped)
			case err != nil:
				return fmt.Errorf("the editor (%s) failed: %v; nothing was changed", editor, err)
			}
			return nil
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGHUP {
				stopped = sig
				cmd.Process.Signal(sig)
			}
		}
	}
}

// askEditAgain shows why the edited file is not valid and, on a terminal, asks whether
// to edit it again.
func (a *app) askEditAgain(err error) bool {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	fmt.Fprintf(a.stderr, "wassette: %v\nEdit again? [Y/n] ", err)
	line, _ := bufio.NewReader(f).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "", "y", "yes":
		return true
	}
	return false
}
