package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// runHealthcheck asks a node's /healthz and succeeds on 200: the
// container's health check, since the image has no curl.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("healthcheck", "usage: novel-engine healthcheck [--url URL] [--timeout D]\n\n"+
		"Exits 0 when the node answers 200 on /healthz, 1 otherwise. The default\n"+
		"URL is the local node at NOVEL_ADDR.")
	url := fs.String("url", "", "the node's health URL; empty: http://127.0.0.1:PORT/healthz, PORT from NOVEL_ADDR (8080)")
	timeout := fs.Duration("timeout", 3*time.Second, "longest wait for the answer")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected arguments %q", fs.Args())
	}
	if *url == "" {
		*url = localHealthURL(envOr(getenv, "NOVEL_ADDR", ":8080"))
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", *url, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// localHealthURL is the /healthz of a node listening on addr, reached on
// the loopback when addr names every interface.
func localHealthURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "", strings.TrimPrefix(addr, ":")
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
