// Command takeover measures how long a cluster takes to carry on a dead
// node's stories: it lists the running stories and the node that runs
// each, kills the node's process (kill -9), and reads the listing again
// and again until every story that node ran has another owner and has
// stored a turn since the kill.
//
//	go run ./loadtest/cmd/takeover -url http://127.0.0.1:8080 -node n1 -pid 12345
//
// The time to a new owner is measured from the kill to the listing that
// shows it, at the resolution of one pass over the listing (printed with
// it); the time to a turn from the kill to when the store took the first
// turn the new owner played (the story's updated_at).
//
// With -db (the store's PostgreSQL URL) it reads the dead node's stories
// from the store instead, in one query a pass: listing every running
// story through the nodes (50 pages of 200 at 10,000 stories, each row
// with its head turn) is work the survivors do during the takeover it
// measures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "the balancer's base URL")
	node := flag.String("node", "n1", "the node id to kill")
	pid := flag.Int("pid", 0, "the node's process id")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to wait for the takeover")
	db := flag.String("db", "", "the store's PostgreSQL URL: read the stories from it, not through the nodes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *pid <= 0 {
		fmt.Fprintln(os.Stderr, "takeover: -pid is required")
		os.Exit(2)
	}
	src := source{list: func(ctx context.Context, _ []string) ([]story, error) { return list(ctx, *base) }}
	if *db != "" {
		pool, err := pgxpool.New(ctx, *db)
		if err != nil {
			fmt.Fprintln(os.Stderr, "takeover:", err)
			os.Exit(1)
		}
		defer pool.Close()
		src = source{list: func(ctx context.Context, ids []string) ([]story, error) { return fromStore(ctx, pool, ids) }}
	}
	if err := run(ctx, src, *node, *pid, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "takeover:", err)
		os.Exit(1)
	}
}

// story is what the listing says of one running story.
type story struct {
	ID        string    `json:"id"`
	Owner     string    `json:"owner"`
	UpdatedAt time.Time `json:"updated_at"` // when its head turn was stored
}

// source reads the running stories: of ids only, when it can (nil: all).
type source struct {
	list func(ctx context.Context, ids []string) ([]story, error)
}

func run(ctx context.Context, src source, node string, pid int, timeout time.Duration) error {
	before, err := src.list(ctx, nil)
	if err != nil {
		return err
	}
	t := newTracker(node, before)
	ids := make([]string, 0, len(t.victims))
	for id := range t.victims {
		ids = append(ids, id)
	}
	if len(t.victims) == 0 {
		return fmt.Errorf("node %s runs none of the %d running stories", node, len(before))
	}
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	fmt.Printf("kill -9 of %s (pid %d) at %s, which ran %d of %d running stories\n",
		node, pid, killed.UTC().Format(time.RFC3339Nano), len(t.victims), len(before))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var pass time.Duration
	for !t.done() {
		start := time.Now()
		// A pass may meet the dead node through the balancer: try again.
		if now, err := src.list(ctx, ids); err == nil {
			t.observe(now, killed, time.Now())
		} else if ctx.Err() != nil {
			break
		}
		pass = max(pass, time.Since(start))
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	owned, turned := t.result(killed)
	if !t.done() {
		return fmt.Errorf("after %v: %d of %d stories have a new owner, %d stored a turn since the kill",
			timeout, t.owned, len(t.victims), t.turned)
	}
	fmt.Printf("takeover after kill -9: every one of the %d stories had a new owner after %v (one pass over the listing took up to %v); the last of them stored its first turn there %v after the kill\n",
		len(t.victims), owned.Round(10*time.Millisecond), pass.Round(10*time.Millisecond), turned.Round(10*time.Millisecond))
	q := t.quantiles(killed, 0.1, 0.5, 0.9, 0.99)
	fmt.Printf("first turn on the new node after the kill: p10 %v, p50 %v, p90 %v, p99 %v\n",
		q[0].Round(10*time.Millisecond), q[1].Round(10*time.Millisecond), q[2].Round(10*time.Millisecond), q[3].Round(10*time.Millisecond))
	return nil
}

// tracker follows the dead node's stories through successive listings.
type tracker struct {
	node    string
	victims map[string]*progress
	owned   int // victims seen with another owner
	turned  int // victims seen with a turn stored after the kill
	lastOwn time.Time
	lastTrn time.Time // the latest of the victims' first turns after the kill
}

type progress struct {
	owned, turned bool
	first         time.Time // the first turn stored after the kill
}

func newTracker(node string, running []story) *tracker {
	t := &tracker{node: node, victims: map[string]*progress{}}
	for _, s := range running {
		if s.Owner == node {
			t.victims[s.ID] = &progress{}
		}
	}
	return t
}

// observe takes a listing read at seen in. A story has a new owner when
// the listing names another node; it carries on once its head turn was
// stored after the kill (only a new owner can store one).
func (t *tracker) observe(running []story, killed, seen time.Time) {
	for _, s := range running {
		p := t.victims[s.ID]
		if p == nil {
			continue
		}
		if !p.owned && s.Owner != "" && s.Owner != t.node {
			p.owned = true
			t.owned++
			t.lastOwn = seen
		}
		// The first listing that shows a turn after the kill shows the
		// first one, unless a pass is slower than the turn interval.
		if p.owned && !p.turned && s.UpdatedAt.After(killed) {
			p.turned = true
			p.first = s.UpdatedAt
			t.turned++
			if s.UpdatedAt.After(t.lastTrn) {
				t.lastTrn = s.UpdatedAt
			}
		}
	}
}

func (t *tracker) done() bool { return t.turned == len(t.victims) }

// result is the time from the kill to the listing that showed the last
// story with a new owner, and to the last of the stories' first turns
// stored after the kill.
func (t *tracker) result(killed time.Time) (owned, turned time.Duration) {
	return t.lastOwn.Sub(killed), t.lastTrn.Sub(killed)
}

// quantiles returns, for each of qs, that quantile of the times from the
// kill to each story's first turn stored after it.
func (t *tracker) quantiles(killed time.Time, qs ...float64) []time.Duration {
	var ds []time.Duration
	for _, p := range t.victims {
		if p.turned {
			ds = append(ds, p.first.Sub(killed))
		}
	}
	slices.Sort(ds)
	out := make([]time.Duration, len(qs))
	for i, q := range qs {
		if len(ds) > 0 {
			out[i] = ds[min(int(q*float64(len(ds))), len(ds)-1)]
		}
	}
	return out
}

// list reads every running story, a page of 200 at a time.
func list(ctx context.Context, base string) ([]story, error) {
	var all []story
	cursor := ""
	for {
		q := url.Values{"status": {"running"}, "limit": {"200"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Simulations []story `json:"simulations"`
			NextCursor  string  `json:"next_cursor"`
		}
		if err := get(ctx, base+"/v1/simulations?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Simulations...)
		if page.NextCursor == "" || len(page.Simulations) == 0 {
			return all, nil
		}
		cursor = page.NextCursor
	}
}

// fromStore reads the running stories from the store: those of ids, or
// all when ids is nil.
func fromStore(ctx context.Context, pool *pgxpool.Pool, ids []string) ([]story, error) {
	q, args := `select id, owner, updated_at from simulations where status = 'running'`, []any{}
	if ids != nil {
		q, args = `select id, owner, updated_at from simulations where id = any($1)`, []any{ids}
	}
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (story, error) {
		var s story
		err := row.Scan(&s.ID, &s.Owner, &s.UpdatedAt)
		return s, err
	})
}

func get(ctx context.Context, u string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
