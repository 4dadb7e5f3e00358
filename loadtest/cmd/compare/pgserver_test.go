package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestOwnPostgres starts a PostgreSQL server of the run's own, creates
// and drops a database on it, and leaves nothing behind when stopped.
func TestOwnPostgres(t *testing.T) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	bin := os.Getenv("NOVEL_TEST_PG_BIN")
	if bin == "" && len(bins) > 0 {
		bin = bins[len(bins)-1]
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); bin == "" || err != nil {
		t.Skip("no PostgreSQL programs (set NOVEL_TEST_PG_BIN)")
	}
	ctx := context.Background()
	s, err := startPostgres(ctx, bin, "postgres", 0, filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := createDatabase(ctx, s.url)
	if err != nil {
		s.stop()
		t.Fatal(err)
	}
	var sync string
	conn, err := pgx.Connect(ctx, db.url)
	if err == nil {
		err = conn.QueryRow(ctx, "show synchronous_commit").Scan(&sync)
		conn.Close(ctx)
	}
	if err != nil || sync != "on" {
		t.Errorf("synchronous_commit %q, %v", sync, err)
	}
	if err := db.drop(); err != nil {
		t.Error(err)
	}
	s.stop()
	select {
	case <-s.done:
	default:
		t.Error("the server still runs")
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("data directory left: %v", err)
	}
}
