package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable records the schema version. It is not schema-qualified, so
// it lives in the first schema of the connection's search_path, beside the
// tables.
const versionTable = "novel_schema_version"

// latestVersion is the newest schema version among the embedded
// migrations: migration files are numbered from 1 without gaps.
func latestVersion() int32 {
	names, err := migrate.FindMigrations(mustSub())
	if err != nil {
		panic(fmt.Sprintf("embedded migrations: %v", err))
	}
	return int32(len(names))
}

func mustSub() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(fmt.Sprintf("embedded migrations: %v", err))
	}
	return sub
}

// MigrationReport says what Migrate did.
type MigrationReport struct {
	From, To int32    // schema versions before and after
	Applied  []string // names of the migrations applied, in order
	Latest   int32    // the newest version this binary knows
}

// Migrate brings the schema of the database at url up to date, with the
// migrations embedded in the binary. It is safe to run from several nodes
// at once: the migrator holds a PostgreSQL advisory lock while it reads
// the version and applies what is missing, so the others wait, then find
// nothing to do. Each migration runs in its own transaction.
func Migrate(ctx context.Context, url string) (MigrationReport, error) {
	var rep MigrationReport
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return rep, fmt.Errorf("migrate: parse database url: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = Options{}.withDefaults().ConnectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return rep, fmt.Errorf("migrate: connect: %w", translate(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))

	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return rep, fmt.Errorf("migrate: %w", translate(err))
	}
	if err := m.LoadMigrations(mustSub()); err != nil {
		return rep, fmt.Errorf("migrate: load migrations: %w", err)
	}
	rep.Latest = int32(len(m.Migrations))
	m.OnStart = func(seq int32, name, direction, sql string) {
		rep.Applied = append(rep.Applied, name)
	}
	if err := m.Migrate(ctx); err != nil {
		return rep, fmt.Errorf("migrate: %w", translate(err))
	}
	if rep.To, err = m.GetCurrentVersion(ctx); err != nil {
		return rep, fmt.Errorf("migrate: read version: %w", translate(err))
	}
	rep.From = rep.To - int32(len(rep.Applied))
	return rep, nil
}
