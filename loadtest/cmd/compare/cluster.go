package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// clusterEnv is what a run of several nodes needs besides the nodes: a
// Redis of its own (both systems' broker) and, for ours, a PostgreSQL
// database of its own (a cluster of ours requires one). Both are made for
// the run and removed after it, so that no run inherits another's keys or
// stories.
type clusterEnv struct {
	redisBin  string
	redisPort int    // 0: a free port
	pgAdmin   string // a URL of the PostgreSQL server, to create databases with
	pgBin     string // if set, each run of ours starts a PostgreSQL server of its own from here instead
	pgPort    int    // its port; 0: a free port
	pgUser    string // the system user it runs as when this process is root
}

// redisServer is a redis-server started for one run: no persistence, so
// that nothing is written to disk during the window.
type redisServer struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
	url  string
}

func startRedis(ctx context.Context, bin string, port int, logPrefix string) (*redisServer, error) {
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	log, err := os.Create(logPrefix + "-redis.log")
	if err != nil {
		return nil, err
	}
	r := &redisServer{log: log, url: fmt.Sprintf("redis://127.0.0.1:%d/0", port), done: make(chan struct{})}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--maxclients", "10000")
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		r.cmd.Wait()
		close(r.done)
	}()
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(ctx).Err() != nil {
		select {
		case <-r.done:
			return nil, fmt.Errorf("redis-server exited at start (port %d taken?); see %s", port, log.Name())
		default:
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server did not answer on port %d; see %s", port, log.Name())
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			r.stop()
			return nil, err
		}
	}
	return r, nil
}

func (r *redisServer) pid() int { return r.cmd.Process.Pid }

func (r *redisServer) stop() {
	if r == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
	r.log.Close()
}

// pgDatabase is a database created on the PostgreSQL server for one run.
type pgDatabase struct {
	admin string
	name  string
	url   string
}

// createDatabase creates a database with a fresh name on the server that
// admin (a URL of any of its databases) names.
func createDatabase(ctx context.Context, admin string) (*pgDatabase, error) {
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		return nil, fmt.Errorf("-pg: %w", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	db := &pgDatabase{admin: admin, name: "compare_" + hex.EncodeToString(b)}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("-pg: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+db.name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", db.name, err)
	}
	cfg.Database = db.name
	db.url = fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db.name)
	if cfg.Password != "" {
		db.url = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, db.name)
	}
	return db, nil
}

// drop removes the database, after the nodes using it have stopped.
func (db *pgDatabase) drop() error {
	if db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db.admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db.name+" WITH (FORCE)")
	return err
}
