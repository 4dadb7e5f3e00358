package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/novel-engine/novel-engine/store/postgres/pgtest"
)

func TestRunMigrate(t *testing.T) {
	url := pgtest.URL(t)
	env := map[string]string{"NOVEL_DATABASE_URL": url}
	migrate := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := runMigrate(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr)
		return stdout.String(), err
	}

	out, err := migrate()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "applied 001_initial.sql") || !strings.Contains(out, "from version 0 to ") {
		t.Fatalf("first run said %q", out)
	}
	out, err = migrate()
	if err != nil || !strings.HasPrefix(out, "schema is up to date at version ") {
		t.Fatalf("second run: %q %v", out, err)
	}

	// The flag wins over the environment.
	env["NOVEL_DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"
	if out, err := migrate("--database-url", url); err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("with --database-url: %q %v", out, err)
	}

	delete(env, "NOVEL_DATABASE_URL")
	if _, err := migrate(); err == nil || !strings.Contains(err.Error(), "NOVEL_DATABASE_URL") {
		t.Fatalf("without a URL: %v", err)
	}
}
