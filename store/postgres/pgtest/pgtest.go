// Package pgtest gives tests a PostgreSQL: a fresh schema of the shared
// test database (NOVEL_TEST_DATABASE_URL), or a throwaway server they may
// stop and start. Only tests import it, so the testing package stays out
// of the binary.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/novel-engine/novel-engine/store/postgres"
)

// DefaultURL is the test database used when NOVEL_TEST_DATABASE_URL is
// not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// skipOrFail skips the test, except in CI (CI=true), where what the test
// needs must be there.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// URL returns a URL of the test database (NOVEL_TEST_DATABASE_URL, else
// DefaultURL) whose search_path is a fresh schema of its own, dropped
// when the test ends. The schema is empty: call postgres.Migrate, or use
// Store.
// When the database cannot be reached the test is skipped, or fails in CI.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("NOVEL_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("NOVEL_TEST_DATABASE_URL must be a postgres:// URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connectQuick(ctx, base)
	if err != nil {
		skipOrFail(t, "test database unreachable (set NOVEL_TEST_DATABASE_URL): %v", err)
	}
	defer conn.Close(context.Background())

	var b [8]byte
	rand.Read(b[:])
	schema := "novel_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "create schema "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := connectQuick(ctx, base)
		if err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "drop schema "+schema+" cascade"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	opt := "-csearch_path=" + schema
	if old := q.Get("options"); old != "" {
		opt = old + " " + opt
	}
	q.Set("options", opt)
	// pgx reads the query with PathUnescape, to which "+" is no space.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

func connectQuick(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 5 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

// Store returns a store on a fresh, migrated schema of the test database
// (see URL), closed when the test ends.
func Store(t testing.TB, opts postgres.Options) *postgres.Store {
	t.Helper()
	url := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := postgres.Migrate(ctx, url); err != nil {
		t.Fatalf("migrate test schema: %v", err)
	}
	s, err := postgres.Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Server is a throwaway PostgreSQL server of a test's own, in a
// temporary directory on a free port, for tests that stop and start the
// database (outages). Running as root, it runs the server as the
// "postgres" user, since PostgreSQL refuses to run as root.
type Server struct {
	t     testing.TB
	bin   string // directory of initdb, pg_ctl
	dir   string // holds data/, the socket and the log
	port  int
	cred  *syscall.Credential // nil: run as ourselves
	owner [2]int              // uid, gid for files we create
}

// StartServer initializes and starts a server, stopped and removed
// when the test ends. Without PostgreSQL's server binaries the test is
// skipped, or fails in CI.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin := findPostgresBin()
	if bin == "" {
		skipOrFail(t, "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin or in PATH")
	}
	s := &Server{t: t, bin: bin, owner: [2]int{os.Getuid(), os.Getgid()}}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			skipOrFail(t, "running as root and there is no postgres user to run a throwaway server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		s.owner = [2]int{uid, gid}
	}
	dir, err := os.MkdirTemp("", "novel-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	if err := os.Chown(dir, s.owner[0], s.owner[1]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	})
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.Start()
	return s
}

func findPostgresBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { // newest version first
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
	}
	return ""
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

// URL is the server's URL, with the superuser postgres and its database
// postgres.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the server (again) on its port and waits until it accepts
// connections.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", s.port, s.dir)
	out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts, "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.t.Fatalf("start test server: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server (fast shutdown: sessions are cut) and waits until
// it is down.
func (s *Server) Stop() {
	s.t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		s.t.Fatalf("stop test server: %v\n%s", err, out)
	}
}
