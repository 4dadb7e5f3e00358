package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// runWatch follows a story over the WebSocket and prints each turn's prose
// as it arrives, reconnecting and resuming with since when the connection
// drops. It is the smallest complete client of the protocol.
func runWatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("watch", "usage: novel-engine watch [flags] SIMULATION_ID\n\n"+
		"Follows a running story and prints each turn's prose as it comes,\n"+
		"resuming after the last turn shown when the connection drops.")
	server := fs.String("server", "http://127.0.0.1:8080", "the node's base URL")
	token := fs.String("token", getenv("NOVEL_TOKEN"), "a token (NOVEL_TOKEN); none to watch anonymously")
	since := fs.Int64("since", 0, "print turns after this seq (0: from the start)")
	jsonOut := fs.Bool("json", false, "print each server message as JSON instead of prose")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("watch: give one simulation id")
	}
	sim := fs.Arg(0)
	u, err := url.Parse(*server)
	if err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/ws"
	if *token != "" {
		u.RawQuery = url.Values{"token": {*token}}.Encode()
	}
	last := *since
	backoff := 250 * time.Millisecond
	for {
		done, err := watchOnce(ctx, u.String(), sim, &last, *jsonOut, stdout, stderr)
		if done || ctx.Err() != nil {
			return err // nil when the story ended; the server's refusal otherwise
		}
		if code := websocket.CloseStatus(err); code == 4001 || code == 1008 || code == 1009 {
			return fmt.Errorf("closed by the server: %w", err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		fmt.Fprintf(stderr, "connection lost (%v); resuming after turn %d in %v\n", err, last, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// fatalCodes are the server's refusals of the subscription that trying
// again cannot change.
var fatalCodes = map[string]bool{"bad_request": true, "not_found": true, "unauthorized": true, "forbidden": true}

// watchOnce runs one connection; done reports that watching is over: the
// story ended (err nil) or the server refused it for good (err says why).
// Every error the server sends is printed to errOut.
func watchOnce(ctx context.Context, wsURL, sim string, last *int64, jsonOut bool, out, errOut io.Writer) (bool, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, _, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{Subprotocols: []string{"novel.v1"}})
	cancel()
	if err != nil {
		return false, err
	}
	defer c.CloseNow()
	c.SetReadLimit(16 << 20)
	sub, _ := json.Marshal(map[string]any{"type": "subscribe", "id": "watch", "sim": sim, "since": *last})
	if err := c.Write(ctx, websocket.MessageText, sub); err != nil {
		return false, err
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return false, err
		}
		var m struct {
			Type    string `json:"type"`
			Seq     int64  `json:"seq"`
			Status  string `json:"status"`
			Code    string `json:"code"`
			Message string `json:"message"`
			Turn    struct {
				Narrative string `json:"narrative"`
				Finished  bool   `json:"finished"`
			} `json:"turn"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return false, fmt.Errorf("server sent invalid JSON: %w", err)
		}
		if jsonOut {
			fmt.Fprintf(out, "%s\n", data)
		}
		switch m.Type {
		case "error":
			fmt.Fprintf(errOut, "server error: %s: %s\n", m.Code, m.Message)
			if fatalCodes[m.Code] {
				return true, fmt.Errorf("watch %s: %s: %s", sim, m.Code, m.Message)
			}
			// Anything else (internal, rate_limited) refused this
			// subscription for now: reconnect and subscribe again.
			return false, fmt.Errorf("%s: %s", m.Code, m.Message)
		case "turn":
			if m.Seq <= *last {
				continue // already shown
			}
			*last = m.Seq
			if !jsonOut {
				fmt.Fprintf(out, "[%d] %s\n\n", m.Seq, m.Turn.Narrative)
			}
			if m.Turn.Finished {
				return true, nil
			}
		case "status":
			if m.Status == "finished" || m.Status == "failed" {
				if !jsonOut {
					fmt.Fprintf(out, "(the story is %s)\n", m.Status)
				}
				return true, nil
			}
		}
	}
}
