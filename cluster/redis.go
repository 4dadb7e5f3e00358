package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClusterClient returns a client of a Redis Cluster that follows a
// failover promptly. go-redis reloads the cluster's map of slots on a
// MOVED answer, but a primary that died answers nothing: without more,
// commands and subscriptions would go on dialing it until the next
// periodic reload (a minute by default). This client reloads the map when
// a command fails on the network, and at least every second while it is
// in use.
func NewClusterClient(opt *redis.ClusterOptions) *redis.ClusterClient {
	if opt.ClusterStateReloadInterval == 0 {
		opt.ClusterStateReloadInterval = time.Second
	}
	c := redis.NewClusterClient(opt)
	c.AddHook(reloadHook{c})
	return c
}

// reloadHook reloads a cluster client's slots after a network error.
type reloadHook struct{ c *redis.ClusterClient }

func (h reloadHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			h.c.ReloadState(ctx)
		}
		return conn, err
	}
}

func (h reloadHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.check(ctx, err)
		return err
	}
}

func (h reloadHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.check(ctx, err)
		return err
	}
}

func (h reloadHook) check(ctx context.Context, err error) {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		h.c.ReloadState(ctx)
	}
}
