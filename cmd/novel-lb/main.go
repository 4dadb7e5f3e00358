// Command novel-lb is a small round-robin load balancer for a local
// cluster of Novel Engine nodes (HTTP and WebSocket, no stickiness), for
// machines without nginx: deploy/local-cluster.sh uses it.
//
//	novel-lb -addr 127.0.0.1:8080 -backends http://127.0.0.1:8081,http://127.0.0.1:8082
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/novel-engine/novel-engine/deploy/lb"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	backends := flag.String("backends", "", "comma-separated node base URLs")
	every := flag.Duration("health-interval", 500*time.Millisecond, "how often each node's /readyz is checked")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	var targets []string
	for _, t := range strings.Split(*backends, ",") {
		if t = strings.TrimSpace(t); t != "" {
			targets = append(targets, t)
		}
	}
	b, err := lb.New(targets, lb.Options{HealthInterval: *every, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "novel-lb:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go b.Run(ctx)
	hs := &http.Server{Addr: *addr, Handler: b, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	log.Info("novel-lb listening", "addr", *addr, "backends", targets)
	if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "novel-lb:", err)
		os.Exit(1)
	}
}
