package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/novel-engine/novel-engine/store/postgres"
)

// runMigrate is the migrate subcommand: it brings the PostgreSQL schema at
// NOVEL_DATABASE_URL (or --database-url) up to date with the migrations
// built into the binary, and says what it did. Several nodes may run it at
// once: one migrates, the others wait and find nothing to do.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "usage: novel-engine migrate [--database-url URL] [--timeout D]\n\n"+
		"Applies the database migrations built into this binary.")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (env NOVEL_DATABASE_URL)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long, waiting for another node's migration included")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected arguments %q", fs.Args())
	}
	if *dbURL == "" {
		*dbURL = getenv("NOVEL_DATABASE_URL") // not the flag's default: -h must not print it
	}
	if *dbURL == "" {
		return errors.New("migrate: no database: set NOVEL_DATABASE_URL or pass --database-url")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := postgres.Migrate(ctx, *dbURL)
	if err != nil {
		return err
	}
	if len(rep.Applied) == 0 {
		fmt.Fprintf(stdout, "schema is up to date at version %d\n", rep.To)
		return nil
	}
	for _, name := range rep.Applied {
		fmt.Fprintf(stdout, "applied %s\n", name)
	}
	fmt.Fprintf(stdout, "schema migrated from version %d to %d\n", rep.From, rep.To)
	return nil
}
