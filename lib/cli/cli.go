// Package cli is cobra (spf13/cobra, flags by spf13/pflag) the way
// xpromo's commands use it: usage text in the style of Go's flag package,
// help and usage errors told apart by exit code (ExitCode), groups of
// subcommands, and single-dash long flags (-clickhouse-url) still
// accepted (GNUArgs).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ErrUsage marks an error already reported with the usage text.
var ErrUsage = errors.New("usage")

// ErrHelp is what a command line that asked for help (--help, -h, help)
// returns once the help is printed.
var ErrHelp = errors.New("help")

// footerKey is the root's annotation holding the text its help ends with.
const footerKey = "cli.footer"

// NewRoot is the root command use (its first word the program's name),
// described by long; its help ends with footer. A word that names no
// command is refused, as an unknown flag is, with the usage.
func NewRoot(use, long, footer string) *cobra.Command {
	root := &cobra.Command{
		Use:           use,
		Long:          long,
		Args:          cobra.ArbitraryArgs,
		RunE:          RunGroup,
		SilenceErrors: true,
		SilenceUsage:  true,
		Annotations:   map[string]string{footerKey: footer},
	}
	// cobra's own help command shows the root's help for any word it
	// does not know; this one, like `xpromo nope`, refuses it.
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND]...",
		Short: "show a command's help",
		RunE: func(_ *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return RunGroup(target, rest)
			}
			return target.Help()
		},
	})
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		msg := err.Error()
		// Go's flag package's wording, which scripts and tests match.
		if ne := (*pflag.NotExistError)(nil); errors.As(err, &ne) {
			name := ne.GetSpecifiedShortnames()
			if name == "" {
				name = ne.GetSpecifiedName()
			}
			msg = "flag provided but not defined: -" + name
		}
		fmt.Fprintln(c.ErrOrStderr(), msg)
		PrintUsage(c, c.ErrOrStderr())
		return ErrUsage
	})
	return root
}

// ExitCode is the exit code of the command at path that returned err (see
// Execute): 0 when it succeeded or printed help, 2 for a usage error, 1
// for any other failure, whose message goes to stderr after the path.
func ExitCode(stderr io.Writer, path string, err error) int {
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		// A bare ErrUsage was explained where it was returned; a wrapped
		// one carries its own message.
		if err != ErrUsage {
			fmt.Fprintf(stderr, "%s: %s\n", path, strings.TrimPrefix(err.Error(), ErrUsage.Error()+": "))
		}
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	return 1
}

// Execute runs args on root and returns the path of the command that ran
// ("xpromo partner add", for error messages) and its error: ErrHelp when
// it printed help.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) (string, error) {
	root.SetOut(stdout)
	root.SetErr(stderr)
	helped := false
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		// A command's help goes to stderr, as its usage errors do; only
		// the root's --help is the program's output.
		w := c.ErrOrStderr()
		if !c.HasParent() {
			w = c.OutOrStdout()
		}
		PrintUsage(c, w)
		helped = true
	})
	root.SetArgs(GNUArgs(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil && helped {
		err = ErrHelp
	}
	path := root.Name()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	return path, err
}

// PrintUsage writes c's usage line, description, subcommands and flags.
func PrintUsage(c *cobra.Command, w io.Writer) {
	use := c.Use
	if c.HasParent() {
		use = c.Parent().CommandPath() + " " + use
	}
	fmt.Fprintf(w, "Usage: %s\n", use)
	if text := strings.TrimSpace(c.Long); text != "" {
		fmt.Fprintf(w, "\n%s\n", text)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nCommands:\n")
		width := 0
		for _, s := range c.Commands() {
			width = max(width, len(s.Name()))
		}
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				fmt.Fprintf(w, "  %-*s  %s\n", width, s.Name(), s.Short)
			}
		}
	}
	if c.HasAvailableLocalFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", c.LocalFlags().FlagUsages())
	}
	if footer := c.Annotations[footerKey]; !c.HasParent() && footer != "" {
		fmt.Fprintf(w, "\n%s\n", footer)
	}
}

// RunGroup is what a command made of subcommands does when none of them
// is named: it prints its usage (a usage error, or the help asked for
// with `xpromo token help`) or refuses an unknown one.
func RunGroup(c *cobra.Command, args []string) error {
	w := c.ErrOrStderr()
	switch {
	case len(args) == 0:
		PrintUsage(c, w)
		return ErrUsage
	case args[0] == "help":
		PrintUsage(c, w)
		return ErrHelp
	case !c.HasParent():
		fmt.Fprintf(w, "%s: unknown command %q\n\n", c.Name(), args[0])
		PrintUsage(c, w)
		return ErrUsage
	}
	var names []string
	for _, s := range c.Commands() {
		names = append(names, s.Name())
	}
	fmt.Fprintf(w, "%s: unknown subcommand %q (want one of: %s)\n", c.CommandPath(), args[0], strings.Join(names, ", "))
	return ErrUsage
}

// NoArgs refuses positional arguments, as a usage error.
func NoArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	fmt.Fprintf(c.ErrOrStderr(), "unexpected argument %q\n", args[0])
	PrintUsage(c, c.ErrOrStderr())
	return ErrUsage
}

// GNUArgs rewrites single-dash long flags (-clickhouse-url URL,
// -id=acme), which Go's flag package accepted and users and scripts may
// still give, to the double-dash form pflag reads as long flags (it would
// read -id as the shorthands -i -d). Only a word naming a flag of the
// command the leading words select changes; the value after a flag that
// takes one, "-h", and everything after a bare "--" stay as they are.
func GNUArgs(root *cobra.Command, args []string) []string {
	cmd := root
	for _, a := range args {
		next, _, err := cmd.Find([]string{a})
		if strings.HasPrefix(a, "-") || err != nil || next == cmd {
			break
		}
		cmd = next
	}
	out := make([]string, 0, len(args))
	skipValue := false
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if skipValue {
			skipValue = false
			out = append(out, a)
			continue
		}
		if name, long := strings.CutPrefix(a, "--"); long || strings.HasPrefix(a, "-") {
			if !long {
				name = a[1:]
			}
			name, _, eq := strings.Cut(name, "=")
			f := cmd.Flags().Lookup(name)
			if name == "help" || (f != nil && len(name) > 1) {
				if !long {
					a = "-" + a
				}
				skipValue = !eq && f != nil && f.NoOptDefVal == ""
			}
		}
		out = append(out, a)
	}
	return out
}

// ParseBool reads a yes-or-no setting as people write it in environment
// variables: 1, true, yes, on; 0, false, no, off or nothing.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off", "":
		return false, nil
	}
	return false, errors.New("want true or false")
}

// Scan returns a parser of a number as fmt.Sscan reads it, whose error
// says what it wants.
func Scan[T any](want string) func(string) (T, error) {
	return func(v string) (x T, err error) {
		if _, err = fmt.Sscan(v, &x); err != nil {
			err = errors.New(want)
		}
		return x, err
	}
}
