package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgServer is a PostgreSQL server started for one run of ours (-pg-bin),
// in a new data directory with initdb's settings (fsync and
// synchronous_commit on), removed after the run. A server of its own has
// a WAL of its own: the turns' commits share their flushes with no other
// database's, as the Centrifugo nodes share their Redis with nothing
// else. The disk is still the machine's.
type pgServer struct {
	bin    string // the directory of initdb, postgres and pg_ctl
	osUser string // run as this user when this process is root (PostgreSQL refuses root)
	dir    string
	cmd    *exec.Cmd
	done   chan struct{}
	log    *os.File
	url    string // of its postgres database, to create the run's database with
}

// command runs one of the server's programs, as osUser when root.
func (s *pgServer) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", s.osUser, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func startPostgres(ctx context.Context, bin, osUser string, port int, logPrefix string) (*pgServer, error) {
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	s := &pgServer{bin: bin, osUser: osUser, done: make(chan struct{}),
		url: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	var err error
	if s.dir, err = os.MkdirTemp("", "compare-pg-"); err != nil {
		return nil, err
	}
	if s.log, err = os.Create(logPrefix + "-postgres.log"); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	fail := func(err error) (*pgServer, error) {
		s.stop()
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(osUser)
		if err != nil {
			return fail(fmt.Errorf("-pg-user: %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return fail(err)
		}
	}
	// --no-sync: initdb's own files need not reach the disk; the server's
	// WAL is synced as always.
	init := s.command("initdb", "-D", s.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	init.Stdout, init.Stderr = s.log, s.log
	if err := init.Run(); err != nil {
		return fail(fmt.Errorf("initdb: %w; see %s", err, s.log.Name()))
	}
	s.cmd = s.command("postgres", "-D", s.dir, "-p", strconv.Itoa(port), "-k", s.dir, "-c", "listen_addresses=127.0.0.1")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return fail(fmt.Errorf("start postgres: %w", err))
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(pctx, s.url)
		cancel()
		if err == nil {
			conn.Close(ctx)
			return s, nil
		}
		select {
		case <-s.done:
			return fail(fmt.Errorf("postgres exited at start (port %d taken?); see %s", port, s.log.Name()))
		default:
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("postgres did not answer on port %d: %w; see %s", port, err, s.log.Name()))
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fail(err)
		}
	}
}

// stop shuts the server down (fast: the run's database is thrown away)
// and removes its data directory.
func (s *pgServer) stop() {
	if s == nil {
		return
	}
	if s.cmd != nil {
		halt := s.command("pg_ctl", "stop", "-D", s.dir, "-m", "fast", "-w")
		halt.Stdout, halt.Stderr = s.log, s.log
		if err := halt.Run(); err != nil {
			s.cmd.Process.Kill()
		}
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
	s.log.Close()
}
