package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a throwaway Redis Cluster of redis-servers on free local
// ports: Shards primaries, each with Replicas replicas, without
// persistence. It is stopped, and its files removed, when the test ends.
type Cluster struct {
	t     testing.TB
	Nodes []*ClusterNode
}

// ClusterNode is one redis-server of a Cluster.
type ClusterNode struct {
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartCluster starts a Redis Cluster of shards primaries with replicas
// replicas each (redis-server in cluster mode, then redis-cli --cluster
// create) and waits until every slot is served. The test is skipped
// (failed in CI) without redis-server or redis-cli.
func StartCluster(t testing.TB, shards, replicas int) *Cluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			skipOrFail(t, "no %s binary: %v", bin, err)
		}
	}
	dir := t.TempDir()
	c := &Cluster{t: t}
	t.Cleanup(c.stop)
	n := shards * (1 + replicas)
	var addrs []string
	for i := range n {
		node := &ClusterNode{Addr: freeClusterAddr(t)}
		nodeDir := filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(nodeDir, 0o755); err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(node.Addr)
		node.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000", "--dir", nodeDir,
			// A replica may take over however long ago it last heard
			// from its primary (a fresh cluster's replicas otherwise
			// refuse to).
			"--cluster-replica-validity-factor", "0",
			"--save", "", "--appendonly", "no", "--protected-mode", "no")
		node.done = make(chan struct{})
		if err := node.cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		done, cmd := node.done, node.cmd
		go func() { cmd.Wait(); close(done) }()
		c.Nodes = append(c.Nodes, node)
		addrs = append(addrs, node.Addr)
	}
	for _, node := range c.Nodes {
		waitPing(t, node.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitReady()
	return c
}

func freeClusterAddr(t testing.TB) string {
	t.Helper()
	// A cluster node also listens on its port + 10000 (the cluster bus):
	// keep both free.
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			bus.Close()
			return l.Addr().String()
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return ""
}

func waitPing(t testing.TB, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
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
			t.Fatalf("redis-server on %s not answering: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReady waits until every live node says the cluster is ok and
// every slot has a primary.
func (c *Cluster) waitReady() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, node := range c.Nodes {
			if !node.running() {
				continue
			}
			cl := redis.NewClient(&redis.Options{Addr: node.Addr, MaxRetries: -1})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			info, err := cl.ClusterInfo(ctx).Result()
			cancel()
			cl.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("redis cluster not ready after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is the cluster's address for redis.ParseClusterURL: the first node,
// and the others as addr parameters.
func (c *Cluster) URL() string {
	var b strings.Builder
	for i, node := range c.Nodes {
		if i == 0 {
			b.WriteString("redis://" + node.Addr)
			continue
		}
		if i == 1 {
			b.WriteString("?")
		} else {
			b.WriteString("&")
		}
		b.WriteString("addr=" + node.Addr)
	}
	return b.String()
}

// Options are the cluster's client options.
func (c *Cluster) Options() *redis.ClusterOptions {
	opt, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		c.t.Fatal(err)
	}
	return opt
}

// Client returns a plain go-redis cluster client, closed when the test
// ends.
func (c *Cluster) Client() *redis.ClusterClient {
	cl := redis.NewClusterClient(c.Options())
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// PrimaryFor returns the node serving key's slot as primary now.
func (c *Cluster) PrimaryFor(key string) *ClusterNode {
	c.t.Helper()
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := cl.MasterForKey(ctx, key)
	if err != nil {
		c.t.Fatalf("primary for %q: %v", key, err)
	}
	for _, node := range c.Nodes {
		if node.Addr == m.Options().Addr {
			return node
		}
	}
	c.t.Fatalf("primary %s of %q is not a node of the cluster", m.Options().Addr, key)
	return nil
}

// Kill kills node (kill -9: its data is lost) and, when failover is true,
// waits until a replica serves its slots and the cluster is ok again.
func (c *Cluster) Kill(node *ClusterNode, failover bool) {
	c.t.Helper()
	node.cmd.Process.Kill()
	<-node.done
	if failover {
		c.waitFailed(node.Addr)
		c.waitReady()
	}
}

// waitFailed waits until a live node has marked the node at addr failed
// and moved its slots away.
func (c *Cluster) waitFailed(addr string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, node := range c.Nodes {
			if !node.running() {
				continue
			}
			cl := redis.NewClient(&redis.Options{Addr: node.Addr, MaxRetries: -1})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			nodes, err := cl.ClusterNodes(ctx).Result()
			cancel()
			cl.Close()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(nodes, "\n") {
				f := strings.Fields(line)
				// id addr flags primary ping pong epoch link [slots...]
				if len(f) >= 8 && strings.HasPrefix(f[1], addr+"@") && strings.Contains(f[2], "fail") && len(f) == 8 {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("redis cluster: %s not failed over after 30s", addr)
}

func (n *ClusterNode) running() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

func (c *Cluster) stop() {
	for _, node := range c.Nodes {
		if node.cmd != nil && node.cmd.Process != nil && node.running() {
			node.cmd.Process.Kill()
			<-node.done
		}
	}
}

// String describes the cluster for messages.
func (c *Cluster) String() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return fmt.Sprintf("redis cluster %s", strings.Join(addrs, ","))
}
