// Command novel-engine runs Novel Engine: the server (serve, the default),
// schema migrations (migrate), token minting (token), one story offline to
// stdout (run), and a terminal watcher of a running story (watch).
package main

import (
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
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "novel-engine:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: novel-engine [command] [flags]

commands:
  serve     run a node (the default)
  migrate   apply the PostgreSQL schema migrations
  token     mint a JWT for a user and role
  run       play one story offline and print it
  watch     follow a running story and print its turns as they come

novel-engine COMMAND -h shows a command's flags.
`

// run is the whole program, built from its arguments, so tests can run it
// as main does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
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
	case "watch":
		return runWatch(ctx, args, getenv, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
