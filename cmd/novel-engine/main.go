// Command novel-engine runs Novel Engine: the server (serve, the default),
// schema migrations (migrate), token minting (token), one story offline to
// stdout (run), story checks over many seeds (storycheck), a terminal
// watcher of a running story (watch), a health probe for containers
// (healthcheck) and its version (version).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "novel-engine:", err)
		os.Exit(1)
	}
}

// commands are the subcommands, in the order the help lists them.
var commands = []struct{ name, summary string }{
	{"serve", "run a node (the default)"},
	{"migrate", "apply the PostgreSQL schema migrations"},
	{"token", "mint a JWT for a user and role"},
	{"run", "play one story offline and print it"},
	{"storycheck", "measure many stories of the built-in scenarios against their aims"},
	{"watch", "follow a running story and print its turns as they come"},
	{"healthcheck", "exit 0 if a node answers on /healthz (for container health checks)"},
	{"version", "print the version and build information"},
	{"help", "print this help"},
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "usage: novel-engine [command] [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nnovel-engine COMMAND -h shows a command's usage and flags.\n")
}

// run is the whole program, built from its arguments, so tests can run it
// as main does. Asking for help (-h) is not an error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help", "--h":
			printUsage(stdout)
			return nil
		}
		if len(args[0]) > 0 && args[0][0] != '-' {
			cmd, args = args[0], args[1:]
		}
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args, getenv, stdout, stderr)
	case "token":
		return runToken(ctx, args, getenv, stdout, stderr)
	case "run":
		return runOffline(ctx, args, stdout, stderr)
	case "storycheck":
		return runStorycheck(ctx, args, stdout, stderr)
	case "watch":
		return runWatch(ctx, args, getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args, getenv, stdout, stderr)
	case "version":
		return runVersion(args, stdout, stderr)
	case "help":
		printUsage(stdout)
		return nil
	}
	printUsage(stderr)
	return fmt.Errorf("unknown command %q", cmd)
}

// newFlags returns a flag set for a subcommand whose usage is the given
// lines (what to type, and what it does) followed by the flags.
func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		if usage != "" && usage[len(usage)-1] != '\n' {
			fmt.Fprintln(fs.Output())
		}
		fmt.Fprintf(fs.Output(), "\nflags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. Help that was asked for (-h) goes to
// stdout and ends in flag.ErrHelp, which run treats as success; a mistake
// prints the message and the usage to stderr.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		stdout.Write(buf.Bytes())
	case err != nil:
		stderr.Write(buf.Bytes())
	}
	fs.SetOutput(stderr) // for usage printed later by the command itself
	return err
}
