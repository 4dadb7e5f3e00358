// Package redistest gives tests a Redis: the shared test instance
// (NOVEL_TEST_REDIS_URL) with a key prefix of their own, or a throwaway
// redis-server they may stop and restart.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultURL is the test Redis used when NOVEL_TEST_REDIS_URL is not set.
const DefaultURL = "redis://127.0.0.1:6379/0"

// skipOrFail skips the test, except in CI (CI=true), where what the test
// needs must be there.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// URL returns the shared test Redis URL after checking that it answers;
// when it does not, the test is skipped (failed in CI).
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("NOVEL_TEST_REDIS_URL")
	if u == "" {
		u = DefaultURL
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("NOVEL_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		skipOrFail(t, "test Redis unreachable (set NOVEL_TEST_REDIS_URL): %v", err)
	}
	return u
}

// Prefix returns a key prefix no other test uses; the keys under it are
// deleted when the test ends.
func Prefix(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	p := "novel-test-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return
		}
		c := redis.NewClient(opt)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return p
}

// Client returns a client of the shared test Redis, closed when the test
// ends, and a key prefix of the test's own.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	u := URL(t)
	opt, _ := redis.ParseURL(u)
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c, Prefix(t, u)
}

// Server is a throwaway redis-server without persistence, on a port of
// its own, that a test may stop and start again.
type Server struct {
	t    testing.TB
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartServer starts a throwaway redis-server; it is stopped when the
// test ends. The test is skipped (failed in CI) when there is no
// redis-server binary.
func StartServer(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		skipOrFail(t, "no redis-server binary: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{t: t, Addr: addr}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts the server (again) and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no")
	s.done = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	done := s.done
	go func() { s.cmd.Wait(); close(done) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s not answering: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (all data is lost) and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.done
}

// String describes the server for messages.
func (s *Server) String() string {
	return fmt.Sprintf("redis-server %s (pid %s)", s.Addr, strconv.Itoa(s.cmd.Process.Pid))
}
