package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sentinel is a throwaway primary, its replica and one Sentinel watching
// them (quorum 1), on free local ports; all stopped when the test ends.
type Sentinel struct {
	t        testing.TB
	Master   string // the name Sentinel knows the primary by
	Sentinel *ClusterNode
	Primary  *ClusterNode
	Replica  *ClusterNode
}

// StartSentinel starts a primary, a replica of it and a Sentinel. The
// test is skipped (failed in CI) without redis-server.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		skipOrFail(t, "no redis-server binary: %v", err)
	}
	dir := t.TempDir()
	s := &Sentinel{t: t, Master: "novel"}
	start := func(args ...string) *ClusterNode {
		n := &ClusterNode{Addr: freeClusterAddr(t), done: make(chan struct{})}
		_, port := splitPort(n.Addr)
		// A primary writes a snapshot for its replica's first sync: into
		// the test's folder.
		nodeDir := filepath.Join(dir, port)
		if err := os.Mkdir(nodeDir, 0o755); err != nil {
			t.Fatal(err)
		}
		n.cmd = exec.Command("redis-server", append(args, "--port", port, "--bind", "127.0.0.1", "--dir", nodeDir,
			"--save", "", "--appendonly", "no", "--protected-mode", "no")...)
		if err := n.cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		done, cmd := n.done, n.cmd
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			if n.running() {
				n.cmd.Process.Kill()
				<-n.done
			}
		})
		waitPing(t, n.Addr)
		return n
	}
	s.Primary = start()
	host, port := splitPort(s.Primary.Addr)
	s.Replica = start("--replicaof", host, port)
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
		s.Master, host, port, s.Master, s.Master)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Sentinel = start(conf, "--sentinel")
	return s
}

func splitPort(addr string) (string, string) {
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}

// Options are the failover client's options.
func (s *Sentinel) Options() *redis.FailoverOptions {
	return &redis.FailoverOptions{MasterName: s.Master, SentinelAddrs: []string{s.Sentinel.Addr}}
}

// URL is the Sentinel's address for redis.ParseFailoverURL.
func (s *Sentinel) URL() string {
	return "redis://" + s.Sentinel.Addr + "?master_name=" + s.Master
}

// KillPrimary kills the primary and waits until Sentinel names the
// replica as the primary.
func (s *Sentinel) KillPrimary() {
	s.t.Helper()
	s.Primary.cmd.Process.Kill()
	<-s.Primary.done
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr})
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addr, err := c.GetMasterAddrByName(ctx, s.Master).Result()
		cancel()
		if err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == s.Replica.Addr {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatal("sentinel did not promote the replica within 60s")
}
